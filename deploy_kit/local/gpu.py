"""This machine's GPUs for `up`: the container GPU runtime, vendor-tool probes, and their checks."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from deploy_kit.errors import InputError
from deploy_kit.inventory import (
    GpuObservation,
    parse_amd_smi_static_json,
    parse_nvidia_smi_csv,
    parse_rocm_smi_json,
)
from deploy_kit.local.checks import CheckResult, fail, ok, warn
from deploy_kit.local.engine import EngineFacts, is_local_host
from deploy_kit.spec import Plan

# A GPU may report a little less than the plan's figure (ECC, driver reservations, another
# board revision); more than this shortfall means the plan's memory budget is wrong.
GPU_MEMORY_TOLERANCE: Final = 0.03
# GPU tools hang when the driver is wedged; never let a probe stall `up`.
SMI_TIMEOUT_S: Final = 20.0
NVSMI_QUERY: Final = (
    "nvidia-smi",
    "--query-gpu=index,name,memory.total,compute_cap",
    "--format=csv,noheader,nounits",
)
# Drivers before compute_cap was queryable reject the field; the header form lets the parser
# take whatever columns come back.
NVSMI_QUERY_OLD: Final = ("nvidia-smi", "--query-gpu=index,name,memory.total", "--format=csv")
ROCM_SMI_QUERY: Final = ("rocm-smi", "--showproductname", "--showmeminfo", "vram", "--json")
AMD_SMI_QUERY: Final = ("amd-smi", "static", "--asic", "--vram", "--json")


@dataclass(frozen=True)
class HostFacts:
    """Facts from this machine's filesystem: only meaningful when the engine is local."""

    nvidia_hook: bool = False
    cdi_kinds: frozenset[str] = frozenset()
    amd_devices: bool = False


def cdi_kinds_in(spec_dirs: Iterable[str]) -> frozenset[str]:
    """The `kind:` of every CDI spec file (nvidia.com/gpu, amd.com/gpu) in the given folders."""
    kinds: set[str] = set()
    for folder in spec_dirs:
        base = Path(folder)
        if not base.is_dir():
            continue
        for spec in sorted(base.iterdir()):
            if spec.suffix not in (".yaml", ".yml", ".json") or not spec.is_file():
                continue
            try:
                text = spec.read_text(encoding="utf-8", errors="replace")[:4096]
            except OSError:
                continue
            match = re.search(r"""["']?kind["']?\s*:\s*["']?([\w.\-]+/[\w.\-]+)""", text)
            if match:
                kinds.add(match.group(1))
    return frozenset(kinds)


def host_facts(facts: EngineFacts) -> HostFacts:
    if not is_local_host(facts.host):
        return HostFacts()
    return HostFacts(
        nvidia_hook=shutil.which("nvidia-container-runtime-hook") is not None,
        cdi_kinds=cdi_kinds_in(facts.cdi_spec_dirs),
        amd_devices=Path("/dev/kfd").exists() and Path("/dev/dri").is_dir(),
    )


def check_gpu_runtime(facts: EngineFacts, vendor: str, host: HostFacts) -> CheckResult:
    """NVIDIA: the nvidia runtime, CDI devices or the toolkit hook; AMD: /dev/kfd and /dev/dri."""
    if vendor == "amd":
        if host.amd_devices or any(d.startswith("amd.com/") for d in facts.discovered_devices):
            return ok("gpu runtime", "AMD devices /dev/kfd and /dev/dri present")
        return fail(
            "gpu runtime",
            "no AMD GPU devices for containers (/dev/kfd or /dev/dri missing)",
            "install the amdgpu driver from ROCm so /dev/kfd and /dev/dri exist, then rerun",
        )
    if "nvidia" in facts.runtimes:
        return ok("gpu runtime", "NVIDIA runtime registered with the engine")
    cdi = [d for d in facts.discovered_devices if d.startswith("nvidia.com/gpu")]
    if cdi:
        return ok(
            "gpu runtime", f"CDI devices {', '.join(cdi[:3])}{' ...' if len(cdi) > 3 else ''}"
        )
    if "nvidia.com/gpu" in host.cdi_kinds:
        return ok("gpu runtime", "CDI spec for nvidia.com/gpu in " + ", ".join(facts.cdi_spec_dirs))
    if host.nvidia_hook:
        # `--gpus`/device reservations work through the toolkit's hook even when no runtime
        # was registered, so this is enough for compose.
        return ok("gpu runtime", "NVIDIA Container Toolkit hook installed")
    return fail(
        "gpu runtime",
        "the Docker engine has no NVIDIA runtime or CDI GPU devices",
        "install the NVIDIA Container Toolkit, then `sudo nvidia-ctk runtime configure "
        "--runtime=docker && sudo systemctl restart docker` (CDI: `sudo nvidia-ctk cdi generate "
        "--output=/etc/cdi/nvidia.yaml`)",
    )


Runner = Callable[[Sequence[str], float], "tuple[int, str, str] | None"]


def run_tool(argv: Sequence[str], timeout: float) -> tuple[int, str, str] | None:
    """Run a probe; None when the program is not installed, (rc, out, err) otherwise."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return 124, "", f"{argv[0]} did not answer within {timeout:g} s"
    except OSError as exc:
        return 127, "", str(exc)
    return done.returncode, done.stdout, done.stderr


@dataclass(frozen=True)
class GpuProbe:
    """GPUs found by the vendor tools, and why a present tool found none."""

    observations: tuple[GpuObservation, ...]
    notes: tuple[str, ...] = ()


_PROBES: Final[
    tuple[tuple[tuple[tuple[str, ...], ...], Callable[[str], list[GpuObservation]]], ...]
] = (
    ((NVSMI_QUERY, NVSMI_QUERY_OLD), parse_nvidia_smi_csv),
    ((ROCM_SMI_QUERY,), parse_rocm_smi_json),
    ((AMD_SMI_QUERY,), parse_amd_smi_static_json),
)


def probe_gpus(run: Runner = run_tool, timeout: float = SMI_TIMEOUT_S) -> GpuProbe:
    """nvidia-smi, then rocm-smi, then amd-smi; the first that reports GPUs wins."""
    notes: list[str] = []
    for queries, parser in _PROBES:
        tool = queries[0][0]
        outcome = run(queries[0], timeout)
        if outcome is None:
            continue
        if outcome[0] != 0 and len(queries) > 1 and "compute_cap" in outcome[1] + outcome[2]:
            outcome = run(queries[1], timeout) or outcome
        rc, out, err = outcome
        if rc != 0:
            notes.append(f"{tool} failed: {_first_line(err or out)}")
            continue
        try:
            found = parser(out)
        except InputError as exc:
            notes.append(f"{tool}: {exc.message}")
            continue
        if found:
            return GpuProbe(tuple(found), tuple(notes))
    return GpuProbe((), tuple(notes))


def detect_gpus() -> list[GpuObservation]:
    """GPUs on this machine from nvidia-smi / rocm-smi / amd-smi; empty when none is present."""
    return list(probe_gpus().observations)


def gpu_summary(observations: Sequence[GpuObservation]) -> str:
    parts = []
    for o in observations:
        memory = f", {o.memory_mib / 1024:.0f} GiB" if o.memory_mib else ""
        parts.append(f"{o.count} x {o.product}{memory}")
    return "; ".join(parts) or "none"


def check_gpus(plan: Plan, probe: GpuProbe, engine_devices: Sequence[str] = ()) -> CheckResult:
    """Enough GPUs of the plan's vendor, each with at least the memory the plan assumed."""
    vendor = plan.hardware.gpu.vendor
    need = plan.gpus_per_node
    mine = [o for o in probe.observations if o.vendor == vendor]
    why = f" ({'; '.join(probe.notes)})" if probe.notes else ""
    if not mine:
        prefix = "nvidia.com/gpu=" if vendor == "nvidia" else "amd.com/gpu="
        listed = [d for d in engine_devices if d.startswith(prefix) and not d.endswith("=all")]
        if len(listed) >= need:
            # The engine sees the devices but no tool ran here (e.g. a remote engine): trust
            # the count, the memory cannot be checked.
            return warn("gpus", f"{len(listed)} GPU(s) listed by the engine; memory not checked")
        other = gpu_summary(probe.observations)
        seen = f"; found {other}" if probe.observations else ""
        return fail(
            "gpus",
            f"no {vendor.upper()} GPU visible on this machine{seen}{why}",
            "install the GPU driver so `nvidia-smi` (or `rocm-smi`) lists the GPUs; or plan for "
            "another machine with `deploy-kit render`",
        )
    count = sum(o.count for o in mine)
    have = gpu_summary(mine)
    if count < need:
        return fail(
            "gpus",
            f"the plan needs {need} GPUs on this machine, {count} visible ({have})",
            "use --detect to plan for the GPUs that are here, or a smaller --hardware",
        )
    wanted_gib = plan.memory["per_gpu"].total_gib
    sizes = [o.memory_mib for o in mine if o.memory_mib is not None]
    if sizes and min(sizes) / 1024 < wanted_gib * (1 - GPU_MEMORY_TOLERANCE):
        return fail(
            "gpus",
            f"the plan assumes {wanted_gib:g} GiB per GPU; this machine has "
            f"{min(sizes) / 1024:.1f} GiB ({have})",
            "use --detect to plan for the GPUs that are here",
        )
    return ok("gpus", f"{have} ({need} used)")


def _first_line(text: str) -> str:
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), "no output")
