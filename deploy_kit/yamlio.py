"""Safe, bounded YAML/JSON reading for every file a user hands deploy-kit."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, cast

import yaml

from deploy_kit.errors import InputError

# A hardware or deployment file is a few hundred bytes; 4 MiB leaves room for node lists
# (`kubectl get nodes -o json` of a large cluster) while refusing a 100 MB paste.
MAX_FILE_BYTES = 4 * 1024 * 1024
# YAML aliases can expand a small file exponentially ("billion laughs"); real files use few.
MAX_ALIASES = 100
MAX_DEPTH = 64
# Shared aliases build a DAG that expands exponentially when walked; a real input file has at
# most tens of thousands of values (a large `kubectl get nodes -o json`).
MAX_ELEMENTS = 200_000


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
    """For user files: no duplicate keys, and a bound on aliases."""

    alias_count = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.alias_count += 1
            if self.alias_count > MAX_ALIASES:
                raise yaml.constructor.ConstructorError(
                    None, None, f"more than {MAX_ALIASES} YAML aliases (alias bomb?)", None
                )
        return super().compose_node(parent, index)


# The packaged catalog is trusted and read on every command: libyaml's C loader is ~6x faster.
_TRUSTED_BASE: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _TrustedLoader(_NoDuplicateKeys, _TRUSTED_BASE):  # type: ignore[valid-type,misc]
    """For deploy-kit's own data files only."""


def check_shape(value: Any, origin: str) -> None:
    """Refuse data nested too deeply or expanding past MAX_ELEMENTS values."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    seen = 0
    while stack:
        item, depth = stack.pop()
        seen += 1
        if depth > MAX_DEPTH:
            raise InputError(f"{origin}: nested deeper than {MAX_DEPTH} levels")
        if seen > MAX_ELEMENTS:
            raise InputError(
                f"{origin}: more than {MAX_ELEMENTS} values once aliases are expanded (alias bomb?)"
            )
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def read_text(path: Path, *, what: str = "file", limit: int = MAX_FILE_BYTES) -> str:
    """Read a small text file or raise InputError saying what is wrong with it."""
    return decode_text(read_bounded(path, what=what, limit=limit), path, what=what)


def decode_text(raw: bytes, path: Path, *, what: str = "file") -> str:
    """The UTF-8 text of bytes read from `path`, or InputError saying why it is not text."""
    if b"\x00" in raw:
        raise InputError(f"{what} {path} is binary, expected YAML or JSON text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{what} {path} is not UTF-8 text") from None


def read_bounded(path: Path, *, what: str, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes (never reads past the limit)."""
    if "\x00" in str(path):
        raise InputError(f"{what} path contains a NUL byte")
    if path.is_dir():
        raise InputError(f"{what} {path} is a directory, expected a file")
    try:
        if path.exists() and not path.is_file():
            raise InputError(f"{what} {path} is not a regular file (device, FIFO or socket)")
        with path.open("rb") as fh:
            raw = fh.read(limit + 1)
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(raw) > limit:
        raise InputError(f"{what} {path} is larger than the limit of {limit} bytes")
    return raw


def parse_yaml(text: str, *, origin: str, trusted: bool = False) -> Any:
    """Parse one YAML (or JSON) document safely; InputError with line on failure."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise InputError(f"{origin}: larger than {MAX_FILE_BYTES} bytes")
    loader: Any = cast(Any, _TrustedLoader)(text) if trusted else _StrictLoader(text)
    try:
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
        loader.dispose()
    check_shape(data, origin)
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


def load_json_file(path: Path, *, what: str = "file") -> Any:
    """Read and parse a JSON file."""
    text = read_text(path, what=what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} (line {exc.lineno}): invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise InputError(f"{path}: nested too deeply") from None


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
