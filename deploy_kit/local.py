"""Local `up`/`down` decisions: preflight over recorded facts, compose commands, readiness."""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import yaml

from deploy_kit.errors import DeployKitError, EnvironmentMissing, ExitCode, InputError
from deploy_kit.inventory import (
    GpuObservation,
    parse_amd_smi_static_json,
    parse_nvidia_smi_csv,
    parse_rocm_smi_json,
)
from deploy_kit.spec import Checkpoint, Plan

GIB: Final = 1024**3
MIB: Final = 1024**2
DEFAULT_OUT: Final = "out/local"
COMPOSE_DIR: Final = "compose"
COMPOSE_FILE: Final = "compose.yaml"
ENV_FILE: Final = ".env"
ENV_EXAMPLE: Final = ".env.example"
DEFAULT_SOCKET: Final = "unix:///var/run/docker.sock"
HF_TOKEN_ENVS: Final = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
API_KEY_ENV: Final = "VLLM_API_KEY"
# A GPU may report a little less than the plan's figure (ECC, driver reservations, another
# board revision); more than this shortfall means the plan's memory budget is wrong.
GPU_MEMORY_TOLERANCE: Final = 0.03
# GPU tools hang when the driver is wedged; never let a probe stall `up`.
SMI_TIMEOUT_S: Final = 20.0
# Plain (non-TTY) progress: one line per this many seconds keeps CI logs readable.
PLAIN_PROGRESS_EVERY_S: Final = 30.0
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

Status = Literal["ok", "warn", "fail"]


# --- results and errors --------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    """One preflight line: what was checked, the outcome, and for a failure the fix."""

    name: str
    status: Status
    message: str
    hint: str | None = None
    exit_code: ExitCode = ExitCode.ENVIRONMENT

    @property
    def ok(self) -> bool:
        return self.status != "fail"

    def line(self) -> str:
        mark = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}[self.status]
        return f"{mark} {self.name}: {self.message}"


def _ok(name: str, message: str) -> CheckResult:
    return CheckResult(name, "ok", message)


def _warn(name: str, message: str, hint: str | None = None) -> CheckResult:
    return CheckResult(name, "warn", message, hint)


def _fail(
    name: str, message: str, hint: str, exit_code: ExitCode = ExitCode.ENVIRONMENT
) -> CheckResult:
    return CheckResult(name, "fail", message, hint, exit_code)


class PreflightFailed(DeployKitError):
    """A preflight check failed; the exit code is the check's (4 environment, 2 input)."""

    def __init__(self, result: CheckResult) -> None:
        super().__init__(result.message, hint=result.hint)
        self.result = result
        self.exit_code = result.exit_code


class NotReady(EnvironmentMissing):
    """The server did not answer /health and /v1/models in time, or its containers stopped."""

    def __init__(self, message: str, *, hint: str | None = None, phase: str = "health") -> None:
        super().__init__(message, hint=hint)
        self.phase = phase


def raise_first_failure(results: Iterable[CheckResult]) -> None:
    for result in results:
        if not result.ok:
            raise PreflightFailed(result)


# --- engine -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EngineFacts:
    """What preflight needs from `docker info` and `docker version`, as plain values."""

    host: str
    server_version: str
    api_version: str
    os_type: str
    operating_system: str
    docker_root_dir: str
    runtimes: tuple[str, ...]
    default_runtime: str
    cdi_spec_dirs: tuple[str, ...]
    discovered_devices: tuple[str, ...]
    rootless: bool
    warnings: tuple[str, ...] = ()


def _strs(value: object) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        return ()
    return tuple(str(v) for v in value if isinstance(v, str | int | float))


def engine_facts(info: Mapping[str, Any], version: Mapping[str, Any], host: str) -> EngineFacts:
    """Reduce the SDK's `info()`/`version()` dictionaries to the facts the checks read."""
    runtimes = info.get("Runtimes")
    devices = info.get("DiscoveredDevices")
    # DiscoveredDevices (API 1.50+) lists CDI devices as {"Source": "cdi", "ID": "vendor/class=n"}.
    device_ids = tuple(
        str(d.get("ID")) for d in devices or [] if isinstance(d, dict) and d.get("ID")
    )
    security = " ".join(_strs(info.get("SecurityOptions")))
    return EngineFacts(
        host=host,
        server_version=str(info.get("ServerVersion") or version.get("Version") or "?"),
        api_version=str(version.get("ApiVersion") or "?"),
        os_type=str(info.get("OSType") or version.get("Os") or ""),
        operating_system=str(info.get("OperatingSystem") or ""),
        docker_root_dir=str(info.get("DockerRootDir") or "/var/lib/docker"),
        runtimes=tuple(sorted(runtimes)) if isinstance(runtimes, dict) else (),
        default_runtime=str(info.get("DefaultRuntime") or "runc"),
        cdi_spec_dirs=_strs(info.get("CDISpecDirs")),
        discovered_devices=device_ids,
        rootless="rootless" in security,
        warnings=_strs(info.get("Warnings")),
    )


def engine_host(environ: Mapping[str, str]) -> str:
    """The engine address the SDK will use: DOCKER_HOST, else the default socket."""
    return environ.get("DOCKER_HOST") or DEFAULT_SOCKET


def is_local_host(host: str) -> bool:
    """Local engines share this machine's disks, devices and GPU tools; remote ones do not."""
    if host.startswith(("unix://", "npipe://")) or "://" not in host:
        return True
    netloc = host.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    return netloc in ("localhost", "127.0.0.1", "::1")


def engine_unreachable(host: str, detail: str = "") -> EnvironmentMissing:
    """The one error for a missing engine: one line naming the address, plus the fix."""
    suffix = f" ({detail})" if detail else ""
    return EnvironmentMissing(
        f"no Docker engine reachable at {host}{suffix}",
        hint="install and start Docker Engine (sudo systemctl start docker), or point DOCKER_HOST "
        "at a running engine (rootless: unix://$XDG_RUNTIME_DIR/docker.sock); "
        "`deploy-kit up --dry-run` shows the plan without an engine",
    )


def check_engine(facts: EngineFacts) -> CheckResult:
    where = f"Docker {facts.server_version} (API {facts.api_version}) at {facts.host}"
    if facts.os_type and facts.os_type != "linux":
        return _fail(
            "engine",
            f"{where} runs {facts.os_type} containers; vLLM needs a Linux engine",
            "switch the engine to Linux containers, or run on a Linux GPU host",
        )
    return _ok("engine", where)


def parse_compose_version(text: str) -> tuple[int, int, int] | None:
    """'2.40.3', 'v2.40.3', 'Docker Compose version v2.40.3' or the v1 banner -> (2, 40, 3)."""
    match = re.search(r"v?(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def check_compose(version_text: str | None, argv: Sequence[str]) -> CheckResult:
    """Compose v2 is required: v1 (python docker-compose) lacks GPU device reservations."""
    fix = (
        "install the Compose v2 plugin (apt-get install docker-compose-plugin), or run "
        "`make tools` for .tools/bin/docker-compose"
    )
    if version_text is None:
        return _fail(
            "compose", "Docker Compose v2 not found (`docker compose version` failed)", fix
        )
    version = parse_compose_version(version_text)
    shown = shlex.join(argv)
    if version is None:
        return _fail("compose", f"cannot read the version of `{shown}`: {version_text!r}", fix)
    if version[0] < 2:
        dotted = ".".join(map(str, version))
        return _fail("compose", f"`{shown}` is Compose {dotted} (v1); v2 is required", fix)
    return _ok("compose", f"Compose {'.'.join(map(str, version))} (`{shown}`)")


# --- GPU runtime and GPUs ------------------------------------------------------------------------


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
            return _ok("gpu runtime", "AMD devices /dev/kfd and /dev/dri present")
        return _fail(
            "gpu runtime",
            "no AMD GPU devices for containers (/dev/kfd or /dev/dri missing)",
            "install the amdgpu driver from ROCm so /dev/kfd and /dev/dri exist, then rerun",
        )
    if "nvidia" in facts.runtimes:
        return _ok("gpu runtime", "NVIDIA runtime registered with the engine")
    cdi = [d for d in facts.discovered_devices if d.startswith("nvidia.com/gpu")]
    if cdi:
        return _ok(
            "gpu runtime", f"CDI devices {', '.join(cdi[:3])}{' ...' if len(cdi) > 3 else ''}"
        )
    if "nvidia.com/gpu" in host.cdi_kinds:
        return _ok(
            "gpu runtime", "CDI spec for nvidia.com/gpu in " + ", ".join(facts.cdi_spec_dirs)
        )
    if host.nvidia_hook:
        # `--gpus`/device reservations work through the toolkit's hook even when no runtime
        # was registered, so this is enough for compose.
        return _ok("gpu runtime", "NVIDIA Container Toolkit hook installed")
    return _fail(
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


def _first_line(text: str) -> str:
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), "no output")


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


def check_single_node(plan: Plan) -> CheckResult:
    if plan.nodes > 1 or plan.hardware.nodes > 1:
        return _fail(
            "plan",
            f"the plan spans {max(plan.nodes, plan.hardware.nodes)} nodes; `up` runs one machine",
            "render --target compose for each node, or choose a single-node --hardware",
            ExitCode.BAD_INPUT,
        )
    return _ok("plan", plan.one_line())


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
            return _warn("gpus", f"{len(listed)} GPU(s) listed by the engine; memory not checked")
        other = gpu_summary(probe.observations)
        seen = f"; found {other}" if probe.observations else ""
        return _fail(
            "gpus",
            f"no {vendor.upper()} GPU visible on this machine{seen}{why}",
            "install the GPU driver so `nvidia-smi` (or `rocm-smi`) lists the GPUs; or plan for "
            "another machine with `deploy-kit render`",
        )
    count = sum(o.count for o in mine)
    have = gpu_summary(mine)
    if count < need:
        return _fail(
            "gpus",
            f"the plan needs {need} GPUs on this machine, {count} visible ({have})",
            "use --detect to plan for the GPUs that are here, or a smaller --hardware",
        )
    wanted_gib = plan.memory["per_gpu"].total_gib
    sizes = [o.memory_mib for o in mine if o.memory_mib is not None]
    if sizes and min(sizes) / 1024 < wanted_gib * (1 - GPU_MEMORY_TOLERANCE):
        return _fail(
            "gpus",
            f"the plan assumes {wanted_gib:g} GiB per GPU; this machine has "
            f"{min(sizes) / 1024:.1f} GiB ({have})",
            "use --detect to plan for the GPUs that are here",
        )
    return _ok("gpus", f"{have} ({need} used)")


# --- disk, secrets, ports ---------------------------------------------------------------------


@dataclass(frozen=True)
class CacheLocation:
    """Where the model cache lives: a host folder (bind mount) or a named volume."""

    kind: Literal["bind", "volume"]
    source: str  # host path for "bind", full volume name for "volume"


def cache_location(compose_text: str, mount: str, project: str) -> CacheLocation | None:
    """Find the volume mounted at `mount` in a compose file (short or long volume syntax)."""
    try:
        doc = yaml.safe_load(compose_text)
    except yaml.YAMLError:
        return None
    if not isinstance(doc, dict):
        return None
    declared = doc.get("volumes") if isinstance(doc.get("volumes"), dict) else {}
    for service in (doc.get("services") or {}).values():
        for entry in (service or {}).get("volumes") or []:
            source = target = None
            if isinstance(entry, str):
                parts = entry.split(":")
                if len(parts) >= 2:
                    source, target = parts[0], parts[1]
            elif isinstance(entry, dict):
                source, target = entry.get("source"), entry.get("target")
            if target != mount or not source:
                continue
            source = str(source)
            if source.startswith(("/", ".", "~", "$")):
                return CacheLocation("bind", source)
            spec = declared.get(source) if isinstance(declared, dict) else None
            name = spec.get("name") if isinstance(spec, dict) and spec.get("name") else None
            return CacheLocation("volume", str(name or f"{project}_{source}"))
    return None


def existing_ancestor(path: Path) -> Path:
    """The nearest folder that exists: a cache folder is created on first start."""
    current = path.absolute()
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def free_bytes(path: Path) -> int:
    """Free bytes on the filesystem that holds `path` (or would, once it is created)."""
    return shutil.disk_usage(existing_ancestor(path)).free


def dir_size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue
    return total


def weights_bytes(plan: Plan, checkpoint: Checkpoint) -> int:
    """Bytes the checkpoint takes on disk; planned weights when the catalog has no size."""
    if checkpoint.disk_gib is not None:
        return int(checkpoint.disk_gib * GIB)
    per_gpu = plan.memory["per_gpu"].weights_gib
    return int(per_gpu * plan.gpus_per_node * plan.nodes * GIB)


def hf_cache_dir(cache_root: Path, hf_id: str) -> Path:
    """Where huggingface_hub keeps a repository below the mounted cache root."""
    return cache_root / "hub" / ("models--" + hf_id.replace("/", "--"))


def check_disk(
    need: int,
    free: int | None,
    where: str,
    cached: int = 0,
    fix: str = "free space there, or put the cache on a bigger disk with --cache-dir DIR",
) -> CheckResult:
    """Free space on the cache's filesystem for what is not downloaded yet."""
    missing = max(0, need - cached)
    if free is None:
        return _warn("disk", f"free space on {where} not checked (remote engine)")
    if missing == 0:
        return _ok("disk", f"weights already in the cache at {where}")
    if free < missing:
        return _fail(
            "disk",
            f"not enough disk for the weights: {missing / GIB:.0f} GiB needed on {where}, "
            f"{free / GIB:.0f} GiB free",
            fix,
        )
    return _ok("disk", f"{free / GIB:.0f} GiB free on {where}, {missing / GIB:.0f} GiB needed")


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a compose .env file (comments, blanks and `export` tolerated)."""
    if not path.is_file():
        return {}
    return read_env_lines(path.read_text(encoding="utf-8", errors="replace").splitlines())


def read_env_lines(lines: Iterable[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.removeprefix("export ").split("=", 1)
        values[key.strip()] = value.strip().strip("'\"")
    return values


def _is_placeholder(value: str) -> bool:
    lowered = value.lower()
    return not value or "<" in value or any(w in lowered for w in ("change", "replace", "xxx"))


def secret_value(
    names: Sequence[str], environ: Mapping[str, str], env_file: Mapping[str, str]
) -> str | None:
    """The first real value of any of `names` in the environment or the bundle's .env."""
    for source in (environ, env_file):
        for name in names:
            value = source.get(name, "")
            if not _is_placeholder(value):
                return value
    return None


def needs_hf_token(checkpoint: Checkpoint) -> bool:
    """Gated checkpoints need a token; the catalog marks them with `gated` when it knows."""
    return bool(getattr(checkpoint, "gated", False))


def check_hf_token(checkpoint: Checkpoint, present: bool) -> CheckResult:
    """Never prints the token: only whether one was found."""
    if present:
        return _ok("hf token", "HF_TOKEN present (not shown)")
    if needs_hf_token(checkpoint):
        return _fail(
            "hf token",
            f"{checkpoint.hf_id} is gated and no HF_TOKEN is set",
            "accept the model's terms on Hugging Face, then export HF_TOKEN=<read token> or "
            "put it in the bundle's compose/.env",
        )
    return _warn(
        "hf token", "no HF_TOKEN: downloads are anonymous (rate-limited); set one to be safe"
    )


def port_free(host: str, port: int) -> bool:
    """Bind the address the stack will publish on; failure means something else holds it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # Without SO_REUSEADDR a socket lingering in TIME_WAIT would look like a listener.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def check_port(host: str, port: int, free: bool, already_running: bool) -> CheckResult:
    if already_running:
        return _ok("port", f"{host}:{port} served by this stack (already running)")
    if free:
        return _ok("port", f"{host}:{port} free")
    return _fail(
        "port",
        f"port {port} on {host} is in use by another program",
        f"stop it (see `ss -ltnp 'sport = :{port}'`), or `deploy-kit down` if it is an older stack",
    )


# --- compose commands -------------------------------------------------------------------------


@dataclass(frozen=True)
class ComposeCommands:
    """The exact compose command lines for one bundle and project."""

    prefix: tuple[str, ...]
    compose_file: Path
    env_file: Path | None
    project: str

    @property
    def base(self) -> list[str]:
        env = ["--env-file", str(self.env_file)] if self.env_file is not None else []
        return [*self.prefix, "-f", str(self.compose_file), *env, "-p", self.project]

    def up(self) -> list[str]:
        return [*self.base, "up", "-d"]

    def logs(self, tail: int = 50, follow: bool = False) -> list[str]:
        return [*self.base, "logs", "--no-color", "--tail", str(tail), *(["-f"] if follow else [])]

    def ps(self) -> list[str]:
        return [*self.base, "ps", "-a", "--format", "json"]

    def down(self, volumes: bool = False) -> list[str]:
        return [*self.base, "down", *(["-v"] if volumes else [])]


def bundle_paths(out: Path) -> tuple[Path, Path, Path]:
    """(compose file, .env, .env.example) inside a rendered bundle."""
    folder = out / COMPOSE_DIR
    return folder / COMPOSE_FILE, folder / ENV_FILE, folder / ENV_EXAMPLE


def project_name(name: str) -> str:
    """Compose project names: lowercase letters, digits, '-' and '_', starting alphanumeric."""
    cleaned = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-_")
    return cleaned or "deploy-kit"


def shell(argv: Sequence[str]) -> str:
    return shlex.join(argv)


def parse_ps(text: str) -> list[dict[str, Any]]:
    """`compose ps --format json`: a JSON array (older v2) or one object per line (newer)."""
    text = text.strip()
    if not text:
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        rows = []
        for line in text.splitlines():
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(item, dict):
                rows.append(item)
        return rows
    if isinstance(data, dict):
        return [data]
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []


def stopped_reason(rows: Sequence[Mapping[str, Any]]) -> str | None:
    """Why the stack cannot become ready (a container exited), or None while it may."""
    for row in rows:
        state = str(row.get("State", "")).lower()
        name = row.get("Service") or row.get("Name") or "a container"
        code = row.get("ExitCode")
        with_code = f" with code {code}" if code is not None else ""
        if state in ("exited", "dead"):
            return f"{name} exited{with_code}"
        if state == "restarting":
            # The restart policy hides a crash loop behind "restarting"; it will not get ready.
            return f"{name} keeps restarting (last exit{with_code})"
    return None


@dataclass(frozen=True)
class EnvFileChange:
    """What ensure_env_file did; names only, never values."""

    created: bool = False
    generated_key: bool = False
    copied: tuple[str, ...] = ()


def _assigns(line: str, name: str) -> bool:
    return re.match(rf"\s*(export\s+)?{re.escape(name)}\s*=", line) is not None


def ensure_env_file(
    env_file: Path, example: Path, environ: Mapping[str, str], api_key: bool
) -> EnvFileChange:
    """Make the bundle's .env hold the secrets the container needs (mode 600).

    The compose service reads secrets from .env alone (`env_file:`), so a token exported in the
    shell is copied in when .env has none; with `api_key` and no key anywhere, one is generated.
    A missing .env starts from .env.example. Values are written, never printed.
    """
    created = not env_file.exists()
    if created:
        lines = ["# written by deploy-kit up; secrets live here, keep this file private"]
        if example.is_file():
            lines += example.read_text(encoding="utf-8").splitlines()
    else:
        lines = env_file.read_text(encoding="utf-8").splitlines()
    current = read_env_lines(lines)
    wanted = {"HF_TOKEN": HF_TOKEN_ENVS, **({API_KEY_ENV: (API_KEY_ENV,)} if api_key else {})}
    updates: dict[str, str] = {}
    copied: list[str] = []
    for name, sources in wanted.items():
        if not _is_placeholder(current.get(name, "")):
            continue
        value = secret_value(sources, environ, {})
        if value is not None:
            updates[name] = value
            copied.append(name)
    generated = api_key and API_KEY_ENV not in updates
    generated = generated and _is_placeholder(current.get(API_KEY_ENV, ""))
    if generated:
        updates[API_KEY_ENV] = secrets.token_urlsafe(32)
    if created or updates:
        kept = [ln for ln in lines if not any(_assigns(ln, name) for name in updates)]
        text = "\n".join([*kept, *(f"{k}={v}" for k, v in updates.items())]) + "\n"
        _write_private(env_file, text)
    return EnvFileChange(created, generated, tuple(copied))


def _write_private(path: Path, text: str) -> None:
    from deploy_kit.fsutil import atomic_write_bytes

    atomic_write_bytes(path, text.encode("utf-8"), mode=0o600)


# --- waiting for the server ---------------------------------------------------------------------


@dataclass(frozen=True)
class WaitProgress:
    """One tick of the wait: which endpoint, how long so far, against the estimate."""

    phase: Literal["health", "models"]
    elapsed_s: float
    expected_s: float
    timeout_s: float
    last_error: str | None = None


@dataclass(frozen=True)
class ReadyResult:
    base_url: str
    elapsed_s: float
    models: tuple[str, ...] = field(default_factory=tuple)


# Never route the loopback endpoint through an HTTP(S)_PROXY from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get(url: str, api_key: str | None, timeout: float) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    if api_key:
        request.add_header("Authorization", f"Bearer {api_key}")
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return int(response.status), response.read(1 << 20)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code), b""


def _describe(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    text = str(reason if reason is not None else exc) or type(exc).__name__
    return text.splitlines()[0][:200]


def wait_ready(
    base_url: str,
    timeout_s: float,
    expected_load_s: float,
    poll_s: float = 5.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    on_progress: Callable[[WaitProgress], None] | None = None,
    *,
    api_key: str | None = None,
    stopped: Callable[[], str | None] | None = None,
    request_timeout_s: float = 5.0,
) -> ReadyResult:
    """Poll /health until 200, then /v1/models until it lists a model; NotReady on timeout.

    `stopped` is asked every poll and ends the wait early when the containers have exited.
    The API key goes into the Authorization header only; it is never part of a message.
    """
    start = clock()
    phase: Literal["health", "models"] = "health"
    last_error: str | None = None
    base = base_url.rstrip("/")
    while True:
        elapsed = clock() - start
        try:
            path = "/health" if phase == "health" else "/v1/models"
            status, body = _get(base + path, api_key, request_timeout_s)
            if status == 200 and phase == "health":
                phase, last_error = "models", None
                continue
            if status == 200:
                models = _model_ids(body)
                if models:
                    return ReadyResult(base, clock() - start, models)
                last_error = "/v1/models lists no model yet"
            elif status in (401, 403):
                raise NotReady(
                    f"{base}/v1/models refused the API key (HTTP {status})",
                    hint="export VLLM_API_KEY with the key in the bundle's compose/.env",
                    phase=phase,
                )
            else:
                last_error = f"{path} answered HTTP {status}"
        except (OSError, ValueError) as exc:
            last_error = _describe(exc)
        if on_progress is not None:
            on_progress(WaitProgress(phase, elapsed, expected_load_s, timeout_s, last_error))
        if stopped is not None:
            reason = stopped()
            if reason:
                raise NotReady(
                    f"the server stopped before it was ready: {reason}",
                    hint="read the log lines above; fix the cause and run `make up` again",
                    phase=phase,
                )
        remaining = timeout_s - (clock() - start)
        if remaining <= 0:
            detail = f" (last: {last_error})" if last_error else ""
            raise NotReady(
                f"{base}/{'health' if phase == 'health' else 'v1/models'} not ready after "
                f"{duration(clock() - start)}{detail}",
                hint="the containers keep running: follow them with the logs command above, "
                "or raise --timeout (estimated load time "
                f"{duration(expected_load_s)})",
                phase=phase,
            )
        sleep(min(poll_s, remaining))


def _model_ids(body: bytes) -> tuple[str, ...]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return ()
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return ()
    return tuple(str(i["id"]) for i in items if isinstance(i, dict) and i.get("id"))


def duration(seconds: float) -> str:
    seconds = max(0, math.floor(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def progress_line(p: WaitProgress) -> str:
    """The plain (non-TTY) progress line."""
    what = "/health" if p.phase == "health" else "/v1/models"
    tail = f" - {p.last_error}" if p.last_error else ""
    return (
        f"waiting for {what}: {duration(p.elapsed_s)} elapsed, load estimated "
        f"~{duration(p.expected_s)}, timeout {duration(p.timeout_s)}{tail}"
    )


def endpoint(publish_address: str, port: int) -> str:
    """The URL to poll and print: an all-interfaces publish is reached on loopback."""
    host = "127.0.0.1" if publish_address in ("0.0.0.0", "") else publish_address
    host = "[::1]" if host == "::" else (f"[{host}]" if ":" in host else host)
    return f"http://{host}:{port}"


def usage_examples(base_url: str, model: str, key_env: str | None) -> str:
    """Ready-to-paste curl and OpenAI-client snippets; the key is referenced, never shown."""
    auth = f' \\\n  -H "Authorization: Bearer ${key_env}"' if key_env else ""
    py_key = f'os.environ["{key_env}"]' if key_env else '"EMPTY"'
    body = json.dumps(
        {"model": model, "messages": [{"role": "user", "content": "Hello!"}], "max_tokens": 64}
    )
    return "\n".join(
        [
            f"curl {base_url}/v1/chat/completions{auth} \\",
            '  -H "Content-Type: application/json" \\',
            f"  -d '{body}'",
            "",
            "import os",
            "from openai import OpenAI",
            f'client = OpenAI(base_url="{base_url}/v1", api_key={py_key})',
            "reply = client.chat.completions.create(",
            f'    model="{model}", messages=[{{"role": "user", "content": "Hello!"}}]',
            ")",
            "print(reply.choices[0].message.content)",
        ]
    )


def timeout_for(plan: Plan) -> int:
    """Default --timeout: the rendered healthcheck window, so `up` never gives up first."""
    from deploy_kit import vllm
    from deploy_kit.render.context import PROBE_SAFETY_FACTOR

    return max(PROBE_SAFETY_FACTOR * plan.load_time_s, vllm.engine_ready_timeout(plan.load_time_s))
