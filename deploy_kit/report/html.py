"""Self-contained HTML reports of a plan and of the capacity table: inline SVG, table fallbacks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from deploy_kit.report.svg import count, curves, esc, hbar, legend, num, pareto, tokens, usd
from deploy_kit.version import __version__
from deploy_kit.vllm import argv as vllm

if TYPE_CHECKING:
    from deploy_kit.planner.capacity import CapacityRow
    from deploy_kit.spec import Plan

PlanKey = tuple[str, str, str]
"""A capacity cell: (model, weights, hardware)."""

# Contexts of the concurrency curves: 4K to V4's 1M window in powers of two (plus the plan's own).
CURVE_CONTEXTS: tuple[int, ...] = tuple(4096 << i for i in range(9))
# Re-planning one cell takes a few ms; the full default table has ~100 fitting cells. The cap
# keeps a huge hand-made table (many --hardware) bounded; cells past it get no memory bar.
MAX_REPLANS = 400

# (key, legend label, colour): Okabe-Ito colours, safe for colour-blind readers and in print.
MEMORY_PARTS: tuple[tuple[str, str, str], ...] = (
    ("weights", "Weights*", "#0072B2"),
    ("activation", "Activation peak*", "#E69F00"),
    ("overhead", "Non-torch: NCCL, all2all*", "#CC79A7"),
    ("cudagraph", "CUDA graphs*", "#D55E00"),
    ("kv", "KV cache", "#009E73"),
    ("unclaimed", "Not claimed (1 - utilization)", "#D0D0D0"),
)
SERIES_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#8C564B")
SERIES_DASHES = ("", "7 3", "2 2")
COST_COLOR = "#56B4E9"
API_COLOR = "#B22222"

# Key figures of the plan page: (label, path in the plan's JSON, format); * marks estimates.
PLAN_FACTS: tuple[tuple[str, str, str], ...] = (
    ("Strategy", "strategy", "str"),
    ("Weights", "weights", "str"),
    ("Hardware", "hardware.name", "str"),
    ("vLLM", "vllm_version", "str"),
    ("Image", "image", "str"),
    (vllm.F_MAX_MODEL_LEN, "max_model_len", "int"),
    ("Longest context that fits", "capacity.max_model_len_fit", "int"),
    ("KV pools (engines)", "capacity.engines", "int"),
    ("Max concurrency per engine", "capacity.max_concurrency_per_engine", "2f"),
    ("Max concurrency, total", "capacity.max_concurrency_total", "2f"),
    ("KV cache tokens per engine", "capacity.kv_cache_tokens_per_engine", "int"),
    ("Concurrency of the figures", "performance.concurrency", "int"),
    ("Decode tokens/s, total*", "performance.output_tokens_per_s_total", "1f"),
    ("Decode tokens/s per GPU*", "performance.output_tokens_per_s_per_gpu", "1f"),
    ("Decode tokens/s per user*", "performance.output_tokens_per_s_per_user", "1f"),
    ("TPOT, ms*", "performance.tpot_ms", "2f"),
    ("TTFT, ms*", "performance.ttft_ms", "1f"),
    ("SLA met*", "performance.sla_met", "yesno"),
    ("Goodput tokens/s per GPU*", "performance.goodput_tokens_per_s_per_gpu", "1f"),
    ("Cost per 1M output tokens*", "performance.cost_per_1m_output_tokens", "usd"),
    ("DeepSeek API, per 1M output", "performance.api_price_per_1m_output_tokens", "usd"),
    ("Load time, s*", "load_time_s", "int"),
)


def plan_html(plan: Plan) -> str:
    """One plan as a standalone HTML page: key figures, memory bar, concurrency curve, layouts."""
    cap, mem = plan.capacity, plan.memory["per_gpu"]
    title = f"deploy-kit plan: {plan.checkpoint} on {plan.hardware.name}"
    data = plan.model_dump(mode="json")
    dl = "".join(
        f'<div><dt>{esc(label)}</dt><dd data-field="{path}" data-value="{_json(_at(data, path))}">'
        f"{esc(_FORMATS[kind](_at(data, path)))}</dd></div>"
        for label, path, kind in PLAN_FACTS
    )
    parts = _memory_parts(plan)
    mem_fig = _figure(
        "fig-memory",
        f"Memory per GPU on {plan.hardware.name} ({plan.hardware.gpu.name}), GiB",
        legend([(label, color, "") for _, label, color in MEMORY_PARTS]),
        hbar(
            [plan.layout.label()],
            [parts],
            [c for _, _, c in MEMORY_PARTS],
            [label for _, label, _ in MEMORY_PARTS],
            "GiB",
            f"Stacked bar: {_memory_words(parts)} of {num(mem.total_gib, 2)} GiB per GPU.",
        ),
        _memory_table([(plan.layout.label(), plan)]),
    )
    curve = concurrency_curve(plan)
    cap_total = plan.max_num_seqs * cap.engines
    curve_fig = _figure(
        "fig-concurrency",
        "Concurrent requests against context length (same KV memory, vLLM's arithmetic)",
        legend([(plan.layout.label(), SERIES_COLORS[0], "")]),
        curves(
            [(plan.layout.label(), curve, SERIES_COLORS[0], "")],
            "Concurrent requests of one context length the KV cache holds, against that "
            "length; log scales.",
            domain=(CURVE_CONTEXTS[0], CURVE_CONTEXTS[-1]),
            mark=(plan.max_model_len, cap.max_concurrency_total, vllm.F_MAX_MODEL_LEN),
            hline=(float(cap_total), f"max-num-seqs x engines = {count(cap_total)}"),
        ),
        _curve_table([(plan.layout.label(), curve)]),
    )
    argv = "".join(
        f"<h3>{esc(role)}</h3><pre>{esc(_shell(args))}</pre>"
        for role, args in plan.vllm.argv.items()
    )
    env = "".join(f"<li><code>{esc(k)}={esc(v)}</code></li>" for k, v in plan.vllm.env.items())
    body = [
        f"<h1>{esc(title)}</h1>",
        f'<p class="lead">{esc(plan.one_line())}</p>',
        _estimates_note(),
        "<section><h2>Key figures</h2>",
        f'<dl class="facts">{dl}</dl></section>',
        f"<section><h2>Memory per GPU</h2>{mem_fig}</section>",
        f"<section><h2>Concurrency against context length</h2>{curve_fig}</section>",
        _pareto_section(plan),
        "<section><h2>Why</h2>",
        _ul(plan.rationale),
        "</section>",
        *(
            ["<section><h2>Warnings</h2>", _ul(plan.warnings), "</section>"]
            if plan.warnings
            else []
        ),
        f"<section><h2>vLLM command</h2>{argv}",
        f'<ul class="env">{env}</ul></section>' if env else "</section>",
        _alternatives_table(plan),
        _rejected_table(plan),
    ]
    return _page(title, body)


def _pareto_section(plan: Plan) -> str:
    """Throughput per GPU against interactivity over every layout and load, chosen point ringed."""
    if not plan.pareto:
        return ""
    layouts = _unique(pt.layout for pt in plan.pareto)
    colors = {name: SERIES_COLORS[i % len(SERIES_COLORS)] for i, name in enumerate(layouts)}
    perf = plan.performance
    svg = pareto(
        [
            (
                pt.tokens_per_s_per_user,
                pt.tokens_per_s_per_gpu,
                pt.layout,
                pt.meets_sla,
                pt.chosen,
                f"{pt.layout} at {pt.concurrency} concurrent: {num(pt.tokens_per_s_per_gpu, 1)} "
                f"tok/s/GPU, {num(pt.tokens_per_s_per_user, 1)} tok/s/user"
                + ("" if pt.meets_sla else "; misses " + "; ".join(pt.misses)),
            )
            for pt in plan.pareto
        ],
        colors,
        "Pareto front: output tokens/s per GPU against tokens/s per user; hollow points miss "
        "the SLA; the chosen point is ringed.",
    )
    trs = [
        f"<tr{' class=chosen' if pt.chosen else ''}><td>{esc(pt.layout)}"
        f"{' (chosen)' if pt.chosen else ''}</td><td>{count(pt.concurrency)}</td>"
        f"<td>{num(pt.tokens_per_s_per_gpu, 1)}</td><td>{num(pt.tokens_per_s_per_user, 1)}</td>"
        f"<td>{num(pt.ttft_ms, 0)}</td><td>{num(pt.tpot_ms, 1)}</td>"
        f"<td>{'yes' if pt.meets_sla else esc('; '.join(pt.misses))}</td></tr>"
        for pt in plan.pareto
    ]
    table = _data_table(
        f"Pareto front ({perf.prompt_tokens} in / {perf.output_tokens} out, {perf.percentile}; "
        "* estimates)",
        ["Layout", "Concurrency", "tok/s/GPU*", "tok/s/user*", "TTFT ms*", "TPOT ms*", "SLA"],
        trs,
    )
    fig = _figure(
        "fig-pareto",
        "Throughput per GPU against interactivity, every layout at every load",
        legend([(name, colors[name], "") for name in layouts]),
        svg,
        table,
    )
    return f"<section><h2>Throughput against interactivity</h2>{fig}</section>"


def capacity_html(rows: list[CapacityRow], plans: dict[PlanKey, Plan] | None = None) -> str:
    """The capacity table as a standalone HTML page.

    `plans` gives the plan behind each fitting cell (for memory bars and concurrency curves);
    without it the fitting cells are re-planned (bounded by MAX_REPLANS).
    """
    if plans is None:
        plans = plans_for(rows)
    context = rows[0].context if rows else 0
    title = f"deploy-kit capacity at {tokens(context)} tokens ({count(context)})"
    groups = _unique((r.model, r.weights) for r in rows)
    hardware = _unique(r.hardware for r in rows)
    fitting = [r for r in rows if r.fits]
    body = [
        f"<h1>{esc(title)}</h1>",
        f'<p class="lead">{len(rows)} cells (model x weights x hardware), {len(fitting)} fit. '
        "Each cell: layout, longest context one request can have, concurrent requests at "
        f"{esc(count(context))} tokens, decode tokens/s and cost per 1M output tokens against the "
        "DeepSeek API price.</p>",
        _estimates_note(),
        "<section><h2>Matrix</h2>",
        _matrix(rows, groups, hardware),
        "</section>",
    ]
    for n, (model, weights) in enumerate(groups):
        cells = [r for r in fitting if (r.model, r.weights) == (model, weights)]
        if cells:
            body.append(_group_section(n, model, weights, cells, plans))
    body.append(_nofit_table(rows))
    # The matrix is wide: landscape pages keep its cells readable on paper.
    return _page(title, body, extra_css="@page{size:landscape;margin:10mm}")


def plans_for(rows: Sequence[CapacityRow]) -> dict[PlanKey, Plan]:
    """Re-plan the fitting cells of a capacity table (presets only, at most MAX_REPLANS)."""
    from deploy_kit.catalog import load_catalog
    from deploy_kit.errors import DeployKitError
    from deploy_kit.planner import search as planner
    from deploy_kit.planner.candidates import resolve_target
    from deploy_kit.spec import Knobs

    catalog = load_catalog()
    out: dict[PlanKey, Plan] = {}
    for row in [r for r in rows if r.fits][:MAX_REPLANS]:
        hw = catalog.presets.get(row.hardware)
        if hw is None:  # a hardware file: not re-read here (this module does no I/O)
            continue
        knobs = Knobs.model_validate({"weights": row.weights, "context": row.context})
        try:
            target = resolve_target(catalog, row.model, row.weights)
            p = planner.plan(catalog, target.checkpoint.id, hw, knobs, suggest=False)
        except DeployKitError:
            continue
        if p.layout.label() == row.strategy:
            out[(row.model, row.weights, row.hardware)] = p
    return out


def concurrency_curve(
    plan: Plan, contexts: Sequence[int] = CURVE_CONTEXTS
) -> list[tuple[int, float]]:
    """(context, total concurrent requests) the plan's KV memory holds, for contexts that fit.

    vLLM's own arithmetic (memory.kv_capacity) on the plan's KV bytes per GPU, batched tokens and
    async scheduling; at plan.max_model_len it equals plan.capacity.max_concurrency_total.
    """
    from deploy_kit.catalog import load_catalog
    from deploy_kit.planner import memory

    catalog = load_catalog()
    card = catalog.models[plan.model]
    layers = card.arch.num_hidden_layers
    stage = memory.pp_max_stage_layers(layers, plan.pipeline_parallel) / layers
    kv_bytes = plan.memory["per_gpu"].kv_cache_bytes
    limit = card.arch.max_position_embeddings
    out: list[tuple[int, float]] = []
    for ctx in sorted({c for c in contexts if c <= limit} | {plan.max_model_len}):
        kv = memory.kv_capacity(
            catalog.layout_of(card),
            kv_bytes,
            ctx,
            plan.max_num_batched_tokens,
            plan.async_scheduling,
            limit,
            stage_fraction=stage,
        )
        if kv.fits:
            out.append((ctx, round(kv.max_concurrency * plan.capacity.engines, 2)))
    return out


# --- sections -------------------------------------------------------------------------------------


def _group_section(
    n: int, model: str, weights: str, cells: list[CapacityRow], plans: dict[PlanKey, Plan]
) -> str:
    name = f"{model} · {weights}"
    costs = [r for r in cells if r.cost_per_1m_output_tokens is not None]
    api = cells[0].api_price_per_1m_output_tokens
    out = [f'<section id="group-{n}"><h2>{esc(name)}</h2>']
    if costs:
        out.append(
            _figure(
                f"fig-cost-{n}",
                f"{name}: estimated cost per 1M output tokens (USD) against the DeepSeek API",
                legend(
                    [
                        ("Self-hosted estimate*", COST_COLOR, ""),
                        (f"DeepSeek API {usd(api)}", API_COLOR, "5 3"),
                    ]
                ),
                hbar(
                    [r.hardware for r in costs],
                    [[r.cost_per_1m_output_tokens or 0.0] for r in costs],
                    [COST_COLOR],
                    ["cost per 1M output tokens"],
                    "USD",
                    f"Bars: estimated cost per 1M output tokens on {len(costs)} hardware "
                    f"presets; dashed line: the DeepSeek API price {usd(api)}.",
                    ref=(api, f"API {usd(api)}"),
                    ref_color=API_COLOR,
                    money=True,
                ),
                _cost_table(costs),
            )
        )
    planned = [
        (r.hardware, plans[(r.model, r.weights, r.hardware)])
        for r in cells
        if (r.model, r.weights, r.hardware) in plans
    ]
    if planned:
        out.append(
            _figure(
                f"fig-memory-{n}",
                f"{name}: memory per GPU, GiB",
                legend([(label, color, "") for _, label, color in MEMORY_PARTS]),
                hbar(
                    [f"{hw} {p.layout.label()}" for hw, p in planned],
                    [_memory_parts(p) for _, p in planned],
                    [c for _, _, c in MEMORY_PARTS],
                    [label for _, label, _ in MEMORY_PARTS],
                    "GiB",
                    f"Stacked bars: memory per GPU of {len(planned)} plans, split into "
                    "weights, activation, non-torch, CUDA graphs, KV cache and unclaimed.",
                ),
                _memory_table(planned),
            )
        )
        series = [
            (
                hw,
                concurrency_curve(p),
                SERIES_COLORS[i % len(SERIES_COLORS)],
                SERIES_DASHES[(i // len(SERIES_COLORS)) % len(SERIES_DASHES)],
            )
            for i, (hw, p) in enumerate(planned)
        ]
        out.append(
            _figure(
                f"fig-concurrency-{n}",
                f"{name}: concurrent requests against context length",
                legend([(label, color, dash) for label, _, color, dash in series]),
                curves(
                    series,
                    f"One line per hardware preset ({len(series)}): concurrent requests the KV "
                    "cache holds against context length; log scales.",
                    domain=(CURVE_CONTEXTS[0], CURVE_CONTEXTS[-1]),
                ),
                _curve_table([(label, pts) for label, pts, _, _ in series]),
            )
        )
    missing = len(cells) - len(planned)
    if missing:
        out.append(
            f'<p class="note">{missing} fitting cell(s) not re-planned (hardware '
            "files or past the re-plan limit): no memory bar or curve.</p>"
        )
    out.append("</section>")
    return "".join(out)


def _matrix(rows: list[CapacityRow], groups: list[tuple[str, str]], hardware: list[str]) -> str:
    index = {(r.model, r.weights, r.hardware): r for r in rows}
    nofit = {id(r): i + 1 for i, r in enumerate(r for r in rows if not r.fits)}
    gpus = {r.hardware: r.gpus for r in rows}
    api = {(r.model, r.weights): r.api_price_per_1m_output_tokens for r in rows}
    head = "".join(
        f'<th scope="col" data-model="{esc(m)}" data-weights="{esc(w)}">{esc(m)}<br>{esc(w)}<br>'
        f'<span class="muted">API {_api_field(api[(m, w)])}/1M</span></th>'
        for m, w in groups
    )
    body = []
    for hw in hardware:
        cells = []
        for m, w in groups:
            r = index.get((m, w, hw))
            cells.append('<td class="na">-</td>' if r is None else _matrix_cell(r, nofit))
        body.append(
            f'<tr><th scope="row">{esc(hw)}<br><span class="muted">{gpus[hw]} GPU(s)'
            f"</span></th>{''.join(cells)}</tr>"
        )
    return (
        '<table class="matrix"><caption>Model and weights (columns) on each hardware preset '
        "(rows): layout; longest context one request can have; concurrent requests at the "
        "table's context; decode tokens/s; USD per 1M output tokens and its ratio to the "
        "DeepSeek API price. * estimate.</caption>"
        f'<thead><tr><th scope="col">Hardware</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _matrix_cell(r: CapacityRow, nofit: dict[int, int]) -> str:
    attrs = (
        f'data-model="{esc(r.model)}" data-weights="{esc(r.weights)}" '
        f'data-hardware="{esc(r.hardware)}" data-fits="{_json(r.fits)}"'
    )
    if not r.fits:
        n = nofit[id(r)]
        return f'<td class="nofit" {attrs}>does not fit <a href="#nofit-{n}">[{n}]</a></td>'
    api = r.api_price_per_1m_output_tokens
    cost = r.cost_per_1m_output_tokens
    vs = f" · {num(cost / api, 1)}x API" if cost is not None and api > 0 else ""
    cheaper = " cheaper" if cost is not None and cost <= api else ""
    return (
        f'<td class="fit{cheaper}" {attrs}>'
        f"<div>{_field('strategy', r.strategy, esc(r.strategy or ''), 'strategy')}</div>"
        f"<div>ctx up to {_field('max_context', r.max_context, esc(count(r.max_context)))}</div>"
        f"<div>{_field('max_concurrency', r.max_concurrency, esc(num(r.max_concurrency, 2)))} "
        f"conc · {_field('tokens_per_s', r.tokens_per_s, esc(num(r.tokens_per_s, 0)))} "
        "tok/s*</div>"
        f"<div>{_field('cost_per_1m_output_tokens', cost, esc(usd(cost)))}/1M*"
        f'<span class="muted">{esc(vs)}</span></div>{_sla_cell(r)}</td>'
    )


def _sla_cell(r: CapacityRow) -> str:
    """SLA met, goodput per GPU and $/1M at that goodput (the row's `sla` says which SLA)."""
    if r.sla_met is None:
        return ""
    met = _field("sla_met", r.sla_met, "SLA met" if r.sla_met else "SLA missed")
    if not r.sla_met:
        return f'<div class="muted">{met}*</div>'
    good = r.goodput_tokens_per_s_per_gpu
    cost = r.cost_per_1m_at_goodput
    return (
        f"<div>{met}*: {_field('goodput_tokens_per_s_per_gpu', good, esc(num(good, 0)))} "
        f"tok/s/GPU · {_field('cost_per_1m_at_goodput', cost, esc(usd(cost)))}/1M*</div>"
    )


def _api_field(price: float) -> str:
    return _field("api_price_per_1m_output_tokens", price, esc(usd(price)))


def _field(name: str, value: Any, text: str, cls: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f'<span{klass} data-field="{name}" data-value="{_json(value)}">{text}</span>'


def _nofit_table(rows: list[CapacityRow]) -> str:
    bad = [r for r in rows if not r.fits]
    if not bad:
        return ""
    trs = "".join(
        f'<tr id="nofit-{i}"><td>{i}</td><td>{esc(r.model)}</td><td>{esc(r.weights)}</td>'
        f"<td>{esc(r.hardware)}</td><td>{esc(r.reason or '')}</td></tr>"
        for i, r in enumerate(bad, 1)
    )
    return (
        f'<section><h2>Cells that do not fit ({len(bad)})</h2><table class="data">'
        '<thead><tr><th scope="col">#</th><th scope="col">Model</th>'
        '<th scope="col">Weights</th><th scope="col">Hardware</th>'
        f'<th scope="col">Reason</th></tr></thead><tbody>{trs}</tbody></table></section>'
    )


def _alternatives_table(plan: Plan) -> str:
    if not plan.alternatives:
        return ""
    trs = "".join(
        f"<tr><td>{i}</td><td>{esc(a.layout.label())}</td><td>{esc(a.layout.strategy)}</td>"
        f'<td class="num">{esc(num(a.max_concurrency_total, 2))}</td>'
        f'<td class="num">{esc(num(a.tpot_ms, 2))}</td><td>{esc(a.why_not)}</td></tr>'
        for i, a in enumerate(plan.alternatives, 1)
    )
    return (
        f'<section><h2>Alternatives, ranked ({len(plan.alternatives)})</h2><table class="data">'
        '<thead><tr><th scope="col">#</th><th scope="col">Layout</th>'
        '<th scope="col">Strategy</th><th scope="col">Concurrency</th>'
        '<th scope="col">TPOT ms*</th><th scope="col">Why not</th></tr></thead>'
        f"<tbody>{trs}</tbody></table></section>"
    )


def _rejected_table(plan: Plan) -> str:
    trs = "".join(
        f"<tr><td>{esc(r.layout.label())}</td><td>{esc(r.layout.strategy)}</td>"
        f"<td><code>{esc(r.rule)}</code></td><td>{esc(r.reason)}</td>"
        f'<td class="num">{esc(count(r.max_model_len_fit))}</td></tr>'
        for r in plan.rejected
    )
    empty = "" if trs else '<tr><td colspan="5">none</td></tr>'
    return (
        f'<section><h2>Rejected layouts ({len(plan.rejected)})</h2><table class="data">'
        '<thead><tr><th scope="col">Layout</th><th scope="col">Strategy</th>'
        '<th scope="col">Rule</th><th scope="col">Reason</th>'
        '<th scope="col">Longest context that fits</th></tr></thead>'
        f"<tbody>{trs}{empty}</tbody></table></section>"
    )


def _memory_parts(plan: Plan) -> list[float]:
    m = plan.memory["per_gpu"]
    used = [m.weights_gib, m.activation_gib, m.overhead_gib, m.cudagraph_gib, m.kv_cache_gib]
    return [*used, max(round(m.total_gib - sum(used), 2), 0.0)]


def _memory_words(parts: Sequence[float]) -> str:
    return ", ".join(
        f"{label.rstrip('*')} {num(v, 2)}"
        for (_, label, _), v in zip(MEMORY_PARTS, parts, strict=True)
    )


def _memory_table(planned: Sequence[tuple[str, Plan]]) -> str:
    cols = [
        "weights_gib",
        "activation_gib",
        "overhead_gib",
        "cudagraph_gib",
        "kv_cache_gib",
        "total_gib",
        "requested_gib",
    ]
    heads = [
        "Weights*",
        "Activation*",
        "Non-torch*",
        "CUDA graphs*",
        "KV cache",
        "Total",
        "Requested",
    ]
    trs = []
    for label, p in planned:
        m = p.memory["per_gpu"].model_dump()
        tds = "".join(
            f'<td class="num" data-field="{c}" data-value="{_json(m[c])}">{esc(num(m[c], 2))}</td>'
            for c in cols
        )
        trs.append(f'<tr><th scope="row">{esc(label)}</th>{tds}</tr>')
    return _data_table("Memory per GPU, GiB (* estimate)", ["Plan", *heads], trs)


def _curve_table(series: Sequence[tuple[str, Sequence[tuple[int, float]]]]) -> str:
    xs = sorted({x for _, pts in series for x, _ in pts})
    trs = []
    for label, pts in series:
        by_x = dict(pts)
        tds = "".join(
            f'<td class="num">{esc(num(by_x[x], 2)) if x in by_x else "does not fit"}</td>'
            for x in xs
        )
        trs.append(f'<tr><th scope="row">{esc(label)}</th>{tds}</tr>')
    return _data_table(
        "Concurrent requests by context length (tokens)", ["", *(count(x) for x in xs)], trs
    )


def _cost_table(rows: Sequence[CapacityRow]) -> str:
    trs = [
        f'<tr><th scope="row">{esc(r.hardware)}</th><td>{esc(r.strategy or "")}</td>'
        f'<td class="num">{esc(usd(r.cost_per_1m_output_tokens))}</td>'
        f"<td>{'-' if r.sla_met is None else ('yes' if r.sla_met else 'no')}</td>"
        f'<td class="num">{esc(num(r.goodput_tokens_per_s_per_gpu, 0))}</td>'
        f'<td class="num">{esc(usd(r.cost_per_1m_at_goodput))}</td>'
        f'<td class="num">{esc(usd(r.api_price_per_1m_output_tokens))}</td></tr>'
        for r in rows
    ]
    sla = next((r.sla for r in rows if r.sla), "")
    return _data_table(
        "Cost per 1M output tokens, USD (* estimate)" + (f"; SLA: {sla}" if sla else ""),
        [
            "Hardware",
            "Layout",
            "Self-hosted*",
            "SLA met*",
            "Goodput tok/s/GPU*",
            "At goodput*",
            "DeepSeek API",
        ],
        trs,
    )


def _data_table(caption: str, heads: Sequence[str], trs: Sequence[str]) -> str:
    th = "".join(f'<th scope="col">{esc(h)}</th>' for h in heads)
    return (
        f'<table class="data"><caption>{esc(caption)}</caption><thead><tr>{th}</tr></thead>'
        f"<tbody>{''.join(trs)}</tbody></table>"
    )


def _figure(fid: str, caption: str, legend: str, svg: str, table: str) -> str:
    return (
        f'<figure id="{esc(fid)}" class="chart"><figcaption>{esc(caption)}</figcaption>'
        f'{legend}{svg}<div class="fallback">{table}</div></figure>'
    )


# --- page and formatting --------------------------------------------------------------------------

_CSS = """
:root{color:#1a1a1a;background:#fff;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,
"DejaVu Sans","Liberation Sans",Arial,sans-serif}
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}
body{margin:0}main{max-width:1120px;margin:0 auto;padding:16px 24px}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;margin:24px 0 8px;border-bottom:1px solid #ccc}
h3{font-size:14px;margin:8px 0 2px}.lead{font-size:15px}.note,.muted{color:#555}
.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));gap:4px 16px}
.facts div{border-left:3px solid #0072B2;padding-left:8px}.facts dt{color:#555;font-size:12px}
.facts dd{margin:0;font-weight:600}
table{border-collapse:collapse;margin:8px 0;font-size:12px}
caption{text-align:left;font-weight:600;padding:4px 0}
th,td{border:1px solid #ccc;padding:3px 6px;vertical-align:top;text-align:left}
thead th{background:#f0f0f0}.matrix tbody th{white-space:nowrap}
.num{text-align:right;font-variant-numeric:tabular-nums}
.matrix td{white-space:nowrap}.matrix .fit{background:#e6f4ee}.matrix .cheaper{background:#c9ead9}
.matrix .nofit{background:#f4f4f4;color:#666}.strategy{font-weight:600}
figure.chart{margin:12px 0}figcaption{font-weight:600;margin-bottom:4px}
.chart svg{max-width:100%;height:auto;display:block}
.legend{list-style:none;margin:0 0 4px;padding:0;display:flex;flex-wrap:wrap;gap:2px 14px;
font-size:12px}.legend li{display:flex;align-items:center;gap:4px}
svg text{font-size:11px;fill:#1a1a1a}svg .tick{fill:#444}svg .axis{fill:#333;font-size:12px}
svg .ref{font-size:11px;fill:#333}svg .grid{stroke:#d8d8d8;stroke-width:1}
svg .grid.minor{stroke:#eee}svg .leader{stroke-width:.8;stroke-dasharray:2 2}
pre{white-space:pre-wrap;word-break:break-all;background:#f6f6f6;padding:8px;font-size:12px}
@media print{:root{font-size:10pt}.chart svg{break-inside:avoid;max-height:170mm;width:auto}
figcaption,.legend{break-after:avoid}main{max-width:none;padding:0}h2{break-after:avoid}
tr{break-inside:avoid}a{color:inherit;text-decoration:none}.matrix td{white-space:normal}
table{font-size:8pt}}
"""


def _page(title: str, body: Sequence[str], extra_css: str = "") -> str:
    head = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        # Nothing outside this file may load: the report is safe to open offline and to mail.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="deploy-kit {esc(__version__)}">',
        f"<title>{esc(title)}</title>",
        f"<style>{_CSS}{extra_css}</style>",
        "</head>",
        "<body><main>",
    ]
    foot = (
        f'<footer><p class="muted">Generated by deploy-kit {esc(__version__)}. Figures marked '
        "* are estimates.</p></footer>"
    )
    return "\n".join([*head, *body, foot, "</main></body>", "</html>", ""])


def _estimates_note() -> str:
    return (
        '<p class="note">* estimate: weights, activation and overhead sizes are calibrated '
        "estimates; tokens/s, TPOT, TTFT and cost come from a roofline model and an assumed "
        "GPU-hour price, never measurements. KV capacity is vLLM's own arithmetic.</p>"
    )


def _ul(items: Sequence[str]) -> str:
    return "<ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>"


def _unique(items: Any) -> list[Any]:
    return list(dict.fromkeys(items))


def _shell(argv: Sequence[str]) -> str:
    import shlex

    return " ".join(shlex.quote(a) for a in argv)


def _json(value: Any) -> str:
    return esc(json.dumps(value))


def _at(data: Any, path: str) -> Any:
    for key in path.split("."):
        data = data[key]
    return data


_FORMATS: dict[str, Any] = {
    "str": str,
    "int": count,
    "1f": lambda v: num(v, 1),
    "2f": lambda v: num(v, 2),
    "usd": usd,
    "yesno": lambda v: "-" if v is None else ("yes" if v else "no"),
}
