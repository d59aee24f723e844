"""What the search and the plan builders share: the planned target, a candidate layout, settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from deploy_kit.catalog import Catalog
from deploy_kit.planner import memory, perf, rules, serving
from deploy_kit.spec import (
    Checkpoint,
    HardwareProfile,
    Knobs,
    Layout,
    ModelCard,
    MultiNode,
    Rejected,
)

GIB = memory.GIB
# vLLM 0.33's default --gpu-memory-utilization (serve --help: "default value of 0.92").
DEFAULT_UTILIZATION = 0.92
WEIGHT_CHOICES = {
    "native": None,
    "fp4": ("fp4-e2m1", "fp8-block"),
    "nvfp4": ("nvfp4", "fp8-block"),
    "fp8": ("fp8-block", "fp8-block"),
    "bf16": ("bf16", "bf16"),
    "fp16": ("bf16", "bf16"),
    "int8": ("int8", "fp8-block"),
    "int4": ("int4", "fp8-block"),
}


@dataclass(frozen=True)
class Target:
    """The checkpoint actually planned and its weight formats."""

    checkpoint: Checkpoint
    model: ModelCard
    experts_format: str
    rest_format: str
    weights_label: str
    what_if: bool
    notes: tuple[str, ...] = ()


@dataclass
class Candidate:
    layout: Layout
    multi_node: MultiNode
    dp_local: int
    budget: memory.Budget
    kv: memory.KvCapacity
    est: perf.Estimate
    score: float = 0.0
    notes: list[str] = field(default_factory=list)
    deployment: perf.Deployment | None = None
    # The load sweep (every ladder concurrency) with what each point misses of the SLA.
    points: list[serving.Scored] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)


def resolve_target(catalog: Catalog, model_name: str, weights: str) -> Target:
    """Pick the checkpoint for a model name and a weight choice; what-ifs keep the nearest real."""
    ckpt = catalog.checkpoint(model_name)
    model = catalog.model_of(ckpt)
    wanted = WEIGHT_CHOICES.get(weights)
    if wanted is None:
        return Target(
            ckpt, model, ckpt.weights.experts, ckpt.weights.rest, ckpt.weights_label, False
        )
    for c in catalog.checkpoints.values():
        if c.model == model.id and (c.weights.experts, c.weights.rest) == wanted and c.chat:
            note = () if c.id == ckpt.id else (f"--weights {weights}: planned {c.hf_id}",)
            return Target(c, model, wanted[0], wanted[1], weights, False, note)
    nearest = catalog.checkpoints[model.id]
    return Target(
        nearest,
        model,
        wanted[0],
        wanted[1],
        weights,
        True,
        (
            f"what-if: no published {model.name} checkpoint has {weights} weights; planned "
            f"as if it existed. Nearest real checkpoint: {nearest.hf_id} (FP4 experts + FP8), "
            "already smaller than INT4/INT8 would be",
        ),
    )


def vllm_batch_defaults(hw: HardwareProfile) -> tuple[int, int]:
    """vLLM 0.33's (max_num_seqs, max_num_batched_tokens) by device memory (facts section 4)."""
    gib = hw.gpu.usable_bytes / GIB
    if gib >= 160:
        return 1024, 16384
    if gib >= 70 and hw.gpu.arch != "ampere" and hw.gpu.sm != "121":
        return 1024, 8192
    return 256, 2048


def recipe_defaults(model: ModelCard, hw: HardwareProfile) -> tuple[float, int | None, int | None]:
    """Recipe choices per hardware: (utilization, max_num_seqs, max_num_batched_tokens)."""
    if hw.gpu.vendor == "amd":
        return 0.9, 512, 8192
    if hw.gpu.arch == "hopper" and model.id == "deepseek-v4-pro":
        return 0.95, 16, None
    return DEFAULT_UTILIZATION, None, None


@dataclass
class Settings:
    utilization: float
    max_num_seqs: int
    mnbt: int


def settings(model: ModelCard, hw: HardwareProfile, k: Knobs) -> Settings:
    seqs, mnbt = vllm_batch_defaults(hw)
    util, r_seqs, r_mnbt = recipe_defaults(model, hw)
    return Settings(
        utilization=k.gpu_memory_utilization or util,
        max_num_seqs=k.max_num_seqs or r_seqs or seqs,
        mnbt=k.max_num_batched_tokens or r_mnbt or mnbt,
    )


def async_for(layout: Layout, k: Knobs) -> bool:
    """vLLM turns async scheduling on by default only with PP = 1 (facts section 4)."""
    if k.async_scheduling is not None:
        return k.async_scheduling
    return layout.pipeline_parallel == 1


# vLLM before 0.26 reserves max-num-batched-tokens once per sliding-window group whether or not
# async scheduling is on; 0.26 and later reserve it for every batch in flight (2 with async).
# Inferred from startup logs (catalog/startup_logs.yaml): vllm issue 51454's v0.25.0 logs on
# 8 x B200 are reproduced within 5 % only without the doubling (with it they would need more KV
# memory than a B200 has), while vllm issue 51041's v0.26.0 log and the GB10 v0.27 log need it.
KV_ASYNC_DOUBLING_SINCE = (0, 26, 0)


def kv_async(layout: Layout, k: Knobs, version: str) -> bool:
    """Whether the KV planner of this vLLM version counts 2 batches in flight."""
    try:
        doubling = rules.version_tuple(version) >= KV_ASYNC_DOUBLING_SINCE
    except ValueError:
        doubling = True
    return async_for(layout, k) and doubling


@dataclass
class Search:
    candidates: list[Candidate]
    rejected: list[Rejected]
    pinned_rule: rules.Violation | None


def objective_of(k: Knobs) -> str:
    """The objective in force: the one given, else max goodput when an SLA is given."""
    if "optimize" in k.model_fields_set or not k.has_sla:
        return k.optimize
    return "goodput"


def draft_of(t: Target, hw: HardwareProfile, k: Knobs) -> tuple[str, int] | None:
    """(method, draft tokens) when speculative decoding is on (Hopper's own count if set)."""
    spec = t.checkpoint.speculative
    if not k.speculative or spec is None:
        return None
    tokens = spec.num_speculative_tokens
    if hw.gpu.arch == "hopper" and spec.hopper_num_speculative_tokens:
        tokens = spec.hopper_num_speculative_tokens
    return spec.method, tokens


def engines_of(c: Candidate) -> int:
    return c.layout.replicas * c.layout.data_parallel


def total_concurrency(c: Candidate) -> float:
    """Requests of the planned length the whole deployment holds at once (all KV pools)."""
    return c.kv.max_concurrency * engines_of(c)
