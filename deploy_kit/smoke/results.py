"""The data a smoke run produces: one result per check, load figures, the plan comparison."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from deploy_kit.spec import Base

Status = Literal["pass", "fail", "skip"]


class CheckResult(Base):
    """One check: its verdict and why, in one line a person can act on."""

    name: str = Field(description="Check id, e.g. tools.required")
    status: Status = Field(description="pass, fail or skip")
    reason: str = Field(description="Why it passed, failed or was skipped")
    required: bool = Field(default=True, description="A fail of this check fails the run")
    seconds: float = Field(default=0.0, description="Wall time the check took")
    detail: dict[str, Any] = Field(default_factory=dict, description="Facts the check observed")

    @property
    def failed(self) -> bool:
        return self.status == "fail" and self.required


class Percentiles(Base):
    """p50, p90 and mean of one measured figure."""

    p50: float = Field(description="Median")
    p90: float = Field(description="90th percentile")
    mean: float = Field(description="Mean (what published benchmarks usually report)")


class LoadResult(Base):
    """What the load probe measured (never an estimate)."""

    concurrency: int = Field(description="Concurrent streaming requests")
    isl: int = Field(description="Input tokens asked for per request")
    osl: int = Field(description="Output tokens asked for per request")
    measured_isl: int = Field(description="Median prompt tokens the server counted")
    requests: int = Field(description="Requests that completed")
    errors: int = Field(description="Requests that failed")
    first_error: str | None = Field(default=None, description="The first failure's reason")
    duration_s: float = Field(description="Wall time of the probe")
    ttft_ms: Percentiles = Field(description="Time to first token")
    tpot_ms: Percentiles = Field(description="Time per output token after the first")
    output_tokens_per_s_per_user: Percentiles = Field(description="Decode speed one user sees")
    output_tokens_per_s: float = Field(description="Output tokens/s of the whole endpoint")
    output_tokens_per_s_per_gpu: float | None = Field(
        default=None, description="Output tokens/s per GPU (needs the plan's GPU count)"
    )
    gpus: int | None = Field(default=None, description="GPUs behind the endpoint (from the plan)")


class Comparison(Base):
    """A measured figure next to the plan's estimate."""

    metric: str = Field(description="Figure compared")
    at: str = Field(
        description="Which measured value: p50, p90 (the plan's percentile) or whole run"
    )
    measured: float = Field(description="Measured value (p50 where it is a distribution)")
    estimate: float = Field(description="The plan's estimate")
    ratio: float | None = Field(description="measured / estimate")
    unit: str = Field(description="Unit of both values")


class SmokeReport(Base):
    """A whole smoke run. `-o json` prints exactly this."""

    url: str = Field(description="Base URL checked")
    model: str | None = Field(description="Served model name the checks used")
    server_version: str | None = Field(default=None, description="vLLM /version, if it answers")
    checks: list[CheckResult] = Field(description="Every check in order")
    load: LoadResult | None = Field(default=None, description="Load probe, when run")
    comparison: list[Comparison] = Field(default_factory=list, description="Load vs plan")
    comparison_notes: list[str] = Field(
        default_factory=list, description="Where the plan's estimate assumed other conditions"
    )

    @property
    def ok(self) -> bool:
        return not any(c.failed for c in self.checks)

    def counts(self) -> dict[str, int]:
        out = {"pass": 0, "fail": 0, "skip": 0}
        for c in self.checks:
            out[c.status] += 1
        return out
