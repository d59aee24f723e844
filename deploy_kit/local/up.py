"""Local `up`/`down` decisions: preflight over recorded facts, compose commands, the bundle's .env.

The engine, GPU and wait parts live in engine.py, gpu.py and wait.py; their names are
re-exported here because cli/local.py and the tests reach them, and patch them, through this one
module (`local.X`), which is the seam the `up` flow is tested at.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import yaml

from deploy_kit.errors import ExitCode
from deploy_kit.local.checks import CheckResult as CheckResult
from deploy_kit.local.checks import PreflightFailed as PreflightFailed
from deploy_kit.local.checks import Status as Status
from deploy_kit.local.checks import fail, ok, warn
from deploy_kit.local.checks import raise_first_failure as raise_first_failure
from deploy_kit.local.engine import DEFAULT_SOCKET as DEFAULT_SOCKET
from deploy_kit.local.engine import EngineFacts as EngineFacts
from deploy_kit.local.engine import check_compose as check_compose
from deploy_kit.local.engine import check_engine as check_engine
from deploy_kit.local.engine import engine_facts as engine_facts
from deploy_kit.local.engine import engine_host as engine_host
from deploy_kit.local.engine import engine_unreachable as engine_unreachable
from deploy_kit.local.engine import is_local_host as is_local_host
from deploy_kit.local.engine import parse_compose_version as parse_compose_version
from deploy_kit.local.gpu import AMD_SMI_QUERY as AMD_SMI_QUERY
from deploy_kit.local.gpu import GPU_MEMORY_TOLERANCE as GPU_MEMORY_TOLERANCE
from deploy_kit.local.gpu import NVSMI_QUERY as NVSMI_QUERY
from deploy_kit.local.gpu import NVSMI_QUERY_OLD as NVSMI_QUERY_OLD
from deploy_kit.local.gpu import ROCM_SMI_QUERY as ROCM_SMI_QUERY
from deploy_kit.local.gpu import SMI_TIMEOUT_S as SMI_TIMEOUT_S
from deploy_kit.local.gpu import GpuProbe as GpuProbe
from deploy_kit.local.gpu import HostFacts as HostFacts
from deploy_kit.local.gpu import Runner as Runner
from deploy_kit.local.gpu import cdi_kinds_in as cdi_kinds_in
from deploy_kit.local.gpu import check_gpu_runtime as check_gpu_runtime
from deploy_kit.local.gpu import check_gpus as check_gpus
from deploy_kit.local.gpu import detect_gpus as detect_gpus
from deploy_kit.local.gpu import gpu_summary as gpu_summary
from deploy_kit.local.gpu import host_facts as host_facts
from deploy_kit.local.gpu import probe_gpus as probe_gpus
from deploy_kit.local.gpu import run_tool as run_tool
from deploy_kit.local.wait import PLAIN_PROGRESS_EVERY_S as PLAIN_PROGRESS_EVERY_S
from deploy_kit.local.wait import NotReady as NotReady
from deploy_kit.local.wait import ReadyResult as ReadyResult
from deploy_kit.local.wait import WaitProgress as WaitProgress
from deploy_kit.local.wait import duration as duration
from deploy_kit.local.wait import endpoint as endpoint
from deploy_kit.local.wait import progress_line as progress_line
from deploy_kit.local.wait import timeout_for as timeout_for
from deploy_kit.local.wait import usage_examples as usage_examples
from deploy_kit.local.wait import wait_ready as wait_ready
from deploy_kit.spec import Checkpoint, Plan
from deploy_kit.yamlio import read_text

GIB: Final = 1024**3
MIB: Final = 1024**2
DEFAULT_OUT: Final = "out/local"
COMPOSE_DIR: Final = "compose"
COMPOSE_FILE: Final = "compose.yaml"
ENV_FILE: Final = ".env"
ENV_EXAMPLE: Final = ".env.example"
HF_TOKEN_ENVS: Final = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
API_KEY_ENV: Final = "VLLM_API_KEY"


def check_single_node(plan: Plan) -> CheckResult:
    if plan.nodes > 1 or plan.hardware.nodes > 1:
        return fail(
            "plan",
            f"the plan spans {max(plan.nodes, plan.hardware.nodes)} nodes; `up` runs one machine",
            "render --target compose for each node, or choose a single-node --hardware",
            ExitCode.BAD_INPUT,
        )
    return ok("plan", plan.one_line())


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
        return warn("disk", f"free space on {where} not checked (remote engine)")
    if missing == 0:
        return ok("disk", f"weights already in the cache at {where}")
    if free < missing:
        return fail(
            "disk",
            f"not enough disk for the weights: {missing / GIB:.0f} GiB needed on {where}, "
            f"{free / GIB:.0f} GiB free",
            fix,
        )
    return ok("disk", f"{free / GIB:.0f} GiB free on {where}, {missing / GIB:.0f} GiB needed")


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a compose .env file (comments, blanks and `export` tolerated)."""
    if not path.is_file():
        return {}
    return read_env_lines(read_text(path, what="env file").splitlines())


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
        return ok("hf token", "HF_TOKEN present (not shown)")
    if needs_hf_token(checkpoint):
        return fail(
            "hf token",
            f"{checkpoint.hf_id} is gated and no HF_TOKEN is set",
            "accept the model's terms on Hugging Face, then export HF_TOKEN=<read token> or "
            "put it in the bundle's compose/.env",
        )
    return warn(
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
        return ok("port", f"{host}:{port} served by this stack (already running)")
    if free:
        return ok("port", f"{host}:{port} free")
    return fail(
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
            lines += read_text(example, what="env example").splitlines()
    else:
        lines = read_text(env_file, what="env file").splitlines()
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
