"""A reported GPU (product, memory, architecture) as a catalog GPU or a custom GPU entry.

Shared by node pools and this machine's GPUs: both become a hardware profile the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from deploy_kit.catalog import Catalog
from deploy_kit.inventory import DEFAULT_PRODUCT_PATTERNS, match_gpu
from deploy_kit.spec import ArchName, GpuSpec, HardwareProfile, Network

# A label memory this far from the catalog figure means the product string matched the wrong
# entry (or a variant with another memory size); plan with the catalog figure but say so.
_MEMORY_TOLERANCE = 0.10
_MIB = 1024**2


def product_table(catalog: Catalog) -> dict[str, tuple[str, ...]]:
    """Known product strings per catalog GPU: the catalog's own labels, then the default table."""
    return {
        gid: (*gpu.k8s_product_labels, *DEFAULT_PRODUCT_PATTERNS.get(gid, ()))
        for gid, gpu in catalog.gpus.items()
    }


class ResolvedGpu(NamedTuple):
    """The `gpu` entry of a hardware file plus what the user should know about it."""

    entry: str | dict[str, Any]
    catalog_id: str | None
    short: str
    notes: list[str]


def resolve_gpu(
    catalog: Catalog,
    *,
    where: str,
    product: str | None,
    vendor: str,
    memory_mib: int | None,
    compute_capability: str | None,
    family: str | None,
    gfx: str | None,
    k8s_resource: str,
) -> ResolvedGpu | str:
    """A catalog GPU id or a custom GPU entry; a string is the reason none can be made."""
    if not product:
        return (
            f"{where}: GPUs carry no product label; install NVIDIA GPU Feature Discovery (GPU "
            "Operator) or the AMD node labeller, or write a hardware file by hand"
        )
    if "-MIG-" in product.upper():
        return f"{where}: {product} exposes MIG slices, not whole GPUs; vLLM needs whole GPUs"
    gid = match_gpu(product, memory_mib, product_table(catalog))
    if gid is not None:
        gpu = catalog.gpus[gid]
        notes: list[str] = []
        expected = gpu.usable_bytes / _MIB
        if memory_mib is not None and abs(memory_mib - expected) > expected * _MEMORY_TOLERANCE:
            notes.append(
                f"{where}: {product} reports {memory_mib} MiB per GPU but catalog GPU {gid} has "
                f"{expected:.0f} MiB; planning with the catalog figure (write a custom GPU in the "
                "profile file if the label is right)"
            )
        return ResolvedGpu(gid, gid, _short(gpu), notes)
    if memory_mib is None:
        return (
            f"{where}: unknown GPU {product!r} and no memory label; describe it as a custom GPU "
            "in a hardware file (memory, bandwidth_tbps, arch)"
        )
    arch = _arch_of(compute_capability, family, gfx)
    if arch is None:
        return (
            f"{where}: unknown GPU {product!r} of unknown architecture; describe it as a custom "
            "GPU in a hardware file (memory, bandwidth_tbps, arch)"
        )
    ref = _reference_gpu(catalog, vendor, arch, memory_mib)
    if ref is None:
        return (
            f"{where}: unknown GPU {product!r} ({arch}) and no catalog GPU of that architecture "
            "to borrow figures from; describe it in a hardware file"
        )
    name = product[:80]
    sm = compute_capability.replace(".", "") if compute_capability else ref.sm
    entry: dict[str, Any] = {
        "name": name,
        "memory": f"{memory_mib}MiB",
        "bandwidth_tbps": ref.bandwidth_tbps,
        "arch": arch,
        "vendor": vendor,
        "sm": sm if vendor == "nvidia" else None,
        "bf16_tflops": ref.bf16_tflops,
        "fp8": ref.fp8,
        "fp4": ref.fp4,
        "k8s_resource": k8s_resource,
        "gpu_hour_usd": ref.gpu_hour_usd,
    }
    note = (
        f"{where}: GPU {product!r} is not in the catalog; using a custom GPU with "
        f"{memory_mib} MiB from the labels and bandwidth, compute and price borrowed from "
        f"{ref.name} (same {arch} architecture, closest memory); correct them in the profile "
        "file if you know better"
    )
    return ResolvedGpu(entry, None, name.replace(" ", "-"), [note])


def build_profile(
    catalog: Catalog,
    gpu: ResolvedGpu,
    *,
    nodes: int,
    gpus_per_node: int,
    network: Network,
    origin: str,
) -> HardwareProfile:
    """`nodes` x `gpus_per_node` of the resolved GPU as a hardware profile."""
    data: dict[str, Any] = {
        "name": _profile_name(nodes, gpus_per_node, gpu.short),
        "gpu": gpu.entry,
        "gpus_per_node": gpus_per_node,
        "nodes": nodes,
    }
    if nodes > 1:
        data["network"] = network
    # Through the hardware-file loader, so the profile equals what its YAML reads back as.
    return catalog.hardware_from_data(data, origin=origin)


_CC_ARCH: Mapping[str, ArchName] = {
    "8.0": "ampere",
    "8.6": "ampere",
    "8.7": "ampere",
    "8.9": "ada",
    "9.0": "hopper",
    "10.0": "blackwell",
    "10.3": "blackwell-ultra",
    "12.0": "blackwell-workstation",
    "12.1": "blackwell-workstation",
}
_FAMILY_ARCH: Mapping[str, ArchName] = {
    "ampere": "ampere",
    "ada": "ada",
    "ada-lovelace": "ada",
    "lovelace": "ada",
    "hopper": "hopper",
}
_GFX_ARCH: Mapping[str, ArchName] = {"gfx942": "cdna3", "gfx950": "cdna4"}


def _arch_of(
    compute_capability: str | None, family: str | None, gfx: str | None
) -> ArchName | None:
    if compute_capability and compute_capability in _CC_ARCH:
        return _CC_ARCH[compute_capability]
    if gfx and gfx.lower() in _GFX_ARCH:
        return _GFX_ARCH[gfx.lower()]
    if family:
        return _FAMILY_ARCH.get(family.strip().lower())
    return None


def _reference_gpu(
    catalog: Catalog, vendor: str, arch: ArchName, memory_mib: int
) -> GpuSpec | None:
    """The catalog GPU of the same vendor and architecture closest in memory."""
    same = [g for g in catalog.gpus.values() if g.vendor == vendor and g.arch == arch]
    if not same:
        return None
    return min(same, key=lambda g: (abs(g.usable_bytes - memory_mib * _MIB), g.id))


def _short(gpu: GpuSpec) -> str:
    return gpu.aliases[0] if gpu.aliases else gpu.name.replace(" ", "-")


def _profile_name(nodes: int, gpus_per_node: int, short: str) -> str:
    return f"{nodes}x{gpus_per_node}x{short}" if nodes > 1 else f"{gpus_per_node}x{short}"
