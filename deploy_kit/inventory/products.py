"""Reported GPU product strings (labels, nvidia-smi, rocm-smi names) to catalog GPU ids."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Final


def normalize_product(product: str) -> str:
    """Lower-case, runs of spaces/underscores/dashes to one dash, GFD '-SHARED' suffix dropped.

    ``'NVIDIA H100 80GB HBM3'``, ``'NVIDIA-H100-80GB-HBM3'`` and ``'nvidia_h100_80gb_hbm3'``
    all normalise to ``'nvidia-h100-80gb-hbm3'``.
    """
    norm = re.sub(r"[\s_\-]+", "-", product.strip().lower()).strip("-")
    return re.sub(r"-shared$", "", norm)


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
