"""The values contract of charts/deepseek-v4: typed models deploy-kit fills from a plan."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from deploy_kit.renderer.helm_rules import (
    SECRET_ENV_NAMES,
    argv_flag_value,
    consistency_problems,
    is_non_root,
    is_offline,
)
from deploy_kit.renderer.helm_schema import (
    Autoscaling,
    ContainerSecurityContext,
    ExtraEnvVar,
    FreeObject,
    Gpu,
    Image,
    Lws,
    ModelCache,
    ModelRef,
    Monitoring,
    NetworkPolicy,
    Parallelism,
    PodDisruptionBudget,
    PodSecurityContext,
    Probes,
    Rdma,
    Resources,
    Secrets,
    Service,
    ServiceAccount,
    Shm,
    Smoke,
    Toleration,
    VllmSpec,
    _Model,
)


class HelmValues(_Model):
    """Top of values.yaml for charts/deepseek-v4 (the chart's values.schema.json)."""

    nameOverride: str = Field(default="", description="Replaces the chart name in names.")
    fullnameOverride: str = Field(default="", description="Replaces the full resource name.")
    commonLabels: dict[str, str] = Field(default_factory=dict, description="Labels on all objects.")
    podLabels: dict[str, str] = Field(default_factory=dict, description="Extra pod labels.")
    podAnnotations: dict[str, str] = Field(default_factory=dict, description="Pod annotations.")
    model: ModelRef = Field(default_factory=ModelRef, description="Served checkpoint.")
    image: Image = Field(default_factory=Image, description="vLLM image.")
    parallelism: Parallelism = Field(default_factory=Parallelism, description="Engine layout.")
    replicas: int = Field(
        default=1,
        ge=1,
        description="Engines: Deployment replicas or LWS groups (ignored by "
        "the workload when autoscaling is on).",
    )
    gpu: Gpu = Field(default_factory=Gpu, description="GPU vendor and resource.")
    vllm: VllmSpec = Field(default_factory=VllmSpec, description="Planner-computed argv and env.")
    secrets: Secrets = Field(default_factory=Secrets, description="Secret references.")
    modelCache: ModelCache = Field(default_factory=ModelCache, description="Weights cache.")
    shm: Shm = Field(default_factory=Shm, description="/dev/shm size.")
    probes: Probes = Field(default_factory=Probes, description="Probe timings.")
    resources: Resources = Field(default_factory=Resources, description="CPU and memory.")
    nodeSelector: dict[str, str] = Field(
        default_factory=dict,
        description="Node labels, e.g. nvidia.com/gpu.product (value as your GPU operator sets).",
    )
    tolerations: list[Toleration] = Field(
        default_factory=lambda: [
            Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")
        ],
        description="Tolerations; by default the GPU taint.",
    )
    affinity: FreeObject = Field(default_factory=dict, description="Pod affinity rules.")
    topologySpreadConstraints: list[FreeObject] = Field(
        default_factory=list, description="Pod topology spread constraints."
    )
    priorityClassName: str = Field(default="", description="PriorityClass of the pods.")
    terminationGracePeriodSeconds: int = Field(
        default=60, ge=0, description="Time to drain in-flight requests on shutdown."
    )
    hostNetwork: bool = Field(default=False, description="Use the node network (some RDMA).")
    updateStrategy: Literal["Recreate", "RollingUpdate"] = Field(
        default="Recreate",
        description="Deployment strategy; Recreate frees the GPUs before the new pod starts.",
    )
    lws: Lws = Field(default_factory=Lws, description="LeaderWorkerSet options.")
    serviceAccount: ServiceAccount = Field(default_factory=ServiceAccount, description="Identity.")
    service: Service = Field(default_factory=Service, description="API Service.")
    podDisruptionBudget: PodDisruptionBudget = Field(
        default_factory=PodDisruptionBudget, description="PDB."
    )
    networkPolicy: NetworkPolicy = Field(default_factory=NetworkPolicy, description="Ingress.")
    autoscaling: Autoscaling = Field(default_factory=Autoscaling, description="Autoscaling.")
    monitoring: Monitoring = Field(default_factory=Monitoring, description="Prometheus.")
    rdma: Rdma = Field(default_factory=Rdma, description="RDMA devices.")
    podSecurityContext: PodSecurityContext = Field(
        default_factory=PodSecurityContext, description="Pod securityContext."
    )
    securityContext: ContainerSecurityContext = Field(
        default_factory=ContainerSecurityContext, description="Container securityContext."
    )
    extraEnv: list[ExtraEnvVar] = Field(default_factory=list, description="User env.")
    extraVolumes: list[FreeObject] = Field(default_factory=list, description="Extra volumes.")
    extraVolumeMounts: list[FreeObject] = Field(
        default_factory=list, description="Extra mounts of the vLLM container."
    )
    extraObjects: list[FreeObject] = Field(
        default_factory=list, description="Extra manifests (strings inside are tpl-rendered)."
    )
    smoke: Smoke = Field(default_factory=Smoke, description="helm test: deploy-kit smoke.")

    @model_validator(mode="after")
    def _consistent(self) -> HelmValues:
        problems = consistency_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def to_values(self) -> dict[str, Any]:
        """The mapping to write as a values file. None fields are omitted, except where the
        chart's default is not null: helm merges values files over the chart's defaults, and
        only an explicit null removes a default key (e.g. runAsUser for a root AMD pod)."""
        return _values_of(self)


def _values_of(model: BaseModel) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        if value is None:
            if info.get_default(call_default_factory=True) is not None:
                out[name] = None
        elif isinstance(value, BaseModel):
            out[name] = _values_of(value)
        else:
            out[name] = model.model_dump(mode="json", include={name}, exclude_none=True)[name]
    return out


__all__ = [
    "SECRET_ENV_NAMES",
    "HelmValues",
    "argv_flag_value",
    "consistency_problems",
    "is_non_root",
    "is_offline",
]
