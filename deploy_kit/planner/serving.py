"""Serving a workload: a layout's deployment, its load sweep, the SLA and the Pareto front."""

from __future__ import annotations

from dataclasses import dataclass

from deploy_kit.planner import memory, perf
from deploy_kit.spec import HardwareProfile, Knobs, KvLayout, Layout, ModelCard

# Closed-loop concurrencies tried per layout (the whole deployment): powers of two up to 8192,
# the range the published sweeps cover (SGLang cookbook 1-4096, catalog/calibration.yaml).
CONCURRENCY_LADDER = tuple(2**i for i in range(14))
# Where the ladder stops past a layout's batch limit: beyond twice the slots every extra client
# only queues (throughput is flat, TTFT grows), so more points say nothing new.
BEYOND_LIMIT = 2
# Bisection steps between two ladder concurrencies (2^k apart: 8 steps resolve ~0.5 %).
REFINE_STEPS = 8


def has_workload(k: Knobs) -> bool:
    return bool(k.workload) or k.isl is not None or k.osl is not None


def workload_of(k: Knobs, context: int | None = None) -> perf.Workload:
    """The workload the knobs describe; without one the reference benchmark's 8192 in / 1024
    out, scaled down in the same 8:1 ratio when `context` is shorter."""
    if not has_workload(k) and context is not None and context < perf.DEFAULT_WORKLOAD.longest:
        out = max(1, context // 9)
        return perf.Workload((perf.Shape(context - out, out),))
    if k.workload:
        return perf.Workload(tuple(perf.Shape(s.isl, s.osl, s.weight) for s in k.workload))
    if k.isl is None and k.osl is None:
        return perf.DEFAULT_WORKLOAD
    return perf.Workload((perf.Shape(k.isl or perf.PROMPT_TOKENS, k.osl or perf.OUTPUT_TOKENS),))


def decode_batch_limit(
    kv_layout: KvLayout,
    kv_bytes: int,
    longest: int,
    async_scheduling: bool,
    model_max: int,
    stage_fraction: float,
    max_num_seqs: int,
) -> float:
    """Requests one DP rank decodes at once: max-num-seqs, or the KV blocks of requests of the
    longest shape while decoding (their full-attention blocks plus one window per sliding group;
    a decoding request has 1 token in flight, 2 with async scheduling)."""
    kv = memory.kv_capacity(
        kv_layout, kv_bytes, longest, 1, async_scheduling, model_max, stage_fraction
    )
    return float(min(max_num_seqs, kv.max_concurrency))


def deployment(
    model: ModelCard,
    weights: memory.WeightBytes,
    hw: HardwareProfile,
    layout: Layout,
    experts_format: str,
    max_batch_per_rank: float,
    chunk_tokens: int,
    speculative: tuple[str, int] | None,
) -> perf.Deployment:
    return perf.Deployment(
        model=model,
        weights=weights,
        gpu=hw.gpu,
        layout=layout,
        gpus_per_node=hw.gpus_per_node,
        interconnect=hw.interconnect,
        network=hw.network,
        network_gbps=hw.network_gbps,
        experts_format=experts_format,
        max_batch_per_rank=max_batch_per_rank,
        chunk_tokens=chunk_tokens,
        speculative=speculative,
    )


def sweep(d: perf.Deployment, w: perf.Workload) -> list[perf.Point]:
    """The deployment at every ladder concurrency up to BEYOND_LIMIT x its batch slots."""
    slots = d.max_batch_per_rank * d.attention_ranks
    out = []
    for conc in CONCURRENCY_LADDER:
        out.append(perf.serve(d, w, concurrency=conc))
        if conc >= BEYOND_LIMIT * slots:
            break
    return out


def refine(
    d: perf.Deployment, w: perf.Workload, points: list[perf.Point], misses: list[bool], k: Knobs
) -> perf.Point | None:
    """The highest concurrency that still meets the SLA, between the last ladder point that
    meets it and the next that does not (bisection; throughput grows with concurrency)."""
    best = None
    for i, missed in enumerate(misses):
        if not missed:
            best = i
    if best is None:
        return None
    if best + 1 >= len(points):
        return points[best]
    lo, hi = points[best].concurrency, points[best + 1].concurrency
    good = points[best]
    for _ in range(REFINE_STEPS):
        mid = round((lo + hi) / 2)
        if mid in (lo, hi):
            break
        p = perf.serve(d, w, concurrency=mid)
        if sla_misses(p, k):
            hi = mid
        else:
            lo, good = mid, p
    return good


def sla_misses(p: perf.Point, k: Knobs) -> list[str]:
    """Which part of the SLA a point breaks, in words ([] when it meets it or none is given)."""
    out = []
    ttft = p.ttft_at(k.percentile)
    if k.ttft_ms is not None and ttft > k.ttft_ms:
        out.append(f"TTFT {_ms(ttft)} > {_ms(k.ttft_ms)} ({k.percentile})")
    tpot = p.tpot_at(k.percentile)
    if k.tpot_ms is not None and tpot > k.tpot_ms:
        out.append(f"TPOT {tpot:.1f} ms > {k.tpot_ms:g} ms ({k.percentile})")
    return out


def _ms(x: float) -> str:
    if x == float("inf"):
        return "unbounded (queue grows)"
    return f"{x / 1e3:.2f} s" if x >= 1000 else f"{x:.0f} ms"


def sla_distance(p: perf.Point, k: Knobs) -> float:
    """How far a point is from meeting the SLA: the largest ratio of measured to target."""
    worst = 0.0
    if k.ttft_ms is not None:
        worst = max(worst, p.ttft_at(k.percentile) / k.ttft_ms)
    if k.tpot_ms is not None:
        worst = max(worst, p.tpot_at(k.percentile) / k.tpot_ms)
    return worst


@dataclass(frozen=True)
class Scored:
    """One layout at one load."""

    layout: Layout
    point: perf.Point
    misses: tuple[str, ...]


def pareto_front(points: list[Scored]) -> list[Scored]:
    """Points no other point beats on both tokens/s/GPU and tokens/s/user, by interactivity."""
    ordered = sorted(
        points,
        key=lambda s: (-s.point.tokens_per_s_per_user, -s.point.tokens_per_s_per_gpu),
    )
    front: list[Scored] = []
    best_gpu = -1.0
    for s in ordered:
        if s.point.tokens_per_s_per_gpu > best_gpu * (1 + 1e-9):
            front.append(s)
            best_gpu = s.point.tokens_per_s_per_gpu
    return front
