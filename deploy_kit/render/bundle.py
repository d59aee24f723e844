"""Writing a bundle: atomic directory swap, a manifest of hashes, and no lost edits."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import FrameType

from deploy_kit.errors import EditedFileError, InputError

MANIFEST = ".deploy-kit-manifest.json"


@dataclass
class WriteReport:
    """What a render did to the bundle directory."""

    out: Path
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    backups: list[str] = field(default_factory=list)
    kept_edited: list[str] = field(default_factory=list)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_rel(path: str) -> None:
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts or not path or "\x00" in path:
        raise InputError(f"refusing to write outside the bundle: {path!r}")


def _read_manifest(out: Path) -> dict[str, str]:
    path = out / MANIFEST
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        files = data["files"]
        if not isinstance(files, dict):
            raise TypeError("files is not a mapping")
        return {str(k): str(v) for k, v in files.items()}
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(
            f"{path} is damaged ({exc}); move it away to re-render this bundle"
        ) from None


class _Interrupted(BaseException):
    """SIGTERM/SIGHUP turned into an exception so the staging directory is cleaned up."""


@contextlib.contextmanager
def _signals_as_exceptions() -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise _Interrupted(f"signal {signum}")

    saved = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        # Outside the main thread signals cannot be handled here: leave them alone.
        with contextlib.suppress(ValueError):
            saved[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in saved.items():
            signal.signal(sig, old)


def _restore_interrupted_swap(out: Path) -> None:
    """If a previous run died between the two renames, put the old bundle back."""
    if out.exists():
        return
    for prev in sorted(out.parent.glob(f".{out.name}.prev-*")):
        prev.rename(out)
        return


def write_bundle(out: Path, files: dict[str, str], *, force: bool = False) -> WriteReport:
    """Write `files` (relative path -> text) into `out` as one atomic step.

    Files deploy-kit wrote before and nobody changed are replaced; a file a person edited (or a
    file deploy-kit never wrote) is never overwritten unless `force`, which keeps a `.bak`.
    """
    for rel in files:
        _check_rel(rel)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a directory")
    out = out.resolve()
    _restore_interrupted_swap(out)
    old = _read_manifest(out) if out.is_dir() else {}
    report = WriteReport(out=out)
    encoded = {rel: text.encode("utf-8") for rel, text in sorted(files.items())}
    conflicts = []
    for rel, data in encoded.items():
        target = out / rel
        if not target.exists():
            continue
        if target.is_dir():
            raise InputError(f"{target} is a directory where deploy-kit writes a file")
        current = sha256(target.read_bytes())
        if current == sha256(data):
            continue
        if old.get(rel) != current:
            conflicts.append(rel)
    if conflicts and not force:
        raise EditedFileError([str(out / rel) for rel in conflicts])

    out.parent.mkdir(parents=True, exist_ok=True)
    with _signals_as_exceptions():
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
        try:
            os.chmod(staging, 0o755)  # mkdtemp's 0700 would become the bundle's mode
            if out.is_dir():
                shutil.copytree(out, staging, dirs_exist_ok=True, symlinks=True)
            manifest: dict[str, str] = {}
            for rel, data in encoded.items():
                target = staging / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                digest = sha256(data)
                manifest[rel] = digest
                if target.is_file() and sha256(target.read_bytes()) == digest:
                    report.unchanged.append(rel)
                    continue
                if rel in conflicts:
                    shutil.copy2(target, target.with_name(target.name + ".bak"))
                    report.backups.append(rel + ".bak")
                target.write_bytes(data)
                report.written.append(rel)
            for rel, digest in old.items():
                if rel in manifest:
                    continue
                stale = staging / rel
                if stale.is_file() and sha256(stale.read_bytes()) == digest:
                    stale.unlink()
                    report.removed.append(rel)
                elif stale.is_file():
                    report.kept_edited.append(rel)
            (staging / MANIFEST).write_text(
                json.dumps({"generator": "deploy-kit", "files": manifest}, indent=2, sort_keys=True)
                + "\n",
                encoding="utf-8",
            )
            _fsync_tree(staging)
            _swap(staging, out)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return report


def _fsync_tree(root: Path) -> None:
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            with open(os.path.join(dirpath, name), "rb") as fh:
                os.fsync(fh.fileno())


def _swap(staging: Path, out: Path) -> None:
    if not out.exists():
        staging.rename(out)
        return
    prev = out.parent / f".{out.name}.prev-{os.getpid()}"
    out.rename(prev)
    staging.rename(out)
    shutil.rmtree(prev, ignore_errors=True)
