"""The parts of the charts/deepseek-v4 values contract: one typed model per values section."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

# Patterns must stay RE2-compatible: helm validates values.schema.json with Go's regexp engine.
QUANTITY_PATTERN = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
DURATION_PATTERN = r"^[0-9]+(ms|s|m|h)$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"

Quantity = Annotated[str, StringConstraints(pattern=QUANTITY_PATTERN)]
Duration = Annotated[str, StringConstraints(pattern=DURATION_PATTERN)]
K8sName = Annotated[str, StringConstraints(pattern=DNS_SUBDOMAIN_PATTERN, max_length=253)]
EnvName = Annotated[str, StringConstraints(pattern=ENV_NAME_PATTERN)]
ResourceList = dict[str, Quantity | Annotated[int, Field(ge=0)]]
IntOrPercent = int | Annotated[str, StringConstraints(pattern=r"^[0-9]+%$")]
AccessMode = Literal["ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod"]
FreeObject = dict[str, Any]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ModelRef(_Model):
    """Which checkpoint is served and how it is fetched."""

    id: str = Field(
        default="deepseek-ai/DeepSeek-V4-Flash",
        min_length=1,
        description="Hugging Face repository id of the checkpoint (informational; argv names it).",
    )
    revision: str = Field(
        default="main", min_length=1, description="Checkpoint revision (branch, tag or commit)."
    )
    servedModelName: str = Field(
        default="deepseek-v4-flash",
        min_length=1,
        description="Model name clients send; used in NOTES and the default KEDA query.",
    )
    offline: bool = Field(
        default=False,
        description="Serve from the model cache only: sets HF_HUB_OFFLINE=1 and requires a "
        "persistent cache (pvc, existingClaim, hostPath or claimTemplate).",
    )


class Image(_Model):
    """Container image of vLLM; a pinned tag or digest, never `latest`."""

    repository: str = Field(default="vllm/vllm-openai", min_length=1, description="Image name.")
    tag: str = Field(
        default="v0.33.0",
        pattern=r"^([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$",
        description="Pinned image tag (the chart refuses `latest`).",
    )
    digest: str = Field(
        default="",
        pattern=r"^(sha256:[a-f0-9]{64})?$",
        description="Optional image digest; when set the image is pulled by digest.",
    )
    pullPolicy: Literal["IfNotPresent", "Always", "Never"] = Field(
        default="IfNotPresent", description="imagePullPolicy of the vLLM container."
    )
    pullSecrets: list[K8sName] = Field(
        default_factory=list, description="Names of image pull Secrets (by reference)."
    )


class Parallelism(_Model):
    """One engine's layout; TP x PP x DP must equal nodes x gpusPerNode."""

    tensor: int = Field(default=1, ge=1, description="Tensor-parallel size.")
    pipeline: int = Field(default=1, ge=1, description="Pipeline-parallel size.")
    data: int = Field(default=8, ge=1, description="Data-parallel size of one engine (all nodes).")
    expert: bool = Field(default=True, description="Expert parallelism (--enable-expert-parallel).")
    nodes: int = Field(
        default=1,
        ge=1,
        description="Nodes (pods) per engine: 1 renders a Deployment, more a LeaderWorkerSet "
        "with group size = nodes.",
    )
    gpusPerNode: int = Field(default=8, ge=1, description="GPUs each pod requests (limit).")


class Gpu(_Model):
    """Accelerator vendor and its Kubernetes extended resource."""

    vendor: Literal["nvidia", "amd"] = Field(default="nvidia", description="GPU vendor.")
    resourceName: str = Field(
        default="nvidia.com/gpu",
        pattern=r"^(nvidia\.com|amd\.com)/[-a-z0-9_.]+$",
        description="Extended resource requested per pod (nvidia.com/gpu, amd.com/gpu, ...).",
    )


class EnvVar(_Model):
    """A plain environment variable computed by the planner."""

    name: EnvName = Field(description="Variable name.")
    value: str = Field(description="Literal value (never a credential).")


class ExtraEnvVar(_Model):
    """A user-supplied environment variable: a literal or a valueFrom reference."""

    name: EnvName = Field(description="Variable name.")
    value: str | None = Field(default=None, description="Literal value (never a credential).")
    valueFrom: FreeObject | None = Field(
        default=None, description="Kubernetes EnvVarSource (secretKeyRef, fieldRef, ...)."
    )

    @model_validator(mode="after")
    def _one_source(self) -> ExtraEnvVar:
        if (self.value is None) == (self.valueFrom is None):
            raise ValueError(f"extraEnv {self.name}: set exactly one of value and valueFrom")
        return self


class VllmRole(_Model):
    """Command and arguments of one node role, placed verbatim by the chart."""

    command: list[str] = Field(default_factory=list, description="Container command.")
    args: list[str] = Field(default_factory=list, description="Container args.")
    env: list[EnvVar] = Field(default_factory=list, description="Env added for this role only.")


def _default_leader() -> VllmRole:
    # What the planner emits for V4-Flash on 8 x H200 (DP8 + EP); mirrors values.yaml and is
    # checked against `deploy-kit render --target helm` by tests/test_render_helm.py.
    args = (
        "deepseek-ai/DeepSeek-V4-Flash --served-model-name deepseek-v4-flash --trust-remote-code "
        "--kv-cache-dtype fp8 --block-size 256 --tokenizer-mode deepseek_v4 "
        "--tool-call-parser deepseek_v4 --enable-auto-tool-choice --reasoning-parser deepseek_v4 "
        "--tensor-parallel-size 1 --data-parallel-size 8 --enable-expert-parallel "
        "--max-model-len 1048576 --max-num-seqs 1024 --max-num-batched-tokens 8192 "
        "--gpu-memory-utilization 0.92 --disable-flashinfer-autotune --host 0.0.0.0 --port 8000"
    )
    return VllmRole(command=["vllm", "serve"], args=args.split())


class VllmSpec(_Model):
    """What the planner computed for vLLM: argv per node role and env."""

    port: int = Field(default=8000, ge=1, le=65535, description="Port the API server listens on.")
    leader: VllmRole = Field(
        default_factory=_default_leader,
        description="The API-serving pod: the only pod of a Deployment, LWS worker index 0.",
    )
    worker: VllmRole = Field(
        default_factory=VllmRole,
        description="LWS pods with index > 0 (nodes > 1 only; usually headless). May use "
        "$(LWS_LEADER_ADDRESS) or a /bin/sh -c string using $LWS_WORKER_INDEX.",
    )
    env: list[EnvVar] = Field(
        default_factory=lambda: [EnvVar(name="VLLM_ENGINE_READY_TIMEOUT_S", value="3600")],
        description="Env for every vLLM pod, from the planner.",
    )


class SecretRef(_Model):
    """A key of an existing Secret; the chart never creates or inlines secrets."""

    enabled: bool = Field(default=True, description="Inject the variable at all.")
    name: K8sName = Field(description="Secret name.")
    key: str = Field(pattern=r"^[-._a-zA-Z0-9]+$", description="Key inside the Secret.")
    optional: bool = Field(
        default=False, description="Start the pod even when the Secret or key is missing."
    )


class Secrets(_Model):
    """Credentials, by reference only."""

    hfToken: SecretRef = Field(
        default_factory=lambda: SecretRef(name="hf-token", key="token", optional=True),
        description="HF_TOKEN for gated or rate-limited downloads.",
    )
    apiKey: SecretRef = Field(
        default_factory=lambda: SecretRef(name="vllm-api-key", key="key"),
        description="VLLM_API_KEY: clients must send it as a Bearer token on /v1.",
    )


def _read_write_once() -> list[AccessMode]:
    return ["ReadWriteOnce"]


class ModelCache(_Model):
    """Where weights are downloaded to and read from (mounted at mountPath, HF_HOME)."""

    type: Literal["pvc", "existingClaim", "hostPath", "emptyDir", "claimTemplate"] = Field(
        default="pvc",
        description="pvc: a claim this chart creates; existingClaim: yours; hostPath: a node "
        "directory; emptyDir: no cache (download per pod start); claimTemplate: one claim per "
        "LWS pod (nodes > 1 only).",
    )
    size: Quantity = Field(
        default="200Gi", description="Claim size (pvc, claimTemplate) or emptyDir sizeLimit."
    )
    storageClassName: str = Field(default="", description="StorageClass; empty = cluster default.")
    accessModes: list[AccessMode] = Field(
        default_factory=_read_write_once,
        min_length=1,
        description="Access modes of a created claim; several pods on several nodes need "
        "ReadWriteMany.",
    )
    existingClaim: str = Field(default="", description="Claim name when type is existingClaim.")
    hostPath: str = Field(default="", description="Absolute node path when type is hostPath.")
    hostPathType: Literal["DirectoryOrCreate", "Directory"] = Field(
        default="DirectoryOrCreate", description="hostPath volume type."
    )
    mountPath: str = Field(
        default="/home/vllm/.cache/huggingface",
        pattern=r"^/.*",
        description="Mount point; HF_HOME points here (not under /root when non-root).",
    )
    keep: bool = Field(
        default=True,
        description="Keep a chart-created claim on uninstall (helm.sh/resource-policy: keep).",
    )
    annotations: dict[str, str] = Field(default_factory=dict, description="Claim annotations.")


class Shm(_Model):
    """/dev/shm as a memory-backed emptyDir (NCCL and vLLM's multiprocess executor need it)."""

    sizeLimit: Quantity = Field(default="9Gi", description="sizeLimit of the /dev/shm emptyDir.")


class Probe(_Model):
    """Timing of one HTTP probe on /health."""

    initialDelaySeconds: int = Field(default=0, ge=0, description="Delay before the first probe.")
    periodSeconds: int = Field(default=10, ge=1, description="Seconds between probes.")
    timeoutSeconds: int = Field(default=5, ge=1, description="Probe timeout.")
    failureThreshold: int = Field(default=3, ge=1, description="Failures before acting.")


class Probes(_Model):
    """Probes of the API-serving pod; workers (headless) serve no HTTP and get none."""

    startup: Probe = Field(
        default_factory=lambda: Probe(periodSeconds=10, failureThreshold=360),
        description="periodSeconds x failureThreshold must cover the estimated load time.",
    )
    readiness: Probe = Field(default_factory=Probe, description="Readiness on /health.")
    liveness: Probe = Field(
        default_factory=lambda: Probe(periodSeconds=30, timeoutSeconds=10, failureThreshold=3),
        description="Liveness on /health (starts after the startup probe succeeds).",
    )


def _resource_list(**quantities: str) -> ResourceList:
    return dict(quantities)


class Resources(_Model):
    """CPU/memory of each vLLM pod; the GPU count comes from parallelism.gpusPerNode."""

    # deploy-kit's estimate for Flash on 8 x H200 (constants in deploy_kit/renderer/kubernetes.py).
    requests: ResourceList = Field(
        default_factory=lambda: _resource_list(cpu="36", memory="153Gi"), description="Requests."
    )
    limits: ResourceList = Field(
        default_factory=lambda: _resource_list(cpu="72", memory="383Gi"), description="Limits."
    )


class Toleration(_Model):
    """A pod toleration."""

    key: str | None = Field(default=None, description="Taint key (none with Exists = all).")
    operator: Literal["Exists", "Equal"] = Field(default="Equal", description="Operator.")
    value: str | None = Field(default=None, description="Taint value (Equal only).")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        default=None, description="Taint effect; none = all effects."
    )
    tolerationSeconds: int | None = Field(default=None, description="NoExecute grace period.")


class Lws(_Model):
    """LeaderWorkerSet options (parallelism.nodes > 1)."""

    restartPolicy: Literal["RecreateGroupOnPodRestart", "None"] = Field(
        default="RecreateGroupOnPodRestart",
        description="A failed pod restarts its whole group (a vLLM engine cannot lose a rank).",
    )
    startupPolicy: Literal["LeaderCreated", "LeaderReady"] = Field(
        default="LeaderCreated",
        description="LeaderCreated: workers start with the leader (the leader only turns Ready "
        "once all ranks joined, so LeaderReady would deadlock).",
    )
    exclusiveTopology: str = Field(
        default="",
        description="Topology key for 1:1 group placement (e.g. a rack or NVLink-domain label).",
    )
    skipApiCheck: bool = Field(
        default=False,
        description="Render the LeaderWorkerSet although the API server does not advertise "
        "leaderworkerset.x-k8s.io/v1 (helm lint, offline rendering).",
    )


class ServiceAccount(_Model):
    """Pod identity; vLLM needs no Kubernetes API access."""

    create: bool = Field(default=False, description="Create a ServiceAccount.")
    name: str = Field(default="", description="Name to use; empty = fullname (create) or default.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Annotations.")
    automountToken: bool = Field(default=False, description="Mount the API token into pods.")


class Service(_Model):
    """The OpenAI-compatible endpoint (selects only the leader of each LWS group)."""

    type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = Field(
        default="ClusterIP", description="Service type."
    )
    port: int = Field(default=8000, ge=1, le=65535, description="Service port.")
    nodePort: int | None = Field(default=None, ge=30000, le=32767, description="Fixed nodePort.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Annotations.")


class PodDisruptionBudget(_Model):
    """Voluntary-disruption budget over the release's pods."""

    enabled: bool = Field(default=True, description="Create a PodDisruptionBudget.")
    maxUnavailable: IntOrPercent | None = Field(
        default=1, description="Pods that may be evicted at once (0 blocks drains)."
    )
    minAvailable: IntOrPercent | None = Field(
        default=None, description="Alternative to maxUnavailable (set only one)."
    )


class NetworkPolicy(_Model):
    """Ingress policy: the API port, plus all traffic between the release's pods."""

    enabled: bool = Field(default=True, description="Create a NetworkPolicy.")
    allowFrom: list[FreeObject] = Field(
        default_factory=list,
        description="NetworkPolicyPeers allowed on the API port; empty = from anywhere.",
    )


class HpaAutoscaling(_Model):
    """autoscaling/v2 HPA on a per-pod custom metric (via a metrics adapter)."""

    enabled: bool = Field(default=False, description="Create a HorizontalPodAutoscaler.")
    minReplicas: int = Field(default=1, ge=1, description="Lowest engine count.")
    maxReplicas: int = Field(default=2, ge=1, description="Highest engine count.")
    metricName: str = Field(
        default="vllm_num_requests_waiting",
        min_length=1,
        description="Pods metric as the adapter exposes vllm:num_requests_waiting.",
    )
    targetAverageValue: Quantity = Field(default="4", description="Waiting requests per pod.")
    behavior: FreeObject = Field(default_factory=dict, description="HPA scaling behavior.")


class KedaAutoscaling(_Model):
    """KEDA ScaledObject on Prometheus vllm:num_requests_waiting."""

    enabled: bool = Field(default=False, description="Create a KEDA ScaledObject.")
    minReplicas: int = Field(default=1, ge=0, description="Lowest engine count.")
    maxReplicas: int = Field(default=2, ge=1, description="Highest engine count.")
    serverAddress: str = Field(default="", description="Prometheus URL (required when enabled).")
    query: str = Field(
        default="",
        description="PromQL; empty = sum(vllm:num_requests_waiting) of this model and namespace.",
    )
    threshold: str = Field(
        default="4", pattern=r"^[0-9]+(\.[0-9]+)?$", description="Target value per replica."
    )
    pollingInterval: int = Field(default=30, ge=1, description="Seconds between queries.")
    cooldownPeriod: int = Field(default=600, ge=0, description="Seconds before scaling to min.")


class Autoscaling(_Model):
    """Engine autoscaling: at most one of hpa and keda."""

    hpa: HpaAutoscaling = Field(default_factory=HpaAutoscaling, description="HPA options.")
    keda: KedaAutoscaling = Field(default_factory=KedaAutoscaling, description="KEDA options.")


class ScrapeConfig(_Model):
    """A Prometheus Operator monitor of /metrics on the API port."""

    enabled: bool = Field(default=False, description="Create the monitor.")
    interval: Duration = Field(default="30s", description="Scrape interval.")
    scrapeTimeout: Duration = Field(default="10s", description="Scrape timeout.")
    labels: dict[str, str] = Field(
        default_factory=dict, description="Extra labels (to match a Prometheus selector)."
    )


class Monitoring(_Model):
    """monitoring.coreos.com/v1 monitors; enable one of them."""

    serviceMonitor: ScrapeConfig = Field(default_factory=ScrapeConfig, description="Via Service.")
    podMonitor: ScrapeConfig = Field(default_factory=ScrapeConfig, description="Via pods.")


class Rdma(_Model):
    """RDMA/InfiniBand for multi-node NCCL: extended resources and IPC_LOCK."""

    enabled: bool = Field(default=False, description="Request RDMA devices and add IPC_LOCK.")
    resources: ResourceList = Field(
        default_factory=dict, description="RDMA extended resources per pod, e.g. rdma/ib: 1."
    )


class SeccompProfile(_Model):
    """Seccomp profile."""

    type: Literal["RuntimeDefault", "Localhost", "Unconfined"] = Field(
        default="RuntimeDefault", description="Profile type."
    )
    localhostProfile: str | None = Field(default=None, description="Path for Localhost.")


class Capabilities(_Model):
    """Linux capabilities of the container (IPC_LOCK is added when rdma.enabled)."""

    add: list[str] = Field(default_factory=list, description="Capabilities to add.")
    drop: list[str] = Field(default_factory=lambda: ["ALL"], description="Capabilities to drop.")


class PodSecurityContext(_Model):
    """Pod securityContext. The default (NVIDIA) runs as uid 10001, like deploy-kit's
    Dockerfiles: a non-root uid gets a writable HOME (/home/vllm, an emptyDir) for vLLM's
    JIT/compile caches. AMD keeps root (runAsNonRoot false, the uid/gid fields null): ROCm
    device nodes belong to host groups whose ids vary per host."""

    runAsNonRoot: bool | None = Field(default=True, description="Require a non-root uid.")
    runAsUser: int | None = Field(
        default=10001, ge=0, description="uid (non-zero = writable HOME); null or 0 for root."
    )
    runAsGroup: int | None = Field(default=10001, ge=0, description="gid.")
    fsGroup: int | None = Field(default=10001, ge=0, description="Group owning mounted volumes.")
    fsGroupChangePolicy: Literal["OnRootMismatch", "Always"] | None = Field(
        default="OnRootMismatch",
        description="When to chown volumes (OnRootMismatch saves time on big caches).",
    )
    supplementalGroups: list[int] = Field(default_factory=list, description="Extra gids.")
    seccompProfile: SeccompProfile = Field(
        default_factory=SeccompProfile, description="Seccomp profile of the pod."
    )


class ContainerSecurityContext(_Model):
    """Container securityContext of the vLLM container."""

    allowPrivilegeEscalation: bool = Field(default=False, description="No setuid escalation.")
    privileged: bool = Field(default=False, description="Privileged container.")
    readOnlyRootFilesystem: bool = Field(
        default=False, description="Read-only root (a /tmp emptyDir is then mounted)."
    )
    runAsNonRoot: bool | None = Field(default=None, description="Require a non-root uid.")
    runAsUser: int | None = Field(default=None, ge=0, description="uid.")
    runAsGroup: int | None = Field(default=None, ge=0, description="gid.")
    capabilities: Capabilities = Field(default_factory=Capabilities, description="Capabilities.")
    seccompProfile: SeccompProfile = Field(
        default_factory=SeccompProfile, description="Seccomp profile of the container."
    )


class SmokeImage(_Model):
    """The deploy-kit toolkit image (docker/ in the repository) the `helm test` Pod runs."""

    repository: str = Field(default="deploy-kit", min_length=1, description="Image name.")
    tag: str = Field(
        default="",
        pattern=r"^([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$",
        description="Pinned tag; empty means the chart version (the deploy-kit release).",
    )
    pullPolicy: Literal["IfNotPresent", "Always", "Never"] = Field(
        default="IfNotPresent", description="imagePullPolicy of the smoke container."
    )


class Smoke(_Model):
    """`helm test`: a Pod running `deploy-kit smoke` against the Service."""

    enabled: bool = Field(default=True, description="Render the helm test hook Pod.")
    image: SmokeImage = Field(default_factory=SmokeImage, description="Toolkit image.")
    timeoutSeconds: int = Field(
        default=120, ge=1, le=3600, description="Seconds each smoke request may take (--timeout)."
    )
    requireEmbeddings: bool = Field(
        default=False, description="Fail the test when /v1/embeddings is not served."
    )
    # `deploy-kit smoke` with the openai client peaks at 71 MiB resident (measured with
    # /usr/bin/time -v against the recorded fake server); 128Mi requested, 512Mi for headroom.
    resources: Resources = Field(
        default_factory=lambda: Resources(
            requests=_resource_list(cpu="100m", memory="128Mi"),
            limits=_resource_list(cpu="1", memory="512Mi"),
        ),
        description="CPU and memory of the smoke Pod.",
    )
