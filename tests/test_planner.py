"""Planner acceptance cases, rules and invariants over every model x preset."""

from __future__ import annotations

import pytest

from deploy_kit.catalog import Catalog
from deploy_kit.errors import PinnedKnobError, PlanError
from deploy_kit.planner import search as planner
from deploy_kit.spec import Knobs, Plan
from deploy_kit.vllm import argv as vllm

GIB = 1024**3


def _plan(catalog: Catalog, model: str, hw: str, **knobs: object) -> Plan:
    return planner.plan(catalog, model, catalog.hardware(hw), Knobs.model_validate(knobs))


def test_flash_on_8xh200(catalog: Catalog) -> None:
    p = _plan(catalog, "deepseek-v4-flash", "8xH200")
    assert p.tensor_parallel * p.pipeline_parallel * p.data_parallel == 8
    argv = " ".join(p.vllm.argv["node-0"])
    assert "--kv-cache-dtype fp8 --block-size 256 --tokenizer-mode deepseek_v4" in argv
    m = p.memory["per_gpu"]
    used = m.weights_gib + m.activation_gib + m.overhead_gib + m.cudagraph_gib + m.kv_cache_gib
    assert used <= m.requested_gib + 0.02
    assert m.requested_gib <= m.total_gib


def test_pro_on_8xh100_names_what_fits(catalog: Catalog) -> None:
    with pytest.raises(PlanError) as err:
        _plan(catalog, "deepseek-v4-pro", "8xH100")
    assert "2x8xH100" in (err.value.hint or "")


def test_a100_refused_with_reason(catalog: Catalog) -> None:
    with pytest.raises(PlanError, match="no upstream V4 path"):
        _plan(catalog, "deepseek-v4-flash", "8xA100")


def test_pro_tp16_fp8_block_rule(catalog: Catalog) -> None:
    with pytest.raises(PinnedKnobError) as err:
        _plan(catalog, "deepseek-v4-pro", "2x8xH200", tp=16)
    assert err.value.rule == "fp8-block"
    assert "192" in err.value.message


def test_tp3_heads_rule(catalog: Catalog) -> None:
    with pytest.raises(PinnedKnobError) as err:
        _plan(catalog, "deepseek-v4-flash", "8xH200", tp=3)
    assert err.value.rule == "heads-divisible"


@pytest.mark.parametrize(
    ("model", "kv", "ctx", "mnbt", "async_", "conc", "tokens"),
    [
        ("deepseek-v4-flash", 4 * GIB, 8192, 2048, True, 2.49, 20384),
        ("deepseek-v4-pro", 96 * GIB, 1048576, 16384, False, 6.66, 6983664),
    ],
)
def test_worked_examples_through_the_planner(
    catalog: Catalog,
    model: str,
    kv: int,
    ctx: int,
    mnbt: int,
    async_: bool,
    conc: float,
    tokens: int,
) -> None:
    p = _plan(
        catalog,
        model,
        "8xB300",
        kv_cache_memory_bytes=kv,
        context=ctx,
        max_num_batched_tokens=mnbt,
        async_scheduling=async_,
        tp=8,
        ep=True,
    )
    assert p.capacity.max_concurrency_per_engine == conc
    assert p.capacity.kv_cache_tokens_per_engine == tokens


def test_worked_example_that_does_not_fit(catalog: Catalog) -> None:
    with pytest.raises(PlanError, match="estimated maximum model length is 664064"):
        _plan(
            catalog,
            "deepseek-v4-flash",
            "1xB200",
            kv_cache_memory_bytes=4 * GIB,
            context=1048576,
            max_num_batched_tokens=2048,
        )


def test_dp_beats_tp_for_kv_on_8xb200_at_1m(catalog: Catalog) -> None:
    p = _plan(catalog, "deepseek-v4-flash", "8xB200", context="1M")
    assert p.data_parallel == 8 and p.expert_parallel
    tep = _plan(catalog, "deepseek-v4-flash", "8xB200", context="1M", tp=8, ep=True)
    assert p.capacity.max_concurrency_total > 4 * tep.capacity.max_concurrency_total
    assert any("replicates the whole KV cache" in r for r in p.rationale)


def test_pinned_knob_is_never_changed(catalog: Catalog) -> None:
    p = _plan(catalog, "deepseek-v4-flash", "8xH200", tp=4, context=65536, max_num_seqs=64)
    assert (p.tensor_parallel, p.max_model_len, p.max_num_seqs) == (4, 65536, 64)


def test_what_if_int4_is_labelled(catalog: Catalog) -> None:
    p = _plan(catalog, "deepseek-v4-flash", "8xH200", weights="int4")
    assert p.what_if
    assert any("what-if" in r for r in p.rationale)
    assert p.checkpoint == "deepseek-ai/DeepSeek-V4-Flash"


def test_fp8_weights_pick_the_repack(catalog: Catalog) -> None:
    p = _plan(catalog, "deepseek-v4-flash", "8xH200", weights="fp8")
    assert p.checkpoint == "sgl-project/DeepSeek-V4-Flash-FP8"
    assert not p.what_if


def test_nvfp4_refused_on_hopper(catalog: Catalog) -> None:
    with pytest.raises(PlanError, match="needs blackwell"):
        _plan(catalog, "deepseek-v4-flash-nvfp4", "8xH200")


def test_multi_node_dp_argv_per_role(catalog: Catalog) -> None:
    p = _plan(catalog, "deepseek-v4-pro", "2x8xH200")
    assert p.nodes == 2 and p.multi_node == "data-parallel"
    head, worker = p.vllm.argv["node-0"], p.vllm.argv["node-1"]
    assert vllm.F_HEADLESS not in head and vllm.F_HEADLESS in worker
    start = worker[worker.index(vllm.F_DP_START_RANK) + 1]
    assert start == str(p.data_parallel_local)
    assert "--host" in head and "--host" not in worker


def test_pp_turns_async_scheduling_off(catalog: Catalog) -> None:
    p = _plan(catalog, "deepseek-v4-flash", "2xGB10", pp=2)
    assert p.pipeline_parallel == 2 and not p.async_scheduling
    assert vllm.F_NO_ASYNC in p.vllm.argv["node-0"]


def test_context_beyond_model_is_input_error(catalog: Catalog) -> None:
    with pytest.raises(PinnedKnobError, match="maximum"):
        _plan(catalog, "deepseek-v4-flash", "8xH200", context=2_000_000)


def test_vllm_version_floor(catalog: Catalog) -> None:
    with pytest.raises(PinnedKnobError, match=r"older than 0\.25\.0"):
        _plan(catalog, "deepseek-v4-flash-0731", "8xH200", vllm_version="0.22.0")


def _all_cases(catalog: Catalog) -> list[tuple[str, str]]:
    return [(m, h) for m in ("deepseek-v4-flash", "deepseek-v4-pro") for h in catalog.presets]


def test_every_model_x_preset_plans_or_says_why(catalog: Catalog) -> None:
    fitted = 0
    for model, hw in _all_cases(catalog):
        try:
            p = _plan(catalog, model, hw)
        except PlanError as exc:
            assert exc.message and exc.hint
            continue
        fitted += 1
        profile = catalog.hardware(hw)
        assert p.tensor_parallel * p.pipeline_parallel * p.data_parallel * p.replicas == (
            profile.total_gpus
        )
        assert p.nodes * p.gpus_per_node * p.replicas == profile.total_gpus
        assert p.capacity.max_concurrency_per_engine >= 1.0
        assert p.max_model_len <= 1048576
        assert p.image.split(":")[1] != "latest"
        assert set(p.vllm.argv) == {f"node-{r}" for r in range(p.nodes)}
        m = p.memory["per_gpu"]
        assert m.kv_cache_gib > 0 and m.weights_gib > 0
    assert fitted > 40
