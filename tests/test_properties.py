"""Property tests: any accepted hardware profile and knobs give a valid plan or a clear error."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from deploy_kit.catalog import load_catalog
from deploy_kit.errors import InputError, PlanError
from deploy_kit.planner import search as planner
from deploy_kit.spec import CustomGpu, HardwareFile, Knobs

CATALOG = load_catalog()
GPU_NAMES = sorted(CATALOG.gpus)

custom_gpus = st.builds(
    CustomGpu,
    name=st.text(alphabet="abcXYZ019-", min_size=1, max_size=12),
    memory=st.integers(min_value=8 * 10**9, max_value=400 * 10**9),
    bandwidth_tbps=st.floats(min_value=0.2, max_value=10),
    arch=st.sampled_from(
        ["hopper", "blackwell", "blackwell-ultra", "blackwell-workstation", "cdna4", "ampere"]
    ),
    vendor=st.sampled_from(["nvidia", "amd"]),
    fp8=st.booleans(),
)

hardware_files = st.builds(
    HardwareFile,
    gpu=st.one_of(st.sampled_from(GPU_NAMES), custom_gpus),
    gpus_per_node=st.sampled_from([1, 2, 3, 4, 6, 8]),
    nodes=st.sampled_from([1, 1, 2, 3, 4]),
    network=st.sampled_from(["infiniband", "ethernet", "roce"]),
)

knobs = st.builds(
    Knobs,
    context=st.one_of(st.none(), st.sampled_from([4096, 32768, 131072, 393216, 1048576])),
    concurrency=st.one_of(st.none(), st.integers(min_value=1, max_value=512)),
    optimize=st.sampled_from(["capacity", "latency", "throughput"]),
    tp=st.one_of(st.none(), st.sampled_from([1, 2, 3, 4, 8, 16])),
    ep=st.one_of(st.none(), st.booleans()),
    gpu_memory_utilization=st.one_of(st.none(), st.floats(min_value=0.5, max_value=0.98)),
    max_num_batched_tokens=st.one_of(st.none(), st.sampled_from([2048, 8192, 16384])),
    async_scheduling=st.one_of(st.none(), st.booleans()),
    weights=st.sampled_from(["native", "fp8", "nvfp4", "int4"]),
)


@given(
    hw_file=hardware_files, k=knobs, model=st.sampled_from(["deepseek-v4-flash", "deepseek-v4-pro"])
)
def test_plan_or_clear_error(hw_file: HardwareFile, k: Knobs, model: str) -> None:
    try:
        hw = CATALOG.hardware_from_data(hw_file.model_dump(exclude_none=True), origin="prop")
        p = planner.plan(CATALOG, model, hw, k, suggest=False)
    except (PlanError, InputError) as exc:
        assert exc.message and "\n" not in exc.message
        return
    assert p.tensor_parallel * p.pipeline_parallel * p.data_parallel * p.replicas == hw.total_gpus
    assert p.nodes * p.gpus_per_node * p.replicas == hw.total_gpus
    assert 4096 <= p.max_model_len <= 1048576
    assert p.capacity.max_concurrency_per_engine >= 1.0
    assert p.capacity.max_model_len_fit >= p.max_model_len
    for pinned, got in (
        (k.tp, p.tensor_parallel),
        (k.context, p.max_model_len),
        (k.ep, p.expert_parallel),
    ):
        assert pinned is None or pinned == got
    m = p.memory["per_gpu"]
    assert m.kv_cache_gib > 0
    if k.kv_cache_memory_bytes is None:
        parts = m.weights_gib + m.activation_gib + m.overhead_gib + m.cudagraph_gib + m.kv_cache_gib
        assert parts <= m.requested_gib + 0.05
    heads = CATALOG.models[p.model].arch.num_attention_heads
    assert heads % p.tensor_parallel == 0
    assert all(argv[:2] == ["vllm", "serve"] for argv in p.vllm.argv.values())
