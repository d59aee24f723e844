"""Human and machine views of catalog rows, plans and capacity tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from deploy_kit.cli import output

if TYPE_CHECKING:
    from deploy_kit.catalog import Catalog
    from deploy_kit.spec import Plan

GIB = 1024**3


def format_rows(
    rows: Sequence[dict[str, Any]], fmt: str, columns: Sequence[str], title: str
) -> str:
    if fmt == "json":
        return output.to_json(list(rows))
    if fmt == "yaml":
        return output.to_yaml(list(rows))
    if fmt == "csv":
        return output.to_csv(rows)
    return output.table(rows, columns, title)


def model_rows(catalog: Catalog) -> list[dict[str, Any]]:
    rows = []
    for c in catalog.checkpoints.values():
        m = catalog.model_of(c)
        rows.append(
            {
                "id": c.id,
                "hf_id": c.hf_id,
                "model": m.id,
                "params": f"{m.params_total_b:g}B/{m.params_active_b:g}B active",
                "params_total_b": m.params_total_b,
                "params_active_b": m.params_active_b,
                "status": c.status,
                "released": c.released,
                "weights": f"experts {c.weights.experts}, rest {c.weights.rest}",
                "disk_gib": c.disk_gib,
                "min_vllm": c.min_vllm,
                "speculative": c.speculative.method if c.speculative else None,
                "verified_gpus": m.verified_gpus,
                "requires_arch": c.requires_arch,
                "source": c.source,
            }
        )
    return rows


def gpu_rows(catalog: Catalog) -> list[dict[str, Any]]:
    presets: dict[str, list[str]] = {}
    for name, p in catalog.presets.items():
        presets.setdefault(p.gpu.id, []).append(name)
    return [
        {
            "id": g.id,
            "name": g.name,
            "vendor": g.vendor,
            "arch": g.arch,
            "sm": g.sm,
            "memory_gb": g.memory_gb,
            "usable_gib": round(g.usable_bytes / GIB, 2),
            "bandwidth_tbps": g.bandwidth_tbps,
            "bf16_tflops": g.bf16_tflops,
            "fp8_tflops": g.fp8_tflops,
            "fp4_tflops": g.fp4_tflops,
            "fp8": g.fp8,
            "fp4": g.fp4,
            "k8s_resource": g.k8s_resource,
            "k8s_product_labels": g.k8s_product_labels,
            "gpu_hour_usd": g.gpu_hour_usd,
            "presets": presets.get(g.id, []),
            "source": g.source,
        }
        for g in catalog.gpus.values()
    ]


def plan_rows(p: Plan) -> list[dict[str, Any]]:
    """The plan as flat rows (csv): one row, the headline numbers."""
    mem = p.memory["per_gpu"]
    return [
        {
            "model": p.model,
            "checkpoint": p.checkpoint,
            "hardware": p.hardware.name,
            "layout": p.layout.label(),
            "strategy": p.strategy,
            "tensor_parallel": p.tensor_parallel,
            "pipeline_parallel": p.pipeline_parallel,
            "data_parallel": p.data_parallel,
            "expert_parallel": p.expert_parallel,
            "nodes": p.nodes,
            "replicas": p.replicas,
            "max_model_len": p.max_model_len,
            "weights_gib": mem.weights_gib,
            "kv_cache_gib": mem.kv_cache_gib,
            "max_concurrency_total": p.capacity.max_concurrency_total,
            "tpot_ms": p.performance.tpot_ms,
            "ttft_ms": p.performance.ttft_ms,
            "concurrency": p.performance.concurrency,
            "output_tokens_per_s_total": p.performance.output_tokens_per_s_total,
            "output_tokens_per_s_per_gpu": p.performance.output_tokens_per_s_per_gpu,
            "sla_met": p.performance.sla_met,
            "goodput_tokens_per_s_per_gpu": p.performance.goodput_tokens_per_s_per_gpu,
            "cost_per_1m_output_tokens": p.performance.cost_per_1m_output_tokens,
        }
    ]


def format_plan(p: Plan, fmt: str, *, explain: bool = False) -> str:
    data = p.model_dump(mode="json")
    if fmt == "json":
        return output.to_json(data)
    if fmt == "yaml":
        return output.to_yaml(data)
    if fmt == "csv":
        return output.to_csv(plan_rows(p))
    return plan_text(p, explain=explain)


def plan_text(p: Plan, *, explain: bool) -> str:
    from deploy_kit.vllm import argv as vllm

    mem = p.memory["per_gpu"]
    cap = p.capacity
    perf = p.performance
    lines = [
        f"Plan: {p.one_line()}",
        f"  image {p.image}; strategy {p.strategy}; {p.nodes} node(s) x {p.gpus_per_node} GPU(s) "
        f"per engine; {p.replicas} replica(s)",
        "",
        "Memory per GPU (GiB; * = estimate)",
        f"  total {mem.total_gib:g}  requested {mem.requested_gib:g} "
        f"(utilization {p.gpu_memory_utilization:g})",
        f"  weights {mem.weights_gib:g}*  activation {mem.activation_gib:g}*  "
        f"non-torch {mem.overhead_gib:g}*  cuda graphs {mem.cudagraph_gib:g}*  "
        f"KV cache {mem.kv_cache_gib:g}",
        "",
        "Capacity (vLLM's own arithmetic, per engine = one DP rank)",
        f"  GPU KV cache size: {cap.kv_cache_tokens_per_engine:,} tokens; maximum concurrency "
        f"for {p.max_model_len:,} tokens per request: {cap.max_concurrency_per_engine:.2f}x",
        f"  {cap.engines} engine(s): {cap.max_concurrency_total:g} concurrent requests in total; "
        f"longest context that fits: {cap.max_model_len_fit:,}",
        "",
        f"Performance (estimates at {perf.concurrency} concurrent requests of "
        f"{perf.prompt_tokens} in / {perf.output_tokens} out)",
        f"  TPOT {perf.tpot_ms:g} ms ({perf.output_tokens_per_s_per_user:g} tok/s per user); "
        f"{perf.output_tokens_per_s_total:g} tok/s total, {perf.output_tokens_per_s_per_gpu:g} "
        f"per GPU; TTFT {perf.ttft_ms:g} ms ({perf.percentile})",
        *_sla_line(p),
        f"  cost ${_money(perf.cost_per_1m_output_tokens)} "
        f"per 1M output tokens at ${perf.gpu_hour_usd:g}/GPU-hour (DeepSeek API: "
        f"${perf.api_price_per_1m_output_tokens:g})",
        f"  estimated load time {p.load_time_s} s",
        "",
        "vLLM",
    ]
    for role, argv in p.vllm.argv.items():
        lines.append(f"  {role}: {vllm.shell_join(argv)}")
    for key, value in p.vllm.env.items():
        lines.append(f"  env {key}={value}")
    for key, value in p.vllm.placeholders.items():
        lines.append(f"  set {key}: {value}")
    lines += ["", "Why"] + [f"  - {r}" for r in p.rationale]
    if p.warnings:
        lines += ["", "Warnings"] + [f"  ! {w}" for w in p.warnings]
    if p.alternatives:
        lines += ["", "Alternatives (ranked)"]
        for a in p.alternatives:
            lines.append(
                f"  {a.layout.label():<22} {a.max_concurrency_total:>8g} conc  "
                f"TPOT {a.tpot_ms:g} ms  - {a.why_not}"
            )
    if p.pareto:
        lines += ["", "Pareto front (output tok/s per GPU vs per user; * = chosen)"]
        lines.append(
            f"  {'layout':<20} {'conc':>6} {'tok/s/GPU':>10} {'tok/s/user':>10} "
            f"{'TTFT ms':>9} {'TPOT ms':>8}  SLA"
        )
        for pt in p.pareto:
            verdict = "ok" if pt.meets_sla else "misses " + "; ".join(pt.misses)
            lines.append(
                f"{'*' if pt.chosen else ' '} {pt.layout:<20} {pt.concurrency:>6} "
                f"{pt.tokens_per_s_per_gpu:>10g} {pt.tokens_per_s_per_user:>10g} "
                f"{pt.ttft_ms:>9g} {pt.tpot_ms:>8g}  {verdict}"
            )
    if explain:
        lines += ["", f"Rejected layouts ({len(p.rejected)})"]
        for r in p.rejected:
            lines.append(f"  {r.layout.label():<22} [{r.rule}] {r.reason}")
    elif p.rejected:
        n = len(p.rejected)
        lines += ["", f"({n} layout{'' if n == 1 else 's'} rejected; --explain lists them)"]
    return "\n".join(lines) + "\n"


def _sla_line(p: Plan) -> list[str]:
    perf = p.performance
    if perf.sla_met is None:
        return []
    if perf.sla_met:
        return [f"  SLA met; goodput {perf.goodput_tokens_per_s_per_gpu:g} tok/s per GPU"]
    return [f"  SLA missed: {'; '.join(perf.sla_misses)}"]


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def format_capacity(rows: Sequence[Any], fmt: str) -> str:
    dicts = [r.model_dump(mode="json") for r in rows]
    if fmt in ("json", "yaml", "csv"):
        return format_rows(dicts, fmt, [], "")
    cols = [
        "model",
        "weights",
        "hardware",
        "fits",
        "strategy",
        "max_context",
        "max_concurrency",
        "tokens_per_s",
        "cost_per_1m_output_tokens",
        "sla_met",
        "goodput_tokens_per_s_per_gpu",
        "cost_per_1m_at_goodput",
        "api_price_per_1m_output_tokens",
    ]
    sla = next((r.sla for r in rows if r.sla), "")
    title = f"Capacity at {rows[0].context if rows else 0} tokens"
    return output.table(dicts, cols, f"{title}; SLA columns: {sla}" if sla else title)
