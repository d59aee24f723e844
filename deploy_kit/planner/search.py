"""Planner: enumerate parallel layouts, apply the rules, size memory and KV, score, explain."""

from __future__ import annotations

import math

from deploy_kit.catalog import Catalog
from deploy_kit.errors import InputError, PinnedKnobError, PlanError
from deploy_kit.planner import assemble, memory, perf, rules, serving
from deploy_kit.planner.candidates import (
    GIB,
    KV_ASYNC_DOUBLING_SINCE,
    Candidate,
    Search,
    Settings,
    Target,
    draft_of,
    kv_async,
    objective_of,
    resolve_target,
    settings,
)
from deploy_kit.spec import (
    HardwareProfile,
    Knobs,
    Layout,
    MultiNode,
    Plan,
    Rejected,
)
from deploy_kit.vllm import argv as vllm

# Contexts tried when the user pins none, longest first. 393216 (384K) is what Think Max needs
# (recipes); the others are the usual powers of two.
CONTEXT_LADDER = (
    1048576,
    524288,
    rules.THINK_MAX_CONTEXT,
    262144,
    131072,
    65536,
    32768,
    16384,
    8192,
    4096,
)
# With no context and no concurrency pinned, pick the longest context at which the deployment
# still holds this many requests of that length at once: one long request alone is not a service.
DEFAULT_MIN_CONCURRENCY = 4
# Concurrency the performance figures assume when none is pinned (the reference benchmarks'
# largest point, facts section 8), bounded by what the KV cache holds.
DEFAULT_PERF_CONCURRENCY = 64


def engine_sizes(hw: HardwareProfile) -> list[int]:
    gpn = hw.gpus_per_node
    sizes = {d for d in range(1, gpn + 1) if gpn % d == 0}
    sizes |= {k * gpn for k in range(2, hw.nodes + 1) if hw.nodes % k == 0}
    return sorted(sizes)


def enumerate_layouts(hw: HardwareProfile) -> list[Layout]:
    out: list[Layout] = []
    for size in engine_sizes(hw):
        nodes_per_engine = max(1, size // hw.gpus_per_node)
        pps = [1] + ([nodes_per_engine] if nodes_per_engine > 1 else [])
        for pp in pps:
            for tp in range(1, size // pp + 1):
                if (size // pp) % tp:
                    continue
                dp = size // (pp * tp)
                for ep in (False, True):
                    if ep and tp * dp == 1:
                        continue
                    out.append(
                        Layout(
                            strategy=rules.strategy_of(tp, pp, dp, ep),
                            tensor_parallel=tp,
                            pipeline_parallel=pp,
                            data_parallel=dp,
                            expert_parallel=ep,
                            nodes_per_engine=nodes_per_engine,
                            replicas=hw.total_gpus // size,
                        )
                    )
    return out


def _pinned_ok(layout: Layout, k: Knobs) -> bool:
    return (
        (k.tp is None or layout.tensor_parallel == k.tp)
        and (k.pp is None or layout.pipeline_parallel == k.pp)
        and (k.dp is None or layout.data_parallel == k.dp)
        and (k.ep is None or layout.expert_parallel == k.ep)
        and (k.strategy is None or layout.strategy == k.strategy)
    )


def _evaluate(
    t: Target,
    layout: Layout,
    hw: HardwareProfile,
    s: Settings,
    k: Knobs,
    catalog: Catalog,
    context: int,
) -> tuple[Candidate | None, rules.Violation | None, int | None]:
    a = t.model.arch
    wb = _weights(catalog, t)
    world = layout.world
    per_gpu = memory.weights_per_gpu(
        wb,
        a.num_hidden_layers,
        layout.tensor_parallel,
        layout.pipeline_parallel,
        layout.data_parallel,
    )
    b = memory.budget(
        hw.gpu.usable_bytes,
        s.utilization,
        per_gpu,
        s.mnbt,
        a.hidden_size,
        layout.tensor_parallel,
        layout.expert_parallel,
        world,
        k.kv_cache_memory_bytes,
    )
    if b.kv <= 0:
        need = (per_gpu + b.activation + b.overhead + b.cudagraph) / GIB
        return (
            None,
            rules.Violation(
                "memory",
                f"weights {per_gpu / GIB:.1f} GiB + runtime {need - per_gpu / GIB:.1f} GiB per GPU "
                f"exceed the {b.requested / GIB:.1f} GiB vLLM may use",
            ),
            None,
        )
    stage = memory.pp_max_stage_layers(a.num_hidden_layers, layout.pipeline_parallel)
    kv = memory.kv_capacity(
        catalog.layout_of(t.model),
        b.kv,
        context,
        s.mnbt,
        kv_async(layout, k, k.vllm_version or vllm.PINNED_VLLM),
        a.max_position_embeddings,
        stage_fraction=stage / a.num_hidden_layers,
    )
    if not kv.fits:
        return (
            None,
            rules.Violation(
                "context-fit",
                f"one {context}-token request needs {kv.blocks_per_request} KV blocks; "
                f"{b.kv / GIB:.2f} GiB hold {kv.num_blocks}; the estimated maximum model length "
                f"is {kv.max_model_len_fit}",
            ),
            kv.max_model_len_fit,
        )
    multi: MultiNode = "none"
    if layout.nodes_per_engine > 1:
        multi = "data-parallel" if layout.data_parallel > 1 else "nnodes"
    dp_local = (
        layout.data_parallel // layout.nodes_per_engine
        if multi == "data-parallel"
        else layout.data_parallel
    )
    engines = layout.replicas * layout.data_parallel
    total_conc = kv.max_concurrency * engines
    w = serving.workload_of(k, context)
    limit = serving.decode_batch_limit(
        catalog.layout_of(t.model),
        b.kv,
        min(w.longest, context),
        kv_async(layout, k, k.vllm_version or vllm.PINNED_VLLM),
        a.max_position_embeddings,
        stage / a.num_hidden_layers,
        s.max_num_seqs,
    )
    dep = serving.deployment(
        t.model, wb, hw, layout, t.experts_format, limit, s.mnbt, draft_of(t, hw, k)
    )
    if k.request_rate is not None:
        est = perf.serve(dep, w, request_rate=k.request_rate)
    else:
        conc = k.concurrency or max(1, min(DEFAULT_PERF_CONCURRENCY, int(total_conc)))
        est = perf.serve(dep, w, concurrency=conc)
    return Candidate(layout, multi, dp_local, b, kv, est, deployment=dep), None, None


def _weights(catalog: Catalog, t: Target) -> memory.WeightBytes:
    ref = catalog.checkpoints[t.model.id]
    if t.what_if or (t.experts_format, t.rest_format) != (
        t.checkpoint.weights.experts,
        t.checkpoint.weights.rest,
    ):
        return memory.checkpoint_weight_bytes(
            t.checkpoint, t.model, catalog.formats, ref, t.experts_format, t.rest_format
        )
    return memory.checkpoint_weight_bytes(t.checkpoint, t.model, catalog.formats, ref)


# Layouts the recipes run (expert parallelism whenever experts span several ranks: TEP, DEP)
# are the tested paths; within this fraction of capacity they win over untested variants.
RECIPE_PREFERENCE = 0.02


def _is_recipe_layout(layout: Layout) -> bool:
    return layout.expert_parallel or layout.tensor_parallel * layout.data_parallel == 1


def _score(c: Candidate, k: Knobs) -> float:
    engines = c.layout.replicas * c.layout.data_parallel
    total = c.kv.max_concurrency * engines
    if _is_recipe_layout(c.layout):
        total *= 1 + RECIPE_PREFERENCE
    objective = objective_of(k)
    if objective == "latency":
        return -c.est.tpot_ms
    if objective in ("throughput", "goodput", "cost"):
        # Preliminary (one load); operate() rescores on the whole sweep.
        return c.est.tokens_per_s_per_gpu
    # capacity: concurrency first; fewer nodes per engine and speed break ties.
    return total - 0.001 * c.layout.nodes_per_engine - 1e-6 * c.est.tpot_ms


def _search(t: Target, hw: HardwareProfile, k: Knobs, catalog: Catalog, context: int) -> Search:
    """Evaluate every layout the pins allow; rule breakers are rejected with their reason."""
    s = settings(t.model, hw, k)
    cands: list[Candidate] = []
    rejected: list[Rejected] = []
    pinned_rule: rules.Violation | None = None
    any_pinned_valid = False
    for lay in enumerate_layouts(hw):
        pinned = _pinned_ok(lay, k)
        vio = rules.layout_violations(t.model, t.experts_format, lay, hw)
        if vio:
            rejected.append(Rejected(layout=lay, rule=vio[0].rule, reason=vio[0].reason))
            if pinned and pinned_rule is None:
                pinned_rule = vio[0]
            continue
        if not pinned:
            continue
        any_pinned_valid = True
        cand, why, fit = _evaluate(t, lay, hw, s, k, catalog, context)
        if cand is None:
            assert why is not None
            rejected.append(
                Rejected(layout=lay, rule=why.rule, reason=why.reason, max_model_len_fit=fit)
            )
            continue
        cand.score = _score(cand, k)
        cands.append(cand)
    cands.sort(key=lambda c: c.score, reverse=True)
    return Search(cands, rejected, None if any_pinned_valid else pinned_rule)


def _check_pins(t: Target, hw: HardwareProfile, k: Knobs) -> None:
    """Pinned knobs that can never work on this hardware: exit 2 naming the rule."""
    a = t.model.arch
    if k.tp is not None and (a.num_attention_heads % k.tp or a.o_groups % k.tp):
        raise PinnedKnobError(
            f"--tp {k.tp} breaks the heads rule: TP must divide {a.num_attention_heads} heads "
            f"and {a.o_groups} output groups of {t.model.name} (valid: {rules.valid_tp(t.model)})",
            rule="heads-divisible",
        )
    sizes = [x for x in (k.tp, k.pp, k.dp) if x is not None]
    if math.prod(sizes) > hw.total_gpus:
        raise PinnedKnobError(
            f"pinned TP x PP x DP = {math.prod(sizes)} exceeds the {hw.total_gpus} GPUs "
            f"of {hw.name}",
            rule="gpu-count",
        )
    if k.context is not None and k.context > a.max_position_embeddings:
        raise PinnedKnobError(
            f"--context {k.context} exceeds {t.model.name}'s maximum of "
            f"{a.max_position_embeddings}",
            rule="model-max-len",
        )
    longest = serving.workload_of(k).longest if serving.has_workload(k) else 0
    if longest > a.max_position_embeddings:
        raise InputError(
            f"the workload's longest request (input + output = {longest} tokens) exceeds "
            f"{t.model.name}'s maximum context of {a.max_position_embeddings}"
        )
    if k.context is not None and longest > k.context:
        raise PinnedKnobError(
            f"the workload's longest request (input + output = {longest} tokens) does not fit "
            f"--context {k.context}",
            rule="workload-fits-context",
        )
    if k.context is not None and k.context < rules.MIN_CONTEXT:
        raise PinnedKnobError(
            f"--context {k.context} is below deploy-kit's minimum of {rules.MIN_CONTEXT}",
            rule="min-context",
        )


def _check_image(k: Knobs) -> None:
    if k.image is not None:
        vllm.require_pinned(k.image)


def _check_version(t: Target, hw: HardwareProfile, k: Knobs) -> tuple[str, list[str]]:
    version = k.vllm_version or vllm.PINNED_VLLM
    try:
        wanted = rules.version_tuple(version)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    floor = rules.min_vllm(t.checkpoint, hw.gpu)
    if wanted < rules.version_tuple(floor):
        raise PinnedKnobError(
            f"--vllm-version {version} is older than {floor}, the first vLLM that serves "
            f"{t.checkpoint.hf_id} on {hw.gpu.name}",
            rule="vllm-version",
        )
    warns = []
    if wanted[:2] != rules.version_tuple(vllm.PINNED_VLLM)[:2]:
        doubling = wanted >= KV_ASYNC_DOUBLING_SINCE
        warns.append(
            f"vLLM {version}: exact for this version: the KV groups and pages (unchanged since "
            "0.20) and the sliding-window reservation of max-num-batched-tokens "
            + ("x 2 with async scheduling" if doubling else "once, async or not (before 0.26)")
            + f" (catalog/startup_logs.yaml); checked only against {vllm.PINNED_VLLM}: the flag "
            "table, the batch defaults and the memory budget estimates"
        )
    return version.lstrip("v"), warns


def _choose_context(
    t: Target, hw: HardwareProfile, k: Knobs, catalog: Catalog
) -> tuple[int, Search, list[str]]:
    notes: list[str] = []
    if k.context is not None:
        return k.context, _search(t, hw, k, catalog, k.context), notes
    target = k.concurrency or DEFAULT_MIN_CONCURRENCY
    model_max = t.model.arch.max_position_embeddings
    longest = serving.workload_of(k).longest if serving.has_workload(k) else 0
    ladder = [c for c in CONTEXT_LADDER if longest <= c <= model_max] or [
        c for c in CONTEXT_LADDER if c <= model_max
    ][-1:]
    if longest and objective_of(k) in ("throughput", "goodput", "cost"):
        # Serving a stated workload for throughput: the shortest context that holds its longest
        # request, so every layout that can serve it competes (a longer context only makes some
        # layouts, e.g. DP ranks with little KV memory, unable to hold one request).
        for ctx in reversed(ladder):
            found = _search(t, hw, k, catalog, ctx)
            if found.candidates or found.pinned_rule is not None:
                notes.append(
                    f"context {ctx}: the shortest that holds the workload's longest request "
                    f"({longest} tokens); pin --context for longer requests"
                )
                return ctx, found, notes
    fallback: tuple[int, Search] | None = None
    for ctx in ladder:
        found = _search(t, hw, k, catalog, ctx)
        if not found.candidates:
            if found.pinned_rule is not None:
                return ctx, found, notes
            continue
        if fallback is None:
            fallback = (ctx, found)
        if (
            max(
                c.kv.max_concurrency * c.layout.replicas * c.layout.data_parallel
                for c in found.candidates
            )
            >= target
        ):
            if ctx < model_max:
                notes.append(
                    f"context {ctx} chosen: the longest at which the deployment holds "
                    f"{target} requests of that length at once (model maximum {model_max})"
                )
            return ctx, found, notes
    if fallback is not None:
        notes.append(
            f"no context reaches {target} concurrent requests; {fallback[0]} is the longest "
            "that fits at least one"
        )
        return fallback[0], fallback[1], notes
    return ladder[-1], _search(t, hw, k, catalog, ladder[-1]), notes


def plan(
    catalog: Catalog, model_name: str, hw: HardwareProfile, knobs: Knobs, *, suggest: bool = True
) -> Plan:
    """The best plan for this model on this hardware, or PlanError / PinnedKnobError.

    With `suggest`, a PlanError's hint names the smallest change that fits (costs more plans).
    """
    return _plan(catalog, model_name, hw, knobs, suggest=suggest)


def _plan(
    catalog: Catalog, model_name: str, hw: HardwareProfile, knobs: Knobs, *, suggest: bool
) -> Plan:
    t = resolve_target(catalog, model_name, knobs.weights)
    support = rules.gpu_support(t.model, t.checkpoint, hw.gpu)
    if support is not None:
        hint = _suggest(catalog, t, hw, knobs, unsupported=True) if suggest else None
        raise PlanError(f"{t.model.name} cannot run on {hw.name}: {support.reason}", hint=hint)
    _check_pins(t, hw, knobs)
    _check_image(knobs)
    version, version_warns = _check_version(t, hw, knobs)
    context, found, notes = _choose_context(t, hw, knobs, catalog)
    if found.pinned_rule is not None:
        raise PinnedKnobError(
            f"the pinned layout breaks the {found.pinned_rule.rule} rule: "
            f"{found.pinned_rule.reason}",
            rule=found.pinned_rule.rule,
        )
    if not found.candidates:
        worst = _headline(found.rejected)
        hint = (
            _suggest(catalog, t, hw, knobs, unsupported=False, rejected=found.rejected)
            if suggest
            else None
        )
        at = f"at {context} tokens" if knobs.context else f"at any context down to {context}"
        raise PlanError(
            f"{t.model.name} ({t.weights_label}) does not fit on {hw.name} {at}: {worst}",
            hint=hint,
        )
    operate(found, knobs, context)
    _check_sla(found, knobs, hw, t)
    best = found.candidates[0]
    return assemble.assemble(
        catalog, t, hw, knobs, version, context, best, found, [*version_warns], notes
    )


# Score of a layout none of whose points meets the SLA: below every one that does, ordered by how
# close it comes.
_MISS_SCORE = -1e12


def operate(found: Search, k: Knobs, context: int) -> None:
    """Sweep every candidate's load, pick its operating point for the objective, and rank."""
    objective = objective_of(k)
    w = serving.workload_of(k, context)
    for c in found.candidates:
        assert c.deployment is not None
        pts = serving.sweep(c.deployment, w)
        c.points = [serving.Scored(c.layout, p, tuple(serving.sla_misses(p, k))) for p in pts]
        pinned_load = k.concurrency is not None or k.request_rate is not None
        if not pinned_load and objective in ("throughput", "goodput", "cost"):
            good = [s.point for s in c.points if not s.misses]
            if good:
                c.est = max(good, key=lambda p: (p.tokens_per_s_per_gpu, p.tokens_per_s_per_user))
                if k.has_sla:
                    edge = serving.refine(
                        c.deployment, w, pts, [bool(s.misses) for s in c.points], k
                    )
                    if edge is not None and edge.tokens_per_s_per_gpu > c.est.tokens_per_s_per_gpu:
                        c.est = edge
            else:
                c.est = min((s.point for s in c.points), key=lambda p: serving.sla_distance(p, k))
        elif not pinned_load and objective == "latency" and k.has_sla:
            good = [s.point for s in c.points if not s.misses]
            if good:
                c.est = min(good, key=lambda p: p.tpot_ms)
        c.misses = serving.sla_misses(c.est, k)
        if objective in ("throughput", "goodput", "cost"):
            c.score = c.est.tokens_per_s_per_gpu
            if _is_recipe_layout(c.layout):
                c.score *= 1 + RECIPE_PREFERENCE
        if c.misses:
            c.score = _MISS_SCORE - serving.sla_distance(c.est, k)
    found.candidates.sort(key=lambda c: c.score, reverse=True)
    if objective in ("throughput", "goodput", "cost") and found.candidates:
        _prefer_recipe_within_resolution(found)


# Layouts whose estimated throughput lies this close to the best are not told apart by the model
# (tests/test_calibration.py: its error against measurements is ~24 % per point; the ranking of
# layouts on one machine is finer, but not to a few per cent). Among them the recipes' throughput
# layout wins: one engine per node, DP over its GPUs with expert parallelism (single_node_dep).
MODEL_RESOLUTION = 0.05


def _prefer_recipe_within_resolution(found: Search) -> None:
    best = found.candidates[0].score
    if best <= 0:
        return
    close = [c for c in found.candidates if c.score >= best * (1 - MODEL_RESOLUTION)]

    def recipe_rank(c: Candidate) -> tuple[int, int, int]:
        lay = c.layout
        dep = lay.strategy == "dep" and lay.expert_parallel and lay.tensor_parallel == 1
        return (0 if dep else 1, lay.replicas, lay.nodes_per_engine)

    pick = min(close, key=lambda c: (*recipe_rank(c), -c.score))
    if pick is not found.candidates[0]:
        found.candidates.remove(pick)
        found.candidates.insert(0, pick)
        pick.notes.append(
            f"within {MODEL_RESOLUTION:.0%} of the best estimate ({best:.0f}): the recipes' "
            "throughput layout (one engine per node, DP + EP) is preferred"
        )


def _check_sla(found: Search, k: Knobs, hw: HardwareProfile, t: Target) -> None:
    """An SLA no layout meets: exit 3 naming the closest point and what it misses."""
    if not k.has_sla or not found.candidates or not found.candidates[0].misses:
        return
    best = found.candidates[0]
    parts = []
    if k.ttft_ms is not None:
        parts.append(f"TTFT <= {k.ttft_ms:g} ms")
    if k.tpot_ms is not None:
        parts.append(f"TPOT <= {k.tpot_ms:g} ms")
    w = serving.workload_of(k)
    raise PlanError(
        f"no layout of {t.model.name} on {hw.name} meets the SLA ({', '.join(parts)} at "
        f"{k.percentile}) for {w.isl:.0f} in / {w.osl:.0f} out: the closest is "
        f"{best.layout.label()} at {best.est.concurrency:g} concurrent requests, which misses "
        f"{'; '.join(best.misses)}",
        hint="relax the SLA, shorten the prompts, or add GPUs (a faster GPU lowers TPOT)",
    )


def _headline(rejected: list[Rejected]) -> str:
    """The most telling rejection: memory/context beat structural rules."""
    for rule in ("context-fit", "memory"):
        hits = [r for r in rejected if r.rule == rule]
        if hits:
            # The layout spreading weights the thinnest came closest to fitting.
            r = max(hits, key=lambda r: (r.layout.world, r.layout.expert_parallel))
            return f"{r.layout.label()}: {r.reason}"
    return rejected[0].reason if rejected else "no layout uses this hardware"


def _fits(catalog: Catalog, t: Target, hw: HardwareProfile, knobs: Knobs) -> bool:
    try:
        _plan(catalog, t.checkpoint.id, hw, knobs, suggest=False)
    except (PlanError, InputError):
        return False
    return True


def _suggest(
    catalog: Catalog,
    t: Target,
    hw: HardwareProfile,
    knobs: Knobs,
    *,
    unsupported: bool,
    rejected: list[Rejected] | None = None,
) -> str:
    """The smallest change that fits: shorter context, more GPUs, or a supported GPU."""
    free = knobs.model_copy(
        update={"tp": None, "pp": None, "dp": None, "ep": None, "strategy": None}
    )
    ideas: list[str] = []
    fit_lens = [r.max_model_len_fit or 0 for r in rejected or [] if r.rule == "context-fit"]
    if fit_lens and max(fit_lens) >= rules.MIN_CONTEXT:
        ideas.append(f"a shorter context: --context {max(fit_lens)} fits")
    if not unsupported:
        for profile in _bigger(catalog, hw):
            if _fits(catalog, t, profile, free):
                ideas.append(f"more GPUs: {profile.name}")
                break
    presets = sorted(
        catalog.presets.values(), key=lambda p: (p.gpu.usable_bytes * p.total_gpus, p.name)
    )
    for profile in presets:
        if profile.gpu.id != hw.gpu.id and _fits(catalog, t, profile, free):
            ideas.append(f"the smallest preset that fits: {profile.name}")
            break
    if knobs.weights not in ("native", "fp4"):
        ideas.append(f"--weights native ({catalog.checkpoints[t.model.id].hf_id}, FP4 experts)")
    return "try " + "; or ".join(ideas) if ideas else "no catalog hardware fits these knobs"


def _bigger(catalog: Catalog, hw: HardwareProfile) -> list[HardwareProfile]:
    out = []
    for gpn in (2, 4, 8):
        if gpn > hw.gpus_per_node and hw.nodes == 1:
            out.append(
                hw.model_copy(
                    update={
                        "gpus_per_node": gpn,
                        "name": f"{gpn}x{hw.gpu.aliases[0] if hw.gpu.aliases else hw.gpu.id}",
                    }
                )
            )
    short = hw.gpu.aliases[0] if hw.gpu.aliases else hw.gpu.id
    gpn = max(hw.gpus_per_node, 8 if hw.gpu.id not in ("gb10", "gh200") else 1)
    if hw.gpu.id in ("gb200", "gb300"):
        gpn = 4
    for nodes in (2, 4, 8):
        if nodes > hw.nodes:
            name = f"{nodes}x{short}" if gpn == 1 else f"{nodes}x{gpn}x{short}"
            out.append(
                hw.model_copy(
                    update={
                        "nodes": nodes,
                        "gpus_per_node": gpn,
                        "name": name,
                        "network": hw.network if hw.network != "none" else "infiniband",
                    }
                )
            )
    return out
