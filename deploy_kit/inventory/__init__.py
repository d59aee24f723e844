"""Pure parsers that turn GPU inventories into pools of identical nodes.

Inputs this package understands (all parsed from text or already-decoded JSON; nothing here
talks to a cluster, a container engine or a GPU):

* ``kubectl get nodes -o json`` (a ``List``/``NodeList`` with ``items``, or a single ``Node``)
  labelled by NVIDIA GPU Feature Discovery (``nvidia.com/gpu.*``), the AMD GPU node labeller
  (``amd.com/gpu.*``) or GKE (``cloud.google.com/gke-accelerator``): :mod:`.nodes`;
* ``nvidia-smi --query-gpu=index,name,memory.total,compute_cap --format=csv,noheader,nounits``
  (the header form and the ``81559 MiB`` unit form are accepted too): :mod:`.smi`;
* ``rocm-smi --showproductname --showmeminfo vram --json`` and ``amd-smi static --json``:
  :mod:`.smi`.

Every malformed input raises :class:`deploy_kit.errors.InputError` whose message starts with the
JSON path (``$.items[2].metadata.labels["nvidia.com/gpu.count"]``) or the line number of the
offending value; no parser lets a ``KeyError``/``TypeError``/``ValueError`` escape.

:func:`match_gpu` maps a reported product string onto a catalog GPU id using a caller-supplied
table; :data:`DEFAULT_PRODUCT_PATTERNS` is the initial table, with the provenance of every value
(:mod:`.products`). The result types live in :mod:`.models`.
"""

from __future__ import annotations

from deploy_kit.inventory._parse import MAX_GPU_MEMORY_MIB as MAX_GPU_MEMORY_MIB
from deploy_kit.inventory._parse import MAX_GPUS_PER_NODE as MAX_GPUS_PER_NODE
from deploy_kit.inventory._parse import MAX_RESOURCE_COUNT as MAX_RESOURCE_COUNT
from deploy_kit.inventory.models import (
    GpuObservation,
    NodeInventory,
    NodePool,
    Taint,
)
from deploy_kit.inventory.models import TaintEffect as TaintEffect
from deploy_kit.inventory.models import Vendor as Vendor
from deploy_kit.inventory.nodes import AMD_GPU_RESOURCE as AMD_GPU_RESOURCE
from deploy_kit.inventory.nodes import INSTANCE_TYPE_LABELS as INSTANCE_TYPE_LABELS
from deploy_kit.inventory.nodes import NVIDIA_GPU_RESOURCE as NVIDIA_GPU_RESOURCE
from deploy_kit.inventory.nodes import POOL_LABELS as POOL_LABELS
from deploy_kit.inventory.nodes import parse_nodes_inventory, parse_nodes_json
from deploy_kit.inventory.products import DEFAULT_PRODUCT_PATTERNS, match_gpu, normalize_product
from deploy_kit.inventory.smi import (
    parse_amd_smi_static_json,
    parse_nvidia_smi_csv,
    parse_rocm_smi_json,
)

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
