"""The load probe: N concurrent streaming requests, TTFT / TPOT / throughput at p50 and p90,
and each figure next to the plan's estimate."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from deploy_kit.smoke import checks
from deploy_kit.smoke.expect import total_gpus
from deploy_kit.smoke.results import Comparison, LoadResult, Percentiles
from deploy_kit.spec import Plan
from deploy_kit.vllm import argv as vllm

# One short common word per token: BPE tokenizers (V4's included) encode " hello" as one token,
# so the prompt is close to --isl; the server's own prompt_tokens count is what gets reported.
FILLER_WORD: Final = " hello"
# Hard caps whatever the flags say: the probe must stop by itself (estimates, generous for a
# smoke test: 1,024 streams, 4,096 requests, 1 hour).
MAX_CONCURRENCY: Final = 1024
MAX_REQUESTS: Final = 4096
MAX_DURATION_S: Final = 3600.0


@dataclass(frozen=True)
class LoadSettings:
    concurrency: int = 4
    isl: int = 256
    osl: int = 64
    duration_s: float = 30.0
    max_requests: int | None = None  # default: 2 per stream
    timeout_s: float = 60.0

    @property
    def request_cap(self) -> int:
        cap = self.max_requests if self.max_requests is not None else 2 * self.concurrency
        return min(cap, MAX_REQUESTS)


@dataclass(frozen=True)
class Sample:
    """One streamed request; times in seconds from the probe's start."""

    start: float
    first: float | None
    end: float
    prompt_tokens: int
    output_tokens: int
    error: str | None = None


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default method)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _pcts(values: Sequence[float]) -> Percentiles:
    mean = sum(values) / len(values) if values else 0.0
    return Percentiles(
        p50=round(percentile(values, 0.5), 3),
        p90=round(percentile(values, 0.9), 3),
        mean=round(mean, 3),
    )


def one_request(client: Any, model: str, settings: LoadSettings, t0: float) -> Sample:
    """Stream one completion of exactly `osl` tokens (ignore_eos, min_tokens: vLLM extensions)."""
    start = time.monotonic() - t0
    first: float | None = None
    usage: Any = None
    try:
        stream = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": FILLER_WORD * settings.isl}],
            max_tokens=settings.osl,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
            timeout=settings.timeout_s,
            extra_body={
                "ignore_eos": True,
                "min_tokens": settings.osl,
                "chat_template_kwargs": checks.NON_THINKING,
            },
        )
        try:
            for chunk in stream:
                if chunk.usage is not None:
                    usage = chunk.usage
                if first is None and any(
                    c.delta is not None and (c.delta.content or checks.reasoning_of(c.delta))
                    for c in chunk.choices
                ):
                    first = time.monotonic() - t0
        finally:
            stream.close()
    except Exception as exc:  # any failure is counted, never raised: the probe must finish
        reason = checks.describe_error(exc, settings.timeout_s)
        return Sample(start, first, time.monotonic() - t0, 0, 0, reason)
    end = time.monotonic() - t0
    if usage is None:
        return Sample(start, first, end, 0, 0, "no usage chunk in the stream")
    return Sample(start, first, end, usage.prompt_tokens, usage.completion_tokens)


def run_load(
    client: Any,
    model: str,
    settings: LoadSettings,
    plan: Plan | None,
    on_progress: Callable[[int, int], None] | None = None,
    request: Callable[[Any, str, LoadSettings, float], Sample] = one_request,
) -> LoadResult:
    """`concurrency` workers issue streaming requests until the count or the time runs out."""
    concurrency = min(settings.concurrency, MAX_CONCURRENCY)
    cap = settings.request_cap
    deadline_s = min(settings.duration_s, MAX_DURATION_S)
    lock = threading.Lock()
    issued = 0
    samples: list[Sample] = []
    t0 = time.monotonic()

    def take() -> bool:
        nonlocal issued
        with lock:
            if issued >= cap or time.monotonic() - t0 >= deadline_s:
                return False
            issued += 1
            return True

    def worker() -> None:
        while take():
            sample = request(client, model, settings, t0)
            with lock:
                samples.append(sample)
                done = len(samples)
            if on_progress is not None:
                on_progress(done, cap)

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="smoke-load") as pool:
        for _ in range(concurrency):
            pool.submit(worker)
    wall = time.monotonic() - t0
    return summarise(samples, settings, concurrency, wall, total_gpus(plan) if plan else None)


def summarise(
    samples: Sequence[Sample],
    settings: LoadSettings,
    concurrency: int,
    wall_s: float,
    gpus: int | None,
) -> LoadResult:
    good = [s for s in samples if s.error is None and s.first is not None]
    errors = [s for s in samples if s.error is not None]
    ttft = [(s.first - s.start) * 1000 for s in good if s.first is not None]
    tpot = [
        (s.end - s.first) * 1000 / (s.output_tokens - 1)
        for s in good
        if s.first is not None and s.output_tokens > 1
    ]
    per_user = [1000 / t for t in tpot if t > 0]
    tokens = sum(s.output_tokens for s in good)
    span = (max(s.end for s in good) - min(s.start for s in good)) if good else wall_s
    total = tokens / span if span > 0 else 0.0
    return LoadResult(
        concurrency=concurrency,
        isl=settings.isl,
        osl=settings.osl,
        measured_isl=int(percentile([s.prompt_tokens for s in good], 0.5)),
        requests=len(good),
        errors=len(errors) + (len(samples) - len(good) - len(errors)),
        first_error=errors[0].error if errors else None,
        duration_s=round(wall_s, 3),
        ttft_ms=_pcts(ttft),
        tpot_ms=_pcts(tpot),
        output_tokens_per_s_per_user=_pcts(per_user),
        output_tokens_per_s=round(total, 3),
        output_tokens_per_s_per_gpu=round(total / gpus, 3) if gpus else None,
        gpus=gpus,
    )


def compare(measured: LoadResult, plan: Plan) -> tuple[list[Comparison], list[str]]:
    """Measured figures next to the plan's estimates, and where the conditions differ. TTFT and
    TPOT are compared at the percentile the plan states (Performance.percentile)."""
    perf = plan.performance
    at = "p90" if perf.percentile == "p90" else "p50"
    user = measured.output_tokens_per_s_per_user.p50
    rows: list[tuple[str, float, float, str, str]] = [
        ("ttft_ms", getattr(measured.ttft_ms, at), perf.ttft_ms, "ms", at),
        ("tpot_ms", getattr(measured.tpot_ms, at), perf.tpot_ms, "ms", at),
        ("output_tokens_per_s_per_user", user, perf.output_tokens_per_s_per_user, "tok/s", "p50"),
        (
            "output_tokens_per_s_total",
            measured.output_tokens_per_s,
            perf.output_tokens_per_s_total,
            "tok/s",
            "whole run",
        ),
    ]
    if measured.output_tokens_per_s_per_gpu is not None:
        per_gpu = measured.output_tokens_per_s_per_gpu
        rows.append(
            (
                "output_tokens_per_s_per_gpu",
                per_gpu,
                perf.output_tokens_per_s_per_gpu,
                "tok/s",
                "whole run",
            )
        )
    out = [
        Comparison(
            metric=m,
            at=a,
            measured=round(v, 3),
            estimate=round(e, 3),
            ratio=round(v / e, 3) if e else None,
            unit=u,
        )
        for m, v, e, u, a in rows
    ]
    notes = []
    if perf.concurrency != measured.concurrency:
        notes.append(
            f"the plan estimates {perf.concurrency} concurrent requests; the probe ran "
            f"{measured.concurrency}"
        )
    if perf.output_tokens is not None and perf.output_tokens != measured.osl:
        notes.append(
            f"the plan assumes {perf.output_tokens} output tokens per request; the probe's were "
            f"{measured.osl}"
        )
    if perf.prompt_tokens != measured.measured_isl:
        notes.append(
            f"the plan's TTFT assumes a {perf.prompt_tokens}-token prompt; the probe's was "
            f"{measured.measured_isl}"
        )
    return out, notes


def speculative_of(plan: Plan) -> dict[str, Any] | None:
    """{method, tokens} from the rendered --speculative-config, as calibration rows write it."""
    for argv in plan.vllm.argv.values():
        for flag, value in itertools.pairwise(argv):
            if flag == vllm.F_SPECULATIVE:
                config = json.loads(value)
                return {
                    "method": config.get("method"),
                    "tokens": config.get("num_speculative_tokens"),
                }
    return None


def calibration_record(
    measured: LoadResult, plan: Plan, server_version: str | None, now: datetime | None = None
) -> dict[str, Any]:
    """One measured point, with every key of a row of the catalog's calibration table
    (deploy_kit/catalog/calibration.yaml) in that table's meaning: ttft_ms and tpot_ms are
    means, total_tokens_per_s_per_gpu counts input and output tokens. The probe's lengths are
    fixed (ignore_eos, min_tokens), so range_ratio is 1.0. The rest is context: the layout,
    p50/p90, output tokens/s per GPU and the plan's estimates."""
    moment = (now or datetime.now(UTC)).replace(microsecond=0)
    layout = (
        f"{plan.strategy} TP{plan.tensor_parallel} PP{plan.pipeline_parallel} "
        f"DP{plan.data_parallel}{' EP' if plan.expert_parallel else ''}"
    )
    per_gpu = measured.output_tokens_per_s_per_gpu
    isl, osl = measured.measured_isl, measured.osl
    return {
        # the calibration table's row
        "source": "deploy-kit smoke",
        "engine": f"vllm-{server_version or plan.vllm_version}",
        "gpu": plan.hardware.gpu.id,
        "gpus": total_gpus(plan),
        "checkpoint": plan.checkpoint_id,
        "recipe": None,
        "tp": plan.tensor_parallel,
        "dp": plan.data_parallel,
        "ep": plan.expert_parallel,
        "speculative": speculative_of(plan),
        "isl": isl,
        "osl": osl,
        "concurrency": measured.concurrency,
        "num_prompts": measured.requests,
        "ttft_ms": measured.ttft_ms.mean,
        "tpot_ms": measured.tpot_ms.mean,
        "total_tokens_per_s_per_gpu": (
            round(per_gpu * (isl + osl) / osl, 3) if per_gpu is not None else None
        ),
        "running_per_rank": None,
        # context
        "range_ratio": 1.0,
        "measured_at": moment.isoformat().replace("+00:00", "Z"),
        "model": plan.model,
        "weights": plan.weights,
        "layout": layout,
        "pipeline_parallel": plan.pipeline_parallel,
        "nodes": plan.hardware.nodes,
        "max_model_len": plan.max_model_len,
        "errors": measured.errors,
        "ttft_ms_p50": measured.ttft_ms.p50,
        "ttft_ms_p90": measured.ttft_ms.p90,
        "tpot_ms_p50": measured.tpot_ms.p50,
        "tpot_ms_p90": measured.tpot_ms.p90,
        "output_tokens_per_s_per_gpu": per_gpu,
        "output_tokens_per_s_per_user": measured.output_tokens_per_s_per_user.p50,
        "output_tokens_per_s_total": measured.output_tokens_per_s,
        "estimate": {
            "ttft_ms": plan.performance.ttft_ms,
            "tpot_ms": plan.performance.tpot_ms,
            "output_tokens_per_s_per_gpu": plan.performance.output_tokens_per_s_per_gpu,
            "concurrency": plan.performance.concurrency,
        },
    }
