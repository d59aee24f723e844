"""Typed render context: everything templates place, computed once from the plan and options."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from deploy_kit.catalog import load_catalog
from deploy_kit.planner.rules import THINK_MAX_CONTEXT
from deploy_kit.spec import Base, Plan
from deploy_kit.version import __version__
from deploy_kit.vllm import argv as vllm

GIB = 1024**3
# Headroom on the model cache volume over the checkpoint's size on disk: HF keeps blobs plus
# refs/locks, and an update of the revision briefly needs both; 30 % covers one partial update.
CACHE_HEADROOM = 1.3
# Checkpoints without a published size: estimate from the planned weights (GiB on GPU ~ on disk).
# Startup probe cadence: 10 s keeps the kubelet quiet; the failure threshold is derived.
PROBE_PERIOD_S = 10
# Probes and healthchecks must outlast the estimated load time by this factor (variance in disk
# and compile speed); the floor is vLLM's ready timeout so the probe never kills a pod that vLLM
# itself would still wait for.
PROBE_SAFETY_FACTOR = 2


class RenderOptions(Base):
    """Target options a person may set (deploy.yaml `render:` or CLI flags)."""

    name: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?$",
        description="Application name (default: the model id)",
    )
    namespace: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
        description="Kubernetes namespace (kustomization `namespace:`)",
    )
    model_cache: Literal["pvc", "hostPath", "emptyDir"] = Field(
        default="pvc", description="Where the model cache lives on Kubernetes"
    )
    host_cache_path: str = Field(
        default="/var/lib/deploy-kit/hf-cache",
        pattern=r"^/[A-Za-z0-9._/-]*$",
        description="Host directory for hostPath cache / compose bind mount",
    )
    storage_class: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$",
        description="StorageClass of the cache PVC (a DNS subdomain name)",
    )
    hf_token_secret: str = Field(default="hf-token", description="Secret holding the HF token")
    api_key: bool = Field(
        default=True, description="Require an API key (VLLM_API_KEY from a Secret / env file)"
    )
    api_key_secret: str = Field(default="vllm-api-key", description="Secret holding the API key")
    publish_address: str = Field(
        default="127.0.0.1", description="Address compose publishes the API port on"
    )
    network_policy: bool = Field(default=True, description="Render a NetworkPolicy")
    autoscaling: Literal["none", "hpa", "keda"] = Field(
        default="none", description="Autoscale replicas on vllm:num_requests_waiting"
    )
    monitoring: Literal["none", "servicemonitor", "podmonitor"] = Field(
        default="none", description="Prometheus Operator monitor"
    )
    bake_weights: bool = Field(default=False, description="Dockerfile stage that bakes weights")
    revision: str = Field(
        default="main", pattern=r"^[A-Za-z0-9._/-]{1,64}$", description="HF revision to pin"
    )
    infiniband: bool | None = Field(
        default=None, description="Pass InfiniBand devices (default: when the network is IB)"
    )
    smoke_job: bool = Field(
        default=False, description="Kubernetes: a Job that runs deploy-kit smoke on the Service"
    )


class Secret(Base):
    """A secret reference (never a value)."""

    env: str = Field(description="Environment variable the container reads")
    name: str = Field(description="Secret / env-file key name")
    key: str = Field(description="Key inside the Kubernetes Secret")
    optional: bool = Field(description="Start without it")


class RenderContext(Base):
    """What every target needs, computed from one plan."""

    plan: Plan = Field(description="The plan")
    options: RenderOptions = Field(description="Target options")
    version: str = Field(description="deploy-kit version")
    name: str = Field(description="Application name")
    plan_line: str = Field(description="The plan in one line")
    command: str = Field(description="Command that reproduces this bundle")
    image: str = Field(description="Pinned image")
    port: int = Field(description="API port")
    roles: list[str] = Field(description="Node roles: node-0 (head), node-1, ...")
    env: dict[str, str] = Field(description="Environment every node sets")
    node_env: list[str] = Field(description="Per-node variables for multi-node")
    secrets: list[Secret] = Field(description="Secret references")
    gpus_per_pod: int = Field(description="GPUs each pod / container gets")
    gpu_resource: str = Field(description="Kubernetes GPU resource name")
    gpu_vendor: str = Field(description="nvidia or amd")
    gpu_product_labels: list[str] = Field(description="nvidia.com/gpu.product values")
    shm_bytes: int = Field(description="/dev/shm size in bytes")
    shm_gi: str = Field(description="/dev/shm as a Kubernetes quantity")
    shm_compose: str = Field(description="/dev/shm as a compose size")
    load_time_s: int = Field(description="Estimated load time")
    probe_window_s: int = Field(description="Seconds the startup probe allows")
    probe_period_s: int = Field(description="Startup probe period")
    probe_failure_threshold: int = Field(description="Startup probe failure threshold")
    cache_size_gi: int = Field(description="Model cache volume size, GiB")
    cache_mount: str = Field(description="Model cache mount path in the container")
    infiniband: bool = Field(description="Pass InfiniBand devices")
    served_name: str = Field(description="--served-model-name: the model clients ask for")
    local_url: str = Field(description="Base URL on the serving machine (compose publish)")
    cluster_url: str = Field(description="Base URL inside the cluster (the Service's DNS name)")
    api_key_env: str | None = Field(description="Variable holding the API key, if one is required")
    think_max: bool = Field(description="max_model_len allows Think Max")
    think_max_context: int = Field(description="max_model_len Think Max needs")
    toolkit_image: str = Field(description="deploy-kit's own image (smoke Job, helm test)")
    smoke_timeout_s: int = Field(description="Seconds each smoke request may take")


# The toolkit image built from docker/ (docker build -t deploy-kit:VERSION -f docker/Dockerfile .).
TOOLKIT_IMAGE = "deploy-kit"
# Per-request bound of an in-cluster smoke run; the chart's smoke.timeoutSeconds default.
SMOKE_TIMEOUT_S = 120


def local_url(publish_address: str, port: int) -> str:
    """Where a client on the serving machine reaches compose (local/wait.endpoint's rule)."""
    host = "127.0.0.1" if publish_address in ("0.0.0.0", "") else publish_address
    host = "[::1]" if host == "::" else (f"[{host}]" if ":" in host else host)
    return f"http://{host}:{port}"


def cache_size_gib(plan: Plan) -> int:
    ck = load_catalog().checkpoints[plan.checkpoint_id]
    size = ck.disk_gib
    if size is None:
        mem = plan.memory["per_gpu"]
        size = mem.weights_gib * plan.gpus_per_node * plan.nodes
    return int(math.ceil(size * CACHE_HEADROOM / 10.0) * 10)


def reproduce_command(plan: Plan, target: str) -> str:
    """The deploy-kit command line that renders this bundle again."""
    hw = plan.hardware
    hardware = hw.source if hw.source.endswith((".yaml", ".yml", ".json")) else hw.name
    parts = ["deploy-kit", "render", "--model", plan.checkpoint_id, "--hardware", hardware]
    for key, value in plan.knobs.model_dump(exclude_defaults=True).items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            parts.append(flag if value else "--no-" + key.replace("_", "-"))
        else:
            parts += [flag, str(value)]
    parts += ["--target", target]
    return " ".join(parts)


def build_context(plan: Plan, options: RenderOptions, target: str) -> RenderContext:
    window = max(
        PROBE_SAFETY_FACTOR * plan.load_time_s, vllm.engine_ready_timeout(plan.load_time_s)
    )
    secrets = [
        Secret(env=vllm.ENV_HF_TOKEN, name=options.hf_token_secret, key="token", optional=True)
    ]
    if options.api_key:
        secrets.append(
            Secret(env=vllm.ENV_API_KEY, name=options.api_key_secret, key="key", optional=False)
        )
    ib = options.infiniband
    if ib is None:
        ib = plan.nodes > 1 and plan.hardware.network == "infiniband"
    shm_gib = max(1, plan.shm_bytes // GIB)
    return RenderContext(
        plan=plan,
        options=options,
        version=__version__,
        name=options.name or plan.model,
        plan_line=plan.one_line(),
        command=reproduce_command(plan, target),
        image=plan.image,
        port=vllm.SERVE_PORT,
        roles=vllm.role_names(plan),
        env=dict(plan.vllm.env),
        node_env=vllm.node_env_names(plan),
        secrets=secrets,
        gpus_per_pod=plan.gpus_per_node,
        gpu_resource=plan.hardware.gpu.k8s_resource,
        gpu_vendor=plan.hardware.gpu.vendor,
        gpu_product_labels=list(plan.hardware.gpu.k8s_product_labels),
        shm_bytes=shm_gib * GIB,
        shm_gi=f"{shm_gib}Gi",
        shm_compose=f"{shm_gib}gb",
        load_time_s=plan.load_time_s,
        probe_window_s=window,
        probe_period_s=PROBE_PERIOD_S,
        probe_failure_threshold=math.ceil(window / PROBE_PERIOD_S),
        cache_size_gi=cache_size_gib(plan),
        cache_mount="/root/.cache/huggingface",
        infiniband=ib,
        served_name=plan.model,
        local_url=local_url(options.publish_address, vllm.SERVE_PORT),
        cluster_url=(
            f"http://{options.name or plan.model}"
            + (f".{options.namespace}.svc" if options.namespace else "")
            + f":{vllm.SERVE_PORT}"
        ),
        api_key_env=vllm.ENV_API_KEY if options.api_key else None,
        think_max=plan.max_model_len >= THINK_MAX_CONTEXT,
        think_max_context=THINK_MAX_CONTEXT,
        toolkit_image=f"{TOOLKIT_IMAGE}:{__version__}",
        smoke_timeout_s=SMOKE_TIMEOUT_S,
    )


def header_lines(ctx: RenderContext) -> list[str]:
    """The three header lines every generated file carries (without comment markers)."""
    return [
        f"generated by deploy-kit {ctx.version}; edits are kept (re-render refuses to overwrite)",
        f"plan: {ctx.plan_line}",
        f"reproduce: {ctx.command}",
    ]
