"""The performance model's mechanics: each term moves the way physics says it must.

Its accuracy against published measurements is tests/test_calibration.py.
"""

from __future__ import annotations

import pytest

from deploy_kit.catalog import Catalog
from deploy_kit.planner import memory, perf, serving
from deploy_kit.spec import Layout


def _deployment(
    catalog: Catalog,
    gpu: str = "b200",
    tp: int = 1,
    dp: int = 8,
    ep: bool = True,
    limit: float = 1024,
    spec: tuple[str, int] | None = None,
    model: str = "deepseek-v4-flash",
    gpus_per_node: int = 8,
) -> perf.Deployment:
    ck = catalog.checkpoints[model]
    m = catalog.model_of(ck)
    weights = memory.checkpoint_weight_bytes(ck, m, catalog.formats, ck)
    hw = catalog.hardware(f"{gpus_per_node}x{catalog.gpus[gpu].aliases[0]}")
    layout = Layout(
        strategy="dep" if dp > 1 else ("tep" if ep else "tp"),
        tensor_parallel=tp,
        pipeline_parallel=1,
        data_parallel=dp,
        expert_parallel=ep,
        nodes_per_engine=1,
        replicas=gpus_per_node // (tp * dp),
    )
    return serving.deployment(m, weights, hw, layout, ck.weights.experts, limit, 8192, spec)


def test_more_bandwidth_decodes_faster_and_batching_trades_latency(catalog: Catalog) -> None:
    h200, b200 = _deployment(catalog, "h200"), _deployment(catalog, "b200")
    assert perf.decode_step_ms(b200, 16, 9000) < perf.decode_step_ms(h200, 16, 9000)
    w = perf.DEFAULT_WORKLOAD
    low, high = perf.serve(b200, w, concurrency=16), perf.serve(b200, w, concurrency=512)
    assert high.tokens_per_s_per_gpu > low.tokens_per_s_per_gpu
    assert high.tpot_ms > low.tpot_ms
    assert high.ttft_ms > low.ttft_ms  # more prefill work queues behind more clients


def test_ttft_grows_with_prompt_and_queue(catalog: Catalog) -> None:
    d = _deployment(catalog)
    short = perf.serve(d, perf.Workload((perf.Shape(1000, 500),)), concurrency=8)
    long = perf.serve(d, perf.Workload((perf.Shape(100_000, 500),)), concurrency=8)
    assert long.ttft_ms > 20 * short.ttft_ms
    # Past the batch limit requests wait for a slot: TTFT grows, throughput stays flat.
    small = _deployment(catalog, limit=8)
    at, over = (perf.serve(small, perf.DEFAULT_WORKLOAD, concurrency=c) for c in (64, 512))
    assert over.capacity_bound and not at.capacity_bound
    assert over.ttft_ms > 5 * at.ttft_ms
    assert over.tokens_per_s_per_gpu == pytest.approx(at.tokens_per_s_per_gpu, rel=0.05)


def test_closed_loop_obeys_littles_law(catalog: Catalog) -> None:
    d = _deployment(catalog)
    w = perf.Workload((perf.Shape(4000, 1000),))
    p = perf.serve(d, w, concurrency=256)
    cycle_s = (p.ttft_ms + w.osl * p.tpot_ms) / 1e3
    assert p.request_rate * cycle_s == pytest.approx(256, rel=0.05)


def test_open_loop_rate_and_overload(catalog: Catalog) -> None:
    d = _deployment(catalog)
    w = perf.Workload((perf.Shape(4000, 1000),))
    p = perf.serve(d, w, request_rate=2.0)
    assert p.request_rate == pytest.approx(2.0, rel=0.01)
    assert p.tokens_per_s_total == pytest.approx(2.0 * 1000, rel=0.01)
    over = perf.serve(d, w, request_rate=1e5)
    assert over.ttft_ms == float("inf")


def test_speculation_speeds_up_a_lone_user(catalog: Catalog) -> None:
    plain = _deployment(catalog, tp=4, dp=1, ep=False, gpus_per_node=4)
    mtp = _deployment(catalog, tp=4, dp=1, ep=False, gpus_per_node=4, spec=("mtp", 2))
    assert perf.accepted_tokens(mtp) == pytest.approx(1 + 0.8 + 0.64)
    w = perf.DEFAULT_WORKLOAD
    assert perf.serve(mtp, w, concurrency=1).tpot_ms < perf.serve(plain, w, concurrency=1).tpot_ms


def test_collectives_cost_more_across_nodes(catalog: Catalog) -> None:
    d = _deployment(catalog)
    c = perf.constants()
    inside = perf.comm_ms_per_step(d, c, 256)
    across = perf.comm_ms_per_step(
        perf.Deployment(**{**d.__dict__, "gpus_per_node": 4, "network": "ethernet"}), c, 256
    )
    assert across > 2 * inside


def test_tensor_parallel_replicates_the_indexer(catalog: Catalog) -> None:
    """Under TP every rank keeps the query/KV down-projections and the indexer whole."""
    ck = catalog.checkpoints["deepseek-v4-flash"]
    m = catalog.model_of(ck)
    repl = perf.replicated_params(m)
    assert 0.3e9 < repl < 2e9  # a few % of the non-expert weights, not none and not all
    tp8 = _deployment(catalog, tp=8, dp=1, ep=True)
    dp8 = _deployment(catalog, tp=1, dp=8, ep=True)
    # The same 512 requests at a long context: every TP rank reads all their KV (one latent
    # head), each DP rank only its own 64, so TP8's step is the slower.
    assert perf.decode_step_ms(tp8, 512, 200_000) > perf.decode_step_ms(dp8, 64, 200_000)
    # and the replicated weights make TP8's step at a short context cost more than 1/8 of TP1's.
    tp1 = _deployment(catalog, tp=1, dp=1, ep=False, gpus_per_node=1)
    assert perf.decode_step_ms(tp8, 1, 1000) > perf.decode_step_ms(tp1, 1, 1000) / 8


def test_cost_and_load_time() -> None:
    assert perf.cost_per_1m(8, 0.0, 100.0) is None
    assert perf.cost_per_1m(8, 3.5, 1000.0) == pytest.approx(8 * 3.5 / 3.6, rel=1e-9)
    seconds = perf.load_time_s(148.66 * 1024**3)  # ~8 min reported (vllm issue 43189)
    assert 6 * 60 <= seconds <= 10 * 60


def test_every_constant_has_a_source() -> None:
    from deploy_kit.catalog.documents import load_documents

    doc = load_documents()["performance.yaml"]
    for name, entry in (*doc["constants"].items(), *doc["interconnects"].items()):
        assert len(entry["source"]) > 20, name
