"""Safe, bounded YAML/JSON reading for every file a user hands deploy-kit."""

from __future__ import annotations

import contextlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml

from deploy_kit.errors import InputError

# A hardware or deployment file is a few hundred bytes; 4 MiB leaves room for node lists
# (`kubectl get nodes -o json` of a large cluster) while refusing a 100 MB paste.
MAX_FILE_BYTES = 4 * 1024 * 1024
# YAML aliases can expand a small file exponentially ("billion laughs"); real files use few.
MAX_ALIASES = 100
# The deepest file deploy-kit reads is a CRD schema: 37 levels in ray.io_rayservices.yaml, the
# deepest of the CRDs bundled in validate/crds (measured); 64 leaves room.
MAX_DEPTH = 64
# Shared aliases build a DAG that expands exponentially when walked; a real input file has at
# most tens of thousands of values (a large `kubectl get nodes -o json`).
MAX_ELEMENTS = 200_000
# Reads grow a buffer by this much while a file that reported size 0 (procfs) keeps giving data.
_READ_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ParseLimits:
    """How much parse work one file may cost, checked before anything is built from it.

    `values` bounds both the nodes written in the file (keys, scalars, list items) and the
    values once aliases are expanded; `depth` the nesting; `aliases` the alias references."""

    values: int = MAX_ELEMENTS
    depth: int = MAX_DEPTH
    aliases: int = MAX_ALIASES


LIMITS = ParseLimits()


@dataclass(frozen=True)
class ScanStats:
    """What the event scan of a YAML text counted (all within the limits it was given)."""

    nodes: int
    aliases: int


class _NoDuplicateKeys(yaml.constructor.SafeConstructor):
    """Loader mixin: a mapping with the same key twice is an error (PyYAML keeps the last)."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                dup = key in seen
            except TypeError:
                dup = False
            if dup:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            with contextlib.suppress(TypeError):
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _StrictLoader(_NoDuplicateKeys, yaml.SafeLoader):
    """For user files: no duplicate keys (the parse limits are checked by `scan_yaml` first)."""


# libyaml's C parser is ~6x faster than PyYAML's: the packaged catalog (read on every command)
# and the limit scan of every user file use it when PyYAML was built with it.
_TRUSTED_BASE: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _TrustedLoader(_NoDuplicateKeys, _TRUSTED_BASE):  # type: ignore[valid-type,misc]
    """For deploy-kit's own data files only."""


_OPENERS = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSERS = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def _line(event_or_mark: Any) -> str:
    line = getattr(getattr(event_or_mark, "start_mark", event_or_mark), "line", None)
    return f" (line {line + 1})" if isinstance(line, int) else ""


def scan_yaml(text: str, *, origin: str, limits: ParseLimits = LIMITS) -> ScanStats:
    """Walk the parser's events (no objects are built) and refuse a text over `limits`.

    Building nodes costs ~10x more than reading events (measured on the issue's file, small flow
    mappings: ~1 us an event to scan, ~8 us a node to compose), so every YAML reader calls this
    first: a file over a limit is refused after at most `limits.values` events, and the message
    names the limit actually crossed. Syntax errors propagate as yaml.YAMLError."""
    loader = _TRUSTED_BASE(text)
    nodes = aliases = depth = 0
    try:
        while True:
            event = loader.get_event()  # type: ignore[no-untyped-call]
            if event is None or isinstance(event, yaml.StreamEndEvent):
                break
            if isinstance(event, yaml.ScalarEvent):
                nodes += 1
                if depth + 1 > limits.depth:
                    raise _too_deep(origin, event, limits)
            elif isinstance(event, _OPENERS):
                nodes += 1
                depth += 1
                if depth > limits.depth:
                    raise _too_deep(origin, event, limits)
            elif isinstance(event, _CLOSERS):
                depth -= 1
            elif isinstance(event, yaml.AliasEvent):
                nodes += 1
                aliases += 1
                if aliases > limits.aliases:
                    raise InputError(
                        f"{origin}{_line(event)}: more than {limits.aliases} YAML aliases "
                        "(the limit per file)",
                        hint="write the repeated values out, or use fewer anchors",
                    )
            if nodes > limits.values:
                raise InputError(
                    f"{origin}{_line(event)}: more than {limits.values:,} values (keys, scalars "
                    "and list items) written in the file, the parse limit per file",
                    hint="split it into smaller files",
                )
    except yaml.MarkedYAMLError as exc:
        # libyaml (0.2.5+) stops at its own nesting limit while looking ahead, before the
        # events above reach `limits.depth`: report it as the nesting it is.
        if "nesting depth" in str(exc.problem):
            raise _too_deep(origin, exc.problem_mark, limits) from None
        raise
    finally:
        loader.dispose()
    return ScanStats(nodes=nodes, aliases=aliases)


def _too_deep(origin: str, event: Any, limits: ParseLimits) -> InputError:
    return InputError(f"{origin}{_line(event)}: nested deeper than {limits.depth} levels")


def check_shape(
    value: Any, origin: str, *, limits: ParseLimits = LIMITS, aliases: int | None = None
) -> None:
    """Refuse data nested too deeply or holding more than `limits.values` values once walked.

    `aliases` is how many YAML aliases the source had (0 for JSON; None when unknown): the walk
    can outgrow the nodes written in a file only through aliases, and the message says which."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    seen = 0
    while stack:
        item, depth = stack.pop()
        seen += 1
        if depth > limits.depth:
            raise InputError(f"{origin}: nested deeper than {limits.depth} levels")
        if seen > limits.values:
            raise InputError(_too_many_message(origin, limits, aliases))
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def _too_many_message(origin: str, limits: ParseLimits, aliases: int | None) -> str:
    if aliases:
        return (
            f"{origin}: {aliases} YAML alias(es) expand to more than {limits.values:,} values "
            "(an alias bomb?)"
        )
    if aliases == 0:
        return f"{origin}: more than {limits.values:,} values, the parse limit per file"
    return (
        f"{origin}: more than {limits.values:,} values once any aliases are expanded, "
        "the parse limit per file"
    )


def read_text(
    path: Path,
    *,
    what: str = "file",
    limit: int = MAX_FILE_BYTES,
    hint: str | None = None,
) -> str:
    """Read a small text file or raise InputError saying what is wrong with it."""
    return decode_text(read_bounded(path, what=what, limit=limit, hint=hint), path, what=what)


def decode_text(raw: bytes, path: Path, *, what: str = "file") -> str:
    """The UTF-8 text of bytes read from `path`, or InputError saying why it is not text."""
    if b"\x00" in raw:
        raise InputError(f"{what} {path} is binary, expected YAML or JSON text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{what} {path} is not UTF-8 text") from None


class OpenFailed(InputError):
    """The file could not be looked at or opened (missing, no permission, a loop of links)."""

    def __init__(self, path: Path, what: str, exc: OSError) -> None:
        self.reason = exc.strerror or str(exc)
        super().__init__(f"cannot read {what} {path}: {self.reason}")


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit} ({n:,} bytes)"
    return f"{n:,} bytes"


def _file_type(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _too_big(path: Path, what: str, size: int | None, limit: int, hint: str | None) -> InputError:
    how_big = f"is {_size(size)}" if size is not None else "grew while being read"
    return InputError(
        f"{what} {path} {how_big}, over the limit of {_size(limit)}: not read",
        hint=hint or f"a {what} is far smaller than this: check that it is the right file",
    )


def _refuse_kind(path: Path, what: str, mode: int) -> InputError:
    if stat.S_ISDIR(mode):
        return InputError(f"{what} {path} is a directory, expected a file")
    return InputError(
        f"{what} {path} is {_file_type(mode)}, not a regular file: not read",
        hint="deploy-kit reads only regular files: save the content to one first",
    )


def check_file(path: Path, *, what: str, limit: int, hint: str | None = None) -> int:
    """The size of `path` if it is a regular file within `limit` bytes, by stat alone (nothing
    is opened); InputError naming the file, its size or type, and the limit otherwise."""
    if "\x00" in str(path):
        raise InputError(f"{what} path contains a NUL byte")
    try:
        info = os.stat(path)
    except OSError as exc:
        raise OpenFailed(path, what, exc) from None
    if not stat.S_ISREG(info.st_mode):
        raise _refuse_kind(path, what, info.st_mode)
    if info.st_size > limit:
        raise _too_big(path, what, info.st_size, limit, hint)
    return info.st_size


def read_bounded(path: Path, *, what: str, limit: int, hint: str | None = None) -> bytes:
    """The bytes of a regular file of at most `limit` bytes, or InputError saying why not.

    The size and type come from stat before anything is opened, so a 100 MB file costs one
    stat, and a FIFO or device is never opened. The open is non-blocking (a FIFO swapped in
    after the stat cannot hang it), the open file is checked again, and at most `limit` + 1
    bytes are read. `hint` tells the reader what to do with a file over the limit."""
    check_file(path, what=what, limit=limit, hint=hint)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise OpenFailed(path, what, exc) from None
    try:
        info = os.fstat(fd)  # what was opened, which may not be what was looked at
        if not stat.S_ISREG(info.st_mode):
            raise _refuse_kind(path, what, info.st_mode)
        if info.st_size > limit:
            raise _too_big(path, what, info.st_size, limit, hint)
        buf = bytearray()
        want = min(limit + 1, info.st_size + 1)
        while len(buf) <= limit:
            chunk = os.read(fd, max(want - len(buf), min(_READ_CHUNK, limit + 1 - len(buf))))
            if not chunk:
                break
            buf += chunk
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(buf) > limit:
        raise _too_big(path, what, None, limit, hint)
    return bytes(buf)


def parse_yaml(
    text: str, *, origin: str, trusted: bool = False, limits: ParseLimits = LIMITS
) -> Any:
    """Parse one YAML (or JSON) document safely; InputError with line on failure.

    An untrusted text is scanned against `limits` before any object is built from it."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_FILE_BYTES:
        raise InputError(
            f"{origin}: {_size(size)} of YAML, over the limit of {_size(MAX_FILE_BYTES)}"
        )
    aliases: int | None = None
    loader: Any = None
    try:
        if not trusted:
            aliases = scan_yaml(text, origin=origin, limits=limits).aliases
        loader = cast(Any, _TrustedLoader)(text) if trusted else _StrictLoader(text)
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError(f"{origin}{where}: {problem}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{origin}: invalid YAML: {exc}") from None
    except RecursionError:
        raise InputError(f"{origin}: nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()
    check_shape(data, origin, limits=limits, aliases=aliases)
    return data


def parse_json(text: str | bytes, *, origin: str, limits: ParseLimits = LIMITS) -> Any:
    """Parse JSON text within `limits` (nesting, value count); InputError with line on failure."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{origin} (line {exc.lineno}): invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise InputError(f"{origin}: nested deeper than {limits.depth} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{origin}: invalid JSON: {exc}") from None
    check_shape(data, origin, limits=limits, aliases=0)  # JSON has no aliases
    return data


def load_yaml_file(path: Path, *, what: str = "file", trusted: bool = False) -> Any:
    """Read and parse a YAML file; empty files are an error."""
    return parse_yaml_file_bytes(
        read_bounded(path, what=what, limit=MAX_FILE_BYTES), path, what=what, trusted=trusted
    )


def parse_yaml_file_bytes(
    raw: bytes, path: Path, *, what: str = "file", trusted: bool = False
) -> Any:
    """Parse the bytes already read from the YAML file `path`; empty files are an error."""
    data = parse_yaml(decode_text(raw, path, what=what), origin=str(path), trusted=trusted)
    if data is None:
        raise InputError(f"{what} {path} is empty")
    return data


def load_json_file(path: Path, *, what: str = "file", limit: int = MAX_FILE_BYTES) -> Any:
    """Read and parse a JSON file within the size bound and the parse limits."""
    return parse_json(read_text(path, what=what, limit=limit), origin=str(path))


_TYPE_TAGS = {"str", "int", "float", "bool", "list", "dict"}


def _field_path(loc: Any) -> str:
    """`gpu.CustomGpu.memory` -> `gpu.memory`: drop pydantic's union-branch tags."""
    parts = [
        str(p)
        for p in loc
        if not (isinstance(p, str) and (p in _TYPE_TAGS or p[:1].isupper() or "[" in p))
    ]
    return ".".join(parts) or "(top level)"


def validation_message(exc: Any, *, origin: str) -> str:
    """One line from a pydantic ValidationError: field path and what is expected."""
    errors = exc.errors()
    # For a union the deepest error is the branch the input was meant for.
    first = max(errors, key=lambda e: len(e.get("loc", ())))
    loc = _field_path(first.get("loc", ()))
    msg = first.get("msg", "invalid value")
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{origin}: {loc}: {msg}{more}"
