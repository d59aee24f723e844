"""Turning the chosen candidate layout into the complete, explained Plan."""

from __future__ import annotations

from deploy_kit.catalog import Catalog
from deploy_kit.planner import explain, perf, serving
from deploy_kit.planner.candidates import (
    GIB,
    Candidate,
    Search,
    Target,
    async_for,
    engines_of,
    settings,
)
from deploy_kit.spec import (
    Capacity,
    Checkpoint,
    HardwareProfile,
    Knobs,
    MemoryPerGpu,
    ParetoPoint,
    Performance,
    Plan,
    VllmSpec,
)
from deploy_kit.version import __version__
from deploy_kit.vllm import argv as vllm

# /dev/shm per container: NCCL's SHM transport keeps ~4 MiB x up to 32 channels per local peer
# (about 1 GiB per GPU on an 8-GPU node) plus vLLM's shared-memory broadcast queues.
SHM_GIB_PER_GPU = 1
SHM_GIB_BASE = 1


def _gib(x: float) -> float:
    return round(x / GIB, 2)


def assemble(
    catalog: Catalog,
    t: Target,
    hw: HardwareProfile,
    k: Knobs,
    version: str,
    context: int,
    best: Candidate,
    found: Search,
    warnings: list[str],
    notes: list[str],
) -> Plan:
    s = settings(t.model, hw, k)
    lay = best.layout
    b, kv, est = best.budget, best.kv, best.est
    gpn = lay.world // lay.nodes_per_engine if lay.nodes_per_engine > 1 else lay.world
    per_node_weights = b.weights * gpn
    load_s = perf.load_time_s(per_node_weights)
    engines = engines_of(best)
    price = hw.price
    api = t.model.api_price_per_1m.output
    mem = MemoryPerGpu(
        total_gib=_gib(b.total),
        requested_gib=_gib(b.requested),
        weights_gib=_gib(b.weights),
        activation_gib=_gib(b.activation),
        overhead_gib=_gib(b.overhead),
        cudagraph_gib=_gib(b.cudagraph),
        kv_cache_gib=_gib(b.kv),
        kv_cache_bytes=b.kv,
        estimates=["weights_gib", "activation_gib", "overhead_gib", "cudagraph_gib", "kv_cache_gib"]
        if k.kv_cache_memory_bytes is None
        else ["weights_gib", "activation_gib", "overhead_gib", "cudagraph_gib"],
    )
    cap = Capacity(
        engines=engines,
        max_concurrency_per_engine=round(kv.max_concurrency, 2),
        kv_cache_tokens_per_engine=kv.kv_cache_tokens,
        max_concurrency_total=round(kv.max_concurrency * engines, 2),
        max_model_len_fit=kv.max_model_len_fit,
        num_blocks=kv.num_blocks,
        blocks_per_request=kv.blocks_per_request,
        bytes_per_block=kv.bytes_per_block,
    )
    w = serving.workload_of(k, context)
    met = None if not k.has_sla else not best.misses
    performance = Performance(
        concurrency=_count(est.concurrency),
        output_tokens_per_s_per_gpu=round(est.tokens_per_s_per_gpu, 1),
        output_tokens_per_s_per_user=round(est.tokens_per_s_per_user, 1),
        output_tokens_per_s_total=round(est.tokens_per_s_total, 1),
        tpot_ms=round(est.tpot_at(k.percentile), 2),
        ttft_ms=_round_ms(est.ttft_at(k.percentile)),
        prompt_tokens=round(w.isl),
        gpu_hour_usd=price,
        cost_per_1m_output_tokens=_round(
            perf.cost_per_1m(hw.total_gpus, price, est.tokens_per_s_total)
        ),
        api_price_per_1m_output_tokens=api,
        model=perf.describe(),
        output_tokens=round(w.osl),
        percentile=k.percentile,
        batch_per_rank=round(est.batch_per_rank, 1),
        max_batch_per_rank=round(best.deployment.max_batch_per_rank, 1)
        if best.deployment
        else None,
        sla_met=met,
        sla_misses=list(best.misses),
        goodput_tokens_per_s_per_gpu=None
        if met is None
        else round(est.tokens_per_s_per_gpu if met else 0.0, 1),
    )
    plan_obj = Plan(
        deploy_kit_version=__version__,
        model=t.model.id,
        checkpoint=t.checkpoint.hf_id,
        checkpoint_id=t.checkpoint.id,
        weights=t.weights_label if not t.what_if else f"{t.weights_label} (what-if)",
        what_if=t.what_if,
        vllm_version=version,
        image=k.image or vllm.image_for(hw.gpu, version),
        hardware=hw,
        strategy=lay.strategy,
        tensor_parallel=lay.tensor_parallel,
        pipeline_parallel=lay.pipeline_parallel,
        data_parallel=lay.data_parallel,
        data_parallel_local=best.dp_local,
        expert_parallel=lay.expert_parallel,
        nodes=lay.nodes_per_engine,
        gpus_per_node=gpn,
        replicas=lay.replicas,
        multi_node=best.multi_node,
        max_model_len=context,
        max_num_seqs=s.max_num_seqs,
        max_num_batched_tokens=s.mnbt,
        async_scheduling=async_for(lay, k),
        gpu_memory_utilization=s.utilization,
        kv_cache_memory_bytes=k.kv_cache_memory_bytes,
        kv_cache_dtype=vllm.KV_CACHE_DTYPE,
        block_size=vllm.BLOCK_SIZE,
        speculative=k.speculative and t.checkpoint.speculative is not None,
        memory={"per_gpu": mem},
        capacity=cap,
        performance=performance,
        load_time_s=load_s,
        shm_bytes=(SHM_GIB_BASE + SHM_GIB_PER_GPU * gpn) * GIB,
        vllm=VllmSpec(argv={}, env={}),
        warnings=[],
        rationale=[],
        alternatives=[],
        rejected=found.rejected,
        pareto=pareto(best, found.candidates, k),
        knobs=k,
    )
    alternatives = explain.alternatives(best, found.candidates[1:], k)
    plan_obj = plan_obj.model_copy(
        update={
            "warnings": warnings + explain.warnings(plan_obj, t),
            "rationale": [
                *t.notes,
                *notes,
                *best.notes,
                *explain.rationale(plan_obj, t, best, found.candidates),
            ],
            "alternatives": alternatives,
        }
    )
    return plan_obj.model_copy(update={"vllm": build_vllm_spec(plan_obj, t.checkpoint)})


# An unbounded queue (open-loop arrivals above capacity) is shown as this many ms: JSON has no inf.
UNBOUNDED_MS = 1e12


def _round_ms(x: float) -> float:
    return UNBOUNDED_MS if x == float("inf") else round(x, 1)


def _count(x: float) -> int:
    return int(UNBOUNDED_MS) if x == float("inf") else max(1, round(x))


def pareto(best: Candidate, cands: list[Candidate], k: Knobs) -> list[ParetoPoint]:
    """The front of tokens/s/GPU vs tokens/s/user over every layout's load sweep, with the
    chosen operating point marked (added when it is not on the front)."""
    everything = [s for c in cands for s in c.points]
    front = serving.pareto_front(everything)
    chosen = serving.Scored(best.layout, best.est, tuple(best.misses))
    if not any(s.layout == best.layout and s.point == best.est for s in front):
        front.append(chosen)
        front.sort(key=lambda s: -s.point.tokens_per_s_per_user)
    return [
        ParetoPoint(
            layout=s.layout.label(),
            strategy=s.layout.strategy,
            concurrency=_count(s.point.concurrency),
            tokens_per_s_per_gpu=round(s.point.tokens_per_s_per_gpu, 1),
            tokens_per_s_per_user=round(s.point.tokens_per_s_per_user, 1),
            ttft_ms=_round_ms(s.point.ttft_at(k.percentile)),
            tpot_ms=round(s.point.tpot_at(k.percentile), 2),
            meets_sla=not s.misses,
            misses=list(s.misses),
            chosen=s.layout == best.layout and s.point == best.est,
        )
        for s in front
    ]


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def build_vllm_spec(p: Plan, checkpoint: Checkpoint) -> VllmSpec:
    """argv per node role with the head address as ${HEAD_IP} (compose/.env style)."""
    argv = {}
    for rank in range(p.nodes):
        addr = vllm.Addressing.concrete("${HEAD_IP}", rank, p.data_parallel_local)
        argv[f"node-{rank}"] = vllm.serve_argv(p, checkpoint, rank, addr)
    placeholders = {"HEAD_IP": "address of node 0 (the head)"} if p.nodes > 1 else {}
    for name in vllm.node_env_names(p):
        placeholders[name] = "set per node"
    return VllmSpec(argv=argv, env=vllm.base_env(p), placeholders=placeholders)
