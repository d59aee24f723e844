"""The inventory's result types: GPUs seen on a host, node taints, node pools, a node list."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Vendor = Literal["nvidia", "amd"]
TaintEffect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


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
