"""Cross-field rules of the chart values: the twin of the chart's templates/_validate.tpl."""

from __future__ import annotations

import re
from typing import Protocol

from deploy_kit.renderer.helm_schema import (
    Autoscaling,
    ContainerSecurityContext,
    ExtraEnvVar,
    Gpu,
    Image,
    ModelCache,
    ModelRef,
    Monitoring,
    Parallelism,
    PodDisruptionBudget,
    PodSecurityContext,
    Resources,
    VllmRole,
    VllmSpec,
)
from deploy_kit.vllm.argv import F_DP, F_DP_LOCAL, F_EP, F_PP, F_TP, SHORT_ALIASES


class HelmValues(Protocol):
    """The sections of the chart's values the cross-field rules read (helm_values.HelmValues)."""

    @property
    def parallelism(self) -> Parallelism: ...
    @property
    def vllm(self) -> VllmSpec: ...
    @property
    def image(self) -> Image: ...
    @property
    def gpu(self) -> Gpu: ...
    @property
    def resources(self) -> Resources: ...
    @property
    def extraEnv(self) -> list[ExtraEnvVar]: ...
    @property
    def model(self) -> ModelRef: ...
    @property
    def modelCache(self) -> ModelCache: ...
    @property
    def replicas(self) -> int: ...
    @property
    def podSecurityContext(self) -> PodSecurityContext: ...
    @property
    def securityContext(self) -> ContainerSecurityContext: ...
    @property
    def autoscaling(self) -> Autoscaling: ...
    @property
    def monitoring(self) -> Monitoring: ...
    @property
    def podDisruptionBudget(self) -> PodDisruptionBudget: ...


# Env names that carry credentials: only ever set from a Secret (secrets.*), never inline.
SECRET_ENV_NAMES = frozenset({"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "VLLM_API_KEY"})

# The same rules as charts/deepseek-v4/templates/_validate.tpl; keep both in step.
_FLAGS = {
    field: (flag, SHORT_ALIASES[flag])
    for field, flag in (("tensor", F_TP), ("pipeline", F_PP), ("data", F_DP))
}


def argv_flag_value(argv: list[str], names: tuple[str, ...]) -> int | None:
    """The integer after the first of `names` in argv (list or shell-string form), if any."""
    joined = " ".join(argv)
    alternatives = "|".join(re.escape(n) for n in names)
    found = re.search(rf"(?:^|\s)(?:{alternatives})(?:=|\s+)([0-9]+)", joined)
    return int(found.group(1)) if found else None


def _argv_has(argv: list[str], names: tuple[str, ...]) -> bool:
    joined = " ".join(argv)
    alternatives = "|".join(re.escape(n) for n in names)
    return re.search(rf"(?:^|\s)(?:{alternatives})(?:\s|$)", joined) is not None


def _role_problems(v: HelmValues, role: str, spec: VllmRole) -> list[str]:
    argv = [*spec.command, *spec.args]
    problems: list[str] = []
    p = v.parallelism
    for field, names in _FLAGS.items():
        want: int = getattr(p, field)
        got = argv_flag_value(argv, names)
        if got is not None and got != want:
            problems.append(
                f"vllm.{role} argv has {names[0]} {got} but parallelism.{field} is {want}"
            )
        elif got is None and want > 1:
            problems.append(f"vllm.{role} argv lacks {names[0]} {want} (parallelism.{field})")
    has_ep = _argv_has(argv, (F_EP, SHORT_ALIASES[F_EP]))
    if has_ep != p.expert:
        problems.append(
            f"vllm.{role} argv {'has' if has_ep else 'lacks'} --enable-expert-parallel but "
            f"parallelism.expert is {str(p.expert).lower()}"
        )
    local = argv_flag_value(argv, (F_DP_LOCAL, SHORT_ALIASES[F_DP_LOCAL]))
    if local is not None and local * p.tensor * p.pipeline != p.gpusPerNode:
        problems.append(
            f"vllm.{role} argv --data-parallel-size-local {local} x tensor {p.tensor} x "
            f"pipeline {p.pipeline} != parallelism.gpusPerNode {p.gpusPerNode}"
        )
    return problems


def consistency_problems(v: HelmValues) -> list[str]:
    """Cross-field rules the JSON schema cannot express (the chart fails on the same ones)."""
    p = v.parallelism
    problems: list[str] = []
    world = p.tensor * p.pipeline * p.data
    if world != p.nodes * p.gpusPerNode:
        problems.append(
            f"parallelism: tensor {p.tensor} x pipeline {p.pipeline} x data {p.data} = {world} "
            f"GPUs per engine, but nodes {p.nodes} x gpusPerNode {p.gpusPerNode} = "
            f"{p.nodes * p.gpusPerNode} are requested"
        )
    if not v.vllm.leader.command and not v.vllm.leader.args:
        problems.append("vllm.leader needs a command or args")
    problems += _role_problems(v, "leader", v.vllm.leader)
    if p.nodes > 1:
        if not v.vllm.worker.command and not v.vllm.worker.args:
            problems.append("parallelism.nodes > 1 needs vllm.worker command/args")
        else:
            problems += _role_problems(v, "worker", v.vllm.worker)
    if v.image.tag == "latest" or not (v.image.tag or v.image.digest):
        problems.append("image: pin image.tag (not latest) or image.digest")
    if not v.gpu.resourceName.startswith(f"{v.gpu.vendor}.com/"):
        problems.append(f"gpu.resourceName {v.gpu.resourceName} is not a {v.gpu.vendor} resource")
    for kind, rl in (("requests", v.resources.requests), ("limits", v.resources.limits)):
        if v.gpu.resourceName in rl:
            problems.append(f"resources.{kind} sets {v.gpu.resourceName}: use gpusPerNode")
    problems += _env_problems(v)
    problems += _cache_problems(v)
    problems += _optional_object_problems(v)
    return problems


def _env_problems(v: HelmValues) -> list[str]:
    problems: list[str] = []
    plain = [*v.vllm.env, *v.vllm.leader.env, *v.vllm.worker.env]
    plain_names = [e.name for e in plain] + [e.name for e in v.extraEnv if e.value is not None]
    for name in sorted(set(plain_names) & SECRET_ENV_NAMES):
        problems.append(f"{name} is set inline: reference a Secret through secrets.*")
    return problems


def is_offline(v: HelmValues) -> bool:
    """True when the pods must not download: model.offline or HF_HUB_OFFLINE=1 in env."""
    env = [*v.vllm.env, *v.vllm.leader.env, *v.vllm.worker.env]
    return v.model.offline or any(
        e.name == "HF_HUB_OFFLINE" and e.value not in ("", "0") for e in env
    )


def is_non_root(v: HelmValues) -> bool:
    """True when the container runs as a non-root uid (the chart then mounts a writable HOME)."""
    pod, ctr = v.podSecurityContext, v.securityContext
    uid = ctr.runAsUser if ctr.runAsUser else pod.runAsUser
    return bool(pod.runAsNonRoot or ctr.runAsNonRoot or (uid is not None and uid != 0))


def _cache_problems(v: HelmValues) -> list[str]:
    c, nodes = v.modelCache, v.parallelism.nodes
    problems: list[str] = []
    if is_offline(v) and c.type == "emptyDir":
        problems.append(
            "model.offline (HF_HUB_OFFLINE=1) needs a persistent modelCache "
            "(pvc, existingClaim, hostPath or claimTemplate), not emptyDir"
        )
    if c.type == "existingClaim" and not c.existingClaim:
        problems.append("modelCache.type existingClaim needs modelCache.existingClaim")
    if c.type == "hostPath" and not c.hostPath.startswith("/"):
        problems.append("modelCache.type hostPath needs an absolute modelCache.hostPath")
    if is_non_root(v) and (c.mountPath + "/").startswith("/root/"):
        problems.append(
            f"modelCache.mountPath {c.mountPath} is under /root, which a non-root uid cannot "
            "enter: set it elsewhere, e.g. /home/vllm/.cache/huggingface (the default)"
        )
    if c.type == "claimTemplate" and nodes == 1:
        problems.append("modelCache.type claimTemplate needs parallelism.nodes > 1 (LWS)")
    pods = nodes * v.replicas
    if c.type == "pvc" and pods > 1 and "ReadWriteMany" not in c.accessModes:
        problems.append(
            f"modelCache: {pods} pods on different nodes share one claim: use accessModes "
            "[ReadWriteMany], type claimTemplate (LWS), hostPath or existingClaim"
        )
    return problems


def _optional_object_problems(v: HelmValues) -> list[str]:
    problems: list[str] = []
    hpa, keda = v.autoscaling.hpa, v.autoscaling.keda
    if hpa.enabled and keda.enabled:
        problems.append("autoscaling: enable hpa or keda, not both (KEDA makes its own HPA)")
    if keda.enabled and not keda.serverAddress:
        problems.append("autoscaling.keda.serverAddress is required when keda is enabled")
    if hpa.enabled and hpa.minReplicas > hpa.maxReplicas:
        problems.append("autoscaling.hpa.minReplicas exceeds maxReplicas")
    if keda.enabled and keda.minReplicas > keda.maxReplicas:
        problems.append("autoscaling.keda.minReplicas exceeds maxReplicas")
    mon = v.monitoring
    if mon.serviceMonitor.enabled and mon.podMonitor.enabled:
        problems.append("monitoring: enable serviceMonitor or podMonitor, not both")
    pdb = v.podDisruptionBudget
    if pdb.enabled and (pdb.maxUnavailable is None) == (pdb.minAvailable is None):
        problems.append("podDisruptionBudget: set exactly one of maxUnavailable and minAvailable")
    return problems
