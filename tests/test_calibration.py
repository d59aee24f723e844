"""The performance model against published DeepSeek V4 measurements (catalog/calibration.yaml).

Prints the error on every row and the means; run with `-s` to see the table. The fitted constants
of catalog/performance.yaml come from `fit()` below (a grid search over every row minimising the
larger of the two mean absolute errors; no row is special-cased; about a minute), and
test_fitted_constants_are_a_local_optimum checks the catalog still holds its optimum.
"""

from __future__ import annotations

import itertools
from typing import Any

from deploy_kit.catalog import Catalog
from deploy_kit.catalog.documents import load_documents
from deploy_kit.planner import memory, perf, rules, serving
from deploy_kit.planner.candidates import vllm_batch_defaults
from deploy_kit.spec import Layout

# The aim: mean absolute relative error on output tokens/s/GPU and on TPOT.
MAE_LIMIT = 0.25
# The grid the fit searches (around the physically plausible range of each constant).
GRID = {
    "bandwidth_efficiency": (0.7, 0.8, 0.9),
    "decode_compute_efficiency": (0.2, 0.25, 0.3, 0.4),
    "prefill_compute_efficiency": (0.06, 0.075, 0.09, 0.11, 0.14),
    "layer_overhead_us": (60.0, 80.0, 100.0, 130.0, 160.0),
    "mtp_acceptance": (0.5, 0.6, 0.7, 0.8),
    # Up to 60 us: an NVLink all-to-all kernel should not take longer than DeepEP's RDMA
    # low-latency dispatch (77 us at EP 8, deepseek-ai/DeepEP README).
    "ep_kernel_us": (5.0, 15.0, 30.0, 60.0),
}
DRAIN_GRID = (0.25, 0.4, 0.5, 0.6, 0.75, 1.0)
# Quantiles a uniform length distribution is represented by (the workload mix of a row).
QUANTILES = (0.125, 0.375, 0.625, 0.875)


def rows() -> list[dict[str, Any]]:
    return list(load_documents()["calibration.yaml"]["rows"])


def bench() -> dict[str, Any]:
    return dict(load_documents()["calibration.yaml"]["benchmark"])


def workload(row: dict[str, Any]) -> perf.Workload:
    """The row's request lengths: uniform in [ratio x L, L] (bench_serving's random dataset)."""
    ratio = float(bench()["range_ratio"])
    if ratio >= 1:
        return perf.Workload((perf.Shape(row["isl"], row["osl"]),))
    shapes = []
    for q in QUANTILES:
        isl = round(row["isl"] * (ratio + (1 - ratio) * q))
        osl = round(row["osl"] * (ratio + (1 - ratio) * q))
        shapes.append(perf.Shape(max(1, isl), max(1, osl)))
    return perf.Workload(tuple(shapes))


def benchmark_throughput(row: dict[str, Any], p: perf.Point, drain: float) -> float:
    """What a finite run reports: num_prompts / concurrency cycles of the steady state plus
    `drain` cycles while the last requests finish (fitted: calibration.yaml benchmark.drain)."""
    waves = row["num_prompts"] / row["concurrency"]
    return p.tokens_per_s_per_gpu * waves / (waves + drain)


def case(catalog: Catalog, row: dict[str, Any]) -> tuple[perf.Deployment, perf.Workload]:
    """The row's deployment as the planner models it (vLLM defaults for batch and memory)."""
    ck = catalog.checkpoints[row["checkpoint"]]
    model = catalog.model_of(ck)
    weights = memory.checkpoint_weight_bytes(ck, model, catalog.formats, ck)
    gpu = catalog.gpus[row["gpu"]]
    hw = catalog.hardware(f"{row['gpus']}x{gpu.aliases[0] if gpu.aliases else gpu.id}")
    tp, dp, ep = row["tp"], row["dp"], row["ep"]
    layout = Layout(
        strategy=rules.strategy_of(tp, 1, dp, ep),
        tensor_parallel=tp,
        pipeline_parallel=1,
        data_parallel=dp,
        expert_parallel=ep,
        nodes_per_engine=1,
        replicas=row["gpus"] // (tp * dp),
    )
    seqs, mnbt = vllm_batch_defaults(hw)
    a = model.arch
    per_gpu = memory.weights_per_gpu(weights, a.num_hidden_layers, tp, 1, dp)
    b = memory.budget(hw.gpu.usable_bytes, 0.92, per_gpu, mnbt, a.hidden_size, tp, ep, tp * dp)
    w = workload(row)
    limit = serving.decode_batch_limit(
        catalog.layout_of(model), b.kv, w.longest, True, a.max_position_embeddings, 1.0, seqs
    )
    if row["running_per_rank"] is not None:
        # The engine's own admission limit, observed (see the note in calibration.yaml).
        limit = float(row["running_per_rank"])
    spec = row["speculative"]
    d = serving.deployment(
        model,
        weights,
        hw,
        layout,
        ck.weights.experts,
        limit,
        mnbt,
        (spec["method"], spec["tokens"]) if spec else None,
    )
    return d, w


def measured_output_per_gpu(row: dict[str, Any]) -> float:
    """The cookbook publishes (input + output) tokens/s/GPU; output is osl / (isl + osl) of it."""
    return float(row["total_tokens_per_s_per_gpu"]) * row["osl"] / (row["isl"] + row["osl"])


def errors(
    catalog: Catalog,
    c: perf.Constants,
    cases: list[tuple[Any, ...]] | None = None,
    drain: float | None = None,
) -> list[tuple[dict[str, Any], perf.Point, float, float, float]]:
    out = []
    drain = float(bench()["drain"]) if drain is None else drain
    for row, d, w in cases or [(r, *case(catalog, r)) for r in rows()]:
        p = perf.serve(d, w, concurrency=row["concurrency"], c=c)
        measured = measured_output_per_gpu(row)
        e_tput = (benchmark_throughput(row, p, drain) - measured) / measured
        e_tpot = (p.tpot_ms - row["tpot_ms"]) / row["tpot_ms"]
        e_ttft = (p.ttft_ms - row["ttft_ms"]) / row["ttft_ms"]
        out.append((row, p, e_tput, e_tpot, e_ttft))
    return out


def mean_abs(values: list[float]) -> float:
    return sum(abs(v) for v in values) / len(values)


def fit(catalog: Catalog) -> tuple[dict[str, float], float]:
    """Grid search minimising max(mean |err tok/s/GPU|, mean |err TPOT|) over every row."""
    base = perf.constants()
    cases = [(r, *case(catalog, r)) for r in rows()]
    best: tuple[float, dict[str, float]] | None = None
    names = list(GRID)
    for values in itertools.product(*(GRID[n] for n in names)):
        trial = dict(zip(names, values, strict=True))
        points = errors(catalog, base.with_values(**trial), cases, drain=0.0)
        for drain in DRAIN_GRID:
            errs = [
                (
                    row,
                    p,
                    (benchmark_throughput(row, p, drain) - measured_output_per_gpu(row))
                    / measured_output_per_gpu(row),
                    e_tpot,
                    e_ttft,
                )
                for row, p, _, e_tpot, e_ttft in points
            ]
            score = max(mean_abs([e[2] for e in errs]), mean_abs([e[3] for e in errs]))
            if best is None or score < best[0]:
                best = (score, {**trial, "drain": drain})
    assert best is not None
    return best[1], best[0]


def test_calibration_rows_are_sourced_and_many() -> None:
    table = rows()
    assert len(table) >= 20
    for row in table:
        assert row["source"].startswith("https://")
        for key in ("gpu", "gpus", "tp", "dp", "isl", "osl", "concurrency", "ttft_ms", "tpot_ms"):
            assert row[key] is not None, key


def test_model_error_against_published_measurements(catalog: Catalog) -> None:
    errs = errors(catalog, perf.constants())
    print(
        f"\n{'gpu':9} {'model':18} {'layout':8} {'spec':5} {'conc':>5} | "
        f"{'tok/s/GPU':>9} {'meas':>6} {'err':>5} | {'TPOT':>6} {'meas':>6} {'err':>5} | "
        f"{'TTFT s':>7} {'meas':>7}"
    )
    for row, p, e_tput, e_tpot, _ in errs:
        spec = row["speculative"]
        lay = f"TP{row['tp']}" if row["dp"] == 1 else f"DP{row['dp']}+EP"
        print(
            f"{row['gpu']:9} {row['checkpoint']:18} {lay:8} "
            f"{('mtp' + str(spec['tokens'])) if spec else '-':5} {row['concurrency']:>5} | "
            f"{measured_output_per_gpu(row) * (1 + e_tput):9.0f} "
            f"{measured_output_per_gpu(row):6.0f} {e_tput:+5.0%} | "
            f"{row['tpot_ms'] * (1 + e_tpot):6.1f} {row['tpot_ms']:6.1f} {e_tpot:+5.0%} | "
            f"{p.ttft_ms / 1e3:7.1f} {row['ttft_ms'] / 1e3:7.1f}"
        )
    tput = mean_abs([e[2] for e in errs])
    tpot = mean_abs([e[3] for e in errs])
    ttft = mean_abs([e[4] for e in errs])
    print(
        f"mean |error|: tokens/s/GPU {tput:.1%}, TPOT {tpot:.1%} (TTFT {ttft:.1%}, not "
        f"calibrated: the benchmarks send 2 x concurrency prompts at once, not a steady state)"
    )
    assert tput <= MAE_LIMIT
    assert tpot <= MAE_LIMIT


def test_fitted_constants_are_a_local_optimum(catalog: Catalog) -> None:
    """Moving any fitted constant one grid step either way makes the fit worse (the full
    grid search is `fit()`; it takes minutes, this check seconds)."""
    c = perf.constants()
    cases = [(r, *case(catalog, r)) for r in rows()]

    def score(trial: perf.Constants, drain: float | None = None) -> float:
        errs = errors(catalog, trial, cases, drain=drain)
        return max(mean_abs([e[2] for e in errs]), mean_abs([e[3] for e in errs]))

    here = score(c)
    print(f"\nfit score at the catalog's constants: {here:.4f}")
    for name, grid in GRID.items():
        value = getattr(c, name)
        assert value in grid, f"{name} = {value} is not a grid value"
        i = grid.index(value)
        for j in (i - 1, i + 1):
            if 0 <= j < len(grid):
                other = score(c.with_values(**{name: grid[j]}))
                print(f"  {name} {grid[j]:g}: {other:.4f}")
                assert other >= here - 1e-9, f"{name} = {grid[j]} fits better"
    drain = float(bench()["drain"])
    assert drain in DRAIN_GRID
    i = DRAIN_GRID.index(drain)
    for j in (i - 1, i + 1):
        if 0 <= j < len(DRAIN_GRID):
            other = score(c, DRAIN_GRID[j])
            print(f"  drain {DRAIN_GRID[j]:g}: {other:.4f}")
            assert other >= here - 1e-9, f"drain = {DRAIN_GRID[j]} fits better"
