"""Memory model: weights per GPU, vLLM's KV cache arithmetic for V4, and the per-GPU budget."""

from __future__ import annotations

import math
from dataclasses import dataclass

from deploy_kit.spec import Checkpoint, KvGroup, KvLayout, ModelCard

GIB = 1024**3

# --- estimates (documented, overridable through knobs; every one is labelled in output) ---------

# Activation peak of vLLM's profile run, per batched token per hidden unit. Built from V4's
# largest live buffers: mHC keeps hc_mult = 4 residual streams (4 x bf16 = 8 B), MoE dispatch of
# top-6 experts with gate+up (6 x 2 x 2048/4096 x 2 B = 12 B for Flash), indexer and attention
# workspaces, norms and temporaries; x2 for the allocator's fragmentation and rounded to 64 B.
# Against the one public budget point (2 x GH200, facts section 4, [S], vLLM build unknown) this
# predicts more KV than logged; tests/test_memory.py prints the error.
ACTIVATION_BYTES_PER_TOKEN_PER_HIDDEN = 64
# Non-torch memory: CUDA context, NCCL and workspaces (base), plus NCCL buffers when TP > 1 and
# all2all buffers with expert parallelism (DeepEP-style buffers are ~0.5 GiB per rank).
NON_TORCH_BASE_GIB = 0.7
NON_TORCH_TP_GIB = 0.5
NON_TORCH_EP_GIB = 0.5
# CUDA graph memory vLLM subtracts from the KV budget since v0.21.0 (facts section 4).
CUDAGRAPH_GIB = 1.5


@dataclass(frozen=True)
class WeightBytes:
    """Bytes of a checkpoint by tensor group."""

    experts: float
    rest: float

    @property
    def total(self) -> float:
        return self.experts + self.rest


def checkpoint_weight_bytes(
    checkpoint: Checkpoint,
    model: ModelCard,
    formats: dict[str, float],
    reference: Checkpoint,
    experts_format: str | None = None,
    rest_format: str | None = None,
) -> WeightBytes:
    """Bytes of the routed experts and of everything else for a checkpoint (or a what-if format).

    Routed experts: parameters from config.json times bytes per parameter of the format. The rest:
    measured as the reference (released) checkpoint's disk size minus its experts, then scaled by
    the format's bytes per parameter relative to the reference's (so BF16 doubles FP8's share).
    """
    efmt = experts_format or checkpoint.weights.experts
    rfmt = rest_format or checkpoint.weights.rest
    expert_params = model.arch.routed_expert_params
    experts = expert_params * formats[efmt]
    ref_disk = reference.disk_gib or 0.0
    ref_rest = ref_disk * GIB - expert_params * formats[reference.weights.experts]
    if experts_format is None and rest_format is None and checkpoint.disk_gib is not None:
        rest = checkpoint.disk_gib * GIB - experts
    else:
        rest = ref_rest * formats[rfmt] / formats[reference.weights.rest]
    return WeightBytes(experts=experts, rest=max(rest, 0.0))


def pp_max_stage_layers(layers: int, pp: int) -> int:
    """Layers on the largest pipeline stage (vLLM gives the remainder to middle stages)."""
    return math.ceil(layers / pp)


def weights_per_gpu(weights: WeightBytes, layers: int, tp: int, pp: int, dp: int) -> float:
    """Bytes resident on the busiest GPU.

    Non-expert weights are split by TP and replicated on each DP rank; routed experts are split
    over TP x DP ranks (whole experts with EP, tensor-sharded without); PP splits layers.
    """
    stage = pp_max_stage_layers(layers, pp) / layers
    return (weights.rest / tp + weights.experts / (tp * dp)) * stage


def activation_bytes(max_num_batched_tokens: int, hidden_size: int) -> float:
    return float(ACTIVATION_BYTES_PER_TOKEN_PER_HIDDEN * max_num_batched_tokens * hidden_size)


def non_torch_bytes(tp: int, ep: bool, world: int) -> float:
    gib = NON_TORCH_BASE_GIB
    if tp > 1:
        gib += NON_TORCH_TP_GIB
    if ep and world > 1:
        gib += NON_TORCH_EP_GIB
    return gib * GIB


# --- KV cache: vLLM 0.33's arithmetic for V4 (exact) --------------------------------------------


@dataclass(frozen=True)
class KvCapacity:
    """What vLLM logs for one engine (one DP rank)."""

    bytes_per_block: int
    num_blocks: int
    blocks_per_request: int
    fits: bool
    max_concurrency: float
    kv_cache_tokens: int
    max_model_len_fit: int


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _scaled_groups(layout: KvLayout, stage_fraction: float) -> list[KvGroup]:
    if stage_fraction >= 1.0:
        return list(layout.groups)
    # With PP each stage holds its layers' groups; scaling pages by the largest stage's share of
    # layers approximates vLLM's per-stage grouping (exact for PP = 1, labelled otherwise).
    return [
        g.model_copy(update={"page_bytes": max(1, math.ceil(g.page_bytes * stage_fraction))})
        for g in layout.groups
    ]


def blocks_per_request(groups: list[KvGroup], max_model_len: int, in_flight_tokens: int) -> int:
    """Blocks one request of max_model_len tokens needs, summed over the groups."""
    total = 0
    for g in groups:
        if g.kind == "full" or g.window is None:
            total += _cdiv(max_model_len, g.block_tokens)
        else:
            tokens = min(g.window - 1 + in_flight_tokens, max_model_len)
            total += _cdiv(tokens, g.block_tokens) + 1
    return total


def in_flight_tokens(max_num_batched_tokens: int, async_scheduling: bool) -> int:
    """Tokens a request may have in flight: batches in flight (2 with async) x batched tokens."""
    return (2 if async_scheduling else 1) * max_num_batched_tokens


def kv_capacity(
    layout: KvLayout,
    available_bytes: int,
    max_model_len: int,
    max_num_batched_tokens: int,
    async_scheduling: bool,
    model_max_len: int,
    stage_fraction: float = 1.0,
) -> KvCapacity:
    """Capacity of one engine's KV pool as vLLM 0.33 computes and logs it."""
    groups = _scaled_groups(layout, stage_fraction)
    bpb = max(g.page_bytes for g in groups)
    flight = in_flight_tokens(max_num_batched_tokens, async_scheduling)
    num_blocks = max(available_bytes, 0) // bpb
    per_request = blocks_per_request(groups, max_model_len, flight)
    # One block is vLLM's null block, never handed to a request.
    usable = available_bytes - bpb
    fits = bpb * per_request <= usable
    concurrency = num_blocks / per_request if per_request else 0.0
    tokens = int(concurrency * max_model_len)
    fit_len = max_len_that_fits(groups, usable, flight, model_max_len, bpb)
    return KvCapacity(
        bytes_per_block=bpb,
        num_blocks=num_blocks,
        blocks_per_request=per_request,
        fits=fits,
        max_concurrency=concurrency,
        kv_cache_tokens=tokens,
        max_model_len_fit=fit_len,
    )


def max_len_that_fits(
    groups: list[KvGroup], usable_bytes: int, flight: int, upper: int, bpb: int
) -> int:
    """Largest max_model_len in [0, upper] whose one request fits (vLLM's binary search)."""
    if usable_bytes <= 0 or bpb * blocks_per_request(groups, 1, flight) > usable_bytes:
        return 0
    lo, hi = 1, upper
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if bpb * blocks_per_request(groups, mid, flight) <= usable_bytes:
            lo = mid
        else:
            hi = mid - 1
    return lo


# --- budget ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    """Per-GPU memory budget in bytes."""

    total: int
    requested: int
    weights: float
    activation: float
    overhead: float
    cudagraph: float
    kv: int

    @property
    def fits_weights(self) -> bool:
        return self.kv > 0


def budget(
    total_bytes: int,
    utilization: float,
    weights_bytes: float,
    max_num_batched_tokens: int,
    hidden_size: int,
    tp: int,
    ep: bool,
    world: int,
    kv_cache_memory_bytes: int | None = None,
) -> Budget:
    """vLLM V1's budget: requested = ceil(total x util); KV gets what the rest leaves."""
    requested = math.ceil(total_bytes * utilization)
    act = activation_bytes(max_num_batched_tokens, hidden_size)
    over = non_torch_bytes(tp, ep, world)
    graphs = CUDAGRAPH_GIB * GIB
    if kv_cache_memory_bytes is not None:
        kv = kv_cache_memory_bytes
        # vLLM honours the pinned size; it still has to fit next to everything else.
        if weights_bytes + act + over + graphs + kv > total_bytes:
            kv = -1
    else:
        kv = int(requested - weights_bytes - act - over - graphs)
    return Budget(
        total=total_bytes,
        requested=requested,
        weights=weights_bytes,
        activation=act,
        overhead=over,
        cudagraph=graphs,
        kv=kv,
    )
