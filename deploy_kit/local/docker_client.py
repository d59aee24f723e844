"""The thin layer that talks to Docker: the engine through the docker SDK, compose by subprocess."""

from __future__ import annotations

import importlib
import os
import shutil
import socket
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from deploy_kit.errors import EnvironmentMissing
from deploy_kit.local.up import (
    EngineFacts,
    engine_facts,
    engine_host,
    engine_unreachable,
    parse_compose_version,
)

# The SDK call is bounded: a hung engine must not hang `up`.
ENGINE_TIMEOUT_S = 15
COMPOSE_VERSION_TIMEOUT_S = 15
LOGS_TIMEOUT_S = 60
REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_COMPOSE = Path(".tools") / "bin" / "docker-compose"


class Backend(Protocol):
    """What `up`/`down` need from Docker; tests substitute a recorded fake."""

    @property
    def host(self) -> str: ...

    def engine_facts(self) -> EngineFacts: ...

    def compose(self) -> tuple[tuple[str, ...], str | None]: ...

    def project_running(self, project: str) -> bool: ...

    def volume_size(self, name: str) -> int | None: ...

    def run(self, argv: Sequence[str]) -> int: ...

    def output(self, argv: Sequence[str], timeout: float = LOGS_TIMEOUT_S) -> tuple[int, str]: ...


def classify_engine_error(text: str) -> tuple[str, str | None]:
    """(short reason, better hint or None) from the SDK's connection error text."""
    lowered = text.lower()
    if "permission denied" in lowered:
        return "permission denied on the socket", (
            "add yourself to the docker group (sudo usermod -aG docker $USER, then log in "
            "again), or run with sudo"
        )
    if "no such file" in lowered or "filenotfounderror" in lowered:
        return "socket not found", None
    if "connection refused" in lowered:
        return "connection refused", None
    if "timed out" in lowered or "timeout" in lowered:
        return "timed out", None
    return "", None


class DockerBackend:
    """Docker as `up`/`down` use it; every engine call maps failures to EnvironmentMissing."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = dict(os.environ if environ is None else environ)
        self._host = self._pick_host()
        self._client: Any = None

    def _pick_host(self) -> str:
        host = engine_host(self._environ)
        if "DOCKER_HOST" in self._environ or Path("/var/run/docker.sock").exists():
            return host
        # Rootless Docker listens in the user's runtime dir and the SDK does not read contexts.
        runtime_dir = self._environ.get("XDG_RUNTIME_DIR")
        if runtime_dir and Path(runtime_dir, "docker.sock").exists():
            return f"unix://{runtime_dir}/docker.sock"
        return host

    @property
    def host(self) -> str:
        return self._host

    def _connect(self) -> Any:
        if self._client is not None:
            return self._client
        self._probe_unix_socket()
        # Lazily, and typed Any: the SDK is only needed when an engine is, and ships no types.
        docker: Any = importlib.import_module("docker")

        try:
            if "DOCKER_HOST" in self._environ:
                # from_env also applies DOCKER_TLS_VERIFY / DOCKER_CERT_PATH for tcp engines.
                client = docker.from_env(environment=self._environ, timeout=ENGINE_TIMEOUT_S)
            else:
                client = docker.DockerClient(base_url=self._host, timeout=ENGINE_TIMEOUT_S)
            client.ping()
        except docker.errors.DockerException as exc:
            raise self._unreachable(exc) from None
        except Exception as exc:  # requests/urllib3 errors escape the SDK's own tree
            raise self._unreachable(exc) from None
        self._client = client
        return client

    def _probe_unix_socket(self) -> None:
        """Try the socket ourselves first: the SDK leaks its socket when connect fails."""
        if not self._host.startswith("unix://"):
            return
        path = self._host.removeprefix("unix://")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(ENGINE_TIMEOUT_S)
            try:
                sock.connect(path)
            except OSError as exc:
                raise self._unreachable(exc) from None

    def _unreachable(self, exc: BaseException) -> EnvironmentMissing:
        detail, hint = classify_engine_error(f"{type(exc).__name__}: {exc}")
        error = engine_unreachable(self._host, detail)
        if hint:
            error.hint = hint
        return error

    def engine_facts(self) -> EngineFacts:
        client = self._connect()
        try:
            info = client.info()
            version = client.version()
        except Exception as exc:
            raise self._unreachable(exc) from None
        return engine_facts(info, version, self._host)

    def compose(self) -> tuple[tuple[str, ...], str | None]:
        """The first compose that answers `version`: the plugin, .tools/bin, then PATH."""
        first: tuple[tuple[str, ...], str | None] | None = None
        for argv in compose_candidates(self._environ):
            text = self._version(argv)
            if text is None:
                continue
            version = parse_compose_version(text)
            if version is not None and version[0] >= 2:
                return argv, text
            first = first or (argv, text)
        return first or (("docker", "compose"), None)

    def _version(self, argv: Sequence[str]) -> str | None:
        try:
            done = subprocess.run(
                [*argv, "version", "--short"],
                capture_output=True,
                text=True,
                timeout=COMPOSE_VERSION_TIMEOUT_S,
                check=False,
                env=self._environ,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        text = done.stdout.strip()
        return text if done.returncode == 0 and text else None

    def project_running(self, project: str) -> bool:
        client = self._connect()
        try:
            found = client.containers.list(
                filters={"label": f"com.docker.compose.project={project}", "status": "running"}
            )
        except Exception:
            return False
        return bool(found)

    def volume_size(self, name: str) -> int | None:
        client = self._connect()
        try:
            usage = client.df()
        except Exception:
            return None
        for volume in usage.get("Volumes") or []:
            if volume.get("Name") == name:
                size = (volume.get("UsageData") or {}).get("Size")
                return int(size) if isinstance(size, int) and size >= 0 else None
        return None

    def run(self, argv: Sequence[str]) -> int:
        """Run with the terminal attached, so compose's own progress reaches the person."""
        try:
            return subprocess.run(list(argv), check=False, env=self._environ).returncode
        except OSError as exc:
            raise EnvironmentMissing(f"cannot run {argv[0]}: {exc}") from None

    def output(self, argv: Sequence[str], timeout: float = LOGS_TIMEOUT_S) -> tuple[int, str]:
        try:
            done = subprocess.run(
                list(argv),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                env=self._environ,
            )
        except subprocess.TimeoutExpired:
            return 124, ""
        except OSError as exc:
            return 127, str(exc)
        return done.returncode, done.stdout + done.stderr


def compose_candidates(environ: Mapping[str, str]) -> list[tuple[str, ...]]:
    """Compose v2 invocations to try, best first; each must exist to be listed."""
    found: list[tuple[str, ...]] = []
    path = environ.get("PATH")
    if shutil.which("docker", path=path):
        found.append(("docker", "compose"))
    for root in (Path.cwd(), REPO_ROOT):
        tool = root / TOOLS_COMPOSE
        if tool.is_file() and os.access(tool, os.X_OK) and (str(tool),) not in found:
            found.append((str(tool),))
    standalone = shutil.which("docker-compose", path=path)
    if standalone and (standalone,) not in found:
        found.append((standalone,))
    return found
