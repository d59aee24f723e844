"""Plain-language rationale, warnings and ranked alternatives for a plan."""

from __future__ import annotations

from deploy_kit.planner import perf, rules
from deploy_kit.planner.candidates import (
    Candidate,
    Target,
    kv_async,
    objective_of,
    total_concurrency,
)
from deploy_kit.spec import Alternative, Knobs, Plan

# Upstream verification is per GPU; these are served by the same kernels (SM90) but not listed.
HOPPER_UNLISTED_NOTE = "same SM90 kernels as H200; SGLang serves Flash TP8 on 8 x H100"


def rationale(p: Plan, t: Target, best: Candidate, others: list[Candidate]) -> list[str]:
    lay = best.layout
    a = t.model.arch
    objective = objective_of(p.knobs)
    lines = [
        f"{lay.label()} ({p.strategy}) on {p.hardware.name}, optimising {objective}: "
        f"{p.capacity.max_concurrency_total:g} concurrent requests of {p.max_model_len} tokens "
        f"({p.capacity.engines} KV pool(s) x {p.capacity.max_concurrency_per_engine:g})",
        *_serving_lines(p, best, others),
        f"weights per GPU {p.memory['per_gpu'].weights_gib:g} GiB: non-expert weights split by "
        f"TP {lay.tensor_parallel}, routed experts over TP x DP = "
        f"{lay.tensor_parallel * lay.data_parallel} ranks"
        + (f", PP {lay.pipeline_parallel} stages" if lay.pipeline_parallel > 1 else ""),
    ]
    if lay.expert_parallel:
        per = a.n_routed_experts // (lay.tensor_parallel * lay.data_parallel)
        lines.append(
            f"expert parallelism: each rank owns {per} whole experts of {a.n_routed_experts} "
            "instead of a slice of every expert"
        )
    if lay.data_parallel > 1:
        tp_only = [
            c
            for c in others
            if c.layout.data_parallel == 1
            and c.layout.tensor_parallel == lay.world
            and c.layout.pipeline_parallel == 1
        ]
        line = (
            f"V4 has {a.num_key_value_heads} KV head: tensor parallelism replicates the whole KV "
            "cache on every TP rank, while each DP rank keeps its own pool"
        )
        same_ep = [c for c in tp_only if c.layout.expert_parallel == lay.expert_parallel]
        if tp_only:
            ref = max(same_ep or tp_only, key=total_concurrency)
            held, ref_held = total_concurrency(best), total_concurrency(ref)
            ratio = held / ref_held if ref_held else float("inf")
            line += (
                f"; {ref.layout.label()} would hold {ref_held:.2f} requests at this context, "
                f"{lay.label()} {held:.2f} ({ratio:.1f}x)"
            )
        lines.append(line)
    if p.multi_node == "nnodes":
        lines.append(
            f"nodes joined with --nnodes {p.nodes} (TP/PP across nodes, no Ray); rank 0 serves "
            "the API, the others run headless"
        )
    elif p.multi_node == "data-parallel":
        lines.append(
            f"nodes joined as one DP group: {p.data_parallel_local} DP ranks per node, start "
            "ranks by node; the head serves the API"
        )
    doubled = kv_async(lay, p.knobs, p.vllm_version)
    lines.append(
        f"vLLM batch settings: max-num-seqs {p.max_num_seqs}, max-num-batched-tokens "
        f"{p.max_num_batched_tokens} (vLLM 0.33 defaults for this GPU or the recipe's), "
        f"utilization {p.gpu_memory_utilization:g}; async scheduling "
        f"{'on' if p.async_scheduling else 'off'}: vLLM {p.vllm_version} reserves "
        f"{(2 if doubled else 1) * p.max_num_batched_tokens} tokens per request in "
        "the sliding-window caches" + (" (2 batches in flight)" if doubled else "")
    )
    return lines


# What the vLLM recipes run for throughput on one 8-GPU Hopper or Blackwell node (facts section 5:
# single_node_dep, "DP=gpus + EP"; the blog's DP8 + EP for Pro on 8 x B200/B300).
RECIPE_THROUGHPUT = "DP + EP (single_node_dep)"


def _serving_lines(p: Plan, best: Candidate, others: list[Candidate]) -> list[str]:
    """The operating point, the SLA verdict and how the choice compares with the recipes."""
    perf_ = p.performance
    k = p.knobs
    lines = [
        f"operating point: {perf_.concurrency} concurrent requests of {perf_.prompt_tokens} in / "
        f"{perf_.output_tokens} out: {perf_.output_tokens_per_s_per_gpu:g} output tok/s per GPU, "
        f"{perf_.output_tokens_per_s_per_user:g} per user, TTFT {perf_.ttft_ms:g} ms, TPOT "
        f"{perf_.tpot_ms:g} ms ({perf_.percentile}); batch {perf_.batch_per_rank:g} of "
        f"{perf_.max_batch_per_rank:g} per DP rank"
    ]
    if k.has_sla:
        sla = []
        if k.ttft_ms is not None:
            sla.append(f"TTFT <= {k.ttft_ms:g} ms")
        if k.tpot_ms is not None:
            sla.append(f"TPOT <= {k.tpot_ms:g} ms")
        lines.append(
            f"SLA {', '.join(sla)} at {k.percentile}: met; goodput "
            f"{perf_.goodput_tokens_per_s_per_gpu:g} tok/s per GPU, the most of "
            f"{len({id(c) for c in [best, *others]})} layouts, each at the highest load that still "
            "meets the SLA"
        )
    gpu = p.hardware.gpu
    objective = objective_of(k)
    eight = p.hardware.gpus_per_node == 8 and p.hardware.nodes == 1
    if (
        objective in ("throughput", "goodput", "cost")
        and eight
        and gpu.arch
        in (
            "hopper",
            "blackwell",
            "blackwell-ultra",
        )
    ):
        gpus = p.hardware.gpus_per_node
        recipe = f"TP1+DP{gpus}+EP"
        if p.strategy == "dep" and p.expert_parallel and p.tensor_parallel == 1:
            lines.append(f"agrees with the vLLM recipes' throughput layout, {RECIPE_THROUGHPUT}")
        elif p.strategy == "dep" and p.expert_parallel:
            lines.append(
                f"DP + EP as the vLLM recipes' throughput layout ({RECIPE_THROUGHPUT}), with TP"
                f"{p.tensor_parallel} inside each DP rank: a prompt is prefilled by "
                f"{p.tensor_parallel} GPUs, which shortens TTFT"
            )
        else:
            same = [
                c for c in [best, *others] if c.layout.label() == recipe and c.layout.replicas == 1
            ]
            rejected = [r for r in p.rejected if r.layout.label() == recipe]
            if same:
                ref = same[0]
                lines.append(
                    f"differs from the vLLM recipes' throughput layout {recipe} "
                    f"({RECIPE_THROUGHPUT}): estimated at {ref.est.tokens_per_s_per_gpu:.0f} tok/s "
                    f"per GPU at its best load against {perf_.output_tokens_per_s_per_gpu:g}"
                    + (f", and it misses {'; '.join(ref.misses)}" if ref.misses else "")
                    + " (V4's non-expert weights are read whole by every DP rank each step)"
                )
            elif rejected:
                lines.append(
                    f"differs from the vLLM recipes' throughput layout {recipe}: "
                    f"{rejected[0].reason}"
                )
    return lines


def warnings(p: Plan, t: Target) -> list[str]:
    gpu = p.hardware.gpu
    out: list[str] = []
    if gpu.id not in t.model.verified_gpus:
        extra = f" ({HOPPER_UNLISTED_NOTE})" if gpu.arch == "hopper" else ""
        out.append(f"{gpu.name} is not in upstream's verified list for {t.model.name}{extra}")
    if gpu.id == "mi325x":
        out.append("MI325X is verified upstream for TP1 at 4K context only")
    if gpu.arch == "hopper" and t.model.id == "deepseek-v4-pro":
        out.append(
            "Hopper recipe conflict: the recipe command uses --max-model-len 200000 while its "
            "text says 800K (vllm-project/recipes issue 832); this plan sizes the context itself"
        )
    if gpu.arch in ("blackwell", "blackwell-ultra"):
        out.append(
            "capacity is computed with FP8 indexer pages; the MXFP4 indexer cache enabled on "
            "Blackwell (indexer_kv_dtype mxfp4) makes pages smaller, so real capacity is higher"
        )
    if p.pipeline_parallel > 1:
        out.append("with PP the KV capacity is approximated by the largest stage's share of layers")
    if p.max_model_len < rules.THINK_MAX_CONTEXT and t.checkpoint.chat:
        out.append(
            f"reasoning_effort 'max' (Think Max) needs --max-model-len >= {rules.THINK_MAX_CONTEXT}"
        )
    if p.speculative:
        out.append("speculative decoding keeps extra tokens: capacity figures exclude the draft")
    if p.nodes > 1 and p.hardware.network == "ethernet" and p.multi_node == "nnodes":
        out.append("tensor parallelism across nodes over Ethernet is slow; prefer InfiniBand/RoCE")
    if p.what_if:
        out.append("what-if plan: no checkpoint exists; it cannot be rendered or deployed")
    out.append(
        f"estimated load time {p.load_time_s} s assumes weights already in the local cache "
        f"({perf.LOAD_GBPS_PER_NODE:g} GB/s per node); first download is extra"
    )
    return out


def alternatives(
    best: Candidate, rest: list[Candidate], k: Knobs, limit: int = 5
) -> list[Alternative]:
    """The top runners-up, plus the best of every strategy not among them (for comparison)."""
    picked = rest[:limit]
    shown = {c.layout.strategy for c in picked} | {best.layout.strategy}
    for c in rest[limit:]:
        if c.layout.strategy not in shown:
            picked.append(c)
            shown.add(c.layout.strategy)
    out = []
    objective = objective_of(k)
    for c in picked:
        if c.misses and k.has_sla:
            why = f"misses the SLA at its best load: {'; '.join(c.misses)}"
        elif objective == "latency":
            why = f"slower: TPOT {c.est.tpot_ms:.1f} ms vs {best.est.tpot_ms:.1f} ms"
        elif objective in ("throughput", "goodput", "cost"):
            what = "goodput within the SLA" if k.has_sla else "throughput"
            why = (
                f"less {what}: {c.est.tokens_per_s_per_gpu:.0f} vs "
                f"{best.est.tokens_per_s_per_gpu:.0f} output tokens/s per GPU"
            )
        else:
            why = (
                f"less capacity: {total_concurrency(c):.2f} vs {total_concurrency(best):.2f} "
                "concurrent requests"
            )
            if total_concurrency(c) >= total_concurrency(best) - 0.005:
                why = (
                    "about the same capacity; the chosen layout is the recipes' tested path "
                    "(expert parallelism) or spans fewer nodes"
                )
        out.append(
            Alternative(
                layout=c.layout,
                score=round(c.score, 4),
                max_concurrency_total=round(total_concurrency(c), 2),
                tpot_ms=round(c.est.tpot_ms, 2),
                why_not=why,
            )
        )
    return out


__all__ = ["alternatives", "rationale", "warnings"]
