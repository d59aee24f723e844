"""The KV arithmetic against vLLM 0.33.0's own planner, and the budget's calibration points."""

from __future__ import annotations

from typing import Any

import pytest

from deploy_kit.catalog import Catalog
from deploy_kit.planner import memory

GIB = 1024**3
MAX = 1048576


@pytest.mark.parametrize(
    ("layout", "available", "ctx", "mnbt", "async_", "conc", "tokens", "fits", "fit_len"),
    [
        # facts section 4 worked examples (vLLM 0.33.0's planner output)
        ("flash-v033", 4 * GIB, 8192, 2048, True, "2.49", 20384, True, None),
        ("pro-v033", 96 * GIB, MAX, 16384, False, "6.66", 6983664, True, None),
        ("flash-v033", 4 * GIB, MAX, 2048, True, None, None, False, 664064),
        # calibration: 2 x DGX Spark GB10, TP2, Flash-0731, --kv-cache-memory 28235618304
        ("flash-v033", 28235618304, MAX, 8192, True, "2.61", 2740813, True, None),
    ],
)
def test_worked_examples_exact(
    catalog: Catalog,
    layout: str,
    available: int,
    ctx: int,
    mnbt: int,
    async_: bool,
    conc: str | None,
    tokens: int | None,
    fits: bool,
    fit_len: int | None,
) -> None:
    kv = memory.kv_capacity(catalog.layouts[layout], available, ctx, mnbt, async_, MAX)
    assert kv.fits is fits
    if conc is not None:
        assert f"{kv.max_concurrency:.2f}" == conc
        assert kv.kv_cache_tokens == tokens
    if fit_len is not None:
        assert kv.max_model_len_fit == fit_len


def test_bounded_part_grows_with_async_and_batched_tokens(catalog: Catalog) -> None:
    flash = catalog.layouts["flash-v033"]
    sync = memory.kv_capacity(flash, 40 * GIB, 131072, 8192, False, MAX)
    asyn = memory.kv_capacity(flash, 40 * GIB, 131072, 8192, True, MAX)
    big = memory.kv_capacity(flash, 40 * GIB, 131072, 16384, True, MAX)
    assert sync.blocks_per_request < asyn.blocks_per_request < big.blocks_per_request
    # facts section 4: the bounded part is ~324,963 B per in-flight token + 17.4 MiB for Flash
    # in raw page bytes (vLLM then charges each block at the unified page size).
    flight = memory.in_flight_tokens(8192, True)
    raw = sum(
        (-(-(g.window - 1 + flight) // g.block_tokens) + 1) * g.page_bytes
        for g in flash.groups
        if g.kind == "sliding_window" and g.window is not None
    )
    assert raw == pytest.approx(324963 * flight + 17.4 * 1024**2, rel=0.01)


def test_weights_per_gpu_calibration(catalog: Catalog) -> None:
    """RTX PRO 6000, TP2: 'Model loading took 74.85 GiB' (facts section 4). Error printed."""
    ck = catalog.checkpoints["deepseek-v4-flash"]
    model = catalog.model_of(ck)
    wb = memory.checkpoint_weight_bytes(ck, model, catalog.formats, ck)
    got = memory.weights_per_gpu(wb, model.arch.num_hidden_layers, 2, 1, 1) / GIB
    error = (got - 74.85) / 74.85
    print(f"weights TP2: predicted {got:.2f} GiB vs logged 74.85 GiB ({error:+.1%})")
    assert abs(error) < 0.02


def test_experts_size_matches_facts(catalog: Catalog) -> None:
    flash = catalog.models["deepseek-v4-flash"]
    pro = catalog.models["deepseek-v4-pro"]
    assert flash.arch.routed_expert_params == pytest.approx(277.0e9, rel=1e-3)
    assert pro.arch.routed_expert_params == pytest.approx(1547.4e9, rel=1e-3)
    experts = flash.arch.routed_expert_params * catalog.formats["fp4-e2m1"] / GIB
    assert experts == pytest.approx(137.1, abs=0.1)


def test_bf16_what_if_is_about_568_gb(catalog: Catalog) -> None:
    ref = catalog.checkpoints["deepseek-v4-flash"]
    model = catalog.model_of(ref)
    wb = memory.checkpoint_weight_bytes(ref, model, catalog.formats, ref, "bf16", "bf16")
    assert 560e9 < wb.total < 600e9


def test_gh200_budget_point_error_is_reported(catalog: Catalog) -> None:
    """2 x GH200 96 GB, TP2+EP, util 0.95, Flash: 5.44 GiB KV logged ([S], build unknown)."""
    ck = catalog.checkpoints["deepseek-v4-flash"]
    model = catalog.model_of(ck)
    gpu = catalog.gpus["gh200"]
    wb = memory.checkpoint_weight_bytes(ck, model, catalog.formats, ck)
    per_gpu = memory.weights_per_gpu(wb, model.arch.num_hidden_layers, 2, 1, 1)
    b = memory.budget(gpu.usable_bytes, 0.95, per_gpu, 8192, model.arch.hidden_size, 2, True, 2)
    got = b.kv / GIB
    print(f"GH200 KV: predicted {got:.2f} GiB vs logged 5.44 GiB ({got - 5.44:+.2f} GiB)")
    # An estimate: it must land in the right range, not on the point.
    assert 2.0 < got < 12.0


def test_pinned_kv_bytes_is_used_verbatim(catalog: Catalog) -> None:
    b = memory.budget(100 * GIB, 0.9, 40 * GIB, 2048, 4096, 1, False, 1, 28235618304)
    assert b.kv == 28235618304
    too_big = memory.budget(100 * GIB, 0.9, 40 * GIB, 2048, 4096, 1, False, 1, 80 * GIB)
    assert too_big.kv < 0


def _startup_logs() -> list[dict[str, object]]:
    from deploy_kit.catalog.documents import load_documents

    return list(load_documents()["startup_logs.yaml"]["logs"])


def _reproduce(catalog: Catalog, entry: dict[str, Any]) -> dict[str, float]:
    """What deploy-kit predicts for a logged startup, keyed like the entry's `logged`."""
    from deploy_kit.planner import search
    from deploy_kit.planner.candidates import KV_ASYNC_DOUBLING_SINCE
    from deploy_kit.planner.rules import version_tuple
    from deploy_kit.spec import Knobs

    flags, logged, lay = entry["flags"], entry["logged"], entry["layout"]
    ckpt = catalog.checkpoints[entry["checkpoint"]]
    layout = catalog.layout_of(catalog.model_of(ckpt))
    mml = flags["max_model_len"]
    available = logged.get("available_kv_bytes") or (
        int(logged["available_kv_gib"] * GIB) if "available_kv_gib" in logged else None
    )
    if available is None:  # the whole planner: budget estimates and the KV arithmetic
        knobs = Knobs(
            context=mml,
            tp=lay["tp"],
            dp=lay["dp"],
            ep=lay["ep"],
            gpu_memory_utilization=flags.get("gpu_memory_utilization"),
            max_num_batched_tokens=flags.get("max_num_batched_tokens"),
            max_num_seqs=flags.get("max_num_seqs"),
            vllm_version=entry["vllm_version"],
        )
        p = search.plan(catalog, ckpt.id, catalog.hardware(entry["hardware"]), knobs)
        return {"max_concurrency_per_engine": p.capacity.max_concurrency_per_engine}
    doubling = version_tuple(entry["vllm_version"]) >= KV_ASYNC_DOUBLING_SINCE
    kv = memory.kv_capacity(layout, available, mml, flags["max_num_batched_tokens"], doubling, MAX)
    return {
        "max_concurrency_per_engine": kv.max_concurrency,
        "kv_cache_tokens": kv.kv_cache_tokens,
        "max_model_len_fit": kv.max_model_len_fit,
        "needed_kv_gib": kv.blocks_per_request * kv.bytes_per_block / GIB,
    }


def test_startup_logs(catalog: Catalog) -> None:
    """Every published startup log is reproduced within 10 % or carries its recorded cause."""
    entries = _startup_logs()
    assert len(entries) >= 10
    reproduced = 0
    for e in entries:
        assert str(e["source"]).startswith(("https://", "deploy-kit facts")), e["id"]
        if not e["reproduce"]:
            assert len(str(e.get("cause", ""))) > 20, f"{e['id']}: no recorded cause"
            print(f"{e['id']:32} not reproduced: {e['cause']}")
            continue
        got = _reproduce(catalog, e)  # type: ignore[arg-type]
        for key, want in e["logged"].items():  # type: ignore[attr-defined]
            if key not in got:
                continue
            error = (got[key] - want) / want
            print(
                f"{e['id']:32} {key}: deploy-kit {got[key]:,.2f} vs logged {want:,} ({error:+.1%})"
            )
            assert abs(error) <= 0.10, f"{e['id']} {key}: {error:+.1%}"
        reproduced += 1
    assert reproduced >= 6


def test_async_doubling_arrived_in_vllm_0_26(catalog: Catalog) -> None:
    """Without the version rule, v0.25.0's B200 log would need more KV memory than a B200 has."""
    flash = catalog.layouts["flash-v033"]
    per_request = memory.blocks_per_request(flash.groups, MAX, memory.in_flight_tokens(8192, True))
    needed = 20.43 * per_request * 1002240 / GIB
    assert needed > catalog.gpus["b200"].usable_bytes / GIB
