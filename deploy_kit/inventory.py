"""Pure parsers that turn GPU inventories into pools of identical nodes.

Inputs this module understands (all parsed from text or already-decoded JSON; nothing here
talks to a cluster, a container engine or a GPU):

* ``kubectl get nodes -o json`` (a ``List``/``NodeList`` with ``items``, or a single ``Node``)
  labelled by NVIDIA GPU Feature Discovery (``nvidia.com/gpu.*``), the AMD GPU node labeller
  (``amd.com/gpu.*``) or GKE (``cloud.google.com/gke-accelerator``);
* ``nvidia-smi --query-gpu=index,name,memory.total,compute_cap --format=csv,noheader,nounits``
  (the header form and the ``81559 MiB`` unit form are accepted too);
* ``rocm-smi --showproductname --showmeminfo vram --json`` and ``amd-smi static --json``.

Every malformed input raises :class:`deploy_kit.errors.InputError` whose message starts with the
JSON path (``$.items[2].metadata.labels["nvidia.com/gpu.count"]``) or the line number of the
offending value; no parser lets a ``KeyError``/``TypeError``/``ValueError`` escape.

:func:`match_gpu` maps a reported product string onto a catalog GPU id using a caller-supplied
table; :data:`DEFAULT_PRODUCT_PATTERNS` is the initial table, with the provenance of every value.
"""

from __future__ import annotations

import csv
import fnmatch
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from deploy_kit.errors import InputError

__all__ = [
    "DEFAULT_PRODUCT_PATTERNS",
    "GpuObservation",
    "NodeInventory",
    "NodePool",
    "Taint",
    "match_gpu",
    "normalize_product",
    "parse_amd_smi_static_json",
    "parse_nodes_inventory",
    "parse_nodes_json",
    "parse_nvidia_smi_csv",
    "parse_rocm_smi_json",
]

Vendor = Literal["nvidia", "amd"]
TaintEffect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]

# Bounds that separate a typo or a corrupted file from any real machine.
MAX_GPUS_PER_NODE: Final = 256
MAX_GPU_MEMORY_MIB: Final = 16 * 1024 * 1024  # 16 TiB per GPU
MAX_RESOURCE_COUNT: Final = 1_000_000  # rdma shared-device plugins advertise e.g. 63 or 1000
_MAX_INT_DIGITS: Final = 12

# --------------------------------------------------------------------------------------------
# Label and resource names
# --------------------------------------------------------------------------------------------

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

# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


class GpuObservation(BaseModel):
    """GPUs of one product seen on one host by ``nvidia-smi``, ``rocm-smi`` or ``amd-smi``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    product: str = Field(
        description="Product name exactly as the tool reported it, e.g. 'NVIDIA H100 80GB HBM3'."
    )
    vendor: Vendor = Field(description="GPU vendor: 'nvidia' or 'amd'.")
    memory_mib: int | None = Field(
        description=(
            "Memory per GPU in MiB as reported; None when the tool printed N/A (e.g. the GB10 "
            "in DGX Spark, whose memory is unified with the host)."
        ),
    )
    count: int = Field(ge=1, description="Number of GPUs of this product on the host.")
    compute_capability: str | None = Field(
        default=None, description="CUDA compute capability such as '9.0'; None if unknown."
    )
    gfx_version: str | None = Field(
        default=None, description="AMD GFX target such as 'gfx942'; None for NVIDIA or unknown."
    )


class Taint(BaseModel):
    """A Kubernetes node taint."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(description="Taint key, e.g. 'nvidia.com/gpu'.")
    value: str | None = Field(default=None, description="Taint value; None when unset.")
    effect: TaintEffect = Field(description="NoSchedule, PreferNoSchedule or NoExecute.")


class NodePool(BaseModel):
    """Nodes that share one pool name, GPU product, GPU count, GPU memory and NVLink clique."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(
        description=(
            "Pool name from the first pool label present (GKE node pool, EKS node group, "
            "Karpenter node pool, AKS agent pool, then instance type); when none is present, "
            "'<product>-x<gpus per node>'."
        )
    )
    pool_label: str | None = Field(
        description="Label key the name came from; None when the name was synthesised."
    )
    vendor: Vendor = Field(description="GPU vendor: 'nvidia' or 'amd'.")
    gpu_resource: str = Field(
        description="Extended resource a pod requests: 'nvidia.com/gpu' or 'amd.com/gpu'."
    )
    gpu_product: str | None = Field(
        description=(
            "Product label value, e.g. 'NVIDIA-H100-80GB-HBM3' or 'AMD_Instinct_MI300X_OAM'; "
            "for AMD nodes without a product label, the PCI device id such as '0x74b5'."
        )
    )
    product_label: str | None = Field(
        description="Label key gpu_product came from, e.g. 'nvidia.com/gpu.product'."
    )
    gpus_per_node: int = Field(
        ge=1,
        description=(
            "Physical GPUs per node: the nvidia.com/gpu.count label, else the node's GPU "
            "capacity, else its allocatable count."
        ),
    )
    memory_mib: int | None = Field(
        description=(
            "Memory per GPU in MiB from nvidia.com/gpu.memory, or amd.com/gpu.vram "
            "(reported in whole GiB, so approximate); None when unlabelled."
        )
    )
    compute_capability: str | None = Field(
        default=None, description="CUDA compute capability from GFD labels, e.g. '9.0'."
    )
    gpu_family: str | None = Field(
        default=None, description="Architecture family label, e.g. 'hopper', 'blackwell', 'AI'."
    )
    cuda_driver_major: int | None = Field(
        default=None, description="NVIDIA driver major version from nvidia.com/cuda.driver.major."
    )
    instance_type: str | None = Field(
        default=None, description="Cloud instance type label, e.g. 'p5.48xlarge'."
    )
    node_names: tuple[str, ...] = Field(
        description="Nodes that can take a GPU pod now: schedulable, Ready, all GPUs allocatable."
    )
    unschedulable_nodes: tuple[str, ...] = Field(
        default=(),
        description=(
            "Nodes of the same shape excluded from node_names: cordoned, not Ready, or with "
            "fewer allocatable GPUs than physical ones (see warnings for the reason)."
        ),
    )
    gpu_capacity: int | None = Field(
        default=None, description="status.capacity GPU count per node (smallest over the pool)."
    )
    gpu_allocatable: int | None = Field(
        default=None,
        description=(
            "status.allocatable GPU count per node (smallest over the pool); larger than "
            "gpus_per_node when GPUs are time-sliced (nvidia.com/gpu.replicas > 1)."
        ),
    )
    taints: tuple[Taint, ...] = Field(
        default=(),
        description="Union of the taints on the pool's nodes, without the cordon taint.",
    )
    gpu_clique: str | None = Field(
        default=None,
        description=(
            "nvidia.com/gpu.clique (multi-node NVLink domain, '<cluster uuid>.<clique id>'); "
            "nodes in different cliques are never pooled together."
        ),
    )
    rdma_resources: tuple[str, ...] = Field(
        default=(),
        description=(
            "Allocatable scale-out fabric resources present on every node, e.g. "
            "'rdma/rdma_shared_device_a', 'nvidia.com/hostdev', 'vpc.amazonaws.com/efa'."
        ),
    )
    warnings: tuple[str, ...] = Field(
        default=(), description="Anomalies found while pooling, one sentence each."
    )

    @property
    def node_count(self) -> int:
        """Usable nodes in the pool."""
        return len(self.node_names)

    @property
    def schedulable(self) -> bool:
        """True when at least one node of the pool can take a GPU pod now."""
        return bool(self.node_names)

    @property
    def total_gpus(self) -> int:
        """GPUs on the usable nodes."""
        return self.node_count * self.gpus_per_node


class NodeInventory(BaseModel):
    """Everything :func:`parse_nodes_inventory` learned from a node list."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pools: tuple[NodePool, ...] = Field(description="GPU node pools, sorted by name.")
    cpu_only_nodes: tuple[str, ...] = Field(
        default=(), description="Nodes with no GPU resource or GPU label (ignored for planning)."
    )
    total_nodes: int = Field(ge=0, description="Nodes in the input.")
    warnings: tuple[str, ...] = Field(
        default=(), description="Nodes that carry GPU labels but could not be pooled, and why."
    )


# --------------------------------------------------------------------------------------------
# Small validated accessors; every failure names the JSON path
# --------------------------------------------------------------------------------------------

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DIGITS = re.compile(r"^[0-9]+$")


def _key_path(path: str, key: str) -> str:
    return f"{path}.{key}" if _IDENT.match(key) else f"{path}[{json.dumps(key)}]"


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _fail(path: str, message: str, hint: str | None = None) -> InputError:
    return InputError(f"{path}: {message}", hint=hint)


def _as_object(value: object, path: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise _fail(path, f"expected an object, got {_type_name(value)}")
    for key in value:
        if not isinstance(key, str):
            raise _fail(path, f"object keys must be strings, got {_type_name(key)}")
    return value


def _as_list(value: object, path: str) -> list[object]:
    if not isinstance(value, list):
        raise _fail(path, f"expected an array, got {_type_name(value)}")
    return value


def _as_str(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise _fail(path, f"expected a string, got {_type_name(value)}")
    return value


def _opt_object(obj: Mapping[str, object], key: str, path: str) -> dict[str, object]:
    value = obj.get(key)
    if value is None:
        return {}
    return _as_object(value, _key_path(path, key))


def _str_map(obj: Mapping[str, object], key: str, path: str) -> dict[str, str]:
    """A map of string to string such as metadata.labels (missing or null -> empty)."""
    here = _key_path(path, key)
    raw = _opt_object(obj, key, path)
    return {k: _as_str(v, _key_path(here, k)) for k, v in raw.items()}


def _parse_int(value: object, path: str, *, maximum: int, what: str) -> int:
    """A non-negative integer given as a JSON integer or a decimal string."""
    if isinstance(value, bool):
        raise _fail(path, f"{what} must be an integer, got boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if text.startswith("-") and _DIGITS.match(text[1:]):
            raise _fail(path, f"{what} must not be negative, got {value!r}")
        if not _DIGITS.match(text):
            raise _fail(path, f"{what} must be a whole number, got {value!r}")
        if len(text) > _MAX_INT_DIGITS:
            raise _fail(path, f"{what} is implausibly large ({len(text)} digits)")
        number = int(text)
    else:
        raise _fail(path, f"{what} must be an integer, got {_type_name(value)}")
    if number < 0:
        raise _fail(path, f"{what} must not be negative, got {number}")
    if number > maximum:
        raise _fail(path, f"{what} is implausibly large: {number} (limit {maximum})")
    return number


def _quantity_map(obj: Mapping[str, object], key: str, path: str) -> dict[str, object]:
    """status.capacity / status.allocatable: values must be quantity strings (or integers)."""
    here = _key_path(path, key)
    raw = _opt_object(obj, key, path)
    for name, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise _fail(
                _key_path(here, name), f"expected a quantity string, got {_type_name(value)}"
            )
    return raw


# --------------------------------------------------------------------------------------------
# kubectl get nodes -o json
# --------------------------------------------------------------------------------------------


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


def _load_json_text(data: str | bytes, what: str) -> object:
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"$: {what} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise InputError(f"$: {what} is not valid JSON ({exc})") from None


def _node_items(data: object) -> list[tuple[str, object]]:
    if isinstance(data, str | bytes):
        data = _load_json_text(data, "the node list")
    top = _as_object(data, "$")
    kind = top.get("kind")
    if kind is not None and not isinstance(kind, str):
        raise _fail("$.kind", f"expected a string, got {_type_name(kind)}")
    if kind == "Node" or ("items" not in top and "metadata" in top):
        return [("$", top)]
    if "items" not in top:
        raise _fail(
            "$",
            "not a node list: expected 'items' (kubectl get nodes -o json) or a single Node",
            hint="run: kubectl get nodes -o json > nodes.json",
        )
    if kind not in (None, "List", "NodeList"):
        raise _fail("$.kind", f"expected 'List', 'NodeList' or 'Node', got {kind!r}")
    items = _as_list(top["items"], "$.items")
    return [(f"$.items[{i}]", item) for i, item in enumerate(items)]


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
    return _parse_int(labels[key], _key_path(labels_path, key), maximum=maximum, what=what)


def _resource_count(
    resources: Mapping[str, object], name: str, path: str, *, maximum: int
) -> int | None:
    if name not in resources:
        return None
    return _parse_int(resources[name], _key_path(path, name), maximum=maximum, what=name)


def _parse_taints(spec: Mapping[str, object], spec_path: str) -> tuple[Taint, ...]:
    raw = spec.get("taints")
    if raw is None:
        return ()
    path = _key_path(spec_path, "taints")
    taints: list[Taint] = []
    for i, entry in enumerate(_as_list(raw, path)):
        here = f"{path}[{i}]"
        obj = _as_object(entry, here)
        key = _as_str(obj.get("key"), _key_path(here, "key"))
        if not key:
            raise _fail(_key_path(here, "key"), "taint key must not be empty")
        value_raw = obj.get("value")
        value = None if value_raw is None else _as_str(value_raw, _key_path(here, "value"))
        effect = _as_str(obj.get("effect"), _key_path(here, "effect"))
        if effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            raise _fail(
                _key_path(here, "effect"),
                f"expected NoSchedule, PreferNoSchedule or NoExecute, got {effect!r}",
            )
        taints.append(Taint(key=key, value=value or None, effect=effect))
    return tuple(taints)


def _ready(status: Mapping[str, object], status_path: str) -> bool:
    raw = status.get("conditions")
    if raw is None:
        return True  # hand-written inventories often omit conditions
    path = _key_path(status_path, "conditions")
    for i, entry in enumerate(_as_list(raw, path)):
        here = f"{path}[{i}]"
        obj = _as_object(entry, here)
        ctype = _as_str(obj.get("type"), _key_path(here, "type"))
        if ctype == "Ready":
            return _as_str(obj.get("status"), _key_path(here, "status")) == "True"
    return True


def _amd_vram_mib(labels: Mapping[str, str], labels_path: str) -> int | None:
    found = _first_label(labels, _AMD_VRAM)
    if found is None:
        return None
    key, value = found
    match = re.fullmatch(r"([0-9]{1,6})\s*(G|Gi|GB|GiB)", value)
    if match is None:
        raise _fail(_key_path(labels_path, key), f"expected a size like '192G', got {value!r}")
    mib = int(match.group(1)) * 1024
    if mib > MAX_GPU_MEMORY_MIB:
        raise _fail(_key_path(labels_path, key), f"GPU memory is implausibly large: {value!r}")
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
    node = _as_object(item, path)
    item_kind = node.get("kind", "Node")
    if item_kind != "Node":
        shown = repr(item_kind) if isinstance(item_kind, str) else _type_name(item_kind)
        raise _fail(_key_path(path, "kind"), f"expected a Node, got {shown}")
    meta_path = _key_path(path, "metadata")
    meta = _as_object(node.get("metadata"), meta_path)
    name = _as_str(meta.get("name"), _key_path(meta_path, "name")).strip()
    if not name:
        raise _fail(_key_path(meta_path, "name"), "node name must not be empty")
    labels_path = _key_path(meta_path, "labels")
    labels = _str_map(meta, "labels", meta_path)

    spec_path = _key_path(path, "spec")
    spec = _opt_object(node, "spec", path)
    unschedulable_raw = spec.get("unschedulable", False)
    if unschedulable_raw is None:
        unschedulable_raw = False
    if not isinstance(unschedulable_raw, bool):
        raise _fail(
            _key_path(spec_path, "unschedulable"),
            f"expected a boolean, got {_type_name(unschedulable_raw)}",
        )
    taints = _parse_taints(spec, spec_path)

    status_path = _key_path(path, "status")
    status = _opt_object(node, "status", path)
    capacity_path = _key_path(status_path, "capacity")
    allocatable_path = _key_path(status_path, "allocatable")
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
            raise _fail(
                _key_path(_key_path(path, "metadata"), "name"),
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


# --------------------------------------------------------------------------------------------
# nvidia-smi
# --------------------------------------------------------------------------------------------

_NVSMI_QUERY = (
    "nvidia-smi --query-gpu=index,name,memory.total,compute_cap --format=csv,noheader,nounits"
)
_NA_VALUES: Final = frozenset({"[n/a]", "n/a", "[not supported]", "not supported", ""})
_NVSMI_COLUMNS: Final = ("index", "name", "memory.total", "compute_cap")


def _smi_memory(text: str, where: str) -> int | None:
    value = text.strip()
    if value.lower() in _NA_VALUES:
        return None
    match = re.fullmatch(r"([0-9]{1,9})(?:\s*MiB)?", value)
    if match is None:
        raise InputError(
            f"{where}: memory.total must be MiB like '81559' or '81559 MiB', got {text.strip()!r}"
        )
    mib = int(match.group(1))
    if mib > MAX_GPU_MEMORY_MIB:
        raise InputError(f"{where}: memory.total is implausibly large: {mib} MiB")
    return mib or None


def _smi_compute_cap(text: str, where: str) -> str | None:
    value = text.strip()
    if value.lower() in _NA_VALUES:
        return None
    if re.fullmatch(r"[0-9]{1,2}\.[0-9]{1,2}", value) is None:
        raise InputError(f"{where}: compute_cap must look like '9.0', got {value!r}")
    return value


def _group(
    rows: Iterable[tuple[str, int | None, str | None, str | None]], vendor: Vendor
) -> list[GpuObservation]:
    counts: Counter[tuple[str, int | None, str | None, str | None]] = Counter()
    order: list[tuple[str, int | None, str | None, str | None]] = []
    for row in rows:
        if row not in counts:
            order.append(row)
        counts[row] += 1
    return [
        GpuObservation(
            product=product,
            vendor=vendor,
            memory_mib=memory,
            count=counts[(product, memory, cc, gfx)],
            compute_capability=cc,
            gfx_version=gfx,
        )
        for product, memory, cc, gfx in order
    ]


def parse_nvidia_smi_csv(text: str) -> list[GpuObservation]:
    """Parse ``nvidia-smi --query-gpu=index,name,memory.total,compute_cap --format=csv``.

    The ``noheader,nounits`` form is expected; a header line (any column order, ``name``
    required) and ``81559 MiB`` values are tolerated, and ``[N/A]`` memory (GB10 unified
    memory) becomes ``None``. Returns one observation per distinct (name, memory, compute
    capability) with its count, in first-seen order.
    """
    if not isinstance(text, str):
        raise InputError(f"nvidia-smi output: expected text, got {_type_name(text)}")
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise InputError("nvidia-smi output is empty", hint=f"run: {_NVSMI_QUERY}")
    if lines[0][1].strip().lower().startswith("no devices were found"):
        raise InputError("nvidia-smi found no GPUs on this host")
    columns: tuple[str, ...] = _NVSMI_COLUMNS
    first_line = lines[0][1].lower()
    if "name" in first_line and ("memory.total" in first_line or "index" in first_line):
        header = [re.sub(r"\s*\[.*\]\s*$", "", c.strip()).lower() for c in lines[0][1].split(",")]
        if "name" not in header or len(set(header)) != len(header):
            raise InputError(f"line {lines[0][0]}: unusable nvidia-smi header {lines[0][1]!r}")
        columns = tuple(header)
        lines = lines[1:]
    rows: list[tuple[str, int | None, str | None, str | None]] = []
    indices: set[str] = set()
    for number, line in lines:
        where = f"line {number}"
        try:
            cells = next(csv.reader([line], skipinitialspace=True))
        except csv.Error as exc:
            raise InputError(f"{where}: not CSV ({exc})") from None
        if len(cells) != len(columns):
            raise InputError(
                f"{where}: expected {len(columns)} comma-separated values "
                f"({', '.join(columns)}), got {len(cells)}: {line.strip()!r}",
                hint=f"run: {_NVSMI_QUERY}",
            )
        record = dict(zip(columns, (c.strip() for c in cells), strict=True))
        name = record["name"]
        if not name or name.lower() in _NA_VALUES:
            raise InputError(f"{where}: empty GPU name")
        if "index" in record:
            if not _DIGITS.match(record["index"]) or len(record["index"]) > 4:
                raise InputError(
                    f"{where}: index must be a small whole number, got {record['index']!r}"
                )
            if record["index"] in indices:
                raise InputError(f"{where}: GPU index {record['index']} appears twice")
            indices.add(record["index"])
        memory = _smi_memory(record["memory.total"], where) if "memory.total" in record else None
        cc = _smi_compute_cap(record["compute_cap"], where) if "compute_cap" in record else None
        rows.append((name, memory, cc, None))
    if not rows:
        raise InputError("nvidia-smi output has a header but no GPU rows")
    return _group(rows, "nvidia")


# --------------------------------------------------------------------------------------------
# rocm-smi / amd-smi
# --------------------------------------------------------------------------------------------

_MIB = 1024 * 1024


def _decode(text: object, what: str) -> object:
    if isinstance(text, str | bytes):
        return _load_json_text(text, what)
    return text


def _lookup(obj: Mapping[str, object], *names: str) -> tuple[str, object] | None:
    """Case-insensitive key lookup (rocm-smi spelled 'Card series' before 'Card Series')."""
    lowered = {k.lower(): k for k in obj}
    for name in names:
        key = lowered.get(name.lower())
        if key is not None:
            return key, obj[key]
    return None


def _present(value: str) -> bool:
    return value.strip().lower() not in _NA_VALUES


def parse_rocm_smi_json(text: str | bytes | object) -> list[GpuObservation]:
    """Parse ``rocm-smi --showproductname --showmeminfo vram --json``.

    The output is an object keyed ``card0``, ``card1``...; other keys (``system``) are ignored.
    The product comes from ``Card Series`` (falling back to ``Device Name`` then ``Card
    Model``), memory from ``VRAM Total Memory (B)``, the GFX target from ``GFX Version``.
    """
    top = _as_object(_decode(text, "rocm-smi output"), "$")
    cards = [(k, v) for k, v in top.items() if re.fullmatch(r"card[0-9]+", k)]
    if not cards:
        raise _fail(
            "$",
            "no 'cardN' entries in rocm-smi output",
            hint="run: rocm-smi --showproductname --showmeminfo vram --json",
        )
    rows: list[tuple[str, int | None, str | None, str | None]] = []
    for key, raw in cards:
        path = _key_path("$", key)
        card = _as_object(raw, path)
        product: str | None = None
        for name in ("Card Series", "Device Name", "Card Model"):
            found = _lookup(card, name)
            if found is not None:
                value = _as_str(found[1], _key_path(path, found[0])).strip()
                if _present(value):
                    product = value
                    break
        if product is None:
            raise _fail(
                path,
                "no product name ('Card Series') for this card",
                hint="include --showproductname",
            )
        memory: int | None = None
        found = _lookup(card, "VRAM Total Memory (B)")
        if found is not None:
            mem_path = _key_path(path, found[0])
            value = _as_str(found[1], mem_path).strip()
            if _present(value):
                size = _parse_int(
                    value, mem_path, maximum=MAX_GPU_MEMORY_MIB * _MIB, what="VRAM bytes"
                )
                memory = size // _MIB or None
        gfx: str | None = None
        found = _lookup(card, "GFX Version")
        if found is not None:
            value = _as_str(found[1], _key_path(path, found[0])).strip()
            gfx = value if _present(value) else None
        rows.append((product, memory, None, gfx))
    return _group(rows, "amd")


_UNIT_MIB: Final = {
    "b": 1 / _MIB,
    "kb": 1 / 1024,
    "kib": 1 / 1024,
    "mb": 1,  # amd-smi prints MiB and calls them MB (196592 MB on a 192 GiB MI300X)
    "mib": 1,
    "gb": 1024,
    "gib": 1024,
}


def _amd_smi_size(value: object, path: str) -> int | None:
    """vram.size as {'value': 196592, 'unit': 'MB'}, '196592 MB' or a bare MiB number."""
    number: object
    unit: str
    if isinstance(value, dict):
        obj = _as_object(value, path)
        number = obj.get("value")
        unit_raw = obj.get("unit", "MB")
        unit = _as_str(unit_raw, _key_path(path, "unit")).strip().lower()
        if isinstance(number, str) and not _present(number):
            return None
    elif isinstance(value, str):
        if not _present(value):
            return None
        match = re.fullmatch(r"\s*([0-9]{1,15})\s*([A-Za-z]*)\s*", value)
        if match is None:
            raise _fail(path, f"expected a size like '196592 MB', got {value!r}")
        number, unit = match.group(1), (match.group(2) or "MB").lower()
    else:
        number, unit = value, "mb"
    if unit not in _UNIT_MIB:
        raise _fail(path, f"unknown size unit {unit!r}")
    amount = _parse_int(number, path, maximum=MAX_GPU_MEMORY_MIB * _MIB, what="VRAM size")
    mib = int(amount * _UNIT_MIB[unit])
    if mib > MAX_GPU_MEMORY_MIB:
        raise _fail(path, f"VRAM size is implausibly large: {amount} {unit}")
    return mib or None


def parse_amd_smi_static_json(text: str | bytes | object) -> list[GpuObservation]:
    """Parse ``amd-smi static --json`` (a list of GPUs, or ``{"gpu_data": [...]}``).

    The product comes from ``asic.market_name`` (falling back to ``board.product_name`` and
    then ``asic.device_id``), memory from ``vram.size``, the GFX target from
    ``asic.target_graphics_version``.
    """
    top = _decode(text, "amd-smi output")
    path = "$"
    if isinstance(top, dict) and "gpu_data" in top:
        top, path = top["gpu_data"], "$.gpu_data"
    gpus = _as_list(top, path)
    if not gpus:
        raise _fail(path, "amd-smi reported no GPUs")
    rows: list[tuple[str, int | None, str | None, str | None]] = []
    for i, raw in enumerate(gpus):
        here = f"{path}[{i}]"
        gpu = _as_object(raw, here)
        asic = _opt_object(gpu, "asic", here)
        board = _opt_object(gpu, "board", here)
        vram = _opt_object(gpu, "vram", here)
        product: str | None = None
        for obj, section, key in (
            (asic, "asic", "market_name"),
            (board, "board", "product_name"),
            (asic, "asic", "device_id"),
        ):
            if key in obj:
                value = _as_str(obj[key], _key_path(_key_path(here, section), key)).strip()
                if _present(value):
                    product = value
                    break
        if product is None:
            raise _fail(
                _key_path(here, "asic"),
                "no market_name for this GPU",
                hint="run: amd-smi static --asic --vram --json",
            )
        memory: int | None = None
        vram_path = _key_path(here, "vram")
        for key in ("size", "vram_size"):
            if key in vram:
                memory = _amd_smi_size(vram[key], _key_path(vram_path, key))
                break
        gfx: str | None = None
        if "target_graphics_version" in asic:
            value = _as_str(
                asic["target_graphics_version"],
                _key_path(_key_path(here, "asic"), "target_graphics_version"),
            ).strip()
            gfx = value if _present(value) else None
        rows.append((product, memory, None, gfx))
    return _group(rows, "amd")


# --------------------------------------------------------------------------------------------
# Product -> catalog GPU id
# --------------------------------------------------------------------------------------------


def normalize_product(product: str) -> str:
    """Lower-case, runs of spaces/underscores/dashes to one dash, GFD '-SHARED' suffix dropped.

    ``'NVIDIA H100 80GB HBM3'``, ``'NVIDIA-H100-80GB-HBM3'`` and ``'nvidia_h100_80gb_hbm3'``
    all normalise to ``'nvidia-h100-80gb-hbm3'``.
    """
    norm = re.sub(r"[\s_\-]+", "-", product.strip().lower()).strip("-")
    return re.sub(r"-shared$", "", norm)


def _strip_vendor(norm: str) -> str:
    for prefix in ("nvidia-", "amd-"):
        if norm.startswith(prefix):
            return norm[len(prefix) :]
    return norm


def _matches(candidate: str, pattern: str) -> bool:
    if any(ch in pattern for ch in "*?"):
        glob = re.sub(r"\[", "[[]", pattern)  # products such as 'X [Instinct MI100]'
        return fnmatch.fnmatchcase(candidate, glob) or fnmatch.fnmatchcase(
            _strip_vendor(candidate), _strip_vendor(glob)
        )
    return candidate == pattern or _strip_vendor(candidate) == _strip_vendor(pattern)


def _memory_fits(gpu_id: str, memory_mib: int) -> bool:
    size = re.search(r"([0-9]+)gb", gpu_id)
    if size is None:
        return False
    expected = int(size.group(1)) * 1024
    return abs(memory_mib - expected) <= expected * 0.1


def match_gpu(
    product: str, memory_mib: int | None, table: Mapping[str, Sequence[str]]
) -> str | None:
    """Map a reported GPU product onto a catalog GPU id, or None when it is unknown.

    ``product`` may be a Kubernetes label value (``NVIDIA-H100-80GB-HBM3``,
    ``AMD_Instinct_MI300X_OAM``, ``nvidia-h200-141gb``) or a tool's name
    (``NVIDIA H100 80GB HBM3``, ``AMD Instinct MI300X``); text in square brackets, as in old
    rocm-smi names (``Aqua Vanjaram [Instinct MI300X OAM]``), is tried as well. ``table`` maps a
    GPU id to known product strings; comparison uses :func:`normalize_product`, ignores a leading
    'NVIDIA'/'AMD', and a pattern holding ``*`` or ``?`` is a glob. When several ids match, the
    one whose id names a size (``a100-80gb``) within 10% of ``memory_mib`` wins; if that does not
    single one out, the result is None rather than a guess.
    """
    if not isinstance(product, str) or not product.strip():
        return None
    candidates = [normalize_product(product)]
    candidates += [normalize_product(inner) for inner in re.findall(r"\[([^\]]+)\]", product)]
    hits: list[str] = []
    for gpu_id, patterns in table.items():
        plist = [patterns] if isinstance(patterns, str) else list(patterns)
        normalized = [normalize_product(p) for p in plist if isinstance(p, str) and p.strip()]
        if any(_matches(c, p) for c in candidates for p in normalized):
            hits.append(gpu_id)
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1 and memory_mib is not None:
        sized = [h for h in hits if _memory_fits(h, memory_mib)]
        if len(sized) == 1:
            return sized[0]
    return None


# Known product strings per catalog GPU id. Kubernetes label values come from NVIDIA GPU Feature
# Discovery, which derives nvidia.com/gpu.product from the NVML device name by replacing spaces
# with dashes (NVIDIA/k8s-device-plugin internal/lm/resource.go, productLabel), so the nvidia-smi
# name and the label normalise to the same string; both spellings are listed where both were seen.
# Sources are public GitHub issues/code found with the search tool; "(GFD rule)" marks a label
# derived from a verified nvidia-smi name by that rule rather than seen verbatim.
DEFAULT_PRODUCT_PATTERNS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        # nvidia-smi "NVIDIA A100-SXM4-80GB, 81920 MiB" and "NVIDIA A100 80GB PCIe, 81920 MiB"
        # (many public logs, e.g. unsloth remote-probe tests); labels NVIDIA-A100-SXM4-80GB and
        # NVIDIA-A100-80GB-PCIe (NRP Nautilus GPU-type lists); GKE accelerator nvidia-a100-80gb
        # (Vertex AI AcceleratorType NVIDIA_A100_80GB). The PCIe card shares the 80 GB size.
        "a100-80gb": (
            "NVIDIA-A100-SXM4-80GB",
            "NVIDIA A100-SXM4-80GB",
            "NVIDIA-A100-80GB-PCIe",
            "NVIDIA A100 80GB PCIe",
            "nvidia-a100-80gb",
        ),
        # nvidia-smi "NVIDIA A100-SXM4-40GB, 40960 MiB"; label NVIDIA-A100-PCIE-40GB (public
        # kubectl label patches and NRP lists); GKE A2 accelerator nvidia-tesla-a100 (40 GB).
        "a100-40gb": (
            "NVIDIA-A100-SXM4-40GB",
            "NVIDIA A100-SXM4-40GB",
            "NVIDIA-A100-PCIE-40GB",
            "NVIDIA A100-PCIE-40GB",
            "nvidia-tesla-a100",
        ),
        # nvidia-smi "NVIDIA L40S, 46068 MiB" (AWS g6e logs); label NVIDIA-L40S (GFD rule, also
        # in public VRAM lookup tables).
        "l40s": ("NVIDIA-L40S", "NVIDIA L40S"),
        # Label NVIDIA-H100-80GB-HBM3 with gpu.memory=81559 (NVIDIA/k8s-device-plugin#1501, a
        # PowerEdge-XE9680); nvidia-smi "NVIDIA H100 80GB HBM3, 81559 MiB"; GKE A3 accelerators
        # nvidia-h100-80gb and nvidia-h100-mega-80gb (Vertex AI AcceleratorType enum).
        "h100-sxm": (
            "NVIDIA-H100-80GB-HBM3",
            "NVIDIA H100 80GB HBM3",
            "nvidia-h100-80gb",
            "nvidia-h100-mega-80gb",
        ),
        # Label NVIDIA-H100-PCIe (NRP cluster GPU-status tables; MIG variant
        # NVIDIA-H100-PCIe-MIG-2g.20gb in public Helm values). H100 NVL (NVIDIA-H100-NVL,
        # 95830 MiB, 94 GB HBM3) is deliberately absent: it is neither the 80 GB PCIe card nor
        # SXM, so it resolves to None and the caller builds it from its memory label.
        "h100-pcie": ("NVIDIA-H100-PCIe", "NVIDIA H100 PCIe"),
        # nvidia-smi "NVIDIA H20, 97871 MiB" (AIBrix and other public run logs); label
        # NVIDIA-H20 (GFD rule). "NVIDIA H20-3e" (141 GB) normalises differently and stays None.
        "h20": ("NVIDIA-H20", "NVIDIA H20"),
        # Label NVIDIA-H200 (ai-dynamo recipes, l8k presets, kubectl -l examples); nvidia-smi
        # "NVIDIA H200, 143771 MiB"; H200 NVL PCIe card NVIDIA-H200-NVL (NRP node lists; same
        # 141 GB HBM3e and 4.8 TB/s); GKE A3 Ultra accelerator nvidia-h200-141gb.
        "h200": (
            "NVIDIA-H200",
            "NVIDIA H200",
            "NVIDIA-H200-NVL",
            "NVIDIA H200 NVL",
            "nvidia-h200-141gb",
        ),
        # Label NVIDIA-GH200-480GB (NRP node lists, kubectl label examples); nvidia-smi
        # "NVIDIA GH200 480GB, 97871 MiB" (96 GB HBM3) and "NVIDIA GH200 144G HBM3e, 146831 MiB";
        # "NVIDIA GH200 120GB" from the NVIDIA driver's supported-device list.
        "gh200": (
            "NVIDIA-GH200-480GB",
            "NVIDIA GH200 480GB",
            "NVIDIA-GH200-144G-HBM3e",
            "NVIDIA GH200 144G HBM3e",
            "NVIDIA-GH200-120GB",
        ),
        # Label NVIDIA-B200 (ai-dynamo DeepSeek-V4 recipes, Baseten b10-gpu docs); nvidia-smi
        # "NVIDIA B200, 183359 MiB"; GKE A4 accelerator nvidia-b200 (same normalised string).
        "b200": ("NVIDIA-B200", "NVIDIA B200", "nvidia-b200"),
        # Label NVIDIA-GB200 with gpu.memory=189471, 4 GPUs per tray (public GB200 lab write-up
        # of kubectl custom-columns output); nvidia-smi "NVIDIA GB200, 189471 MiB"; GKE A4X
        # accelerator nvidia-gb200.
        "gb200": ("NVIDIA-GB200", "NVIDIA GB200", "nvidia-gb200"),
        # nvidia-smi "NVIDIA B300 SXM6 AC, 275040 MiB"; label NVIDIA-B300-SXM6-AC (nodeSelectors
        # and node fixtures in public repos).
        "b300": ("NVIDIA-B300-SXM6-AC", "NVIDIA B300 SXM6 AC"),
        # Label NVIDIA-GB300 (l8k presets, GB300 cluster preflight output); nvidia-smi
        # "NVIDIA GB300, 284208 MiB" (NVL72 tray) and 256,703 MiB (DGX Station); GKE accelerator
        # nvidia-gb300.
        "gb300": ("NVIDIA-GB300", "NVIDIA GB300", "nvidia-gb300"),
        # nvidia-smi "NVIDIA RTX PRO 6000 Blackwell Server Edition, 97887 MiB", compute_cap 12.0;
        # label NVIDIA-RTX-PRO-6000-Blackwell-Server-Edition (GFD rule, public GPU_PRODUCTS
        # tables); GKE G4 accelerator nvidia-rtx-pro-6000. Workstation and Max-Q editions are
        # not listed: different clocks and power than the server card the catalog describes.
        "rtx-pro-6000": (
            "NVIDIA-RTX-PRO-6000-Blackwell-Server-Edition",
            "NVIDIA RTX PRO 6000 Blackwell Server Edition",
            "nvidia-rtx-pro-6000",
        ),
        # nvidia-smi "NVIDIA GB10, [N/A]" (DGX Spark: memory.total is N/A, unified memory;
        # compute_cap 12.1); label NVIDIA-GB10 (GFD rule).
        "gb10": ("NVIDIA-GB10", "NVIDIA GB10"),
        # rocm-smi/amd-smi "AMD Instinct MI300X" (Card Series, SKU M3000100, GFX gfx942, VRAM
        # 206141652992 B); label amd.com/gpu.product-name=AMD_Instinct_MI300X_OAM
        # (ROCm/k8s-device-plugin docs/user-guide/installation.md); Azure VMs report the VF
        # (device 0x74b5, "AMD Instinct MI300X VF") and their labeller sets no product name
        # (ROCm/k8s-device-plugin#112), so PCI ids from amdgpu.ids (74A1 MI300X, 74B5 VF,
        # 74A9/74BD HF) are listed too.
        "mi300x": (
            "AMD_Instinct_MI300X_OAM",
            "AMD Instinct MI300X",
            "AMD Instinct MI300X OAM",
            "AMD Instinct MI300X VF",
            "AMD Instinct MI300X HF",
            "0x74a1",
            "0x74b5",
            "0x74a9",
            "0x74bd",
        ),
        # Label AMD_Instinct_MI325_OAM (TensorFusion AMD cluster test script); market name
        # "AMD Instinct MI325X" and PCI id 74A5 (amdgpu.ids).
        "mi325x": (
            "AMD_Instinct_MI325_OAM",
            "AMD Instinct MI325 OAM",
            "AMD Instinct MI325X",
            "0x74a5",
        ),
        # Label amd.com/gpu.product-name=AMD_Instinct_MI355_OAM (public MI355X K3s cluster
        # notes); vLLM device name "AMD Instinct MI355 OAM"; market name "AMD Instinct MI355X".
        # "AMD Instinct MI350 OAM" is the MI350X and deliberately not listed.
        "mi355x": (
            "AMD_Instinct_MI355_OAM",
            "AMD Instinct MI355 OAM",
            "AMD Instinct MI355X",
        ),
    }
)
