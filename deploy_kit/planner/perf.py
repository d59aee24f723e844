"""Performance model: decode steps, prefill mixed with decode, queueing, speculative decoding.

A decode step of one DP rank takes max(bytes read / bandwidth, FLOPs / compute) plus the
collectives of every layer (TP all-reduce, EP dispatch/combine over the link they cross) plus a
fixed time per layer. Bytes are the weights the step touches (non-expert weights / TP and the
experts routed to at this batch) and the sparse-attention KV of every request at its context.
Prefill is compute-bound and chunked into the same steps as decode, so the time a rank spends on
prompts stretches every user's TPOT, and requests queue for prefill (TTFT) or, past the batch the
KV cache and max-num-seqs allow, for a slot. Every constant is in catalog/performance.yaml with
its source; the fitted ones are calibrated against catalog/calibration.yaml.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from deploy_kit.catalog.documents import load_documents
from deploy_kit.planner.memory import WeightBytes, pp_max_stage_layers
from deploy_kit.spec import GpuSpec, Layout, ModelCard

# Prompt length the TTFT figure assumes when the user gives no workload: the ISL of the
# reference benchmarks (SGLang cookbook, ISL 8192 / OSL 1024; catalog/calibration.yaml).
PROMPT_TOKENS = 8192
OUTPUT_TOKENS = 1024
# Sparse attention per request and step (fp8_ds_mla, facts section 4): a latent is 584 B,
# an indexer key 132 B; CSA compresses 4 tokens to one, HCA 128; SWA keeps a 128-token window.
LATENT_BYTES = 584
INDEX_KEY_BYTES = 132
CSA_RATIO = 4
HCA_RATIO = 128
# Indexer of CSA layers (config.json: index_n_heads 64, index_head_dim 128, both models).
INDEX_HEADS = 64
INDEX_HEAD_DIM = 128
# Weight loading: sustained read from a local NVMe / PVC into GPU memory per node, and the fixed
# start-up (torch.compile, CUDA graph capture, kernel autotune). Together ~8 min for Flash on one
# node, as reported in vllm issue 43189 (facts section 6). Download time is NOT included.
LOAD_GBPS_PER_NODE = 1.0
STARTUP_FIXED_S = 300
# Fixed-point iterations of the closed-loop balance (converges in < 10; 30 is a safe bound),
# stopped when the batch moves by less than this fraction.
_ITERATIONS = 30
_TOLERANCE = 1e-4


@dataclass(frozen=True)
class Link:
    gbps_per_gpu: float | None
    latency_us: float


@dataclass(frozen=True)
class Constants:
    """performance.yaml as numbers (see the file for each source)."""

    bandwidth_efficiency: float
    decode_compute_efficiency: float
    prefill_compute_efficiency: float
    layer_overhead_us: float
    mtp_acceptance: float
    dspark_accepted_tokens: float
    draft_pass_layers: float
    activation_bytes: float
    dispatch_bytes: float
    collective_efficiency: float
    ep_kernel_us: float
    p90_wait_factor: float
    interconnects: dict[str, Link]
    nvl72_gpus: frozenset[str]
    ethernet_default_gbps: float

    def with_values(self, **values: float) -> Constants:
        """A copy with some constants replaced (the calibration fit uses this)."""
        return replace(self, **values)  # type: ignore[arg-type]


def constants_from(doc: dict[str, Any]) -> Constants:
    try:
        values = {k: float(v["value"]) for k, v in doc["constants"].items()}
        links = {
            k: Link(
                None if v["gbps_per_gpu"] is None else float(v["gbps_per_gpu"]),
                float(v["latency_us"]),
            )
            for k, v in doc["interconnects"].items()
        }
        return Constants(
            **values,
            interconnects=links,
            nvl72_gpus=frozenset(doc["nvl72_gpus"]),
            ethernet_default_gbps=float(doc["ethernet_default_gbps"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        from deploy_kit.errors import InputError

        raise InputError(f"catalog performance.yaml is malformed: {exc}") from None


@cache
def constants() -> Constants:
    return constants_from(load_documents()["performance.yaml"])


@dataclass(frozen=True)
class Shape:
    isl: int
    osl: int
    weight: float = 1.0


@dataclass(frozen=True)
class Workload:
    """Request shapes (a mix), and either a closed-loop concurrency or an arrival rate."""

    shapes: tuple[Shape, ...]

    @property
    def isl(self) -> float:
        return sum(s.isl * s.weight for s in self.shapes) / self.total_weight

    @property
    def osl(self) -> float:
        return sum(s.osl * s.weight for s in self.shapes) / self.total_weight

    @property
    def total_weight(self) -> float:
        return sum(s.weight for s in self.shapes)

    @property
    def longest(self) -> int:
        return max(s.isl + s.osl for s in self.shapes)

    def isl_at(self, q: float) -> float:
        """The prompt length at quantile q of requests."""
        acc = 0.0
        for s in sorted(self.shapes, key=lambda s: s.isl):
            acc += s.weight / self.total_weight
            if acc >= q - 1e-9:
                return float(s.isl)
        return float(max(s.isl for s in self.shapes))


DEFAULT_WORKLOAD = Workload((Shape(PROMPT_TOKENS, OUTPUT_TOKENS),))


@dataclass(frozen=True)
class Deployment:
    """What the model needs to know about one serving deployment."""

    model: ModelCard
    weights: WeightBytes
    gpu: GpuSpec
    layout: Layout
    gpus_per_node: int
    interconnect: str
    network: str
    network_gbps: float | None
    experts_format: str
    max_batch_per_rank: float
    chunk_tokens: int
    speculative: tuple[str, int] | None = None

    @property
    def attention_ranks(self) -> int:
        """Independent batches: replicas x DP ranks (each DP rank runs its own requests)."""
        return self.layout.replicas * self.layout.data_parallel

    @property
    def total_gpus(self) -> int:
        return self.layout.replicas * self.layout.world


@dataclass(frozen=True)
class Point:
    """The deployment's steady state at one load."""

    concurrency: float
    request_rate: float
    batch_per_rank: float
    tpot_ms: float
    tpot_p90_ms: float
    ttft_ms: float
    ttft_p90_ms: float
    tokens_per_s_total: float
    tokens_per_s_per_user: float
    tokens_per_s_per_gpu: float
    prefill_share: float
    capacity_bound: bool

    def ttft_at(self, percentile: str) -> float:
        return self.ttft_p90_ms if percentile == "p90" else self.ttft_ms

    def tpot_at(self, percentile: str) -> float:
        return self.tpot_p90_ms if percentile == "p90" else self.tpot_ms


# Estimate is kept as the planner's name for a point.
Estimate = Point


# --- per step -----------------------------------------------------------------------------------


def _rest_bytes_per_param(d: Deployment) -> float:
    """Bytes per non-expert parameter of this checkpoint (its non-expert bytes / count)."""
    rest_params = d.model.params_total_b * 1e9 - _expert_params(d.model)
    return d.weights.rest / rest_params if rest_params > 0 else 1.0


def _expert_params(model: ModelCard) -> float:
    a = model.arch
    return a.n_routed_experts * 3 * a.hidden_size * a.moe_intermediate_size * a.num_hidden_layers


def _rate(gpu: GpuSpec, fmt: str) -> float:
    """Dense TFLOP/s a matmul with weights in `fmt` runs at on this GPU."""
    if fmt in ("fp4-e2m1", "nvfp4", "int4"):
        # W4A8 where the GPU has FP4 tensor cores (activations FP8); W4A16 (Marlin) elsewhere.
        return (gpu.fp8_tflops or gpu.bf16_tflops) if gpu.fp4 else gpu.bf16_tflops
    if fmt in ("fp8-block", "int8"):
        return gpu.fp8_tflops or gpu.bf16_tflops
    return gpu.bf16_tflops


def _expert_active_params(model: ModelCard) -> float:
    a = model.arch
    return a.num_experts_per_tok * 3 * a.hidden_size * a.moe_intermediate_size * a.num_hidden_layers


def replicated_params(model: ModelCard) -> float:
    """Attention weights vLLM keeps whole on every TP rank: the query and KV down-projections
    (q_a, kv_a) and the sparse indexer's wq_b, wk and weights_proj (vllm deepseek_v2.py:
    ReplicatedLinear, "no tensor parallel, just replicated")."""
    a = model.arch
    per_layer = (
        a.hidden_size * a.q_lora_rank
        + a.hidden_size * a.head_dim
        + a.q_lora_rank * INDEX_HEADS * INDEX_HEAD_DIM
        + a.hidden_size * INDEX_HEAD_DIM
        + a.hidden_size * INDEX_HEADS
    )
    return float(per_layer * a.num_hidden_layers)


def indexer_flops_per_token(model: ModelCard, context: float) -> float:
    """The CSA indexer's scan of every compressed key (replicated on every TP rank)."""
    csa = model.arch.layer_kinds.get("csa", 0)
    return csa * 2 * INDEX_HEADS * INDEX_HEAD_DIM * context / CSA_RATIO


def attention_flops_per_token(model: ModelCard, context: float) -> float:
    """Sparse attention FLOPs of one token at `context` split over heads: top-k latents of
    CSA layers, HCA, the window (the indexer scan is indexer_flops_per_token)."""
    a = model.arch
    kinds = a.layer_kinds
    heads_dim = a.num_attention_heads * a.head_dim
    csa = 4 * heads_dim * min(a.index_topk, context / CSA_RATIO)
    hca = 4 * heads_dim * context / HCA_RATIO
    swa = 4 * heads_dim * min(a.sliding_window, context)
    return kinds.get("csa", 0) * csa + kinds.get("hca", 0) * hca + a.num_hidden_layers * swa


def kv_bytes_per_request(model: ModelCard, context: float) -> float:
    """KV bytes one decode step reads for one request (indexer keys, top-k latents, HCA, SWA)."""
    a = model.arch
    kinds = a.layer_kinds
    return (
        kinds.get("csa", 0)
        * (
            context / CSA_RATIO * INDEX_KEY_BYTES
            + min(a.index_topk, context / CSA_RATIO) * LATENT_BYTES
        )
        + kinds.get("hca", 0) * context / HCA_RATIO * LATENT_BYTES
        + a.num_hidden_layers * min(a.sliding_window, context) * LATENT_BYTES
    )


def _link(d: Deployment, c: Constants, span_gpus: int) -> tuple[float, float]:
    """(GB/s per GPU each way, latency us) of a collective over `span_gpus` ranks."""
    if span_gpus <= d.gpus_per_node:
        link = c.interconnects.get(d.interconnect, c.interconnects["pcie"])
        gbps = link.gbps_per_gpu if link.gbps_per_gpu is not None else d.gpu.scale_up_gbps / 2
        return gbps, link.latency_us
    if d.gpu.id in c.nvl72_gpus:
        link = c.interconnects["nvl72"]
    else:
        link = c.interconnects.get(d.network, c.interconnects["ethernet"])
    if link.gbps_per_gpu is not None:
        return link.gbps_per_gpu, link.latency_us
    node_gbps = d.network_gbps or c.ethernet_default_gbps
    return node_gbps / 8 / max(1, d.gpus_per_node), link.latency_us


def _imbalance(tokens: float, k: int, ranks: int) -> float:
    """Busiest EP rank / mean: balls into bins, mean m = tokens x k / ranks per rank,
    max ~ m + sqrt(2 m ln ranks) (Raab & Steger 1998, for m >= ln ranks)."""
    if ranks <= 1 or tokens <= 0:
        return 1.0
    m = max(tokens * k / ranks, math.log(ranks))
    return 1 + math.sqrt(2 * math.log(ranks) / m)


def comm_ms_per_step(d: Deployment, c: Constants, tokens: float) -> float:
    """TP all-reduces and EP dispatch/combine of one step of `tokens` tokens on one rank."""
    a = d.model.arch
    lay = d.layout
    tp, dp = lay.tensor_parallel, lay.data_parallel
    layers = pp_max_stage_layers(a.num_hidden_layers, lay.pipeline_parallel)
    per_layer_us = 0.0
    if tp > 1:
        gbps, lat = _link(d, c, tp)
        size = tokens * a.hidden_size * c.activation_bytes
        ring = 2 * (tp - 1) / tp * size / (gbps * 1e9 * c.collective_efficiency) * 1e6
        per_layer_us += 2 * (ring + lat)  # after attention and after the MoE
    ranks = tp * dp
    if ranks > 1 and dp > 1:
        gbps, lat = _link(d, c, ranks)
        share = (ranks - 1) / ranks
        if lay.expert_parallel:
            k = a.num_experts_per_tok
            imb = _imbalance(tokens * dp, k, ranks)
            sent = tokens * k * a.hidden_size * share
            wire = sent * (c.dispatch_bytes + c.activation_bytes) * imb
        else:
            # Experts sharded over TP x DP without EP: tokens are gathered from every DP rank
            # and the results reduce-scattered back.
            wire = 2 * tokens * dp * a.hidden_size * c.activation_bytes * share
        # Two MoE collectives per layer (dispatch + combine, or gather + reduce-scatter).
        kernels = 2 * c.ep_kernel_us
        per_layer_us += wire / (gbps * 1e9 * c.collective_efficiency) * 1e6 + 2 * lat + kernels
    return layers * per_layer_us / 1e3


def decode_step_ms(
    d: Deployment, batch: float, context: float, c: Constants | None = None
) -> float:
    """One decode step of one DP rank with `batch` requests at `context` (verify step with
    speculation: every request carries 1 + drafts tokens)."""
    c = c or constants()
    a = d.model.arch
    lay = d.layout
    tp, pp, dp = lay.tensor_parallel, lay.pipeline_parallel, lay.data_parallel
    layers = pp_max_stage_layers(a.num_hidden_layers, pp)
    stage = layers / a.num_hidden_layers
    drafts = d.speculative[1] if d.speculative else 0
    tokens = max(batch, 1e-9) * (1 + drafts)
    ranks = tp * dp
    k, n_exp = a.num_experts_per_tok, a.n_routed_experts
    group_tokens = tokens * dp
    p_active = 1 - (1 - k / n_exp) ** group_tokens
    imb = _imbalance(group_tokens, k, ranks) if lay.expert_parallel else 1.0
    expert_bytes = d.weights.experts / ranks * stage * min(1.0, p_active * imb)
    repl = min(replicated_params(d.model) * _rest_bytes_per_param(d), d.weights.rest)
    rest_bytes = ((d.weights.rest - repl) / tp + repl) * stage
    kv = batch * kv_bytes_per_request(d.model, context) * stage
    memory_ms = (
        (rest_bytes + expert_bytes + kv)
        / (d.gpu.bandwidth_tbps * 1e12 * c.bandwidth_efficiency)
        * 1e3
    )
    expert_active = _expert_active_params(d.model)
    rest_active = max(d.model.params_active_b * 1e9 - expert_active, 0.0)
    expert_flops = 2 * expert_active * group_tokens / ranks * imb * stage
    repl_params = replicated_params(d.model)
    rest_flops = 2 * ((rest_active - repl_params) / tp + repl_params) * tokens * stage
    attn_flops = (
        (
            attention_flops_per_token(d.model, context) / tp
            + indexer_flops_per_token(d.model, context)
        )
        * tokens
        * stage
    )
    compute_s = (
        expert_flops / (_rate(d.gpu, d.experts_format) * 1e12)
        + rest_flops / ((d.gpu.fp8_tflops or d.gpu.bf16_tflops) * 1e12)
        + attn_flops / (d.gpu.bf16_tflops * 1e12)
    ) / c.decode_compute_efficiency
    overhead_ms = layers * c.layer_overhead_us / 1e3
    step = max(memory_ms, compute_s * 1e3) + comm_ms_per_step(d, c, tokens) + overhead_ms
    if drafts:
        passes = 1 if d.speculative and d.speculative[0] == "dspark" else drafts
        step += passes * c.draft_pass_layers * step / layers
    return float(step * pp)


def accepted_tokens(d: Deployment, c: Constants | None = None) -> float:
    """Output tokens per decode step per request (1 without speculation)."""
    c = c or constants()
    if not d.speculative:
        return 1.0
    method, drafts = d.speculative
    if method == "dspark":
        return min(1.0 + drafts, c.dspark_accepted_tokens)
    alpha = c.mtp_acceptance
    return float(sum(alpha**i for i in range(drafts + 1)))


def prefill_ms(d: Deployment, prompt: float, c: Constants | None = None) -> float:
    """Compute time of one prompt on one DP rank (chunk overheads excluded)."""
    c = c or constants()
    tp = d.layout.tensor_parallel
    expert_active = _expert_active_params(d.model)
    rest_active = max(d.model.params_active_b * 1e9 - expert_active, 0.0)
    # Experts: with DP every rank prefills its own prompts and the expert work spreads over
    # TP x DP ranks; per rank and prompt that is the same as dividing by TP.
    repl_params = replicated_params(d.model)
    seconds = prompt * (
        2 * expert_active / tp / (_rate(d.gpu, d.experts_format) * 1e12)
        + 2
        * ((rest_active - repl_params) / tp + repl_params)
        / ((d.gpu.fp8_tflops or d.gpu.bf16_tflops) * 1e12)
        + (
            attention_flops_per_token(d.model, prompt / 2) / tp
            + indexer_flops_per_token(d.model, prompt / 2)
        )
        / (d.gpu.bf16_tflops * 1e12)
    )
    seconds /= c.prefill_compute_efficiency
    # Collectives move the prompt's activations; their fixed latency is paid per chunk step,
    # which prefill_latency_ms counts.
    wire = comm_ms_per_step(d, c, prompt) - comm_ms_per_step(d, c, 0.0)
    return seconds * 1e3 + max(wire, 0.0)


def prefill_latency_ms(
    d: Deployment, prompt: float, step_ms: float, c: Constants | None = None
) -> float:
    """Prompt compute plus the steps its chunks ride in (each chunk shares a step with decode)."""
    c = c or constants()
    chunks = math.ceil(prompt / max(1, d.chunk_tokens))
    return prefill_ms(d, prompt, c) + chunks * step_ms


# --- steady state -------------------------------------------------------------------------------


def serve(
    d: Deployment,
    w: Workload,
    *,
    concurrency: float | None = None,
    request_rate: float | None = None,
    c: Constants | None = None,
) -> Point:
    """The steady state at a closed-loop concurrency (clients that send the next request when
    one finishes) or an open-loop arrival rate (requests/s). Each DP rank gets an equal share."""
    c = c or constants()
    ranks = d.attention_ranks
    isl, osl = w.isl, w.osl
    context = isl + osl / 2
    accepted = accepted_tokens(d, c)
    bmax = max(d.max_batch_per_rank, 1.0)
    prefill = prefill_ms(d, isl, c)
    chunks = math.ceil(isl / max(1, d.chunk_tokens))

    def at(batch: float) -> tuple[float, float, float, float]:
        """(step ms, requests per ms per rank, prefill share, TPOT ms) at a decode batch."""
        step = decode_step_ms(d, batch, context, c)
        per_request_decode = osl * step / (accepted * batch)
        rate = 1.0 / (per_request_decode + prefill)
        share = min(rate * prefill, 0.999)
        return step, rate, share, step / (accepted * (1 - share))

    if request_rate is not None:
        lam = request_rate / 1e3 / ranks  # requests per ms per rank
        lo, hi = 1e-6, bmax
        if at(hi)[1] <= lam:
            batch, bound = hi, True
        else:
            bound = False
            for _ in range(50):
                mid = (lo + hi) / 2
                if at(mid)[1] < lam:
                    lo = mid
                else:
                    hi = mid
            batch = hi
        step, rate, share, tpot = at(batch)
        first = prefill + chunks * step
        wait = share * prefill / (2 * (1 - share))
        if bound:
            wait = float("inf")
        ttft = wait + first
        conc = request_rate * (ttft + osl * tpot) / 1e3 if not bound else float("inf")
        return _point(d, w, c, conc, rate, batch, step, share, tpot, wait, first, bound)

    conc_total = float(concurrency or 1)
    per_rank = conc_total / ranks
    batch = min(per_rank, bmax)
    step = rate = share = tpot = wait = first = 0.0
    bound = False
    for _ in range(_ITERATIONS):
        step, rate, share, tpot = at(batch)
        first = prefill + chunks * step
        wait = share * prefill / (2 * (1 - share))
        cycle = per_rank / rate  # Little's law: clients = throughput x cycle time
        queue = cycle - osl * tpot - first
        bound = queue > wait and batch >= bmax - 1e-9
        wait = max(wait, queue) if batch >= bmax - 1e-9 else wait
        decoding = per_rank * osl * tpot / (wait + first + osl * tpot)
        new = min(bmax, max(decoding, min(per_rank, 1.0)))
        if abs(new - batch) < _TOLERANCE * max(1.0, batch):
            batch = new
            break
        batch = 0.5 * (batch + new)
    step, rate, share, tpot = at(batch)
    first = prefill + chunks * step
    return _point(d, w, c, conc_total, rate, batch, step, share, tpot, wait, first, bound)


def _point(
    d: Deployment,
    w: Workload,
    c: Constants,
    conc: float,
    rate: float,
    batch: float,
    step: float,
    share: float,
    tpot: float,
    wait: float,
    first: float,
    bound: bool,
) -> Point:
    ranks = d.attention_ranks
    total = rate * ranks * w.osl * 1e3
    if len(w.shapes) > 1:
        p50_first = prefill_latency_ms(d, w.isl_at(0.5), step, c)
        p90_first = prefill_latency_ms(d, w.isl_at(0.9), step, c)
    else:
        p50_first = p90_first = first
    return Point(
        concurrency=conc,
        request_rate=rate * ranks * 1e3,
        batch_per_rank=batch,
        tpot_ms=tpot,
        tpot_p90_ms=tpot_p90_ms(d, w, c, tpot, share),
        ttft_ms=wait + p50_first,
        ttft_p90_ms=wait * c.p90_wait_factor + p90_first,
        tokens_per_s_total=total,
        tokens_per_s_per_user=1e3 / tpot,
        tokens_per_s_per_gpu=total / d.total_gpus,
        prefill_share=share,
        capacity_bound=bound,
    )


# The 90th percentile of a standard normal variable.
Z90 = 1.2816


def tpot_p90_ms(d: Deployment, w: Workload, c: Constants, tpot: float, share: float) -> float:
    """TPOT at the 90th percentile across requests. A request's TPOT is its decode time plus
    the prefill chunks that land in its steps, over its tokens; the chunks it meets are a
    Poisson count with mean share x T / q (T its decode time, q one chunk's compute), so its
    TPOT has standard deviation sqrt(share x T x q) / osl (normal approximation). It is the
    mean when nothing prefills, and spreads more for short answers and long chunks. The spread
    of speculative acceptance across requests is not counted (estimate)."""
    if share <= 0 or w.osl <= 0:
        return tpot
    chunks = max(1, math.ceil(w.isl / max(1, d.chunk_tokens)))
    q = prefill_ms(d, w.isl, c) / chunks
    decode_time = w.osl * tpot
    return tpot + Z90 * math.sqrt(share * decode_time * q) / w.osl


def load_time_s(weights_per_node_bytes: float) -> int:
    """Seconds from container start to ready with the weights already in the local cache."""
    return int(weights_per_node_bytes / (LOAD_GBPS_PER_NODE * 1e9) + STARTUP_FIXED_S)


def cost_per_1m(total_gpus: int, gpu_hour_usd: float, tokens_per_s: float) -> float | None:
    if gpu_hour_usd <= 0 or tokens_per_s <= 0:
        return None
    return total_gpus * gpu_hour_usd / (tokens_per_s * 3600) * 1e6


def describe(c: Constants | None = None) -> str:
    """One line on how the figures are made, with the constants in force."""
    c = c or constants()
    return (
        "decode step = max(bytes / (bandwidth x "
        f"{c.bandwidth_efficiency:g}), FLOPs / (peak x {c.decode_compute_efficiency:g})) + "
        f"TP/EP collectives + {c.layer_overhead_us:g} us per layer; prefill at "
        f"{c.prefill_compute_efficiency:g} of peak, chunked into decode steps; closed-loop "
        "queueing; constants in catalog/performance.yaml, calibrated on catalog/calibration.yaml"
    )
