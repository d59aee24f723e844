"""``kubectl get nodes -o json`` to pools of identical GPU nodes (GFD, AMD labeller, GKE labels)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from deploy_kit.inventory._parse import (
    MAX_GPU_MEMORY_MIB,
    MAX_GPUS_PER_NODE,
    MAX_RESOURCE_COUNT,
    as_list,
    as_object,
    as_str,
    fail,
    key_path,
    load_json,
    opt_object,
    parse_int,
    type_name,
)
from deploy_kit.inventory.models import NodeInventory, NodePool, Taint, Vendor

NVIDIA_GPU_RESOURCE: Final = "nvidia.com/gpu"
AMD_GPU_RESOURCE: Final = "amd.com/gpu"

# Pool-name labels, most specific first; the instance type is only a fallback.
POOL_LABELS: Final[tuple[str, ...]] = (
    "cloud.google.com/gke-nodepool",
    "eks.amazonaws.com/nodegroup",
    "karpenter.sh/nodepool",
    "kubernetes.azure.com/agentpool",
    "node.kubernetes.io/instance-type",
)
INSTANCE_TYPE_LABELS: Final[tuple[str, ...]] = (
    "node.kubernetes.io/instance-type",
    "beta.kubernetes.io/instance-type",
)

_NV_PRODUCT = "nvidia.com/gpu.product"
_NV_COUNT = "nvidia.com/gpu.count"
_NV_MEMORY = "nvidia.com/gpu.memory"
_NV_FAMILY = "nvidia.com/gpu.family"
_NV_REPLICAS = "nvidia.com/gpu.replicas"
_NV_PRESENT = "nvidia.com/gpu.present"
_NV_CC_MAJOR = "nvidia.com/gpu.compute.major"
_NV_CC_MINOR = "nvidia.com/gpu.compute.minor"
_NV_DRIVER_MAJOR = "nvidia.com/cuda.driver.major"
_NV_CLIQUE = "nvidia.com/gpu.clique"
_GKE_ACCELERATOR = "cloud.google.com/gke-accelerator"
_AMD_PRODUCT = ("amd.com/gpu.product-name", "beta.amd.com/gpu.product-name")
_AMD_DEVICE_ID = ("amd.com/gpu.device-id", "beta.amd.com/gpu.device-id")
_AMD_VRAM = ("amd.com/gpu.vram", "beta.amd.com/gpu.vram")
_AMD_FAMILY = ("amd.com/gpu.family", "beta.amd.com/gpu.family")
_CORDON_TAINT = "node.kubernetes.io/unschedulable"

# Allocatable resources that mean the node has a scale-out RDMA fabric (InfiniBand/RoCE/EFA).
_RDMA_RESOURCE_PREFIXES: Final[tuple[str, ...]] = ("rdma/",)
_RDMA_RESOURCE_NAMES: Final[frozenset[str]] = frozenset(
    {
        "nvidia.com/hostdev",  # NVIDIA Network Operator host-device network
        "vpc.amazonaws.com/efa",  # AWS Elastic Fabric Adapter device plugin
        "amd.com/nic",  # AMD network operator (Pollara/ionic RDMA NICs)
    }
)


def parse_nodes_inventory(data: object) -> NodeInventory:
    """Group the GPU nodes of ``kubectl get nodes -o json`` into pools of identical nodes.

    ``data`` is the decoded JSON (a ``List``/``NodeList`` with ``items`` or one ``Node``); the
    raw JSON text (``str``/``bytes``) is accepted too. Nodes are pooled by (pool name, vendor,
    product, GPUs per node, memory per GPU, NVLink clique). Nodes without GPUs are listed in
    ``cpu_only_nodes``. Raises :class:`InputError` naming the JSON path of the first malformed
    value.
    """
    entries = _node_items(data)
    groups: dict[tuple[object, ...], list[_NodeFacts]] = {}
    cpu_only: list[str] = []
    warnings: list[str] = []
    seen: dict[str, str] = {}
    for path, item in entries:
        unpooled: str | None = None
        try:
            name, facts = _node_facts(path, item)
        except _NoGpuCount as exc:
            name, facts, unpooled = exc.node, None, str(exc)
        if name in seen:
            raise fail(
                key_path(key_path(path, "metadata"), "name"),
                f"duplicate node name {name!r} (also at {seen[name]})",
            )
        seen[name] = path
        if unpooled is not None:
            warnings.append(unpooled)
            continue
        if facts is None:
            cpu_only.append(name)
            continue
        key = (
            facts.pool_name,
            facts.vendor,
            facts.product,
            facts.physical,
            facts.memory_mib,
            facts.clique,
        )
        groups.setdefault(key, []).append(facts)
    pools = sorted(
        (_build_pool(members) for members in groups.values()),
        key=lambda p: (p.name, p.gpu_product or "", p.gpus_per_node, p.gpu_clique or ""),
    )
    return NodeInventory(
        pools=tuple(pools),
        cpu_only_nodes=tuple(sorted(cpu_only)),
        total_nodes=len(entries),
        warnings=tuple(warnings),
    )


def parse_nodes_json(data: object) -> list[NodePool]:
    """The GPU node pools of ``kubectl get nodes -o json``; see :func:`parse_nodes_inventory`."""
    return list(parse_nodes_inventory(data).pools)


@dataclass
class _NodeFacts:
    """What one GPU node contributes to its pool."""

    name: str
    vendor: Vendor
    resource: str
    pool_name: str
    pool_label: str | None
    product: str | None
    product_label: str | None
    physical: int
    capacity: int | None
    allocatable: int | None
    memory_mib: int | None
    compute_capability: str | None
    family: str | None
    driver_major: int | None
    instance_type: str | None
    clique: str | None
    taints: tuple[Taint, ...]
    rdma: frozenset[str]
    excluded_because: str | None
    notes: list[str] = field(default_factory=list)


def _node_items(data: object) -> list[tuple[str, object]]:
    if isinstance(data, str | bytes):
        data = load_json(data, "the node list")
    top = as_object(data, "$")
    kind = top.get("kind")
    if kind is not None and not isinstance(kind, str):
        raise fail("$.kind", f"expected a string, got {type_name(kind)}")
    if kind == "Node" or ("items" not in top and "metadata" in top):
        return [("$", top)]
    if "items" not in top:
        raise fail(
            "$",
            "not a node list: expected 'items' (kubectl get nodes -o json) or a single Node",
            hint="run: kubectl get nodes -o json > nodes.json",
        )
    if kind not in (None, "List", "NodeList"):
        raise fail("$.kind", f"expected 'List', 'NodeList' or 'Node', got {kind!r}")
    items = as_list(top["items"], "$.items")
    return [(f"$.items[{i}]", item) for i, item in enumerate(items)]


def _str_map(obj: Mapping[str, object], key: str, path: str) -> dict[str, str]:
    """A map of string to string such as metadata.labels (missing or null -> empty)."""
    here = key_path(path, key)
    raw = opt_object(obj, key, path)
    return {k: as_str(v, key_path(here, k)) for k, v in raw.items()}


def _quantity_map(obj: Mapping[str, object], key: str, path: str) -> dict[str, object]:
    """status.capacity / status.allocatable: values must be quantity strings (or integers)."""
    here = key_path(path, key)
    raw = opt_object(obj, key, path)
    for name, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise fail(key_path(here, name), f"expected a quantity string, got {type_name(value)}")
    return raw


def _first_label(labels: Mapping[str, str], keys: Iterable[str]) -> tuple[str, str] | None:
    for key in keys:
        value = labels.get(key, "").strip()
        if value:
            return key, value
    return None


def _label_int(
    labels: Mapping[str, str], key: str, labels_path: str, *, maximum: int, what: str
) -> int | None:
    if key not in labels:
        return None
    return parse_int(labels[key], key_path(labels_path, key), maximum=maximum, what=what)


def _resource_count(
    resources: Mapping[str, object], name: str, path: str, *, maximum: int
) -> int | None:
    if name not in resources:
        return None
    return parse_int(resources[name], key_path(path, name), maximum=maximum, what=name)


def _parse_taints(spec: Mapping[str, object], spec_path: str) -> tuple[Taint, ...]:
    raw = spec.get("taints")
    if raw is None:
        return ()
    path = key_path(spec_path, "taints")
    taints: list[Taint] = []
    for i, entry in enumerate(as_list(raw, path)):
        here = f"{path}[{i}]"
        obj = as_object(entry, here)
        key = as_str(obj.get("key"), key_path(here, "key"))
        if not key:
            raise fail(key_path(here, "key"), "taint key must not be empty")
        value_raw = obj.get("value")
        value = None if value_raw is None else as_str(value_raw, key_path(here, "value"))
        effect = as_str(obj.get("effect"), key_path(here, "effect"))
        if effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            raise fail(
                key_path(here, "effect"),
                f"expected NoSchedule, PreferNoSchedule or NoExecute, got {effect!r}",
            )
        taints.append(Taint(key=key, value=value or None, effect=effect))
    return tuple(taints)


def _ready(status: Mapping[str, object], status_path: str) -> bool:
    raw = status.get("conditions")
    if raw is None:
        return True  # hand-written inventories often omit conditions
    path = key_path(status_path, "conditions")
    for i, entry in enumerate(as_list(raw, path)):
        here = f"{path}[{i}]"
        obj = as_object(entry, here)
        ctype = as_str(obj.get("type"), key_path(here, "type"))
        if ctype == "Ready":
            return as_str(obj.get("status"), key_path(here, "status")) == "True"
    return True


def _amd_vram_mib(labels: Mapping[str, str], labels_path: str) -> int | None:
    found = _first_label(labels, _AMD_VRAM)
    if found is None:
        return None
    key, value = found
    match = re.fullmatch(r"([0-9]{1,6})\s*(G|Gi|GB|GiB)", value)
    if match is None:
        raise fail(key_path(labels_path, key), f"expected a size like '192G', got {value!r}")
    mib = int(match.group(1)) * 1024
    if mib > MAX_GPU_MEMORY_MIB:
        raise fail(key_path(labels_path, key), f"GPU memory is implausibly large: {value!r}")
    return mib or None


def _amd_product(labels: Mapping[str, str]) -> tuple[str, str] | None:
    found = _first_label(labels, _AMD_PRODUCT)
    if found is not None:
        return found
    device = _first_label(labels, _AMD_DEVICE_ID)
    if device is None:
        return None
    key, value = device
    value = value.lower()
    return key, value if value.startswith("0x") else f"0x{value}"


def _node_facts(path: str, item: object) -> tuple[str, _NodeFacts | None]:
    """Validate one node: its name, and its GPU facts (None when it has no GPUs at all)."""
    node = as_object(item, path)
    item_kind = node.get("kind", "Node")
    if item_kind != "Node":
        shown = repr(item_kind) if isinstance(item_kind, str) else type_name(item_kind)
        raise fail(key_path(path, "kind"), f"expected a Node, got {shown}")
    meta_path = key_path(path, "metadata")
    meta = as_object(node.get("metadata"), meta_path)
    name = as_str(meta.get("name"), key_path(meta_path, "name")).strip()
    if not name:
        raise fail(key_path(meta_path, "name"), "node name must not be empty")
    labels_path = key_path(meta_path, "labels")
    labels = _str_map(meta, "labels", meta_path)

    spec_path = key_path(path, "spec")
    spec = opt_object(node, "spec", path)
    unschedulable_raw = spec.get("unschedulable", False)
    if unschedulable_raw is None:
        unschedulable_raw = False
    if not isinstance(unschedulable_raw, bool):
        raise fail(
            key_path(spec_path, "unschedulable"),
            f"expected a boolean, got {type_name(unschedulable_raw)}",
        )
    taints = _parse_taints(spec, spec_path)

    status_path = key_path(path, "status")
    status = opt_object(node, "status", path)
    capacity_path = key_path(status_path, "capacity")
    allocatable_path = key_path(status_path, "allocatable")
    capacity = _quantity_map(status, "capacity", status_path)
    allocatable = _quantity_map(status, "allocatable", status_path)
    ready = _ready(status, status_path)

    def count_of(resource: str) -> tuple[int | None, int | None]:
        return (
            _resource_count(capacity, resource, capacity_path, maximum=MAX_GPUS_PER_NODE),
            _resource_count(allocatable, resource, allocatable_path, maximum=MAX_GPUS_PER_NODE),
        )

    nv_cap, nv_alloc = count_of(NVIDIA_GPU_RESOURCE)
    amd_cap, amd_alloc = count_of(AMD_GPU_RESOURCE)
    nv_label_count = _label_int(
        labels, _NV_COUNT, labels_path, maximum=MAX_GPUS_PER_NODE, what="GPU count"
    )
    nv_present = (
        bool(nv_label_count or nv_cap or nv_alloc)
        or labels.get(_NV_PRESENT) == "true"
        or _NV_PRODUCT in labels
        or _GKE_ACCELERATOR in labels
    )
    amd_present = bool(amd_cap or amd_alloc) or _amd_product(labels) is not None

    notes: list[str] = []
    vendor: Vendor
    if nv_present:
        vendor = "nvidia"
        if amd_present:
            notes.append(f"node {name} has both NVIDIA and AMD GPUs; only the NVIDIA ones count")
    elif amd_present:
        vendor = "amd"
    else:
        return name, None

    memory: int | None
    clique: str | None = None
    compute_capability: str | None = None
    driver_major: int | None = None
    replicas = 1
    if vendor == "nvidia":
        resource = NVIDIA_GPU_RESOURCE
        cap, alloc, label_count = nv_cap, nv_alloc, nv_label_count
        product = _first_label(labels, (_NV_PRODUCT, _GKE_ACCELERATOR))
        memory = _label_int(
            labels, _NV_MEMORY, labels_path, maximum=MAX_GPU_MEMORY_MIB, what="GPU memory (MiB)"
        )
        family = labels.get(_NV_FAMILY) or None
        major = _label_int(labels, _NV_CC_MAJOR, labels_path, maximum=99, what="compute major")
        minor = _label_int(labels, _NV_CC_MINOR, labels_path, maximum=99, what="compute minor")
        if major is not None and major > 0:
            compute_capability = f"{major}.{minor or 0}"
        driver_major = _label_int(
            labels, _NV_DRIVER_MAJOR, labels_path, maximum=100_000, what="driver major"
        )
        replicas = (
            _label_int(labels, _NV_REPLICAS, labels_path, maximum=1024, what="GPU replicas") or 1
        )
        clique = labels.get(_NV_CLIQUE, "").strip() or None
    else:
        resource = AMD_GPU_RESOURCE
        cap, alloc, label_count = amd_cap, amd_alloc, None
        product = _amd_product(labels)
        memory = _amd_vram_mib(labels, labels_path)
        family_label = _first_label(labels, _AMD_FAMILY)
        family = family_label[1] if family_label else None

    physical = label_count or cap or alloc
    if not physical:
        shown = product[1] if product else resource
        raise _NoGpuCount(
            name,
            f"node {name} is labelled with {shown} but advertises no {resource} "
            "(device plugin not running, or every GPU partitioned with MIG?); it was left out",
        )

    excluded: str | None = None
    if unschedulable_raw:
        excluded = "cordoned (spec.unschedulable)"
    elif any(t.key == _CORDON_TAINT and t.effect != "PreferNoSchedule" for t in taints):
        excluded = f"cordoned ({_CORDON_TAINT} taint)"
    elif not ready:
        excluded = "not Ready"
    elif alloc is not None and alloc // replicas < physical:
        excluded = f"only {alloc // replicas} of {physical} GPUs allocatable"

    rdma: set[str] = set()
    for res_name in allocatable:
        if res_name.startswith(_RDMA_RESOURCE_PREFIXES) or res_name in _RDMA_RESOURCE_NAMES:
            count = _resource_count(
                allocatable, res_name, allocatable_path, maximum=MAX_RESOURCE_COUNT
            )
            if count:
                rdma.add(res_name)

    pool = _first_label(labels, POOL_LABELS)
    instance = _first_label(labels, INSTANCE_TYPE_LABELS)
    if pool is not None:
        pool_label, pool_name = pool
    else:
        pool_label = None
        pool_name = f"{product[1] if product else resource}-x{physical}"
    if replicas > 1:
        notes.append(
            f"node {name} time-slices each GPU {replicas} ways (nvidia.com/gpu.replicas); "
            "a vLLM pod needs whole GPUs"
        )
    if product is not None and "-MIG-" in product[1]:
        notes.append(f"node {name} exposes MIG slices ({product[1]}), not whole GPUs")

    return name, _NodeFacts(
        name=name,
        vendor=vendor,
        resource=resource,
        pool_name=pool_name,
        pool_label=pool_label,
        product=product[1] if product else None,
        product_label=product[0] if product else None,
        physical=physical,
        capacity=cap,
        allocatable=alloc,
        memory_mib=memory,
        compute_capability=compute_capability,
        family=family,
        driver_major=driver_major,
        instance_type=instance[1] if instance else None,
        clique=clique,
        taints=taints,
        rdma=frozenset(rdma),
        excluded_because=excluded,
        notes=notes,
    )


class _NoGpuCount(Exception):
    """A node has GPU labels but no GPU count; reported as an inventory warning."""

    def __init__(self, node: str, message: str) -> None:
        super().__init__(message)
        self.node = node


def _agreed(values: Iterable[object], what: str, pool: str, warnings: list[str]) -> object:
    distinct = sorted({v for v in values if v is not None}, key=str)
    if len(distinct) > 1:
        warnings.append(
            f"pool {pool}: nodes disagree on {what} ({', '.join(map(str, distinct))}); "
            f"using {distinct[0]}"
        )
    return distinct[0] if distinct else None


def _min_or_none(values: Iterable[int | None]) -> int | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _build_pool(members: list[_NodeFacts]) -> NodePool:
    members = sorted(members, key=lambda f: f.name)
    first = members[0]
    usable = [f for f in members if f.excluded_because is None]
    basis = usable or members
    warnings: list[str] = []
    for facts in members:
        if facts.excluded_because is not None:
            warnings.append(f"node {facts.name} excluded: {facts.excluded_because}")
        warnings.extend(facts.notes)

    taints = sorted(
        {t for f in basis for t in f.taints if t.key != _CORDON_TAINT},
        key=lambda t: (t.key, t.value or "", t.effect),
    )
    rdma = frozenset.intersection(*(f.rdma for f in basis)) if basis else frozenset()
    cc = _agreed(
        (f.compute_capability for f in basis), "compute capability", first.pool_name, warnings
    )
    family = _agreed((f.family for f in basis), "GPU family", first.pool_name, warnings)
    driver = _agreed((f.driver_major for f in basis), "driver major", first.pool_name, warnings)
    instance = _agreed((f.instance_type for f in basis), "instance type", first.pool_name, warnings)
    if first.memory_mib is None:
        warnings.append(
            f"pool {first.pool_name}: no GPU memory label; the GPU size must come from the catalog"
        )
    return NodePool(
        name=first.pool_name,
        pool_label=first.pool_label,
        vendor=first.vendor,
        gpu_resource=first.resource,
        gpu_product=first.product,
        product_label=first.product_label,
        gpus_per_node=first.physical,
        memory_mib=first.memory_mib,
        compute_capability=cc if isinstance(cc, str) else None,
        gpu_family=family if isinstance(family, str) else None,
        cuda_driver_major=driver if isinstance(driver, int) else None,
        instance_type=instance if isinstance(instance, str) else None,
        node_names=tuple(f.name for f in usable),
        unschedulable_nodes=tuple(f.name for f in members if f.excluded_because is not None),
        gpu_capacity=_min_or_none(f.capacity for f in basis),
        gpu_allocatable=_min_or_none(f.allocatable for f in basis),
        taints=tuple(taints),
        gpu_clique=first.clique,
        rdma_resources=tuple(sorted(rdma)),
        warnings=tuple(warnings),
    )
