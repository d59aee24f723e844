"""One smoke run: the checks in order, then the optional load probe and the plan comparison."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

from deploy_kit.smoke import checks, probe
from deploy_kit.smoke.expect import Expectations
from deploy_kit.smoke.load import LoadSettings, compare, run_load
from deploy_kit.smoke.results import CheckResult, SmokeReport

OPTIONAL = ("embeddings",)  # checks only --require makes count


def run(
    url: str,
    *,
    key: str | None,
    model: str | None,
    expect: Expectations,
    require: Iterable[str] = (),
    timeout_s: float = 60.0,
    load: LoadSettings | None = None,
    on_check: Callable[[CheckResult], None] | None = None,
    on_load_progress: Callable[[int, int], None] | None = None,
) -> SmokeReport:
    """Every check against `url`; probe.Unreachable (exit 4) when nothing answers at all."""
    base = probe.normalise_url(url)
    required = set(require)
    # The plan's context is checked only when the served name checked is the plan's own.
    plan_len = expect.max_model_len if model in (None, expect.served_name) else None
    s = checks.Session(base, key, timeout_s, None, expected_max_len=plan_len)
    health = checks.guarded("health", s, checks.check_health)  # raises Unreachable
    s.client = checks.make_client(base, key, timeout_s)
    try:
        return _run(s, health, model, expect, required, load, on_check, on_load_progress)
    finally:
        s.client.close()  # its pooled connections, else left to the garbage collector


def _run(
    s: checks.Session,
    health: CheckResult,
    model: str | None,
    expect: Expectations,
    required: set[str],
    load: LoadSettings | None,
    on_check: Callable[[CheckResult], None] | None,
    on_load_progress: Callable[[int, int], None] | None,
) -> SmokeReport:
    base, timeout_s = s.base, s.timeout_s
    version = _server_version(base, timeout_s)
    wanted = model or expect.served_name
    steps: list[tuple[str, Callable[[checks.Session], CheckResult]]] = [
        ("models", lambda ss: checks.check_models(ss, wanted)),
        ("auth", checks.check_auth),
        ("chat", checks.check_chat),
        ("stream", checks.check_stream),
        ("tools.auto", checks.check_tools_auto),
        ("tools.required", checks.check_tools_required),
        ("tools.named", checks.check_tools_named),
        ("tools.legacy", checks.check_tools_legacy),
        ("json.object", checks.check_json_object),
        ("json.schema", checks.check_json_schema),
        ("thinking.off", checks.check_thinking_off),
        ("thinking.on", checks.check_thinking_on),
        ("thinking.max", checks.check_thinking_max),
        ("metrics", checks.check_metrics),
        ("embeddings", lambda ss: checks.check_embeddings(ss, "embeddings" in required)),
    ]
    results = [health]
    if on_check is not None:
        on_check(health)
    for name, fn in steps:
        one = checks.guarded(name, s, fn)
        results.append(one)
        if on_check is not None:
            on_check(one)
    report = SmokeReport(url=base, model=s.model, server_version=version, checks=results)
    if load is None:
        return report
    if s.stop_reason is not None or s.model is None:
        skipped = checks.result("load", "skip", f"not run: {s.stop_reason or 'no model'}")
        return report.model_copy(update={"checks": [*results, skipped]})
    measured = run_load(s.client, s.model, load, expect.plan, on_load_progress)
    comparison, notes = compare(measured, expect.plan) if expect.plan else ([], [])
    verdict = checks.result(
        "load",
        "fail" if measured.requests == 0 else "pass",
        f"{measured.requests} request(s), {measured.errors} error(s)"
        + (f"; first: {measured.first_error}" if measured.first_error else ""),
    )
    return report.model_copy(
        update={
            "checks": [*results, verdict],
            "load": measured,
            "comparison": comparison,
            "comparison_notes": notes,
        }
    )


def _server_version(base: str, timeout_s: float) -> str | None:
    try:
        answer = probe.get(base, "/version", None, timeout_s)
        data = json.loads(answer.body) if answer.status == 200 else {}
    except (probe.Unreachable, ValueError):
        return None
    version = data.get("version") if isinstance(data, dict) else None
    return version if isinstance(version, str) else None
