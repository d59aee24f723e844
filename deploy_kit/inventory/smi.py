"""Parsers for nvidia-smi CSV and rocm-smi / amd-smi JSON: GPUs seen on one host."""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Final

from deploy_kit.errors import InputError
from deploy_kit.inventory._parse import (
    DIGITS,
    MAX_GPU_MEMORY_MIB,
    as_list,
    as_object,
    as_str,
    decode_json,
    fail,
    key_path,
    opt_object,
    parse_int,
    type_name,
)
from deploy_kit.inventory.models import GpuObservation, Vendor

_NVSMI_QUERY = (
    "nvidia-smi --query-gpu=index,name,memory.total,compute_cap --format=csv,noheader,nounits"
)
_NA_VALUES: Final = frozenset({"[n/a]", "n/a", "[not supported]", "not supported", ""})
_NVSMI_COLUMNS: Final = ("index", "name", "memory.total", "compute_cap")
_MIB: Final = 1024 * 1024

# One GPU as a tool reported it: (product, memory MiB, compute capability, GFX target).
_Row = tuple[str, int | None, str | None, str | None]


def parse_nvidia_smi_csv(text: str) -> list[GpuObservation]:
    """Parse ``nvidia-smi --query-gpu=index,name,memory.total,compute_cap --format=csv``.

    The ``noheader,nounits`` form is expected; a header line (any column order, ``name``
    required) and ``81559 MiB`` values are tolerated, and ``[N/A]`` memory (GB10 unified
    memory) becomes ``None``. Returns one observation per distinct (name, memory, compute
    capability) with its count, in first-seen order.
    """
    if not isinstance(text, str):
        raise InputError(f"nvidia-smi output: expected text, got {type_name(text)}")
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise InputError("nvidia-smi output is empty", hint=f"run: {_NVSMI_QUERY}")
    if lines[0][1].strip().lower().startswith("no devices were found"):
        raise InputError("nvidia-smi found no GPUs on this host")
    columns: tuple[str, ...] = _NVSMI_COLUMNS
    first_line = lines[0][1].lower()
    if "name" in first_line and ("memory.total" in first_line or "index" in first_line):
        header = [re.sub(r"\s*\[.*\]\s*$", "", c.strip()).lower() for c in lines[0][1].split(",")]
        if "name" not in header or len(set(header)) != len(header):
            raise InputError(f"line {lines[0][0]}: unusable nvidia-smi header {lines[0][1]!r}")
        columns = tuple(header)
        lines = lines[1:]
    rows: list[_Row] = []
    indices: set[str] = set()
    for number, line in lines:
        where = f"line {number}"
        try:
            cells = next(csv.reader([line], skipinitialspace=True))
        except csv.Error as exc:
            raise InputError(f"{where}: not CSV ({exc})") from None
        if len(cells) != len(columns):
            raise InputError(
                f"{where}: expected {len(columns)} comma-separated values "
                f"({', '.join(columns)}), got {len(cells)}: {line.strip()!r}",
                hint=f"run: {_NVSMI_QUERY}",
            )
        record = dict(zip(columns, (c.strip() for c in cells), strict=True))
        name = record["name"]
        if not name or name.lower() in _NA_VALUES:
            raise InputError(f"{where}: empty GPU name")
        if "index" in record:
            if not DIGITS.match(record["index"]) or len(record["index"]) > 4:
                raise InputError(
                    f"{where}: index must be a small whole number, got {record['index']!r}"
                )
            if record["index"] in indices:
                raise InputError(f"{where}: GPU index {record['index']} appears twice")
            indices.add(record["index"])
        memory = _smi_memory(record["memory.total"], where) if "memory.total" in record else None
        cc = _smi_compute_cap(record["compute_cap"], where) if "compute_cap" in record else None
        rows.append((name, memory, cc, None))
    if not rows:
        raise InputError("nvidia-smi output has a header but no GPU rows")
    return _group(rows, "nvidia")


def parse_rocm_smi_json(text: str | bytes | object) -> list[GpuObservation]:
    """Parse ``rocm-smi --showproductname --showmeminfo vram --json``.

    The output is an object keyed ``card0``, ``card1``...; other keys (``system``) are ignored.
    The product comes from ``Card Series`` (falling back to ``Device Name`` then ``Card
    Model``), memory from ``VRAM Total Memory (B)``, the GFX target from ``GFX Version``.
    """
    top = as_object(decode_json(text, "rocm-smi output"), "$")
    cards = [(k, v) for k, v in top.items() if re.fullmatch(r"card[0-9]+", k)]
    if not cards:
        raise fail(
            "$",
            "no 'cardN' entries in rocm-smi output",
            hint="run: rocm-smi --showproductname --showmeminfo vram --json",
        )
    rows: list[_Row] = []
    for key, raw in cards:
        path = key_path("$", key)
        card = as_object(raw, path)
        product: str | None = None
        for name in ("Card Series", "Device Name", "Card Model"):
            found = _lookup(card, name)
            if found is not None:
                value = as_str(found[1], key_path(path, found[0])).strip()
                if _present(value):
                    product = value
                    break
        if product is None:
            raise fail(
                path,
                "no product name ('Card Series') for this card",
                hint="include --showproductname",
            )
        memory: int | None = None
        found = _lookup(card, "VRAM Total Memory (B)")
        if found is not None:
            mem_path = key_path(path, found[0])
            value = as_str(found[1], mem_path).strip()
            if _present(value):
                size = parse_int(
                    value, mem_path, maximum=MAX_GPU_MEMORY_MIB * _MIB, what="VRAM bytes"
                )
                memory = size // _MIB or None
        gfx: str | None = None
        found = _lookup(card, "GFX Version")
        if found is not None:
            value = as_str(found[1], key_path(path, found[0])).strip()
            gfx = value if _present(value) else None
        rows.append((product, memory, None, gfx))
    return _group(rows, "amd")


def parse_amd_smi_static_json(text: str | bytes | object) -> list[GpuObservation]:
    """Parse ``amd-smi static --json`` (a list of GPUs, or ``{"gpu_data": [...]}``).

    The product comes from ``asic.market_name`` (falling back to ``board.product_name`` and
    then ``asic.device_id``), memory from ``vram.size``, the GFX target from
    ``asic.target_graphics_version``.
    """
    top = decode_json(text, "amd-smi output")
    path = "$"
    if isinstance(top, dict) and "gpu_data" in top:
        top, path = top["gpu_data"], "$.gpu_data"
    gpus = as_list(top, path)
    if not gpus:
        raise fail(path, "amd-smi reported no GPUs")
    rows: list[_Row] = []
    for i, raw in enumerate(gpus):
        here = f"{path}[{i}]"
        gpu = as_object(raw, here)
        asic = opt_object(gpu, "asic", here)
        board = opt_object(gpu, "board", here)
        vram = opt_object(gpu, "vram", here)
        product: str | None = None
        for obj, section, key in (
            (asic, "asic", "market_name"),
            (board, "board", "product_name"),
            (asic, "asic", "device_id"),
        ):
            if key in obj:
                value = as_str(obj[key], key_path(key_path(here, section), key)).strip()
                if _present(value):
                    product = value
                    break
        if product is None:
            raise fail(
                key_path(here, "asic"),
                "no market_name for this GPU",
                hint="run: amd-smi static --asic --vram --json",
            )
        memory: int | None = None
        vram_path = key_path(here, "vram")
        for key in ("size", "vram_size"):
            if key in vram:
                memory = _amd_smi_size(vram[key], key_path(vram_path, key))
                break
        gfx: str | None = None
        if "target_graphics_version" in asic:
            value = as_str(
                asic["target_graphics_version"],
                key_path(key_path(here, "asic"), "target_graphics_version"),
            ).strip()
            gfx = value if _present(value) else None
        rows.append((product, memory, None, gfx))
    return _group(rows, "amd")


def _smi_memory(text: str, where: str) -> int | None:
    value = text.strip()
    if value.lower() in _NA_VALUES:
        return None
    match = re.fullmatch(r"([0-9]{1,9})(?:\s*MiB)?", value)
    if match is None:
        raise InputError(
            f"{where}: memory.total must be MiB like '81559' or '81559 MiB', got {text.strip()!r}"
        )
    mib = int(match.group(1))
    if mib > MAX_GPU_MEMORY_MIB:
        raise InputError(f"{where}: memory.total is implausibly large: {mib} MiB")
    return mib or None


def _smi_compute_cap(text: str, where: str) -> str | None:
    value = text.strip()
    if value.lower() in _NA_VALUES:
        return None
    if re.fullmatch(r"[0-9]{1,2}\.[0-9]{1,2}", value) is None:
        raise InputError(f"{where}: compute_cap must look like '9.0', got {value!r}")
    return value


def _group(rows: Iterable[_Row], vendor: Vendor) -> list[GpuObservation]:
    counts: Counter[_Row] = Counter()
    order: list[_Row] = []
    for row in rows:
        if row not in counts:
            order.append(row)
        counts[row] += 1
    return [
        GpuObservation(
            product=product,
            vendor=vendor,
            memory_mib=memory,
            count=counts[(product, memory, cc, gfx)],
            compute_capability=cc,
            gfx_version=gfx,
        )
        for product, memory, cc, gfx in order
    ]


def _lookup(obj: Mapping[str, object], *names: str) -> tuple[str, object] | None:
    """Case-insensitive key lookup (rocm-smi spelled 'Card series' before 'Card Series')."""
    lowered = {k.lower(): k for k in obj}
    for name in names:
        key = lowered.get(name.lower())
        if key is not None:
            return key, obj[key]
    return None


def _present(value: str) -> bool:
    return value.strip().lower() not in _NA_VALUES


_UNIT_MIB: Final = {
    "b": 1 / _MIB,
    "kb": 1 / 1024,
    "kib": 1 / 1024,
    "mb": 1,  # amd-smi prints MiB and calls them MB (196592 MB on a 192 GiB MI300X)
    "mib": 1,
    "gb": 1024,
    "gib": 1024,
}


def _amd_smi_size(value: object, path: str) -> int | None:
    """vram.size as {'value': 196592, 'unit': 'MB'}, '196592 MB' or a bare MiB number."""
    number: object
    unit: str
    if isinstance(value, dict):
        obj = as_object(value, path)
        number = obj.get("value")
        unit_raw = obj.get("unit", "MB")
        unit = as_str(unit_raw, key_path(path, "unit")).strip().lower()
        if isinstance(number, str) and not _present(number):
            return None
    elif isinstance(value, str):
        if not _present(value):
            return None
        match = re.fullmatch(r"\s*([0-9]{1,15})\s*([A-Za-z]*)\s*", value)
        if match is None:
            raise fail(path, f"expected a size like '196592 MB', got {value!r}")
        number, unit = match.group(1), (match.group(2) or "MB").lower()
    else:
        number, unit = value, "mb"
    if unit not in _UNIT_MIB:
        raise fail(path, f"unknown size unit {unit!r}")
    amount = parse_int(number, path, maximum=MAX_GPU_MEMORY_MIB * _MIB, what="VRAM size")
    mib = int(amount * _UNIT_MIB[unit])
    if mib > MAX_GPU_MEMORY_MIB:
        raise fail(path, f"VRAM size is implausibly large: {amount} {unit}")
    return mib or None
