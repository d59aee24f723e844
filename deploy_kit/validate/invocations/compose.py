"""Services of docker-compose files with their command, GPUs, shm, network and health checks."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from deploy_kit.validate.documents import YamlDoc
from deploy_kit.validate.invocations.base import (
    Container,
    EnvVar,
    GpuRequest,
    Probe,
    Shm,
    Where,
    find_vllm,
    looks_like_program,
    runs_vllm_server,
)
from deploy_kit.validate.invocations.k8s import as_int
from deploy_kit.vllm.argv import SERVE
from deploy_kit.yamlio import MAX_FILE_BYTES, OpenFailed, read_bounded

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)")
_DURATION_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)b?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
_VISIBLE_ENV = ("HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES")
# Docker healthcheck defaults.
_HC_INTERVAL_S = 30.0
_HC_RETRIES = 3


def compose_containers(doc: YamlDoc, version: str) -> list[Container]:
    """One Container per service of a compose file."""
    data = doc.data
    services = data.get("services") if isinstance(data, dict) else None
    if not isinstance(services, dict):
        return []
    base = Path(doc.file).parent
    return [
        _service(doc, str(name), spec, base, version)
        for name, spec in services.items()
        if isinstance(spec, dict)
    ]


def duration_s(value: Any) -> float | None:
    """A compose/Docker duration ("1m30s", "3600s", 30) in seconds; None when unparsable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) / 1e9  # a bare number is nanoseconds in the compose spec
    text = str(value).strip()
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text.replace(" ", ""):
        return None
    return sum(float(n) * _DURATION_S[u] for n, u in parts)


def size_bytes(value: Any) -> int | None:
    """A Docker size ("9gb", "64m", 1073741824) in bytes (binary units, as Docker reads them)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    m = _SIZE.match(str(value))
    if m is None:
        return None
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])


def unescape(text: str) -> str:
    """Compose's `$$` is a literal `$` handed to the container."""
    return text.replace("$$", "$")


def read_env_file(path: Path) -> dict[str, str] | None:
    """KEY=VALUE lines of an env file (None when missing or not text).

    An env file over the size bound, a FIFO or a device is refused (InputError, exit 2) before
    it is opened, like every file lint reads."""
    try:
        text = read_bounded(path, what="env file", limit=MAX_FILE_BYTES).decode("utf-8")
    except (OpenFailed, UnicodeDecodeError):
        return None
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if sep and key.strip():
            out[key.strip()] = value.strip().strip("'\"")
    return out


# --- one service -------------------------------------------------------------------------------


def _service(doc: YamlDoc, name: str, spec: dict[str, Any], base: Path, version: str) -> Container:
    path: tuple[str | int, ...] = ("services", name)
    image = spec.get("image")
    image = str(image) if image is not None else None
    env, complete = _env(doc, path, spec, base)
    tokens, wheres, program_in_args = _argv(doc, path, spec, image)
    known = {v.name: v.value for v in env if v.value is not None and "$" not in v.value}
    found = find_vllm(tokens, wheres, version=version, env=known)
    project = str(doc.data.get("name") or "") if isinstance(doc.data, dict) else ""
    return Container(
        source="compose",
        file=doc.file,
        document=doc.index,
        label=f"service {name}",
        workload_kind="compose",
        where=_where(doc, path),
        image=image if "build" not in spec or image else None,
        image_where=_where(doc, (*path, "image")),
        env=(*env, *found.inline_env),
        env_complete=complete,
        gpus=_gpus(doc, path, spec, env),
        shm=_shm(doc, path, spec),
        probes=_healthcheck(doc, path, spec),
        host_network=str(spec.get("network_mode", "")) == "host",
        vllm=found.call,
        argv=tuple(tokens),
        argv_wheres=tuple(wheres),
        shell_error=found.shell_error,
        group=doc.file,
        service=name,
        extra={
            "project": project,
            "container_name": str(spec.get("container_name") or ""),
            "host_ports": ",".join(_host_ports(spec.get("ports"))),
        },
        ray=found.ray,
        pods=_replicas(spec),
        max_pods=_replicas(spec),
        program_in_args=program_in_args,
    )


_CONTAINER_PORT = re.compile(r":(?:\d+(?:-\d+)?|\$\{[^}]*\})(?:/\w+)?$")
_HOST_IP = re.compile(r"^(?:[\d.]+|\[[0-9a-fA-F:]*\]):")


def _host_ports(ports: Any) -> list[str]:
    """The host ports a service publishes, as written (`${PORT:-8008}`, `8000`, `8000-8001`):
    the short form `[IP:]HOST:CONTAINER[/proto]` and the long form's `published`."""
    out: list[str] = []
    for item in ports if isinstance(ports, list) else []:
        if isinstance(item, dict):
            published = item.get("published")
            if published is not None:
                out.append(str(published))
            continue
        text = str(item)
        m = _CONTAINER_PORT.search(text)
        if m is None or m.start() == 0:
            continue  # a container port only: docker picks a free host port
        out.append(_HOST_IP.sub("", text[: m.start()]))
    return out


def _replicas(spec: dict[str, Any]) -> int | None:
    """Containers compose starts for a service: deploy.replicas, else the legacy scale, else 1."""
    deploy = spec.get("deploy")
    raw = deploy.get("replicas") if isinstance(deploy, dict) else None
    raw = spec.get("scale", 1) if raw is None else raw
    return as_int(raw)


def _tokens(doc: YamlDoc, path: tuple[str | int, ...], value: Any) -> tuple[list[str], list[Where]]:
    if value is None:
        return [], []
    if isinstance(value, list):
        items = [(unescape(str(v)), _where(doc, (*path, i))) for i, v in enumerate(value)]
        return [t for t, _ in items], [w for _, w in items]
    where = _where(doc, path)
    try:
        words = shlex.split(unescape(str(value)))
    except ValueError:
        words = unescape(str(value)).split()
    return words, [where] * len(words)


def _argv(
    doc: YamlDoc, path: tuple[str | int, ...], spec: dict[str, Any], image: str | None
) -> tuple[list[str], list[Where], Where | None]:
    """The process argv, and where `command` repeats the program the image's ENTRYPOINT
    (`vllm serve`) already runs (then the command is read as the one meant)."""
    entry, entry_wheres = _tokens(doc, (*path, "entrypoint"), spec.get("entrypoint"))
    command, command_wheres = _tokens(doc, (*path, "command"), spec.get("command"))
    if "entrypoint" not in spec and runs_vllm_server(image, command[0] if command else None):
        if command and looks_like_program(command[0]):
            return command, command_wheres, command_wheres[0]
        entry = list(SERVE)
        entry_wheres = [_where(doc, (*path, "image"))] * len(SERVE)
    return entry + command, entry_wheres + command_wheres, None


def _env(
    doc: YamlDoc, path: tuple[str | int, ...], spec: dict[str, Any], base: Path
) -> tuple[list[EnvVar], bool]:
    out: list[EnvVar] = []
    complete = True
    files = spec.get("env_file")
    entries = files if isinstance(files, list) else [files] if files is not None else []
    for i, entry in enumerate(entries):
        file = entry.get("path") if isinstance(entry, dict) else entry
        if file is None:
            continue
        values = read_env_file(base / str(file))
        if values is None:
            complete = False  # written on the machine later (e.g. .env from .env.example)
            continue
        where = _where(
            doc, (*path, "env_file", i) if isinstance(files, list) else (*path, "env_file")
        )
        out += [EnvVar(k, v, where) for k, v in values.items()]
    environment = spec.get("environment")
    env_path = (*path, "environment")
    if isinstance(environment, dict):
        for key, value in environment.items():
            literal = None if value is None else unescape(_scalar(value))
            out.append(EnvVar(str(key), literal, _where(doc, (*env_path, key))))
    elif isinstance(environment, list):
        for i, item in enumerate(environment):
            key, sep, value = str(item).partition("=")
            out.append(EnvVar(key, unescape(value) if sep else None, _where(doc, (*env_path, i))))
    return out, complete


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _gpus(
    doc: YamlDoc, path: tuple[str | int, ...], spec: dict[str, Any], env: Sequence[EnvVar]
) -> GpuRequest | None:
    devices_path = (*path, "deploy", "resources", "reservations", "devices")
    devices = _get(spec, devices_path[2:])
    for i, device in enumerate(devices if isinstance(devices, list) else []):
        if not isinstance(device, dict):
            continue
        caps = device.get("capabilities") or []
        if "gpu" not in caps and device.get("driver") not in ("nvidia", "amd"):
            continue
        return _device_request(doc, (*devices_path, i), device)
    gpus = spec.get("gpus")
    if gpus == "all":
        return GpuRequest(None, _where(doc, (*path, "gpus")))
    if isinstance(gpus, list):
        for i, device in enumerate(gpus):
            if isinstance(device, dict):
                return _device_request(doc, (*path, "gpus", i), device)
    raw_devices = spec.get("devices")
    device_list = [str(d) for d in raw_devices] if isinstance(raw_devices, list) else []
    if any(d.split(":")[0] == "/dev/kfd" for d in device_list) or spec.get("runtime") == "nvidia":
        where_key = "devices" if device_list else "runtime"
        for var in env:
            if var.name in _VISIBLE_ENV and var.value and "$" not in var.value:
                ids = tuple(x for x in var.value.split(",") if x.strip())
                return GpuRequest(len(ids), var.where, ids)
        return GpuRequest(None, _where(doc, (*path, where_key)))
    return None


def _device_request(
    doc: YamlDoc, path: tuple[str | int, ...], device: dict[str, Any]
) -> GpuRequest:
    ids = device.get("device_ids")
    if isinstance(ids, list):
        return GpuRequest(len(ids), _where(doc, (*path, "device_ids")), tuple(str(x) for x in ids))
    count = device.get("count")
    if count is None or count == "all" or count == -1:
        return GpuRequest(None, _where(doc, path))
    return GpuRequest(as_int(count), _where(doc, (*path, "count")))


def _shm(doc: YamlDoc, path: tuple[str | int, ...], spec: dict[str, Any]) -> Shm:
    if str(spec.get("ipc", "")) == "host":
        return Shm(True, None, "ipc: host", _where(doc, (*path, "ipc")))
    if "shm_size" in spec:
        size = size_bytes(spec["shm_size"])
        return Shm(True, size, "shm_size", _where(doc, (*path, "shm_size")))
    tmpfs = spec.get("tmpfs")
    tmpfs_list = tmpfs if isinstance(tmpfs, list) else [tmpfs] if tmpfs else []
    if any(str(t).split(":")[0].rstrip("/") == "/dev/shm" for t in tmpfs_list):
        return Shm(True, None, "tmpfs", _where(doc, (*path, "tmpfs")))
    volumes = spec.get("volumes")
    for i, volume in enumerate(volumes if isinstance(volumes, list) else []):
        target = volume.get("target") if isinstance(volume, dict) else str(volume).split(":")[1:2]
        target = target[0] if isinstance(target, list) and target else target
        if isinstance(target, str) and target.rstrip("/") == "/dev/shm":
            return Shm(True, None, "volume", _where(doc, (*path, "volumes", i)))
    return Shm(False, None, "Docker default (64 MiB)", _where(doc, path))


def _healthcheck(
    doc: YamlDoc, path: tuple[str | int, ...], spec: dict[str, Any]
) -> tuple[Probe, ...]:
    check = spec.get("healthcheck")
    if not isinstance(check, dict) or check.get("disable") is True:
        return ()
    interval = duration_s(check.get("interval", "30s")) or _HC_INTERVAL_S
    start = duration_s(check.get("start_period", "0s")) or 0.0
    retries = as_int(check.get("retries", _HC_RETRIES)) or _HC_RETRIES
    return (
        Probe(
            "healthcheck", start + interval * retries, False, _where(doc, (*path, "healthcheck"))
        ),
    )


def _where(doc: YamlDoc, path: tuple[str | int, ...]) -> Where:
    return Where(doc.file, doc.index, path, doc.line_of(path))


def _get(data: Any, path: Sequence[str | int]) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data
