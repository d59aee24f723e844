"""The roofline estimates against the reference points of facts section 8 (errors printed)."""

from __future__ import annotations

import pytest

from deploy_kit.catalog import Catalog
from deploy_kit.planner import memory, perf
from deploy_kit.spec import Layout

# (model, gpu, gpus, TPOT at concurrency 1 in ms) from the SGLang cookbook, ISL 8192 / OSL 1024.
REFERENCE = [
    ("deepseek-v4-flash", "b200", 4, 2.88),
    ("deepseek-v4-pro", "b200", 8, 4.26),
    ("deepseek-v4-flash", "h100-sxm", 8, 3.22),
]


@pytest.mark.parametrize(("model_id", "gpu_id", "gpus", "tpot"), REFERENCE)
def test_tpot_at_concurrency_one(
    catalog: Catalog, model_id: str, gpu_id: str, gpus: int, tpot: float
) -> None:
    ck = catalog.checkpoints[model_id]
    model = catalog.model_of(ck)
    weights = memory.checkpoint_weight_bytes(ck, model, catalog.formats, ck)
    layout = Layout(
        strategy="tep",
        tensor_parallel=gpus,
        pipeline_parallel=1,
        data_parallel=1,
        expert_parallel=True,
        nodes_per_engine=1,
        replicas=1,
    )
    got = perf.decode_step_ms(model, weights, catalog.gpus[gpu_id], layout, 1, 8192 + 512, 1)
    error = (got - tpot) / tpot
    print(f"{model_id} on {gpus}x{gpu_id}: TPOT {got:.2f} ms vs {tpot} ms ({error:+.0%})")
    assert abs(error) < 0.25  # an estimate: within a quarter of the measurement


def test_estimates_move_the_right_way(catalog: Catalog) -> None:
    ck = catalog.checkpoints["deepseek-v4-flash"]
    model = catalog.model_of(ck)
    weights = memory.checkpoint_weight_bytes(ck, model, catalog.formats, ck)
    layout = Layout(
        strategy="dep",
        tensor_parallel=1,
        pipeline_parallel=1,
        data_parallel=8,
        expert_parallel=True,
        nodes_per_engine=1,
        replicas=1,
    )
    h200, b200 = catalog.gpus["h200"], catalog.gpus["b200"]
    slow = perf.estimate(model, weights, h200, layout, 64, 16384, 8)
    fast = perf.estimate(model, weights, b200, layout, 64, 16384, 8)
    assert fast.tpot_ms < slow.tpot_ms  # more bandwidth, faster decode
    more = perf.estimate(model, weights, b200, layout, 256, 16384, 8)
    assert more.tokens_per_s_total > fast.tokens_per_s_total  # batching raises throughput
    assert more.tpot_ms > fast.tpot_ms  # at a cost per user
    assert perf.cost_per_1m(8, 0.0, 100.0) is None
    assert perf.cost_per_1m(8, 3.5, 1000.0) == pytest.approx(8 * 3.5 / 3.6, rel=1e-9)


def test_load_time_matches_reported_flash_start() -> None:
    """Flash on one node: ~8 min to ready reported (vllm issue 43189)."""
    seconds = perf.load_time_s(148.66 * 1024**3)
    assert 6 * 60 <= seconds <= 10 * 60
