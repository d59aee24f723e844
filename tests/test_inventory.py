"""Tests for deploy_kit.inventory: node-list, nvidia-smi, rocm-smi and amd-smi parsers."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from deploy_kit.errors import InputError
from deploy_kit.inventory import (
    DEFAULT_PRODUCT_PATTERNS,
    GpuObservation,
    NodePool,
    Taint,
    match_gpu,
    normalize_product,
    parse_amd_smi_static_json,
    parse_nodes_inventory,
    parse_nodes_json,
    parse_nvidia_smi_csv,
    parse_rocm_smi_json,
)

FIXTURES = Path(__file__).parent / "fixtures"
NODES = FIXTURES / "nodes"
SMI = FIXTURES / "smi"

CATALOG_IDS = {
    "a100-80gb",
    "a100-40gb",
    "l40s",
    "h100-sxm",
    "h100-pcie",
    "h20",
    "h200",
    "gh200",
    "b200",
    "gb200",
    "b300",
    "gb300",
    "rtx-pro-6000",
    "gb10",
    "mi300x",
    "mi325x",
    "mi355x",
}


def load(name: str) -> Any:
    return json.loads((NODES / name).read_text())


def gpu_id(pool: NodePool) -> str | None:
    return match_gpu(pool.gpu_product or "", pool.memory_mib, DEFAULT_PRODUCT_PATTERNS)


def pool_named(pools: list[NodePool], name: str) -> NodePool:
    matches = [p for p in pools if p.name == name]
    assert len(matches) == 1, [p.name for p in pools]
    return matches[0]


# --------------------------------------------------------------------------------------------
# Node-list fixtures
# --------------------------------------------------------------------------------------------


def test_h100x2_is_one_pool_of_two_eight_gpu_nodes() -> None:
    pools = parse_nodes_json(load("nodes-h100x2.json"))
    assert len(pools) == 1
    pool = pools[0]
    assert pool.name == "gpu-h100"
    assert pool.pool_label == "eks.amazonaws.com/nodegroup"
    assert pool.vendor == "nvidia"
    assert pool.gpu_resource == "nvidia.com/gpu"
    assert pool.gpu_product == "NVIDIA-H100-80GB-HBM3"
    assert pool.product_label == "nvidia.com/gpu.product"
    assert pool.gpus_per_node == 8
    assert pool.memory_mib == 81559
    assert pool.compute_capability == "9.0"
    assert pool.gpu_family == "hopper"
    assert pool.cuda_driver_major == 570
    assert pool.instance_type == "p5.48xlarge"
    assert pool.node_count == 2
    assert pool.total_gpus == 16
    assert pool.schedulable
    assert pool.unschedulable_nodes == ()
    assert (pool.gpu_capacity, pool.gpu_allocatable) == (8, 8)
    assert pool.taints == (Taint(key="nvidia.com/gpu", value="true", effect="NoSchedule"),)
    assert pool.rdma_resources == ("vpc.amazonaws.com/efa",)
    assert pool.gpu_clique is None
    assert pool.warnings == ()
    assert gpu_id(pool) == "h100-sxm"


def test_h200x1_gke_pool() -> None:
    inventory = parse_nodes_inventory(load("nodes-h200x1.json"))
    assert inventory.total_nodes == 1
    assert inventory.cpu_only_nodes == ()
    (pool,) = inventory.pools
    assert pool.name == "h200-pool"
    assert pool.pool_label == "cloud.google.com/gke-nodepool"
    assert pool.gpu_product == "NVIDIA-H200"
    assert (pool.gpus_per_node, pool.memory_mib, pool.node_count) == (8, 143771, 1)
    assert pool.instance_type == "a3-ultragpu-8g"
    assert pool.taints == (Taint(key="nvidia.com/gpu", value="present", effect="NoSchedule"),)
    assert gpu_id(pool) == "h200"


def test_b200x2_without_pool_label_gets_a_synthesised_name() -> None:
    (pool,) = parse_nodes_json(load("nodes-b200x2.json"))
    assert pool.name == "NVIDIA-B200-x8"
    assert pool.pool_label is None
    assert pool.instance_type is None
    assert (pool.gpus_per_node, pool.memory_mib, pool.node_count) == (8, 183359, 2)
    assert pool.compute_capability == "10.0"
    assert pool.gpu_family == "blackwell"
    assert pool.rdma_resources == ("rdma/rdma_shared_device_a",)
    assert pool.taints == (Taint(key="nvidia.com/gpu", effect="NoSchedule"),)
    assert gpu_id(pool) == "b200"


def test_mixed_cluster() -> None:
    inventory = parse_nodes_inventory(load("nodes-mixed.json"))
    assert inventory.total_nodes == 6
    assert len(inventory.cpu_only_nodes) == 2
    pools = list(inventory.pools)
    assert [p.name for p in pools] == ["gpu-h100", "h200"]

    h100 = pool_named(pools, "gpu-h100")
    assert h100.node_count == 2
    assert h100.total_gpus == 16
    assert h100.unschedulable_nodes == ("ip-10-20-46-88.us-east-2.compute.internal",)
    assert any("cordoned" in w for w in h100.warnings)
    # the cordon taint is not something a pod should tolerate
    assert all(t.key != "node.kubernetes.io/unschedulable" for t in h100.taints)
    assert gpu_id(h100) == "h100-sxm"

    h200 = pool_named(pools, "h200")
    assert h200.pool_label == "karpenter.sh/nodepool"
    assert (h200.node_count, h200.gpus_per_node, h200.memory_mib) == (1, 8, 143771)
    assert h200.instance_type == "p5en.48xlarge"
    assert gpu_id(h200) == "h200"


def test_amd_mi300x_pool() -> None:
    (pool,) = parse_nodes_json(load("nodes-amd-mi300x.json"))
    assert pool.vendor == "amd"
    assert pool.gpu_resource == "amd.com/gpu"
    assert pool.name == "BM.GPU.MI300X.8"
    assert pool.pool_label == "node.kubernetes.io/instance-type"
    assert pool.gpu_product == "AMD_Instinct_MI300X_OAM"
    assert pool.product_label == "amd.com/gpu.product-name"
    assert pool.gpus_per_node == 8
    assert pool.memory_mib == 192 * 1024
    assert pool.gpu_family == "AI"
    assert pool.compute_capability is None
    assert pool.node_count == 2
    assert gpu_id(pool) == "mi300x"


def test_no_gpus() -> None:
    inventory = parse_nodes_inventory(load("nodes-none.json"))
    assert inventory.pools == ()
    assert inventory.cpu_only_nodes == ("dev-control-plane", "dev-worker", "dev-worker2")
    assert parse_nodes_json(load("nodes-none.json")) == []


def test_unknown_gpu_keeps_its_memory_for_a_custom_entry() -> None:
    (pool,) = parse_nodes_json(load("nodes-unknown-gpu.json"))
    assert pool.name == "h100nvl"
    assert pool.pool_label == "kubernetes.azure.com/agentpool"
    assert pool.gpu_product == "NVIDIA-H100-NVL"
    assert (pool.gpus_per_node, pool.memory_mib) == (1, 95830)
    assert gpu_id(pool) is None


def test_single_node_object_and_raw_json_text() -> None:
    node = load("nodes-h200x1.json")["items"][0]
    assert [p.name for p in parse_nodes_json(node)] == ["h200-pool"]
    text = (NODES / "nodes-h100x2.json").read_text()
    assert parse_nodes_json(text) == parse_nodes_json(text.encode())
    assert parse_nodes_json(text)[0].node_count == 2


def test_models_are_frozen_and_strict() -> None:
    (pool,) = parse_nodes_json(load("nodes-h100x2.json"))
    with pytest.raises(ValidationError):
        pool.name = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        GpuObservation(product="x", vendor="nvidia", memory_mib=1, count=1, extra=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        GpuObservation(product="x", vendor="nvidia", memory_mib=1, count=0)


# --------------------------------------------------------------------------------------------
# Pooling rules on hand-made variants
# --------------------------------------------------------------------------------------------


def nv_node(
    name: str,
    *,
    pool: str | None = "gpus",
    product: str = "NVIDIA-GB200",
    count: int = 4,
    memory: int = 189471,
    clique: str | None = None,
    allocatable: str | None = None,
    extra_labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    labels = {
        "nvidia.com/gpu.product": product,
        "nvidia.com/gpu.count": str(count),
        "nvidia.com/gpu.memory": str(memory),
    }
    if pool is not None:
        labels["karpenter.sh/nodepool"] = pool
    if clique is not None:
        labels["nvidia.com/gpu.clique"] = clique
    labels.update(extra_labels or {})
    gpus = allocatable if allocatable is not None else str(count)
    return {
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "status": {
            "capacity": {"nvidia.com/gpu": str(count)},
            "allocatable": {"nvidia.com/gpu": gpus},
        },
    }


def node_list(*items: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "items": list(items)}


def test_gb200_trays_in_different_nvlink_cliques_are_separate_pools() -> None:
    clique_a = "4b2c8f0e-1d2a-4c5e-9f7a-3b6d8e0f1a2c.32766"
    clique_b = "4b2c8f0e-1d2a-4c5e-9f7a-3b6d8e0f1a2c.32767"
    pools = parse_nodes_json(
        node_list(
            nv_node("tray-1", clique=clique_a),
            nv_node("tray-2", clique=clique_a),
            nv_node("tray-3", clique=clique_b),
        )
    )
    assert [(p.gpu_clique, p.node_count, p.gpus_per_node) for p in pools] == [
        (clique_a, 2, 4),
        (clique_b, 1, 4),
    ]
    assert {gpu_id(p) for p in pools} == {"gb200"}


def test_node_with_fewer_allocatable_gpus_is_excluded_with_a_reason() -> None:
    pools = parse_nodes_json(
        node_list(
            nv_node("a", product="NVIDIA-B200", count=8, memory=183359),
            nv_node("b", product="NVIDIA-B200", count=8, memory=183359, allocatable="7"),
        )
    )
    (pool,) = pools
    assert pool.node_names == ("a",)
    assert pool.unschedulable_nodes == ("b",)
    assert any("only 7 of 8 GPUs allocatable" in w for w in pool.warnings)


def test_time_sliced_gpus_count_physically_and_warn() -> None:
    node = nv_node(
        "shared",
        product="NVIDIA-L40S-SHARED",
        count=4,
        memory=46068,
        allocatable="16",
        extra_labels={"nvidia.com/gpu.replicas": "4"},
    )
    (pool,) = parse_nodes_json(node)
    assert pool.gpus_per_node == 4
    assert pool.gpu_allocatable == 16
    assert pool.node_names == ("shared",)
    assert any("time-slices" in w for w in pool.warnings)
    assert gpu_id(pool) == "l40s"


def test_not_ready_node_is_excluded() -> None:
    node = nv_node("sick")
    node["status"]["conditions"] = [{"type": "Ready", "status": "Unknown"}]
    (pool,) = parse_nodes_json(node)
    assert pool.node_names == ()
    assert not pool.schedulable
    assert pool.unschedulable_nodes == ("sick",)


def test_gpu_labels_without_a_gpu_resource_are_reported_not_pooled() -> None:
    node = {
        "kind": "Node",
        "metadata": {
            "name": "no-plugin",
            "labels": {"nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": "NVIDIA-H200"},
        },
        "status": {"allocatable": {"cpu": "8"}},
    }
    inventory = parse_nodes_inventory(node_list(node))
    assert inventory.pools == ()
    assert len(inventory.warnings) == 1
    assert "no-plugin" in inventory.warnings[0]
    assert "device plugin" in inventory.warnings[0]


def test_gke_accelerator_label_is_the_product_when_gfd_is_absent() -> None:
    node = {
        "kind": "Node",
        "metadata": {
            "name": "gke-a4-pool-1",
            "labels": {
                "cloud.google.com/gke-nodepool": "a4-pool",
                "cloud.google.com/gke-accelerator": "nvidia-b200",
            },
        },
        "status": {"capacity": {"nvidia.com/gpu": "8"}, "allocatable": {"nvidia.com/gpu": "8"}},
    }
    (pool,) = parse_nodes_json(node)
    assert pool.product_label == "cloud.google.com/gke-accelerator"
    assert pool.memory_mib is None
    assert any("no GPU memory label" in w for w in pool.warnings)
    assert gpu_id(pool) == "b200"


def test_aks_mi300x_without_product_label_falls_back_to_the_device_id() -> None:
    # Label set reported in ROCm/k8s-device-plugin#112 (Standard_ND96isr_MI300X_v5).
    node = {
        "kind": "Node",
        "metadata": {
            "name": "aks-mi300x-12345678-vmss000000",
            "labels": {
                "kubernetes.azure.com/agentpool": "mi300x",
                "amd.com/gpu.cu-count": "304",
                "amd.com/gpu.device-id": "74b5",
                "amd.com/gpu.family": "AI",
                "amd.com/gpu.simd-count": "1216",
                "amd.com/gpu.vram": "191G",
                "beta.amd.com/gpu.device-id.74b5": "8",
            },
        },
        "status": {"capacity": {"amd.com/gpu": "8"}, "allocatable": {"amd.com/gpu": "8"}},
    }
    (pool,) = parse_nodes_json(node)
    assert pool.gpu_product == "0x74b5"
    assert pool.product_label == "amd.com/gpu.device-id"
    assert pool.memory_mib == 191 * 1024
    assert gpu_id(pool) == "mi300x"


# --------------------------------------------------------------------------------------------
# Malformed node lists: InputError naming the JSON path
# --------------------------------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], object]


def _set(path: list[str | int], value: object) -> Mutation:
    def mutate(doc: dict[str, Any]) -> object:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return doc

    return mutate


LABELS: list[str | int] = ["items", 0, "metadata", "labels"]
ALLOC: list[str | int] = ["items", 0, "status", "allocatable"]

MALFORMED: list[tuple[str, Mutation, str, str]] = [
    ("top-level array", lambda d: d["items"], "$", "expected an object"),
    ("top-level string", lambda d: "not json", "$", "not valid JSON"),
    ("top-level number", lambda d: 42, "$", "expected an object"),
    ("no items", lambda d: {"kind": "List"}, "$", "not a node list"),
    ("items not a list", _set(["items"], {"a": 1}), "$.items", "expected an array"),
    ("item not an object", _set(["items", 0], 7), "$.items[0]", "expected an object"),
    ("wrong kind", _set(["kind"], "PodList"), "$.kind", "'PodList'"),
    ("kind not a string", _set(["kind"], 3), "$.kind", "expected a string"),
    ("item is not a Node", _set(["items", 0, "kind"], "Pod"), "$.items[0].kind", "'Pod'"),
    (
        "metadata missing",
        lambda d: d["items"][0].pop("metadata") and d,
        "$.items[0].metadata",
        "object",
    ),
    (
        "name not a string",
        _set(["items", 0, "metadata", "name"], 5),
        "$.items[0].metadata.name",
        "string",
    ),
    (
        "name empty",
        _set(["items", 0, "metadata", "name"], " "),
        "$.items[0].metadata.name",
        "empty",
    ),
    (
        "labels not an object",
        _set(LABELS, ["a"]),
        "$.items[0].metadata.labels",
        "expected an object",
    ),
    (
        "label value is a number",
        _set([*LABELS, "nvidia.com/gpu.count"], 8),
        '$.items[0].metadata.labels["nvidia.com/gpu.count"]',
        "expected a string",
    ),
    (
        "label value is null",
        _set([*LABELS, "nvidia.com/gpu.product"], None),
        '$.items[0].metadata.labels["nvidia.com/gpu.product"]',
        "expected a string",
    ),
    (
        "negative count",
        _set([*LABELS, "nvidia.com/gpu.count"], "-8"),
        '$.items[0].metadata.labels["nvidia.com/gpu.count"]',
        "negative",
    ),
    (
        "huge count",
        _set([*LABELS, "nvidia.com/gpu.count"], "100000"),
        '$.items[0].metadata.labels["nvidia.com/gpu.count"]',
        "implausibly large",
    ),
    (
        "absurdly long count",
        _set([*LABELS, "nvidia.com/gpu.count"], "9" * 5000),
        '$.items[0].metadata.labels["nvidia.com/gpu.count"]',
        "implausibly large",
    ),
    (
        "word for a count",
        _set([*LABELS, "nvidia.com/gpu.count"], "eight"),
        '$.items[0].metadata.labels["nvidia.com/gpu.count"]',
        "whole number",
    ),
    (
        "memory with units",
        _set([*LABELS, "nvidia.com/gpu.memory"], "80GB"),
        '$.items[0].metadata.labels["nvidia.com/gpu.memory"]',
        "whole number",
    ),
    (
        "huge memory",
        _set([*LABELS, "nvidia.com/gpu.memory"], "99999999999"),
        '$.items[0].metadata.labels["nvidia.com/gpu.memory"]',
        "implausibly large",
    ),
    (
        "fractional allocatable GPUs",
        _set([*ALLOC, "nvidia.com/gpu"], "8.5"),
        '$.items[0].status.allocatable["nvidia.com/gpu"]',
        "whole number",
    ),
    (
        "negative allocatable GPUs",
        _set([*ALLOC, "nvidia.com/gpu"], -1),
        '$.items[0].status.allocatable["nvidia.com/gpu"]',
        "negative",
    ),
    (
        "boolean allocatable GPUs",
        _set([*ALLOC, "nvidia.com/gpu"], True),
        '$.items[0].status.allocatable["nvidia.com/gpu"]',
        "quantity string",
    ),
    (
        "allocatable not an object",
        _set(ALLOC, ["nvidia.com/gpu"]),
        "$.items[0].status.allocatable",
        "expected an object",
    ),
    (
        "bad efa count",
        _set([*ALLOC, "vpc.amazonaws.com/efa"], "lots"),
        '$.items[0].status.allocatable["vpc.amazonaws.com/efa"]',
        "whole number",
    ),
    (
        "spec not an object",
        _set(["items", 0, "spec"], "x"),
        "$.items[0].spec",
        "expected an object",
    ),
    (
        "unschedulable not a boolean",
        _set(["items", 0, "spec", "unschedulable"], "yes"),
        "$.items[0].spec.unschedulable",
        "boolean",
    ),
    (
        "taints not a list",
        _set(["items", 0, "spec", "taints"], {}),
        "$.items[0].spec.taints",
        "array",
    ),
    (
        "taint effect unknown",
        _set(["items", 0, "spec", "taints", 0, "effect"], "Sometimes"),
        "$.items[0].spec.taints[0].effect",
        "NoSchedule",
    ),
    (
        "taint key missing",
        lambda d: d["items"][0]["spec"]["taints"][0].pop("key") and d,
        "$.items[0].spec.taints[0].key",
        "string",
    ),
    (
        "conditions not a list",
        _set(["items", 0, "status", "conditions"], "Ready"),
        "$.items[0].status.conditions",
        "array",
    ),
    (
        "duplicate node",
        lambda d: {**d, "items": [d["items"][0], copy.deepcopy(d["items"][0])]},
        "$.items[1].metadata.name",
        "duplicate",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "path", "words"),
    [pytest.param(m, p, w, id=i) for i, m, p, w in MALFORMED],
)
def test_malformed_node_lists_raise_input_error_with_the_path(
    mutate: Mutation, path: str, words: str
) -> None:
    doc = mutate(load("nodes-h100x2.json"))
    with pytest.raises(InputError) as caught:
        parse_nodes_json(doc)
    message = str(caught.value)
    assert message.startswith(f"{path}:") or message.startswith(f"{path} "), message
    assert words in message


def test_amd_vram_label_must_be_a_size() -> None:
    doc = load("nodes-amd-mi300x.json")
    doc["items"][1]["metadata"]["labels"]["amd.com/gpu.vram"] = "lots"
    with pytest.raises(
        InputError, match=re.escape('$.items[1].metadata.labels["amd.com/gpu.vram"]')
    ):
        parse_nodes_json(doc)


def test_invalid_json_text_names_the_position() -> None:
    with pytest.raises(InputError, match=r"line 1, column"):
        parse_nodes_json('{"items": [')


# --------------------------------------------------------------------------------------------
# nvidia-smi
# --------------------------------------------------------------------------------------------


def test_nvidia_smi_h100x8_noheader_nounits() -> None:
    (obs,) = parse_nvidia_smi_csv((SMI / "nvidia-smi-h100x8.csv").read_text())
    assert obs == GpuObservation(
        product="NVIDIA H100 80GB HBM3",
        vendor="nvidia",
        memory_mib=81559,
        count=8,
        compute_capability="9.0",
    )
    assert match_gpu(obs.product, obs.memory_mib, DEFAULT_PRODUCT_PATTERNS) == "h100-sxm"


def test_nvidia_smi_h200x8_header_and_units() -> None:
    (obs,) = parse_nvidia_smi_csv((SMI / "nvidia-smi-h200x8.csv").read_text())
    assert (obs.product, obs.memory_mib, obs.count, obs.compute_capability) == (
        "NVIDIA H200",
        143771,
        8,
        "9.0",
    )
    assert match_gpu(obs.product, obs.memory_mib, DEFAULT_PRODUCT_PATTERNS) == "h200"


def test_nvidia_smi_gb10_reports_no_memory() -> None:
    (obs,) = parse_nvidia_smi_csv((SMI / "nvidia-smi-gb10.csv").read_text())
    assert (obs.product, obs.memory_mib, obs.count, obs.compute_capability) == (
        "NVIDIA GB10",
        None,
        1,
        "12.1",
    )
    assert match_gpu(obs.product, obs.memory_mib, DEFAULT_PRODUCT_PATTERNS) == "gb10"


def test_nvidia_smi_groups_mixed_hosts_in_first_seen_order() -> None:
    text = (
        "0, NVIDIA A100 80GB PCIe, 81920, 8.0\n"
        "1, NVIDIA A100-SXM4-80GB, 81920, 8.0\n"
        "2, NVIDIA A100 80GB PCIe, 81920, 8.0\n"
    )
    observations = parse_nvidia_smi_csv(text)
    assert [(o.product, o.count) for o in observations] == [
        ("NVIDIA A100 80GB PCIe", 2),
        ("NVIDIA A100-SXM4-80GB", 1),
    ]


def test_nvidia_smi_header_in_another_order() -> None:
    text = "name, memory.total [MiB]\nNVIDIA L40S, 46068 MiB\nNVIDIA L40S, 46068 MiB\n"
    (obs,) = parse_nvidia_smi_csv(text)
    assert (obs.product, obs.memory_mib, obs.count, obs.compute_capability) == (
        "NVIDIA L40S",
        46068,
        2,
        None,
    )


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("No devices were found\n", "no GPUs"),
        ("0, NVIDIA H100 80GB HBM3, 81559\n", "line 1: expected 4"),
        ("0, NVIDIA H100 80GB HBM3, 80 GB, 9.0\n", "line 1: memory.total"),
        ("0, NVIDIA H100 80GB HBM3, -1, 9.0\n", "line 1: memory.total"),
        ("0, NVIDIA H100 80GB HBM3, 99999999, 9.0\n", "implausibly large"),
        ("0, NVIDIA H100 80GB HBM3, 81559, nine\n", "line 1: compute_cap"),
        ("0, NVIDIA H100 80GB HBM3, 81559, 9.0\n0, NVIDIA H100 80GB HBM3, 81559, 9.0\n", "twice"),
        ("x, NVIDIA H100 80GB HBM3, 81559, 9.0\n", "line 1: index"),
        ("0, , 81559, 9.0\n", "empty GPU name"),
        ("index, name, memory.total [MiB], compute_cap\n", "no GPU rows"),
        ("\n\n0, NVIDIA H200, 143771, 9.0, extra\n", "line 3"),
    ],
)
def test_nvidia_smi_errors(text: str, words: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_nvidia_smi_csv(text)
    assert words in str(caught.value)


# --------------------------------------------------------------------------------------------
# rocm-smi / amd-smi
# --------------------------------------------------------------------------------------------


def test_rocm_smi_mi300x() -> None:
    (obs,) = parse_rocm_smi_json((SMI / "rocm-smi-mi300x.json").read_text())
    assert obs == GpuObservation(
        product="AMD Instinct MI300X",
        vendor="amd",
        memory_mib=196592,
        count=8,
        gfx_version="gfx942",
    )
    assert match_gpu(obs.product, obs.memory_mib, DEFAULT_PRODUCT_PATTERNS) == "mi300x"


def test_rocm_smi_older_spelling_and_system_key() -> None:
    data = {
        "card0": {"Card series": "AMD Instinct MI325X", "VRAM Total Memory (B)": "274877906944"},
        "card1": {"Card series": "AMD Instinct MI325X", "VRAM Total Memory (B)": "274877906944"},
        "system": {"Driver version": "6.10.5"},
    }
    (obs,) = parse_rocm_smi_json(data)
    assert (obs.product, obs.count, obs.memory_mib, obs.gfx_version) == (
        "AMD Instinct MI325X",
        2,
        262144,
        None,
    )
    assert match_gpu(obs.product, obs.memory_mib, DEFAULT_PRODUCT_PATTERNS) == "mi325x"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ("[]", "$: expected an object"),
        ("{}", "no 'cardN' entries"),
        ('{"card0": "MI300X"}', "$.card0: expected an object"),
        ('{"card0": {"GPU use (%)": "0"}}', "$.card0: no product name"),
        (
            '{"card0": {"Card Series": "AMD Instinct MI300X", "VRAM Total Memory (B)": "192 GB"}}',
            '$.card0["VRAM Total Memory (B)"]',
        ),
        ('{"card0": {"Card Series": 300}}', '$.card0["Card Series"]: expected a string'),
        ("{card0:", "not valid JSON"),
    ],
)
def test_rocm_smi_errors(data: str, words: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_rocm_smi_json(data)
    assert words in str(caught.value)


def test_amd_smi_static_mi300x() -> None:
    (obs,) = parse_amd_smi_static_json((SMI / "amd-smi-static-mi300x.json").read_text())
    assert (obs.product, obs.vendor, obs.count, obs.memory_mib, obs.gfx_version) == (
        "AMD Instinct MI300X",
        "amd",
        8,
        196592,
        "gfx942",
    )


def test_amd_smi_static_list_form_and_string_size() -> None:
    data = [
        {"gpu": 0, "asic": {"market_name": "AMD Instinct MI355X"}, "vram": {"size": "294896 MB"}},
        {"gpu": 1, "asic": {"market_name": "N/A", "device_id": "0x74a5"}, "vram": {"size": 262128}},
    ]
    first, second = parse_amd_smi_static_json(data)
    assert (first.product, first.memory_mib) == ("AMD Instinct MI355X", 294896)
    assert (second.product, second.memory_mib) == ("0x74a5", 262128)
    assert match_gpu(first.product, first.memory_mib, DEFAULT_PRODUCT_PATTERNS) == "mi355x"
    assert match_gpu(second.product, second.memory_mib, DEFAULT_PRODUCT_PATTERNS) == "mi325x"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({}, "$: expected an array"),
        ({"gpu_data": []}, "$.gpu_data: amd-smi reported no GPUs"),
        ([{"gpu": 0}], "$[0].asic: no market_name"),
        (
            [{"asic": {"market_name": "X"}, "vram": {"size": {"value": "big", "unit": "MB"}}}],
            "$[0].vram.size",
        ),
        (
            [{"asic": {"market_name": "X"}, "vram": {"size": {"value": 1, "unit": "parsecs"}}}],
            "unit",
        ),
        ([{"asic": {"market_name": "X"}, "vram": {"size": "lots"}}], "$[0].vram.size"),
    ],
)
def test_amd_smi_errors(data: object, words: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_amd_smi_static_json(data)
    assert words in str(caught.value)


# --------------------------------------------------------------------------------------------
# match_gpu and the default table
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("product", "memory", "expected"),
    [
        ("NVIDIA-A100-SXM4-80GB", 81920, "a100-80gb"),
        ("NVIDIA A100 80GB PCIe", 81920, "a100-80gb"),
        ("NVIDIA-A100-80GB-PCIe", 81920, "a100-80gb"),
        ("NVIDIA-A100-SXM4-40GB", 40960, "a100-40gb"),
        ("NVIDIA A100-PCIE-40GB", 40960, "a100-40gb"),
        ("nvidia-tesla-a100", None, "a100-40gb"),
        ("NVIDIA L40S", 46068, "l40s"),
        ("NVIDIA-H100-80GB-HBM3", 81559, "h100-sxm"),
        ("NVIDIA H100 80GB HBM3", 81559, "h100-sxm"),
        ("nvidia-h100-mega-80gb", None, "h100-sxm"),
        ("NVIDIA-H100-PCIe", 81559, "h100-pcie"),
        ("NVIDIA H20", 97871, "h20"),
        ("NVIDIA-H200", 143771, "h200"),
        ("NVIDIA-H200-NVL", 143771, "h200"),
        ("nvidia-h200-141gb", None, "h200"),
        ("NVIDIA-GH200-480GB", 97871, "gh200"),
        ("NVIDIA GH200 144G HBM3e", 146831, "gh200"),
        ("NVIDIA-B200", 183359, "b200"),
        ("NVIDIA-GB200", 189471, "gb200"),
        ("NVIDIA B300 SXM6 AC", 275040, "b300"),
        ("NVIDIA-GB300", 284208, "gb300"),
        ("NVIDIA-RTX-PRO-6000-Blackwell-Server-Edition", 97887, "rtx-pro-6000"),
        ("nvidia-rtx-pro-6000", None, "rtx-pro-6000"),
        ("NVIDIA GB10", None, "gb10"),
        ("AMD_Instinct_MI300X_OAM", 196608, "mi300x"),
        ("AMD Instinct MI300X", 196592, "mi300x"),
        ("Aqua Vanjaram [AMD Instinct MI300X OAM]", None, "mi300x"),
        ("AMD_Instinct_MI325_OAM", 262144, "mi325x"),
        ("AMD_Instinct_MI355_OAM", 294912, "mi355x"),
        # case, spacing, vendor prefix and the GFD time-slicing suffix do not matter
        ("  nvidia   h100 80gb_hbm3 ", None, "h100-sxm"),
        ("H100-80GB-HBM3", None, "h100-sxm"),
        ("NVIDIA-H200-SHARED", None, "h200"),
        # unknown or deliberately unmapped products
        ("NVIDIA-H100-NVL", 95830, None),
        ("NVIDIA H800", 81559, None),
        ("NVIDIA H20-3e", 143771, None),
        ("NVIDIA-A100-SXM4-40GB-MIG-1g.5gb", 4864, None),
        ("AMD Instinct MI350 OAM", 294912, None),
        ("NVIDIA-B300-SXM6-PC", None, None),
        ("Tesla-T4", 15360, None),
        ("", None, None),
    ],
)
def test_match_gpu_default_table(product: str, memory: int | None, expected: str | None) -> None:
    assert match_gpu(product, memory, DEFAULT_PRODUCT_PATTERNS) == expected


def test_match_gpu_uses_memory_to_break_ties_and_returns_none_when_it_cannot() -> None:
    table = {"a100-80gb": ["NVIDIA A100"], "a100-40gb": ["NVIDIA A100"]}
    assert match_gpu("NVIDIA A100", 81920, table) == "a100-80gb"
    assert match_gpu("NVIDIA A100", 40960, table) == "a100-40gb"
    assert match_gpu("NVIDIA A100", None, table) is None
    assert match_gpu("NVIDIA A100", 24576, table) is None


def test_match_gpu_globs_and_single_string_patterns() -> None:
    table: dict[str, Any] = {"h100-any": ["NVIDIA-H100-*"], "l4": "NVIDIA L4"}
    assert match_gpu("NVIDIA H100 NVL", 95830, table) == "h100-any"
    assert match_gpu("NVIDIA-L4", 23034, table) == "l4"
    assert match_gpu("NVIDIA-L40S", 46068, table) is None


def test_default_table_covers_the_catalog_and_is_unambiguous() -> None:
    assert set(DEFAULT_PRODUCT_PATTERNS) == CATALOG_IDS
    owner: dict[str, str] = {}
    for gpu, patterns in DEFAULT_PRODUCT_PATTERNS.items():
        assert patterns, gpu
        for pattern in patterns:
            key = re.sub(r"^(nvidia|amd)-", "", normalize_product(pattern))
            assert owner.setdefault(key, gpu) == gpu, (pattern, owner[key], gpu)
            # every listed string resolves to its own id through the public function
            assert match_gpu(pattern, None, DEFAULT_PRODUCT_PATTERNS) == gpu, pattern


def test_normalize_product() -> None:
    assert normalize_product("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"
    assert normalize_product("AMD_Instinct_MI300X_OAM") == "amd-instinct-mi300x-oam"
    assert normalize_product("NVIDIA-L40S-SHARED") == "nvidia-l40s"


# --------------------------------------------------------------------------------------------
# Property tests: nothing but InputError escapes, whatever the input
# --------------------------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
NODE_KEYS = st.sampled_from(
    [
        "kind",
        "items",
        "metadata",
        "name",
        "labels",
        "spec",
        "status",
        "taints",
        "unschedulable",
        "capacity",
        "allocatable",
        "conditions",
        "nvidia.com/gpu",
        "amd.com/gpu",
        "nvidia.com/gpu.count",
        "nvidia.com/gpu.product",
        "nvidia.com/gpu.memory",
        "amd.com/gpu.vram",
        "amd.com/gpu.product-name",
        "rdma/ib",
        "key",
        "effect",
        "type",
        "List",
        "Node",
        "8",
        "-1",
    ]
)
node_shaped = st.recursive(
    json_scalars | NODE_KEYS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(NODE_KEYS, children, max_size=5)
    ),
    max_leaves=30,
)
PROPERTY = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def only_input_errors(parse: Callable[[Any], object], data: object) -> None:
    try:
        parse(data)
    except InputError as exc:
        assert str(exc)


@PROPERTY
@given(json_values)
def test_parse_nodes_json_only_raises_input_error_on_any_json(data: object) -> None:
    only_input_errors(parse_nodes_json, data)


@PROPERTY
@given(node_shaped)
def test_parse_nodes_json_only_raises_input_error_on_node_shaped_data(data: object) -> None:
    only_input_errors(parse_nodes_json, data)
    only_input_errors(parse_nodes_json, {"kind": "List", "items": [data]})


def _paths(value: object, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


MIXED = load("nodes-mixed.json")
MIXED_PATHS = [p for p in _paths(MIXED) if p]


@PROPERTY
@given(st.sampled_from(MIXED_PATHS), json_values)
def test_parse_nodes_json_survives_any_single_corruption_of_a_real_list(
    where: tuple[str | int, ...], value: object
) -> None:
    doc = copy.deepcopy(MIXED)
    target: Any = doc
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    only_input_errors(parse_nodes_json, doc)


@PROPERTY
@given(st.text(max_size=200))
def test_smi_parsers_only_raise_input_error_on_any_text(text: str) -> None:
    only_input_errors(parse_nvidia_smi_csv, text)
    only_input_errors(parse_rocm_smi_json, text)
    only_input_errors(parse_amd_smi_static_json, text)


@PROPERTY
@given(json_values)
def test_amd_parsers_only_raise_input_error_on_any_json(data: object) -> None:
    only_input_errors(parse_rocm_smi_json, data)
    only_input_errors(parse_rocm_smi_json, {"card0": data})
    only_input_errors(parse_amd_smi_static_json, data)
    only_input_errors(parse_amd_smi_static_json, [{"asic": {"market_name": "X"}, "vram": data}])


@PROPERTY
@given(st.text(max_size=40), st.none() | st.integers(min_value=0, max_value=10**7))
def test_match_gpu_never_raises(product: str, memory: int | None) -> None:
    result = match_gpu(product, memory, DEFAULT_PRODUCT_PATTERNS)
    assert result is None or result in CATALOG_IDS
