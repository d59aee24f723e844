"""Capacity table: every model x hardware x weight format, planned and summarised."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import Field

from deploy_kit.catalog import Catalog
from deploy_kit.errors import DeployKitError
from deploy_kit.planner import perf
from deploy_kit.planner import search as planner
from deploy_kit.planner.candidates import Target, resolve_target
from deploy_kit.spec import Base, HardwareProfile, Knobs, Plan

# The formats a capacity table compares by default: the released FP4+FP8 weights, NVIDIA's
# NVFP4 (Blackwell only) and the all-FP8 repack (twice the expert bytes).
DEFAULT_WEIGHTS = ("native", "nvfp4", "fp8")
DEFAULT_MODELS = ("deepseek-v4-flash", "deepseek-v4-pro")
# Context the concurrency column is computed at when none is given: 128K, a common serving
# length well inside V4's 1M window.
DEFAULT_CONTEXT = 131072
# The SLA the table's SLA columns use when the caller gives none: issue 17's acceptance workload
# (4,000 tokens in, 1,000 out, TTFT <= 2 s and TPOT <= 50 ms at p50), a common chat target.
DEFAULT_SLA: dict[str, object] = {"isl": 4000, "osl": 1000, "ttft_ms": 2000.0, "tpot_ms": 50.0}


class CapacityRow(Base):
    """One model x hardware x weights cell of the capacity table."""

    model: str = Field(description="Model id")
    weights: str = Field(description="Weight format")
    checkpoint: str | None = Field(description="Hugging Face id planned")
    hardware: str = Field(description="Hardware preset")
    gpus: int = Field(description="Total GPUs")
    fits: bool = Field(description="A plan exists")
    strategy: str | None = Field(description="Chosen layout")
    context: int = Field(description="Context the concurrency is computed at")
    max_context: int | None = Field(description="Longest context one request can have")
    max_concurrency: float | None = Field(description="Concurrent requests at `context`")
    tokens_per_s: float | None = Field(description="Estimated decode tokens/s, total")
    tokens_per_s_per_gpu: float | None = Field(description="Estimated decode tokens/s per GPU")
    cost_per_1m_output_tokens: float | None = Field(description="Estimated USD per 1M output")
    api_price_per_1m_output_tokens: float = Field(description="DeepSeek API list price")
    reason: str | None = Field(description="Why it does not fit")
    sla: str = Field(default="", description="Workload and SLA of the SLA columns")
    sla_met: bool | None = Field(default=None, description="The layout meets the SLA at some load")
    goodput_tokens_per_s_per_gpu: float | None = Field(
        default=None, description="Output tokens/s per GPU at the most load that meets the SLA"
    )
    cost_per_1m_at_goodput: float | None = Field(
        default=None, description="USD per 1M output tokens at that goodput"
    )


# The knobs that state a workload and SLA (spec.Knobs), and their unset values.
SLA_FIELDS = ("isl", "osl", "workload", "ttft_ms", "tpot_ms", "percentile", "request_rate")
_NO_SLA = {f: Knobs.model_fields[f].default for f in SLA_FIELDS}


def rows(
    catalog: Catalog,
    models: Iterable[str],
    hardware: Iterable[HardwareProfile],
    weights: Iterable[str],
    context: int,
    base: Knobs,
) -> list[CapacityRow]:
    out: list[CapacityRow] = []
    hw_list = list(hardware)
    for model_name in models:
        for w in weights:
            try:
                target = resolve_target(catalog, model_name, w)
            except DeployKitError:
                continue
            if target.what_if:
                continue
            for hw in hw_list:
                out.append(_row(catalog, target, hw, w, context, base))
    return out


def _row(
    catalog: Catalog,
    target: Target,
    hw: HardwareProfile,
    weights: str,
    context: int,
    base: Knobs,
) -> CapacityRow:
    # Whether and how it fits is judged without the SLA; the SLA columns pin that layout below.
    knobs = base.model_copy(update={**_NO_SLA, "weights": weights, "context": context})
    common = {
        "model": target.model.id,
        "weights": weights,
        "checkpoint": target.checkpoint.hf_id,
        "hardware": hw.name,
        "gpus": hw.total_gpus,
        "context": context,
        "api_price_per_1m_output_tokens": target.model.api_price_per_1m.output,
    }
    try:
        p = planner.plan(catalog, target.checkpoint.id, hw, knobs, suggest=False)
    except DeployKitError as exc:
        return CapacityRow(
            **common,
            fits=False,
            strategy=None,
            max_context=None,
            max_concurrency=None,
            tokens_per_s=None,
            tokens_per_s_per_gpu=None,
            cost_per_1m_output_tokens=None,
            reason=exc.message,
        )
    sla_knobs = _sla_knobs(base, p)
    met, goodput, cost = _at_sla(catalog, target, hw, sla_knobs, p.hardware.price)
    return CapacityRow(
        **common,
        fits=True,
        strategy=p.layout.label(),
        max_context=p.capacity.max_model_len_fit,
        max_concurrency=p.capacity.max_concurrency_total,
        tokens_per_s=p.performance.output_tokens_per_s_total,
        tokens_per_s_per_gpu=p.performance.output_tokens_per_s_per_gpu,
        cost_per_1m_output_tokens=p.performance.cost_per_1m_output_tokens,
        reason=None,
        sla=sla_label(sla_knobs),
        sla_met=met,
        goodput_tokens_per_s_per_gpu=goodput,
        cost_per_1m_at_goodput=cost,
    )


def _sla_knobs(base: Knobs, p: Plan) -> Knobs:
    """The chosen layout pinned, at the plan's context, with the caller's SLA or DEFAULT_SLA."""
    update: dict[str, object] = {
        "tp": p.tensor_parallel,
        "pp": p.pipeline_parallel,
        "dp": p.data_parallel,
        "ep": p.expert_parallel,
        "context": p.max_model_len,
        "optimize": "goodput",
        **{f: getattr(base, f) for f in SLA_FIELDS},
    }
    # DEFAULT_SLA fills what the caller left out: the request shape unless a shape or mix was
    # given, the latency targets unless any target was given.
    for key, value in DEFAULT_SLA.items():
        shape = getattr(base, key) is not None or bool(base.workload)
        given = shape if key in ("isl", "osl") else base.has_sla
        if not given:
            update[key] = value
    return p.knobs.model_copy(update=update)


def sla_label(k: Knobs) -> str:
    parts = [f"{k.isl or '-'} in / {k.osl or '-'} out"]
    if k.ttft_ms is not None:
        parts.append(f"TTFT <= {k.ttft_ms:g} ms")
    if k.tpot_ms is not None:
        parts.append(f"TPOT <= {k.tpot_ms:g} ms")
    return ", ".join(parts) + f" ({k.percentile})"


def _at_sla(
    catalog: Catalog, target: Target, hw: HardwareProfile, k: Knobs, price: float
) -> tuple[bool, float, float | None]:
    """(met, goodput per GPU, $/1M output tokens at it) of the pinned layout under the SLA."""
    try:
        p = planner.plan(catalog, target.checkpoint.id, hw, k, suggest=False)
    except DeployKitError:
        return False, 0.0, None
    good = p.performance.goodput_tokens_per_s_per_gpu or 0.0
    cost = perf.cost_per_1m(hw.total_gpus, price, good * hw.total_gpus)
    return True, good, None if cost is None else round(cost, 3)
