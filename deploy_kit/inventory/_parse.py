"""JSON-path accessors and bounds shared by the inventory parsers: every failure names its path."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Final

from deploy_kit.errors import InputError
from deploy_kit.yamlio import ParseLimits, check_shape

# Bounds that separate a typo or a corrupted file from any real machine.
MAX_GPUS_PER_NODE: Final = 256
MAX_GPU_MEMORY_MIB: Final = 16 * 1024 * 1024  # 16 TiB per GPU
MAX_RESOURCE_COUNT: Final = 1_000_000  # rdma shared-device plugins advertise e.g. 63 or 1000
_MAX_INT_DIGITS: Final = 12

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DIGITS = re.compile(r"^[0-9]+$")


def key_path(path: str, key: str) -> str:
    return f"{path}.{key}" if _IDENT.match(key) else f"{path}[{json.dumps(key)}]"


def type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def fail(path: str, message: str, hint: str | None = None) -> InputError:
    return InputError(f"{path}: {message}", hint=hint)


def as_object(value: object, path: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise fail(path, f"expected an object, got {type_name(value)}")
    for key in value:
        if not isinstance(key, str):
            raise fail(path, f"object keys must be strings, got {type_name(key)}")
    return value


def as_list(value: object, path: str) -> list[object]:
    if not isinstance(value, list):
        raise fail(path, f"expected an array, got {type_name(value)}")
    return value


def as_str(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise fail(path, f"expected a string, got {type_name(value)}")
    return value


def opt_object(obj: Mapping[str, object], key: str, path: str) -> dict[str, object]:
    value = obj.get(key)
    if value is None:
        return {}
    return as_object(value, key_path(path, key))


def parse_int(value: object, path: str, *, maximum: int, what: str) -> int:
    """A non-negative integer given as a JSON integer or a decimal string."""
    if isinstance(value, bool):
        raise fail(path, f"{what} must be an integer, got boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if text.startswith("-") and DIGITS.match(text[1:]):
            raise fail(path, f"{what} must not be negative, got {value!r}")
        if not DIGITS.match(text):
            raise fail(path, f"{what} must be a whole number, got {value!r}")
        if len(text) > _MAX_INT_DIGITS:
            raise fail(path, f"{what} is implausibly large ({len(text)} digits)")
        number = int(text)
    else:
        raise fail(path, f"{what} must be an integer, got {type_name(value)}")
    if number < 0:
        raise fail(path, f"{what} must not be negative, got {number}")
    if number > maximum:
        raise fail(path, f"{what} is implausibly large: {number} (limit {maximum})")
    return number


# A node list may be far larger than a deployment file (`kubectl get nodes -o json` of 5,000
# nodes, the most Kubernetes supports: kubernetes.io/docs/setup/best-practices/cluster-large/).
# A node in the test fixtures holds ~140 values; its status.images adds up to 50 images (the
# kubelet's --node-status-max-images default) of ~5 values each, so ~400. Twice that for 5,000
# nodes bounds the walk; the depth bound is the shared one (a node object nests ~8 levels).
NODE_LIST_LIMITS: Final = ParseLimits(values=5_000 * 800)


def load_json(data: str | bytes, what: str) -> object:
    """Parse JSON text within NODE_LIST_LIMITS; a syntax error becomes an InputError at `$`
    naming `what`, and too much work one naming the limit it hit."""
    try:
        value = json.loads(data)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"$: {what} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise InputError(
            f"$: {what} is nested deeper than {NODE_LIST_LIMITS.depth} levels"
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"$: {what} is not valid JSON ({exc})") from None
    check_shape(value, f"$: {what}", limits=NODE_LIST_LIMITS, aliases=0)
    return value


def decode_json(text: object, what: str) -> object:
    """Text or bytes are parsed; anything else is taken as JSON that was already decoded."""
    if isinstance(text, str | bytes):
        return load_json(text, what)
    return text
