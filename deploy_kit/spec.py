"""Typed data of deploy-kit: catalog entries, hardware profiles, planner knobs and the plan."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator


class Base(BaseModel):
    """Frozen, strict base of every deploy-kit model: unknown fields are errors.

    Validators are built on a model's first use, not when this module is imported: a command
    pays only for the models it touches (measured: `plan` 1.92x -> 1.84x of its floor)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


# --- human shorthands, parsed at the type level -------------------------------------------------

_BYTE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "ki": 1024,
    "kib": 1024,
    "mi": 1024**2,
    "mib": 1024**2,
    "gi": 1024**3,
    "gib": 1024**3,
    "ti": 1024**4,
    "tib": 1024**4,
}
_SIZE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$")
# One exabyte: far above any GPU or disk; a larger figure is a typo, not a machine.
MAX_BYTES = 10**18


def parse_bytes(value: object) -> int:
    """'80GB' -> 80e9, '79.19GiB' -> bytes, 12345 -> 12345. GB is decimal, GiB binary."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 80GB or 79GiB, got a boolean")
    if isinstance(value, int | float):
        number, unit = float(value), ""
    elif isinstance(value, str):
        m = _SIZE_RE.match(value)
        if not m:
            raise ValueError(f"expected a size such as 80GB or 79GiB, got {value!r}")
        number, unit = float(m.group(1)), m.group(2).lower()
        if unit not in _BYTE_UNITS:
            raise ValueError(
                f"unknown size unit {m.group(2)!r} in {value!r} (use GB, GiB, MiB, TB)"
            )
    else:
        raise ValueError(f"expected a size such as 80GB, got {type(value).__name__}")
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"size must be a positive finite number, got {value!r}")
    result = int(number * _BYTE_UNITS[unit])
    if result > MAX_BYTES:
        raise ValueError(f"size {value!r} is absurdly large (over 1 EB)")
    return result


_TOKENS_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kKmMgG]?)\s*$")
_TOKEN_UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "K": 1024, "M": 1024**2, "G": 1024**3}
# Far above any model's context (V4: 1,048,576); larger is a typo.
MAX_TOKENS = 1 << 40


def parse_tokens(value: object) -> int:
    """Token counts as vLLM's --max-model-len reads them: 1k = 1000, 1K = 1024, 1M = 2**20."""
    if isinstance(value, bool):
        raise ValueError("expected a token count such as 131072, 128K or 1M, got a boolean")
    if isinstance(value, int):
        result = value
    elif isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise ValueError(f"expected a whole token count, got {value!r}")
        result = int(value)
    elif isinstance(value, str):
        m = _TOKENS_RE.match(value)
        if not m:
            raise ValueError(
                f"expected a token count such as 131072, 128K (=131072) or 1M (=1048576), "
                f"got {value!r}"
            )
        number = float(m.group(1)) * _TOKEN_UNITS[m.group(2)]
        if number != int(number):
            raise ValueError(f"{value!r} is not a whole number of tokens")
        result = int(number)
    else:
        raise ValueError(f"expected a token count, got {type(value).__name__}")
    if result <= 0:
        raise ValueError(f"token count must be positive, got {value!r}")
    if result > MAX_TOKENS:
        raise ValueError(f"token count {value!r} is absurdly large")
    return result


_DURATION_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|sec|min|m)?\s*$", re.IGNORECASE)
_DURATION_MS = {"": 1.0, "ms": 1.0, "s": 1000.0, "sec": 1000.0, "m": 60_000.0, "min": 60_000.0}
# A latency target above an hour is a typo, not a service-level objective.
MAX_DURATION_MS = 3_600_000.0


def parse_duration_ms(value: object) -> float:
    """'2s' -> 2000.0, '50ms' -> 50.0, 1.5 or '1.5' -> 1.5 (a bare number is milliseconds)."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 2s or 50ms, got a boolean")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        m = _DURATION_RE.match(value)
        if not m:
            raise ValueError(f"expected a duration such as 2s, 500ms or 50 (ms), got {value!r}")
        number = float(m.group(1)) * _DURATION_MS[(m.group(2) or "").lower()]
    else:
        raise ValueError(f"expected a duration such as 2s or 50ms, got {type(value).__name__}")
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"duration must be positive, got {value!r}")
    if number > MAX_DURATION_MS:
        raise ValueError(f"duration {value!r} is over an hour")
    return number


def check_name(value: object) -> object:
    """Names end up in file headers and labels: printable text only."""
    if isinstance(value, str) and any(not ch.isprintable() for ch in value):
        raise ValueError("must not contain control characters or invisible formatting")
    return value


Bytes = Annotated[int, BeforeValidator(parse_bytes)]
SafeName = Annotated[str, BeforeValidator(check_name)]
Tokens = Annotated[int, BeforeValidator(parse_tokens)]
DurationMs = Annotated[float, BeforeValidator(parse_duration_ms)]

_HW_RE = re.compile(r"^\s*(?:(\d+)\s*[xX*]\s*)?(\d+)\s*[xX*]\s*([A-Za-z][A-Za-z0-9 _.\-]*)\s*$")
# Larger clusters than this are not one deployment; the bound keeps enumeration finite.
MAX_NODES = 1024
MAX_GPUS_PER_NODE = 72


class HardwareShorthand(Base):
    """Parsed `[NODESx]COUNTxGPU` (e.g. 8xH200, 2x8xH100)."""

    nodes: int = Field(description="Number of nodes")
    gpus_per_node: int = Field(description="GPUs in each node")
    gpu: str = Field(description="GPU name or alias as written")


def parse_hardware_shorthand(text: str) -> HardwareShorthand:
    """Parse `[NODESx]COUNTxGPU`; raise ValueError with the expected form on mismatch."""
    m = _HW_RE.match(text)
    if not m:
        raise ValueError(
            f"cannot read hardware {text!r}: expected [NODESx]COUNTxGPU such as 8xH200 or "
            "2x8xH100, or a YAML file"
        )
    nodes = int(m.group(1)) if m.group(1) else 1
    count = int(m.group(2))
    if not 1 <= nodes <= MAX_NODES:
        raise ValueError(f"node count {nodes} out of range 1..{MAX_NODES}")
    if not 1 <= count <= MAX_GPUS_PER_NODE:
        raise ValueError(f"GPUs per node {count} out of range 1..{MAX_GPUS_PER_NODE}")
    return HardwareShorthand(nodes=nodes, gpus_per_node=count, gpu=m.group(3).strip())


# --- catalog ------------------------------------------------------------------------------------

Vendor = Literal["nvidia", "amd"]
ArchName = Literal[
    "ampere",
    "ada",
    "hopper",
    "blackwell",
    "blackwell-ultra",
    "blackwell-workstation",
    "cdna3",
    "cdna4",
]
Interconnect = Literal["nvlink", "nvlink-c2c", "pcie", "infinity-fabric", "unified"]
Network = Literal["none", "ethernet", "infiniband", "roce"]
WeightFormatName = Literal["fp4-e2m1", "nvfp4", "fp8-block", "bf16", "int8", "int4"]


class GpuSpec(Base):
    """One accelerator type."""

    id: str = Field(description="Catalog id, e.g. h200")
    name: str = Field(description="Human name")
    aliases: list[str] = Field(default_factory=list, description="Names accepted on input")
    vendor: Vendor = Field(description="nvidia or amd")
    arch: ArchName = Field(description="Architecture family")
    sm: str | None = Field(default=None, description="CUDA compute capability (SM), NVIDIA only")
    memory_gb: float = Field(gt=0, le=100_000, description="Datasheet memory in GB (decimal)")
    usable_mib: int | None = Field(
        default=None, gt=0, description="Total memory the driver reports, MiB (None: estimate)"
    )
    bandwidth_tbps: float = Field(gt=0, le=1000, description="Memory bandwidth, TB/s")
    bf16_tflops: float = Field(gt=0, le=1e6, description="Dense BF16 TFLOP/s")
    fp8_tflops: float | None = Field(default=None, description="Dense FP8 TFLOP/s; None: no FP8")
    fp4_tflops: float | None = Field(default=None, description="Dense FP4 TFLOP/s; None: no FP4")
    scale_up: str = Field(default="", description="Scale-up link as a datasheet names it")
    scale_up_gbps: float = Field(default=64, gt=0, description="Scale-up bandwidth, GB/s")
    k8s_resource: str = Field(default="nvidia.com/gpu", description="Kubernetes resource name")
    k8s_product_labels: list[str] = Field(
        default_factory=list, description="Values of the node label for this GPU's product"
    )
    gpu_hour_usd: float = Field(default=0.0, ge=0, description="Assumed price per GPU-hour, USD")
    source: str = Field(description="Where the figures come from")

    @property
    def usable_bytes(self) -> int:
        """Total memory vLLM sees (driver figure, else the datasheet figure)."""
        if self.usable_mib is not None:
            return self.usable_mib * 1024**2
        return int(self.memory_gb * 1e9)

    @property
    def fp8(self) -> bool:
        return self.fp8_tflops is not None

    @property
    def fp4(self) -> bool:
        return self.fp4_tflops is not None


class ModelArch(Base):
    """Architecture numbers from config.json."""

    num_hidden_layers: int = Field(gt=0, description="Transformer layers (MTP excluded)")
    hidden_size: int = Field(gt=0, description="Hidden size")
    num_attention_heads: int = Field(gt=0, description="Attention heads")
    num_key_value_heads: int = Field(gt=0, description="KV heads (1: one latent, replicated by TP)")
    head_dim: int = Field(gt=0, description="Head dimension incl. RoPE dims")
    q_lora_rank: int = Field(gt=0, description="Query LoRA rank")
    o_lora_rank: int = Field(gt=0, description="Output LoRA rank")
    o_groups: int = Field(gt=0, description="Output projection groups (TP must divide)")
    n_routed_experts: int = Field(gt=0, description="Routed experts per MoE layer")
    n_shared_experts: int = Field(ge=0, description="Shared experts per MoE layer")
    num_experts_per_tok: int = Field(gt=0, description="Experts activated per token")
    moe_intermediate_size: int = Field(gt=0, description="Expert FFN intermediate size")
    sliding_window: int = Field(gt=0, description="Sliding window of the SWA cache")
    index_topk: int = Field(gt=0, description="Sparse attention top-k of the indexer")
    vocab_size: int = Field(gt=0, description="Vocabulary size")
    max_position_embeddings: int = Field(gt=0, description="Longest context the model supports")
    layer_kinds: dict[Literal["swa", "csa", "hca"], int] = Field(
        description="Layer count per attention kind (0 = SWA only, 4 = CSA, 128 = HCA)"
    )

    @property
    def routed_expert_params(self) -> float:
        """Routed-expert parameters: layers x experts x 3 matrices x hidden x intermediate."""
        return float(
            self.num_hidden_layers
            * self.n_routed_experts
            * 3
            * self.hidden_size
            * self.moe_intermediate_size
        )


class ApiPrice(Base):
    """DeepSeek API list price per 1M tokens, USD."""

    input: float = Field(ge=0, description="Input tokens, cache miss")
    input_cache_hit: float = Field(ge=0, description="Input tokens, cache hit")
    output: float = Field(ge=0, description="Output tokens")


class ModelCard(Base):
    """A model family member (Flash, Pro)."""

    id: str = Field(description="Short id, e.g. deepseek-v4-flash")
    name: str = Field(description="Human name")
    params_total_b: float = Field(gt=0, description="Total parameters, billions")
    params_active_b: float = Field(gt=0, description="Active parameters per token, billions")
    legacy: bool = Field(default=False, description="Kept for comparison only")
    arch: ModelArch = Field(description="Architecture from config.json")
    kv_layout: str = Field(description="Id of the KV layout in kv_layouts.yaml")
    verified_gpus: list[str] = Field(description="GPU ids in upstream verification lists")
    api_price_per_1m: ApiPrice = Field(description="DeepSeek API list price")
    source: str = Field(description="Where the figures come from")


class WeightSplit(Base):
    """Storage format per tensor group."""

    experts: WeightFormatName = Field(description="Routed experts")
    rest: WeightFormatName = Field(description="Everything else (attention, shared experts, ...)")


class LegacyArch(Base):
    """Architecture numbers of a DeepSeek V3-family checkpoint (MLA + MoE), from config.json."""

    num_hidden_layers: int = Field(gt=0, description="Transformer layers (MTP excluded)")
    first_k_dense_replace: int = Field(ge=0, description="Leading dense (non-MoE) layers")
    hidden_size: int = Field(gt=0, description="Hidden size")
    num_attention_heads: int = Field(gt=0, description="Attention heads (TP must divide)")
    n_routed_experts: int = Field(gt=0, description="Routed experts per MoE layer")
    num_experts_per_tok: int = Field(gt=0, description="Experts activated per token")
    moe_intermediate_size: int = Field(gt=0, description="Expert FFN intermediate size")
    max_position_embeddings: int = Field(gt=0, description="Longest context the model supports")
    index_topk: int | None = Field(default=None, description="Sparse attention top-k (V3.2)")

    @property
    def routed_expert_params(self) -> float:
        """Routed-expert parameters: MoE layers x experts x 3 matrices x hidden x intermediate."""
        moe_layers = self.num_hidden_layers - self.first_k_dense_replace
        per_layer = self.n_routed_experts * 3 * self.hidden_size * self.moe_intermediate_size
        return float(moe_layers * per_layer)


class LegacyModel(Base):
    """An earlier DeepSeek release kept so `lint` can check files that serve it (heads, weight
    size, load time, context limit). The planner never plans it: status is always legacy."""

    id: str = Field(description="Short id, e.g. deepseek-r1")
    name: str = Field(description="Human name")
    hf_id: str = Field(description="Hugging Face repository id")
    status: Literal["legacy"] = Field(description="Lint only: plan and capacity refuse it")
    released: str = Field(description="Release date")
    params_total_b: float = Field(gt=0, description="Parameters without the MTP module, billions")
    params_active_b: float = Field(gt=0, description="Active parameters per token, billions")
    arch: LegacyArch = Field(description="Architecture from config.json")
    weights: WeightSplit = Field(description="Storage format per tensor group")
    source: str = Field(description="Where the figures come from")


class Speculative(Base):
    """Speculative decoding module shipped with a checkpoint."""

    method: Literal["mtp", "dspark"] = Field(description="vLLM speculative method")
    num_speculative_tokens: int = Field(gt=0, description="Draft tokens per step")
    hopper_num_speculative_tokens: int | None = Field(
        default=None, description="Override on Hopper (recipes: 1 for Flash)"
    )
    draft_sample_method: str | None = Field(default=None, description="DSpark sampling method")


class Checkpoint(Base):
    """A published set of weights."""

    id: str = Field(description="Short id")
    hf_id: str = Field(description="Hugging Face repository id")
    model: str = Field(description="Model card id")
    released: str | None = Field(default=None, description="Release date")
    status: Literal["preview", "official", "base", "community"] = Field(description="Release kind")
    weights: WeightSplit = Field(description="Storage format per tensor group")
    weights_label: str = Field(description="Short name of the weight format (native, fp8, ...)")
    disk_gib: float | None = Field(default=None, gt=0, description="Size on disk, GiB")
    shards: int | None = Field(default=None, description="Safetensors shards")
    min_vllm: str = Field(description="Oldest vLLM that serves it")
    min_vllm_rocm: str | None = Field(default=None, description="Oldest vLLM on ROCm, if later")
    speculative: Speculative | None = Field(default=None, description="Draft module, if any")
    vram_minimum_gb: float | None = Field(default=None, description="Recipe vram_minimum_gb")
    chat: bool = Field(default=True, description="Instruction-tuned (False: completion only)")
    requires_arch: list[ArchName] | None = Field(default=None, description="Only these archs")
    source: str = Field(description="Where the figures come from")


class KvGroup(Base):
    """One KV cache group as vLLM forms it."""

    name: str = Field(description="What the group stores")
    kind: Literal["full", "sliding_window"] = Field(description="Grows with context or bounded")
    layers: int = Field(gt=0, description="Layers in the group")
    block_tokens: int = Field(gt=0, description="Context tokens one block of this group covers")
    page_bytes: int = Field(gt=0, description="Bytes of one block of this group")
    window: int | None = Field(default=None, description="Sliding window (bounded groups)")


class KvLayout(Base):
    """The KV groups of one model for one vLLM version range."""

    id: str = Field(description="Layout id")
    vllm_min: str = Field(description="First vLLM version with this layout")
    block_size: int = Field(description="--block-size the layout assumes")
    kv_cache_dtype: str = Field(description="--kv-cache-dtype the layout assumes")
    bytes_per_token_growing: float = Field(description="Growing bytes per context token")
    groups: list[KvGroup] = Field(description="Groups sharing one block pool")
    source: str = Field(description="Where the layout comes from")


class PresetGroup(Base):
    """A family of presets: one per (nodes, count)."""

    gpu: str = Field(description="GPU id")
    counts: list[int] = Field(description="GPUs per node")
    nodes: list[int] = Field(default_factory=lambda: [1], description="Node counts")
    interconnect: Interconnect = Field(description="Link between GPUs of one node")
    network: Network = Field(default="none", description="Network between nodes")
    network_gbps: float | None = Field(default=None, description="Per-node network bandwidth, Gb/s")
    source: str = Field(description="Why this shape exists")


# --- hardware profile ---------------------------------------------------------------------------


class HardwareProfile(Base):
    """What the deployment runs on: identical nodes, each with the same GPUs."""

    name: str = Field(description="Profile name, e.g. 8xH200 or a file's name")
    gpu: GpuSpec = Field(description="The GPU of every node")
    gpus_per_node: int = Field(ge=1, le=MAX_GPUS_PER_NODE, description="GPUs per node")
    nodes: int = Field(default=1, ge=1, le=MAX_NODES, description="Number of nodes")
    interconnect: Interconnect = Field(default="nvlink", description="GPU link inside a node")
    network: Network = Field(default="none", description="Network between nodes")
    network_gbps: float | None = Field(default=None, gt=0, description="Per-node network, Gb/s")
    gpu_hour_usd: float | None = Field(
        default=None, ge=0, le=10_000, description="Price per GPU-hour (default: the catalog's)"
    )
    source: str = Field(default="", description="Preset source or file path")

    @property
    def total_gpus(self) -> int:
        return self.gpus_per_node * self.nodes

    @property
    def price(self) -> float:
        return self.gpu.gpu_hour_usd if self.gpu_hour_usd is None else self.gpu_hour_usd

    @model_validator(mode="after")
    def _multi_node_needs_network(self) -> HardwareProfile:
        if self.nodes > 1 and self.network == "none":
            raise ValueError(
                "several nodes need a network: set network to ethernet, infiniband or roce"
            )
        return self


class CustomGpu(Base):
    """A GPU described in a hardware file instead of named from the catalog."""

    name: SafeName = Field(min_length=1, max_length=80, description="Name")
    memory: Bytes = Field(description="Memory per GPU, e.g. 96GB or 89.4GiB")
    bandwidth_tbps: float = Field(gt=0, le=1000, description="Memory bandwidth, TB/s")
    arch: ArchName = Field(description="Architecture family (decides the supported kernels)")
    vendor: Vendor = Field(default="nvidia", description="nvidia or amd")
    sm: str | None = Field(default=None, description="Compute capability, e.g. 90")
    bf16_tflops: float = Field(default=500, gt=0, le=1e6, description="Dense BF16 TFLOP/s")
    fp8: bool = Field(default=True, description="Native FP8 support")
    fp4: bool = Field(default=False, description="Native FP4 support")
    k8s_resource: str | None = Field(default=None, description="Kubernetes resource name")
    gpu_hour_usd: float = Field(default=0.0, ge=0, le=10_000, description="Price per GPU-hour")


class HardwareFile(Base):
    """The YAML hardware profile a person writes (`--hardware file.yaml`)."""

    name: SafeName | None = Field(default=None, max_length=120, description="Profile name")
    gpu: str | CustomGpu = Field(description="Catalog GPU name/alias, or a custom GPU")
    gpus_per_node: int = Field(ge=1, le=MAX_GPUS_PER_NODE, description="GPUs per node")
    nodes: int = Field(default=1, ge=1, le=MAX_NODES, description="Number of nodes")
    interconnect: Interconnect | None = Field(default=None, description="GPU link inside a node")
    network: Network | None = Field(default=None, description="Network between nodes")
    network_gbps: float | None = Field(default=None, gt=0, le=1e5, description="Gb/s per node")
    gpu_hour_usd: float | None = Field(default=None, ge=0, le=10_000, description="Price/GPU-hour")


# --- planner intent -----------------------------------------------------------------------------

Strategy = Literal["tp", "tep", "dep", "tp-pp"]
MultiNode = Literal["none", "nnodes", "data-parallel"]
Objective = Literal["capacity", "latency", "throughput", "goodput", "cost"]
Percentile = Literal["p50", "p90"]
WeightsChoice = Literal["native", "fp4", "nvfp4", "fp8", "bf16", "fp16", "int8", "int4"]


class RequestShape(Base):
    """One kind of request in a workload mix."""

    isl: Tokens = Field(description="Input (prompt) tokens")
    osl: Tokens = Field(description="Output tokens")
    weight: float = Field(default=1.0, gt=0, le=1e6, description="Share of requests (relative)")


class Knobs(Base):
    """Planner knobs; each one set by the user is pinned and checked, never changed."""

    weights: WeightsChoice = Field(default="native", description="Weight precision")
    context: Tokens | None = Field(default=None, description="max_model_len (None: choose)")
    concurrency: int | None = Field(
        default=None, ge=1, le=1_000_000, description="Target concurrent requests"
    )
    optimize: Objective = Field(default="capacity", description="Scoring objective")
    strategy: Strategy | None = Field(default=None, description="Pinned strategy")
    tp: int | None = Field(default=None, ge=1, le=1024, description="Pinned tensor parallel size")
    pp: int | None = Field(default=None, ge=1, le=1024, description="Pinned pipeline parallel size")
    dp: int | None = Field(default=None, ge=1, le=65536, description="Pinned data parallel size")
    ep: bool | None = Field(default=None, description="Pinned expert parallelism")
    gpu_memory_utilization: float | None = Field(
        default=None, gt=0, le=1, description="Fraction of GPU memory vLLM may use"
    )
    kv_cache_memory_bytes: Bytes | None = Field(
        default=None, description="KV cache per GPU in bytes (overrides the budget)"
    )
    max_num_seqs: int | None = Field(default=None, ge=1, le=65536, description="Per DP rank")
    max_num_batched_tokens: Tokens | None = Field(default=None, description="Per step, per rank")
    async_scheduling: bool | None = Field(default=None, description="Async scheduling")
    vllm_version: str | None = Field(default=None, description="vLLM version to plan for")
    image: str | None = Field(default=None, description="Container image override")
    speculative: bool = Field(default=False, description="Enable the checkpoint's draft module")
    isl: Tokens | None = Field(default=None, description="Workload: input tokens per request")
    osl: Tokens | None = Field(default=None, description="Workload: output tokens per request")
    workload: list[RequestShape] | None = Field(
        default=None, min_length=1, max_length=64, description="Workload: a mix of request shapes"
    )
    ttft_ms: DurationMs | None = Field(default=None, description="SLA: time to first token, ms")
    tpot_ms: DurationMs | None = Field(default=None, description="SLA: time per output token, ms")
    percentile: Percentile = Field(default="p50", description="Percentile the SLA applies to")
    request_rate: float | None = Field(
        default=None, gt=0, le=1e6, description="Workload: arriving requests per second (open loop)"
    )

    @model_validator(mode="after")
    def _one_workload(self) -> Knobs:
        if self.workload is not None and (self.isl is not None or self.osl is not None):
            raise ValueError("give either isl/osl or a workload mix, not both")
        if self.request_rate is not None and self.concurrency is not None:
            raise ValueError("give either request_rate or concurrency, not both")
        return self

    @property
    def has_sla(self) -> bool:
        return self.ttft_ms is not None or self.tpot_ms is not None


# --- the plan -----------------------------------------------------------------------------------


class MemoryPerGpu(Base):
    """Memory budget of one GPU (GiB). Only total and KV layout are exact; the rest estimates."""

    total_gib: float = Field(description="Memory the driver reports")
    requested_gib: float = Field(description="total x gpu_memory_utilization (what vLLM claims)")
    weights_gib: float = Field(description="Weights resident on this GPU (estimate)")
    activation_gib: float = Field(description="Activation peak (estimate)")
    overhead_gib: float = Field(
        description="Non-torch memory: NCCL, all2all, workspaces (estimate)"
    )
    cudagraph_gib: float = Field(description="CUDA graph memory (estimate)")
    kv_cache_gib: float = Field(description="Memory left for the KV cache")
    kv_cache_bytes: int = Field(description="Memory left for the KV cache, bytes")
    estimates: list[str] = Field(description="Which fields are estimates")


class Capacity(Base):
    """KV capacity as vLLM computes it, per engine (per DP rank) and in total."""

    engines: int = Field(description="Independent KV pools: replicas x DP ranks")
    max_concurrency_per_engine: float = Field(description="vLLM's 'Maximum concurrency' (2 dp)")
    kv_cache_tokens_per_engine: int = Field(description="vLLM's 'GPU KV cache size: N tokens'")
    max_concurrency_total: float = Field(description="Sum over engines")
    max_model_len_fit: int = Field(description="Longest context one request can have")
    num_blocks: int = Field(description="KV blocks per engine")
    blocks_per_request: int = Field(description="Blocks one request at max_model_len needs")
    bytes_per_block: int = Field(description="Unified block size, bytes")


class Performance(Base):
    """Performance model estimates at one operating point; never measurements."""

    estimate: Literal[True] = Field(default=True, description="Always an estimate")
    concurrency: int = Field(description="Concurrent requests the figures are for")
    output_tokens_per_s_per_gpu: float = Field(description="Decode tokens/s per GPU")
    output_tokens_per_s_per_user: float = Field(description="Decode tokens/s seen by one user")
    output_tokens_per_s_total: float = Field(description="Decode tokens/s of the deployment")
    tpot_ms: float = Field(description="Time per output token")
    ttft_ms: float = Field(description="Time to first token for the assumed prompt length")
    prompt_tokens: int = Field(description="Prompt length assumed for TTFT")
    gpu_hour_usd: float = Field(description="Assumed price per GPU-hour")
    cost_per_1m_output_tokens: float | None = Field(description="USD per 1M output tokens")
    api_price_per_1m_output_tokens: float = Field(description="DeepSeek API list price, output")
    model: str = Field(description="How the estimate is made")
    output_tokens: int | None = Field(default=None, description="Output tokens per request (OSL)")
    percentile: Percentile = Field(default="p50", description="Percentile of TTFT/TPOT shown")
    batch_per_rank: float | None = Field(
        default=None, description="Requests decoding together on one DP rank"
    )
    max_batch_per_rank: float | None = Field(
        default=None, description="Batch limit per DP rank: max-num-seqs or decode-time KV"
    )
    sla_met: bool | None = Field(default=None, description="Meets the SLA (None: no SLA given)")
    sla_misses: list[str] = Field(default_factory=list, description="What of the SLA it breaks")
    goodput_tokens_per_s_per_gpu: float | None = Field(
        default=None, description="Output tokens/s/GPU of requests that meet the SLA"
    )


class ParetoPoint(Base):
    """One layout at one concurrency on the throughput / interactivity front."""

    layout: str = Field(description="Layout label, e.g. DP8+EP")
    strategy: Strategy = Field(description="tp, tep, dep or tp-pp")
    concurrency: int = Field(description="Concurrent requests in the deployment")
    tokens_per_s_per_gpu: float = Field(description="Output tokens/s per GPU")
    tokens_per_s_per_user: float = Field(description="Output tokens/s one user sees")
    ttft_ms: float = Field(description="Time to first token at the SLA percentile")
    tpot_ms: float = Field(description="Time per output token at the SLA percentile")
    meets_sla: bool = Field(description="True when no SLA is given or it is met")
    misses: list[str] = Field(default_factory=list, description="What of the SLA it breaks")
    chosen: bool = Field(default=False, description="The plan's operating point")


class VllmSpec(Base):
    """The vLLM invocation, per node role, from vllm.py."""

    argv: dict[str, list[str]] = Field(description="argv per node role (node-0 is the head)")
    env: dict[str, str] = Field(description="Environment every node sets")
    placeholders: dict[str, str] = Field(
        default_factory=dict, description="Shell variables the argv expects on each node"
    )


class Layout(Base):
    """One parallel layout of an engine and how many engines the hardware runs."""

    strategy: Strategy = Field(description="tp, tep, dep or tp-pp")
    tensor_parallel: int = Field(description="TP size")
    pipeline_parallel: int = Field(description="PP size")
    data_parallel: int = Field(description="DP size")
    expert_parallel: bool = Field(description="--enable-expert-parallel")
    nodes_per_engine: int = Field(description="Nodes one engine spans")
    replicas: int = Field(description="Independent engines")

    @property
    def world(self) -> int:
        return self.tensor_parallel * self.pipeline_parallel * self.data_parallel

    def label(self) -> str:
        parts = [f"TP{self.tensor_parallel}"]
        if self.pipeline_parallel > 1:
            parts.append(f"PP{self.pipeline_parallel}")
        if self.data_parallel > 1:
            parts.append(f"DP{self.data_parallel}")
        if self.expert_parallel:
            parts.append("EP")
        text = "+".join(parts)
        return f"{self.replicas}x {text}" if self.replicas > 1 else text


class Alternative(Base):
    """A candidate the planner ranked below the chosen one."""

    layout: Layout = Field(description="The candidate layout")
    score: float = Field(description="Objective score (higher is better)")
    max_concurrency_total: float = Field(description="Concurrency at the plan's context")
    tpot_ms: float = Field(description="Estimated TPOT")
    why_not: str = Field(description="Why it ranked lower")


class Rejected(Base):
    """A candidate layout that breaks a rule."""

    layout: Layout = Field(description="The candidate layout")
    rule: str = Field(description="Rule id, e.g. heads-divisible")
    reason: str = Field(description="One line: what breaks")
    max_model_len_fit: int | None = Field(
        default=None, description="For context-fit: the longest context that would fit"
    )


class Plan(Base):
    """A complete, explained deployment plan. Field names are stable (add, never rename)."""

    deploy_kit_version: str = Field(description="deploy-kit version that made the plan")
    model: str = Field(description="Model card id")
    checkpoint: str = Field(description="Hugging Face id of the weights")
    checkpoint_id: str = Field(description="Catalog id of the checkpoint")
    weights: str = Field(description="Weight format as planned")
    what_if: bool = Field(description="True when no published checkpoint has these weights")
    vllm_version: str = Field(description="vLLM version planned for")
    image: str = Field(description="Container image")
    hardware: HardwareProfile = Field(description="Hardware profile")
    strategy: Strategy = Field(description="tp, tep, dep or tp-pp")
    tensor_parallel: int = Field(description="TP size")
    pipeline_parallel: int = Field(description="PP size")
    data_parallel: int = Field(description="DP size")
    data_parallel_local: int = Field(description="DP ranks per node")
    expert_parallel: bool = Field(description="Expert parallelism")
    nodes: int = Field(description="Nodes one engine spans")
    gpus_per_node: int = Field(description="GPUs each node (pod) uses")
    replicas: int = Field(description="Independent engines")
    multi_node: MultiNode = Field(
        description="How nodes are joined: --nnodes (TP/PP) or --data-parallel-* (DP)"
    )
    max_model_len: int = Field(description="--max-model-len")
    max_num_seqs: int = Field(description="--max-num-seqs (per DP rank)")
    max_num_batched_tokens: int = Field(description="--max-num-batched-tokens (per rank)")
    async_scheduling: bool = Field(description="Async scheduling on")
    gpu_memory_utilization: float = Field(description="--gpu-memory-utilization")
    kv_cache_memory_bytes: int | None = Field(description="--kv-cache-memory-bytes, if pinned")
    kv_cache_dtype: str = Field(description="--kv-cache-dtype")
    block_size: int = Field(description="--block-size")
    speculative: bool = Field(description="Speculative decoding on")
    memory: dict[str, MemoryPerGpu] = Field(description="Memory budget: key per_gpu")
    capacity: Capacity = Field(description="KV capacity")
    performance: Performance = Field(description="Labelled estimates")
    load_time_s: int = Field(description="Estimated time from start to ready (estimate)")
    shm_bytes: int = Field(description="/dev/shm size the containers get")
    vllm: VllmSpec = Field(description="argv and env per node role")
    warnings: list[str] = Field(description="What the user should know")
    rationale: list[str] = Field(description="Why this plan")
    alternatives: list[Alternative] = Field(description="Ranked runners-up")
    rejected: list[Rejected] = Field(description="Layouts that break a rule, with the reason")
    pareto: list[ParetoPoint] = Field(
        default_factory=list,
        description="Front of tokens/s/GPU vs tokens/s/user over layouts and concurrencies",
    )
    knobs: Knobs = Field(description="Knobs as given (pinned ones are not None)")

    @property
    def layout(self) -> Layout:
        return Layout(
            strategy=self.strategy,
            tensor_parallel=self.tensor_parallel,
            pipeline_parallel=self.pipeline_parallel,
            data_parallel=self.data_parallel,
            expert_parallel=self.expert_parallel,
            nodes_per_engine=self.nodes,
            replicas=self.replicas,
        )

    def one_line(self) -> str:
        """The plan in one line, for file headers and logs."""
        return (
            f"{self.checkpoint} on {self.hardware.name}: {self.layout.label()}, "
            f"max-model-len {self.max_model_len}, vLLM {self.vllm_version}"
        )


def dump_plain(model: BaseModel) -> dict[str, Any]:
    """JSON-ready dict of a model (the CLI's `-o json` shape)."""
    return model.model_dump(mode="json")
