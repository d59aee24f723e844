"""Roofline estimates of decode speed, time to first token, load time and cost (labelled)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from deploy_kit.planner.memory import WeightBytes, pp_max_stage_layers
from deploy_kit.spec import GpuSpec, Layout, ModelCard

# Fraction of datasheet bandwidth / compute a decode or prefill step achieves. Typical for
# tuned inference kernels; with the per-layer overhead below they reproduce the SGLang cookbook
# points of facts section 8 at concurrency 1 within about 15 % (tests/test_perf.py prints them).
BANDWIDTH_EFFICIENCY = 0.8
COMPUTE_EFFICIENCY = 0.5
# Fixed time per layer per decode step: kernel launches, TP/EP collectives, router. Fitted to
# facts section 8 at concurrency 1: (TPOT - bytes/bandwidth) / layers = 55-62 us on B200/H100.
LAYER_OVERHEAD_US = 55.0
# Extra per layer when an engine spans nodes (collectives over the network instead of NVLink).
CROSS_NODE_LAYER_US = 30.0
# Sparse attention reads per request and step (fp8_ds_mla, facts section 4): a latent is 584 B,
# an indexer key 132 B; CSA compresses 4 tokens to one, HCA 128; SWA keeps a 128-token window.
LATENT_BYTES = 584
INDEX_KEY_BYTES = 132
CSA_RATIO = 4
HCA_RATIO = 128
# Prompt length assumed for TTFT and for the share of prefill in a serving mix: the ISL of the
# reference benchmarks (facts section 8, ISL 8192 / OSL 1024).
PROMPT_TOKENS = 8192
# Weight loading: sustained read from a local NVMe / PVC into GPU memory per node, and the fixed
# start-up (torch.compile, CUDA graph capture, kernel autotune). Together ~8 min for Flash on one
# node, as reported in vllm issue 43189 (facts section 6). Download time is NOT included.
LOAD_GBPS_PER_NODE = 1.0
STARTUP_FIXED_S = 300


@dataclass(frozen=True)
class Estimate:
    concurrency: int
    tpot_ms: float
    ttft_ms: float
    tokens_per_s_total: float
    tokens_per_s_per_user: float
    tokens_per_s_per_gpu: float


def _compute_tflops(gpu: GpuSpec) -> float:
    return gpu.fp8_tflops or gpu.bf16_tflops


def decode_step_ms(
    model: ModelCard,
    weights: WeightBytes,
    gpu: GpuSpec,
    layout: Layout,
    batch_per_rank: int,
    context: int,
    nodes_per_engine: int,
) -> float:
    """Time of one decode step of an engine with `batch_per_rank` requests on each DP rank."""
    a = model.arch
    tp, pp, dp = layout.tensor_parallel, layout.pipeline_parallel, layout.data_parallel
    stage = pp_max_stage_layers(a.num_hidden_layers, pp) / a.num_hidden_layers
    rest = weights.rest / tp * stage
    local_experts = weights.experts / (tp * dp) * stage
    tokens_in_ep_group = max(1, batch_per_rank * dp)
    p_active = 1 - (1 - a.num_experts_per_tok / a.n_routed_experts) ** tokens_in_ep_group
    kinds = a.layer_kinds
    per_request_kv = (
        kinds.get("csa", 0) * (context / CSA_RATIO * INDEX_KEY_BYTES + a.index_topk * LATENT_BYTES)
        + kinds.get("hca", 0) * context / HCA_RATIO * LATENT_BYTES
        + a.num_hidden_layers * a.sliding_window * LATENT_BYTES
    ) * stage
    bytes_read = rest + local_experts * p_active + batch_per_rank * per_request_kv
    memory_ms = bytes_read / (gpu.bandwidth_tbps * 1e12 * BANDWIDTH_EFFICIENCY) * 1e3
    flops = 2 * model.params_active_b * 1e9 * batch_per_rank / (tp * pp)
    compute_ms = flops / (_compute_tflops(gpu) * 1e12 * COMPUTE_EFFICIENCY) * 1e3
    per_layer = LAYER_OVERHEAD_US + (CROSS_NODE_LAYER_US if nodes_per_engine > 1 else 0.0)
    overhead_ms = a.num_hidden_layers * stage * per_layer / 1e3
    return (max(memory_ms, compute_ms) + overhead_ms) * pp


def prefill_ms(model: ModelCard, gpu: GpuSpec, layout: Layout, prompt: int) -> float:
    """Time to process one prompt on one DP rank (compute bound)."""
    flops = 2 * model.params_active_b * 1e9 * prompt
    ranks = layout.tensor_parallel * layout.pipeline_parallel
    compute_ms = flops / (ranks * _compute_tflops(gpu) * 1e12 * COMPUTE_EFFICIENCY) * 1e3
    return compute_ms + model.arch.num_hidden_layers * LAYER_OVERHEAD_US / 1e3


def estimate(
    model: ModelCard,
    weights: WeightBytes,
    gpu: GpuSpec,
    layout: Layout,
    concurrency: int,
    context: int,
    total_gpus: int,
) -> Estimate:
    """Decode throughput at `concurrency` requests spread over all engines, average context."""
    engines = layout.replicas * layout.data_parallel
    per_rank = max(1, math.ceil(concurrency / engines))
    step = decode_step_ms(model, weights, gpu, layout, per_rank, context, layout.nodes_per_engine)
    active_ranks = min(engines, concurrency)
    total = active_ranks * per_rank * 1e3 / step
    total = min(total, concurrency * 1e3 / step)
    return Estimate(
        concurrency=concurrency,
        tpot_ms=step,
        ttft_ms=prefill_ms(model, gpu, layout, PROMPT_TOKENS),
        tokens_per_s_total=total,
        tokens_per_s_per_user=1e3 / step,
        tokens_per_s_per_gpu=total / total_gpus,
    )


def load_time_s(weights_per_node_bytes: float) -> int:
    """Seconds from container start to ready with the weights already in the local cache."""
    return int(weights_per_node_bytes / (LOAD_GBPS_PER_NODE * 1e9) + STARTUP_FIXED_S)


def cost_per_1m(total_gpus: int, gpu_hour_usd: float, tokens_per_s: float) -> float | None:
    if gpu_hour_usd <= 0 or tokens_per_s <= 0:
        return None
    return total_gpus * gpu_hour_usd / (tokens_per_s * 3600) * 1e6
