"""The Docker engine and Compose as preflight sees them: facts from the SDK, and their checks."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from deploy_kit.errors import EnvironmentMissing
from deploy_kit.local.checks import CheckResult, fail, ok

DEFAULT_SOCKET: Final = "unix:///var/run/docker.sock"


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
        return fail(
            "engine",
            f"{where} runs {facts.os_type} containers; vLLM needs a Linux engine",
            "switch the engine to Linux containers, or run on a Linux GPU host",
        )
    return ok("engine", where)


def parse_compose_version(text: str) -> tuple[int, int, int] | None:
    """'2.40.3', 'v2.40.3', 'Docker Compose version v2.40.3' or the v1 banner -> (2, 40, 3)."""
    match = re.search(r"v?(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def check_compose(version_text: str | None, argv: Sequence[str]) -> CheckResult:
    """Compose v2 is required: v1 (python docker-compose) lacks GPU device reservations."""
    fix = (
        "install the Compose v2 plugin (apt-get install docker-compose-plugin), or "
        "`pip install 'deploy-kit[validators]'`, which carries the compose v2 binary"
    )
    if version_text is None:
        return fail("compose", "Docker Compose v2 not found (`docker compose version` failed)", fix)
    version = parse_compose_version(version_text)
    shown = shlex.join(argv)
    if version is None:
        return fail("compose", f"cannot read the version of `{shown}`: {version_text!r}", fix)
    if version[0] < 2:
        dotted = ".".join(map(str, version))
        return fail("compose", f"`{shown}` is Compose {dotted} (v1); v2 is required", fix)
    return ok("compose", f"Compose {'.'.join(map(str, version))} (`{shown}`)")


def _strs(value: object) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        return ()
    return tuple(str(v) for v in value if isinstance(v, str | int | float))
