"""Planning for a workload and an SLA: inputs, the goodput objective, the Pareto front, exit 3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deploy_kit.catalog import Catalog
from deploy_kit.errors import InputError
from deploy_kit.planner import search
from deploy_kit.spec import Knobs, parse_duration_ms
from tests.helpers import run_cli

SLA = ("--isl", "4000", "--osl", "1000", "--ttft", "2s", "--tpot", "50ms")


@pytest.mark.parametrize(
    ("text", "ms"),
    [("2s", 2000.0), ("50ms", 50.0), ("1.5s", 1500.0), ("250", 250.0), (75, 75.0), ("1min", 6e4)],
)
def test_durations(text: object, ms: float) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("bad", ["2x", "", "-1s", "0ms", "2 hours", True, "9999min"])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration_ms(bad)


def test_acceptance_plan_meets_the_sla_with_dp_ep_and_a_front(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run_cli(
        capsys, "plan", "-m", "deepseek-v4-flash", "-H", "8xH200", *SLA, "-o", "json"
    )
    assert code == 0, err
    p = json.loads(out)
    perf = p["performance"]
    assert perf["sla_met"] is True
    assert perf["ttft_ms"] <= 2000 and perf["tpot_ms"] <= 50
    assert perf["goodput_tokens_per_s_per_gpu"] == perf["output_tokens_per_s_per_gpu"] > 0
    assert (perf["prompt_tokens"], perf["output_tokens"]) == (4000, 1000)
    assert p["strategy"] == "dep" and p["data_parallel"] > 1 and p["expert_parallel"]
    front = p["pareto"]
    assert len(front) >= 3
    chosen = [pt for pt in front if pt["chosen"]]
    assert len(chosen) == 1 and chosen[0]["meets_sla"] and chosen[0]["misses"] == []
    assert chosen[0]["concurrency"] == perf["concurrency"]
    for pt in front:
        assert pt["meets_sla"] == (not pt["misses"])
        for miss in pt["misses"]:
            assert miss.startswith(("TTFT", "TPOT"))
    # The front is a front: interactivity falls as throughput per GPU rises.
    ordered = sorted(front, key=lambda pt: -pt["tokens_per_s_per_user"])
    gpus = [pt["tokens_per_s_per_gpu"] for pt in ordered if not pt["chosen"]]
    assert gpus == sorted(gpus)


@pytest.mark.parametrize("hw", ["8xH100", "8xH200", "8xB200", "8xB300"])
def test_throughput_under_the_sla_picks_dp_ep_on_8_gpu_nodes(catalog: Catalog, hw: str) -> None:
    """As the vLLM recipes do (single_node_dep), and the plan says it agrees."""
    k = Knobs(isl=4000, osl=1000, ttft_ms="2s", tpot_ms="50ms")
    p = search.plan(catalog, "deepseek-v4-flash", catalog.hardware(hw), k)
    assert (p.strategy, p.expert_parallel) == ("dep", True), p.layout.label()
    assert any("agrees with the vLLM recipes" in r for r in p.rationale)


def test_an_sla_no_layout_meets_exits_3_naming_the_closest_point(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _out, err = run_cli(
        capsys, "plan", "-H", "8xH200", "--isl", "4000", "--osl", "1000", "--tpot", "2ms"
    )
    assert code == 3
    assert "no layout" in err and "closest is" in err and "TPOT" in err and "> 2 ms" in err
    assert "Traceback" not in err


def test_objectives_and_their_sla_verdicts(catalog: Catalog) -> None:
    hw = catalog.hardware("8xB200")
    base = {"isl": 4000, "osl": 1000, "ttft_ms": "2s", "tpot_ms": "50ms"}
    good = search.plan(catalog, "deepseek-v4-flash", hw, Knobs(**base))
    cost = search.plan(catalog, "deepseek-v4-flash", hw, Knobs(**base, optimize="cost"))
    assert cost.layout == good.layout  # same GPUs, same price: most goodput = least cost
    assert good.performance.cost_per_1m_output_tokens == cost.performance.cost_per_1m_output_tokens
    fast = search.plan(catalog, "deepseek-v4-flash", hw, Knobs(**base, optimize="latency"))
    assert fast.performance.tpot_ms < good.performance.tpot_ms
    assert fast.performance.sla_met
    # Capacity stays the default without an SLA and ignores load for its choice.
    plain = search.plan(catalog, "deepseek-v4-flash", hw, Knobs())
    assert plain.knobs.optimize == "capacity" and plain.performance.sla_met is None


def test_p90_is_stricter_than_p50(catalog: Catalog) -> None:
    hw = catalog.hardware("8xH200")
    k50 = Knobs(isl=4000, osl=1000, ttft_ms="2s", tpot_ms="50ms")
    k90 = k50.model_copy(update={"percentile": "p90"})
    p50 = search.plan(catalog, "deepseek-v4-flash", hw, k50)
    p90 = search.plan(catalog, "deepseek-v4-flash", hw, k90)
    assert (
        p90.performance.output_tokens_per_s_per_gpu <= p50.performance.output_tokens_per_s_per_gpu
    )
    assert p90.performance.percentile == "p90"


def test_tpot_p90_spreads_with_prefill_and_narrows_with_long_answers(catalog: Catalog) -> None:
    """TPOT at p90: the mean when nothing prefills; above it under load, by more for short
    answers than long ones; and a TPOT SLA at p90 is judged on it, not on the mean."""
    from deploy_kit.planner import perf, serving
    from tests.test_calibration import case, rows

    row = next(r for r in rows() if r["gpu"] == "h200" and r["tp"] == 4 and not r["speculative"])
    d, _ = case(catalog, row)
    c = perf.constants()
    long_w = perf.Workload((perf.Shape(4000, 1000),))
    short_w = perf.Workload((perf.Shape(4000, 100),))
    assert perf.tpot_p90_ms(d, long_w, c, 30.0, 0.0) == 30.0
    previous = 0.0
    for conc in (1, 16, 64, 256):
        p_long = perf.serve(d, long_w, concurrency=conc, c=c)
        p_short = perf.serve(d, short_w, concurrency=conc, c=c)
        assert p_long.tpot_p90_ms >= p_long.tpot_ms
        spread_long = p_long.tpot_p90_ms / p_long.tpot_ms
        spread_short = p_short.tpot_p90_ms / p_short.tpot_ms
        assert spread_short > spread_long  # fewer tokens average fewer prefill interruptions
        gap = p_long.tpot_p90_ms - p_long.tpot_ms
        assert gap >= previous  # more load, more prefill in the steps
        previous = gap
    busy = perf.serve(d, long_w, concurrency=64, c=c)
    assert busy.tpot_p90_ms / busy.tpot_ms > 1.05  # not negligible under load
    # The SLA verdict follows the percentile.
    loaded = perf.serve(d, long_w, concurrency=256, c=c)
    limit = (loaded.tpot_ms + loaded.tpot_p90_ms) / 2
    k50 = Knobs(isl=4000, osl=1000, tpot_ms=limit)
    assert serving.sla_misses(loaded, k50) == []
    misses = serving.sla_misses(loaded, k50.model_copy(update={"percentile": "p90"}))
    assert len(misses) == 1 and "(p90)" in misses[0]


def test_ttft_follows_the_prompt_length(catalog: Catalog) -> None:
    hw = catalog.hardware("8xB200")
    short = search.plan(catalog, "deepseek-v4-flash", hw, Knobs(isl=1000, osl=500, concurrency=8))
    long = search.plan(catalog, "deepseek-v4-flash", hw, Knobs(isl=400_000, osl=500, concurrency=8))
    assert long.performance.ttft_ms > 50 * short.performance.ttft_ms
    assert long.max_model_len >= 400_500  # the context holds the workload


def test_request_rate_is_an_open_loop(catalog: Catalog) -> None:
    hw = catalog.hardware("8xB200")
    p = search.plan(catalog, "deepseek-v4-flash", hw, Knobs(isl=2000, osl=500, request_rate=4))
    assert p.performance.output_tokens_per_s_total == pytest.approx(4 * 500, rel=0.02)


def test_workload_mix_from_a_file_and_a_deployment_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    mix = tmp_path / "mix.yaml"
    mix.write_text("- {isl: 2000, osl: 500, weight: 3}\n- {isl: 30000, osl: 2000, weight: 1}\n")
    code, out, err = run_cli(
        capsys, "plan", "-H", "8xB200", "--workload", str(mix), "--ttft", "5s", "-o", "json"
    )
    assert code == 0, err
    p = json.loads(out)
    assert p["performance"]["prompt_tokens"] == round((3 * 2000 + 30000) / 4)
    assert p["knobs"]["workload"][1]["isl"] == 30000
    dep = tmp_path / "dep.yaml"
    dep.write_text(
        "model: deepseek-v4-flash\nhardware: 8xH200\n"
        "knobs: {isl: 4000, osl: 1000, ttft_ms: 2s, tpot_ms: 50ms, percentile: p50}\n"
    )
    code, out, err = run_cli(capsys, "plan", "-f", str(dep), "-o", "json")
    assert code == 0, err
    p = json.loads(out)
    assert p["knobs"]["ttft_ms"] == 2000.0 and p["performance"]["sla_met"] is True


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--ttft", "soon"), "duration"),
        (("--isl", "4000", "--workload", "MIX"), "not both"),
        (("--concurrency", "8", "--request-rate", "2"), "not both"),
        (("--percentile", "p99"), "p99"),
        (("--isl", "-5"), "isl"),
    ],
)
def test_bad_workload_inputs_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: tuple[str, ...], needle: str
) -> None:
    mix = tmp_path / "mix.yaml"
    mix.write_text("- {isl: 100, osl: 10}\n")
    argv = [a.replace("MIX", str(mix)) for a in args]
    code, _out, err = run_cli(capsys, "plan", "-H", "8xH200", *argv)
    assert code == 2, err
    assert needle in err and "Traceback" not in err


def test_workload_longer_than_the_model_is_refused(catalog: Catalog) -> None:
    hw = catalog.hardware("8xB200")
    with pytest.raises(InputError, match="exceeds"):
        search.plan(catalog, "deepseek-v4-flash", hw, Knobs(isl=2_000_000, osl=10))
    with pytest.raises(InputError, match="does not fit --context"):
        search.plan(catalog, "deepseek-v4-flash", hw, Knobs(isl=9000, osl=10, context=8192))


def test_capacity_rows_gain_sla_columns(catalog: Catalog) -> None:
    from deploy_kit.planner import capacity

    hws = [catalog.hardware(h) for h in ("8xH200", "8xB200", "2xH20")]
    rows = capacity.rows(catalog, ["deepseek-v4-flash"], hws, ["native"], 131072, Knobs())
    fits = [r for r in rows if r.fits]
    assert fits and all(r.sla_met is not None for r in fits)
    assert all("TTFT <= 2000 ms" in r.sla for r in fits)
    met = [r for r in fits if r.sla_met]
    assert met, "no row meets the default SLA"
    for r in met:
        assert r.goodput_tokens_per_s_per_gpu and r.goodput_tokens_per_s_per_gpu > 0
        hw = catalog.hardware(r.hardware)
        expected = hw.price / (r.goodput_tokens_per_s_per_gpu * 3600) * 1e6
        assert r.cost_per_1m_at_goodput == pytest.approx(expected, rel=1e-2)
    missed = [r for r in fits if not r.sla_met]
    assert all(r.goodput_tokens_per_s_per_gpu == 0 for r in missed)
    # The SLA columns never change which layout the capacity table reports: the plan's own.
    for r in fits:
        p = search.plan(
            catalog, "deepseek-v4-flash", catalog.hardware(r.hardware), Knobs(context=131072)
        )
        assert r.strategy == p.layout.label()


@pytest.mark.parametrize("hw", ["8xH200", "8xB200"])
def test_optimize_throughput_turns_on_dp_and_ep(catalog: Catalog, hw: str) -> None:
    """Issue 17: --optimize throughput used to pick TP layouts without EP on every 8-GPU node."""
    p = search.plan(
        catalog, "deepseek-v4-flash", catalog.hardware(hw), Knobs(optimize="throughput")
    )
    assert p.expert_parallel and p.data_parallel > 1, p.layout.label()


def test_a_plan_for_another_vllm_version_says_what_is_exact(catalog: Catalog) -> None:
    k = Knobs(vllm_version="0.25.0", context=1 << 20, tp=8, ep=True, max_num_batched_tokens=8192)
    p = search.plan(catalog, "deepseek-v4-flash-0731", catalog.hardware("8xB200"), k)
    line = next(w for w in p.warnings if w.startswith("vLLM 0.25.0"))
    assert "exact for this version" in line and "once, async or not" in line
    assert "checked only against 0.33.0" in line
    newer = search.plan(
        catalog,
        "deepseek-v4-flash-0731",
        catalog.hardware("8xB200"),
        k.model_copy(update={"vllm_version": "0.33.0"}),
    )
    # Before 0.26 the sliding-window reservation is not doubled: more requests fit.
    assert p.capacity.max_concurrency_per_engine > 1.3 * newer.capacity.max_concurrency_per_engine


def test_speculative_decoding_counts_its_acceptance(catalog: Catalog) -> None:
    hw = catalog.hardware("8xB200")
    base = Knobs(isl=2000, osl=500, concurrency=1, tp=8, ep=True)
    plain = search.plan(catalog, "deepseek-v4-flash", hw, base)
    mtp = search.plan(
        catalog, "deepseek-v4-flash", hw, base.model_copy(update={"speculative": True})
    )
    assert mtp.speculative
    assert mtp.performance.tpot_ms < 0.8 * plain.performance.tpot_ms


def test_capacity_takes_the_workload_and_sla_flags(capsys: pytest.CaptureFixture[str]) -> None:
    base = ("capacity", "-m", "deepseek-v4-flash", "-H", "8xH200", "--weights", "native")
    code, out, _ = run_cli(capsys, *base, "--isl", "2000", "--osl", "500", "--tpot", "1ms")
    assert code == 0 and "8xH200" in out
    [row] = json.loads(
        run_cli(capsys, *base, "--isl", "2000", "--osl", "500", "--tpot", "1ms", "-o", "json")[1]
    )
    assert row["sla"] == "2000 in / 500 out, TPOT <= 1 ms (p50)"
    # The layout still fits (capacity is judged without the SLA); no load meets 1 ms.
    assert row["fits"] is True and row["strategy"]
    assert row["sla_met"] is False and row["goodput_tokens_per_s_per_gpu"] in (None, 0)
    # A shape alone keeps the default latency targets; only what was left out is filled in.
    [row] = json.loads(run_cli(capsys, *base, "--isl", "2000", "-o", "json")[1])
    assert row["sla"].startswith("2000 in / 1000 out, TTFT <= 2000 ms, TPOT <= 50 ms")
    code, _, err = run_cli(capsys, *base, "--ttft", "soon")
    assert code == 2 and "ttft" in err
