"""Writing a bundle: atomic directory swap, a manifest of hashes, and no lost edits."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import stat
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import FrameType

from deploy_kit.errors import EditedFileError, InputError
from deploy_kit.yamlio import MAX_FILE_BYTES, parse_json, read_bounded

MANIFEST = ".deploy-kit-manifest.json"
_MOVE_AWAY = "move it away to re-render this bundle"


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


def check_manifest(out: Path) -> None:
    """Refuse a bundle directory whose manifest is oversized, not a regular file or damaged,
    before any work is spent on what would be written there (render checks it before it plans)."""
    _read_manifest(out)


def _read_manifest(out: Path) -> dict[str, str]:
    path = out / MANIFEST
    if not path.exists():
        return {}
    # Bounded like every file deploy-kit reads: a manifest that is huge, a FIFO or a device is
    # refused (exit 2) before it is read, and its JSON is held to the shared parse limits.
    raw = read_bounded(path, what="bundle manifest", limit=MAX_FILE_BYTES, hint=_MOVE_AWAY)
    try:
        data = parse_json(raw, origin=str(path))
        files = data["files"]
        if not isinstance(files, dict):
            raise TypeError("files is not a mapping")
        return {str(k): str(v) for k, v in files.items()}
    except InputError as exc:
        raise InputError(f"bundle manifest is damaged: {exc}", hint=_MOVE_AWAY) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(
            f"{path} is damaged ({exc}); move it away to re-render this bundle"
        ) from None


def _file_digest(path: Path) -> str:
    """SHA-256 of a file in the bundle directory, read in chunks. A FIFO or device there is
    refused without being opened; a file over MAX_FILE_BYTES (200x the largest file a bundle
    holds, ~20 KB) cannot be one deploy-kit wrote, so it gets a digest nothing matches."""
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise InputError(
            f"{path} is not a regular file (a FIFO, device or socket) where deploy-kit writes "
            "a file: not read",
            hint="move it away and render again",
        )
    if info.st_size > MAX_FILE_BYTES:
        return f"oversized:{info.st_size}"
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


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
    A crash at any point leaves either the old bundle or the new one: the new tree is staged
    beside `out` (unchanged files hard-linked, not copied), what was written is fsynced, then
    the directories are swapped by rename.
    """
    for rel in files:
        _check_rel(rel)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a directory")
    out = out.resolve()
    _restore_interrupted_swap(out)
    existed = out.is_dir()
    old = _read_manifest(out) if existed else {}
    report = WriteReport(out=out)
    encoded = {rel: text.encode("utf-8") for rel, text in sorted(files.items())}
    manifest = {rel: sha256(data) for rel, data in encoded.items()}
    on_disk: dict[str, str] = {}  # digest of what `out` holds now, for the files we write
    conflicts = []
    for rel in encoded if existed else ():
        target = out / rel
        if not target.exists():
            continue
        if target.is_dir():
            raise InputError(f"{target} is a directory where deploy-kit writes a file")
        current = on_disk[rel] = _file_digest(target)
        if current == manifest[rel]:
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
            stage = _Stage(staging)
            if existed:
                stage.mirror(out)
            for rel, data in encoded.items():
                target = staging / rel
                if on_disk.get(rel) == manifest[rel] and target.is_file():
                    report.unchanged.append(rel)
                    continue
                stage.mkdirs(target.parent)
                if rel in conflicts:
                    stage.keep(target, target.with_name(target.name + ".bak"))
                    report.backups.append(rel + ".bak")
                stage.write(target, data)
                report.written.append(rel)
            for rel, digest in old.items():
                if rel in manifest or not _inside(rel):
                    continue
                stale = staging / rel
                if stale.is_file() and _file_digest(stale) == digest:
                    stale.unlink()
                    report.removed.append(rel)
                elif stale.is_file():
                    report.kept_edited.append(rel)
            text = json.dumps(
                {"generator": "deploy-kit", "files": manifest}, indent=2, sort_keys=True
            )
            stage.write(staging / MANIFEST, (text + "\n").encode("utf-8"), unless_equal=True)
            stage.sync()
            _swap(staging, out)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return report


def _same(path: Path, data: bytes) -> bool:
    return (
        path.is_file()
        and not path.is_symlink()
        and path.stat().st_size == len(data)
        and path.read_bytes() == data
    )


def _inside(rel: str) -> bool:
    try:
        _check_rel(rel)
    except InputError:
        return False  # a damaged manifest never makes deploy-kit delete outside the bundle
    return True


class _Stage:
    """The staging tree: what was linked, written and created, so only that is fsynced."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dirs: list[Path] = [root]
        self.files: list[Path] = []

    def mirror(self, src: Path) -> None:
        """The old bundle's tree, each file hard-linked (a copy where links are not possible):
        unchanged files are then neither copied nor written nor fsynced again."""
        shutil.copystat(src, self.root)
        for dirpath, dirnames, filenames in os.walk(src):
            here = self.root / os.path.relpath(dirpath, src)
            for name in list(dirnames):
                if os.path.islink(os.path.join(dirpath, name)):
                    dirnames.remove(name)
                    filenames.append(name)
                    continue
                (here / name).mkdir()
                shutil.copystat(os.path.join(dirpath, name), here / name)
                self.dirs.append(here / name)
            for name in filenames:
                self._link(os.path.join(dirpath, name), here / name)

    def _link(self, src: str, dst: Path) -> None:
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
            return
        try:
            os.link(src, dst)
        except OSError:  # no hard links on this filesystem (or too many): a durable copy
            shutil.copy2(src, dst)
            self.files.append(dst)

    def mkdirs(self, path: Path) -> None:
        missing = []
        while not path.is_dir():
            missing.append(path)
            path = path.parent
        for d in reversed(missing):
            d.mkdir()
            self.dirs.append(d)

    def keep(self, target: Path, bak: Path) -> None:
        """The edited file becomes `.bak`: renamed (the old bundle keeps its own link), or its
        content copied when it is a symlink. Synced either way: a person's edit may not be."""
        if target.is_symlink() or not target.is_file():
            shutil.copy2(target, bak)
        else:
            os.replace(target, bak)
        self.files.append(bak)

    def write(self, target: Path, data: bytes, *, unless_equal: bool = False) -> None:
        if unless_equal and _same(target, data):
            return
        # A linked file is shared with the old bundle: replace the entry, never write through.
        if target.is_symlink() or target.exists():
            target.unlink()
        target.write_bytes(data)
        self.files.append(target)

    def sync(self) -> None:
        """fsync what is new: written files first, then every directory of the staged tree."""
        with _pool() as pool:
            _fsync_all(pool, self.files)
            _fsync_all(pool, self.dirs)


# fsync waits on the disk, not the CPU: run many at once so the filesystem commits its journal
# for a batch instead of once per file (several times faster on ext4 and xfs).
_FSYNC_WORKERS = 16
_swaps = 0


@dataclass
class _Batch:
    pool: ThreadPoolExecutor
    parents: set[Path] = field(default_factory=set)
    jobs: list[Future[None]] = field(default_factory=list)


_batch: _Batch | None = None


@contextlib.contextmanager
def batch() -> Iterator[None]:
    """Write many bundles in a row: each swap stays atomic, but the replaced trees are removed
    in the background and each parent directory is fsynced once, when the batch ends."""
    global _batch
    if _batch is not None:  # already inside one
        yield
        return
    with ThreadPoolExecutor(_FSYNC_WORKERS, thread_name_prefix="dk-bundle") as pool:
        _batch = current = _Batch(pool)
        try:
            yield
        finally:
            _batch = None
            for job in current.jobs:
                job.result()
            _fsync_all(pool, sorted(current.parents))


@contextlib.contextmanager
def _pool() -> Iterator[ThreadPoolExecutor]:
    """The batch's threads, or threads for this one bundle (none outlives its caller)."""
    if _batch is not None:
        yield _batch.pool
        return
    with ThreadPoolExecutor(_FSYNC_WORKERS, thread_name_prefix="dk-bundle") as pool:
        yield pool


def _fsync_all(pool: ThreadPoolExecutor, paths: Iterable[Path]) -> None:
    for _ in pool.map(_fsync, paths):
        pass


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _swap(staging: Path, out: Path) -> None:
    global _swaps
    if not out.exists():
        staging.rename(out)
        prev = None
    else:
        _swaps += 1  # a unique name: a batch may still be removing an earlier one
        prev = out.parent / f".{out.name}.prev-{os.getpid()}-{_swaps}"
        out.rename(prev)
        staging.rename(out)
    if _batch is not None:  # many bundles: old trees go in the background, parents at the end
        _batch.parents.add(out.parent)
        if prev is not None:
            _batch.jobs.append(_batch.pool.submit(shutil.rmtree, prev, True))
        return
    if prev is not None:
        shutil.rmtree(prev, ignore_errors=True)
    _fsync(out.parent)  # the renames themselves
