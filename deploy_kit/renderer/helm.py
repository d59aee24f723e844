"""Helm target: values.yaml for charts/deepseek-v4 from the plan, and how to install it."""

from __future__ import annotations

import yaml

from deploy_kit.renderer import kubernetes as k8s
from deploy_kit.renderer.context import RenderContext, header_lines
from deploy_kit.renderer.helm_schema import (
    AccessMode,
    Autoscaling,
    Capabilities,
    ContainerSecurityContext,
    EnvVar,
    Gpu,
    HpaAutoscaling,
    Image,
    KedaAutoscaling,
    ModelCache,
    ModelRef,
    Monitoring,
    NetworkPolicy,
    Parallelism,
    PodSecurityContext,
    Probe,
    Probes,
    Resources,
    ScrapeConfig,
    SecretRef,
    Secrets,
    Shm,
    Toleration,
    VllmRole,
    VllmSpec,
)
from deploy_kit.renderer.helm_values import HelmValues
from deploy_kit.renderer.templating import render_template
from deploy_kit.resources import LWS_API
from deploy_kit.vllm import argv as vllm

CHART = "charts/deepseek-v4"
# The chart path inside an installed deploy-kit (the wheel ships the chart).
CHART_LOCATOR = (
    "python -c 'from deploy_kit.resources import resource_dir; "
    'print(resource_dir("charts") / "deepseek-v4")\''
)


def render(ctx: RenderContext) -> dict[str, str]:
    values = helm_values(ctx)
    lines = [f"# {line}" for line in header_lines(ctx)]
    lines.append(f"# values for {CHART} (helm install NAME {CHART} -f values.yaml; see README.md)")
    body = yaml.safe_dump(values.to_values(), sort_keys=False, width=100, allow_unicode=True)
    readme = render_template(
        "kubernetes/helm-readme.md.j2",
        ctx=ctx,
        header=header_lines(ctx),
        chart=CHART,
        chart_locator=CHART_LOCATOR,
        release=ctx.name,
        namespace=ctx.options.namespace or "NAMESPACE",
        lws_api=LWS_API if k8s.multi_node(ctx) else None,
        values=values,
    )
    return {"values.yaml": "\n".join(lines) + "\n" + body, "README.md": readme}


def helm_values(ctx: RenderContext) -> HelmValues:
    """The chart values that deploy what the plan says (and what `--target kubernetes` writes)."""
    plan = ctx.plan
    roles = k8s.roles(ctx)
    empty = VllmRole()
    requests, limits = k8s.host_resources(ctx)
    low, high = k8s.autoscale_bounds(ctx)
    opts = ctx.options
    return HelmValues(
        model=ModelRef(id=plan.checkpoint, revision=opts.revision, servedModelName=plan.model),
        image=_image(ctx.image),
        parallelism=Parallelism(
            tensor=plan.tensor_parallel,
            pipeline=plan.pipeline_parallel,
            data=plan.data_parallel,
            expert=plan.expert_parallel,
            nodes=plan.nodes,
            gpusPerNode=ctx.gpus_per_pod,
        ),
        replicas=plan.replicas,
        gpu=Gpu.model_validate({"vendor": ctx.gpu_vendor, "resourceName": ctx.gpu_resource}),
        vllm=VllmSpec(
            port=ctx.port,
            leader=_role(roles["leader"]),
            worker=_role(roles["worker"]) if "worker" in roles else empty,
            env=[EnvVar(name=n, value=v) for n, v in k8s.literal_env(ctx)],
        ),
        secrets=_secrets(ctx),
        modelCache=ModelCache(
            type=k8s.cache_kind(ctx),
            size=f"{ctx.cache_size_gi}Gi",
            storageClassName=opts.storage_class or "",
            accessModes=[_access_mode(m) for m in k8s.cache_access_modes(ctx)],
            hostPath=opts.host_cache_path if k8s.cache_kind(ctx) == "hostPath" else "",
            mountPath=k8s.cache_mount(ctx),
        ),
        shm=Shm(sizeLimit=ctx.shm_gi),
        probes=Probes(
            startup=Probe(**k8s.startup_probe(ctx)),
            readiness=Probe(**k8s.READINESS),
            liveness=Probe(**k8s.LIVENESS),
        ),
        resources=Resources(requests=dict(requests), limits=dict(limits)),
        tolerations=[Toleration.model_validate(t) for t in k8s.tolerations(ctx)],
        affinity=k8s.node_affinity(ctx),
        terminationGracePeriodSeconds=k8s.TERMINATION_GRACE_S,
        networkPolicy=NetworkPolicy(enabled=opts.network_policy),
        autoscaling=Autoscaling(
            hpa=HpaAutoscaling(
                enabled=opts.autoscaling == "hpa",
                minReplicas=low,
                maxReplicas=high,
                metricName=k8s.ADAPTER_METRIC,
                targetAverageValue=k8s.WAITING_PER_ENGINE,
            ),
            keda=KedaAutoscaling(
                enabled=opts.autoscaling == "keda",
                minReplicas=low,
                maxReplicas=high,
                serverAddress=k8s.PROMETHEUS_ADDRESS,
                query=k8s.keda_query(ctx),
                threshold=k8s.WAITING_PER_ENGINE,
            ),
        ),
        monitoring=Monitoring(
            serviceMonitor=_scrape(opts.monitoring == "servicemonitor"),
            podMonitor=_scrape(opts.monitoring == "podmonitor"),
        ),
        podSecurityContext=_pod_security(ctx),
        securityContext=ContainerSecurityContext(
            capabilities=Capabilities(add=k8s.capabilities_add(ctx)),
        ),
    )


def _pod_security(ctx: RenderContext) -> PodSecurityContext:
    """The kubernetes target's pod securityContext; root (AMD) clears the chart's uid/gid."""
    fields = k8s.pod_security_context(ctx)
    if k8s.non_root(ctx):
        return PodSecurityContext(**fields)
    unset = ("runAsUser", "runAsGroup", "fsGroup", "fsGroupChangePolicy")
    return PodSecurityContext(**fields, **dict.fromkeys(unset))


def _role(role: k8s.Role) -> VllmRole:
    return VllmRole(command=role.command, args=role.args)


def _access_mode(mode: str) -> AccessMode:
    if mode not in ("ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod"):
        raise AssertionError(f"unknown access mode {mode}")
    return mode  # type: ignore[return-value]


def _scrape(enabled: bool) -> ScrapeConfig:
    return ScrapeConfig(
        enabled=enabled, interval=k8s.SCRAPE_INTERVAL, scrapeTimeout=k8s.SCRAPE_TIMEOUT
    )


def _secrets(ctx: RenderContext) -> Secrets:
    refs = {s.env: s for s in ctx.secrets}
    hf = refs.get(vllm.ENV_HF_TOKEN)
    api = refs.get(vllm.ENV_API_KEY)
    defaults = Secrets()
    return Secrets(
        hfToken=SecretRef(name=hf.name, key=hf.key, optional=hf.optional)
        if hf
        else defaults.hfToken.model_copy(update={"enabled": False}),
        apiKey=SecretRef(name=api.name, key=api.key, optional=api.optional)
        if api
        else SecretRef(enabled=False, name=ctx.options.api_key_secret, key=defaults.apiKey.key),
    )


def _image(image: str) -> Image:
    """`repo:tag` or `repo@sha256:...` (a registry port is not a tag)."""
    if "@" in image:
        repository, digest = image.split("@", 1)
        return Image(repository=repository, tag="", digest=digest)
    head, sep, tag = image.rpartition(":")
    if not sep or "/" in tag:
        return Image(repository=image, tag="")
    return Image(repository=head, tag=tag)
