"""Generate deploy_kit/catalog/vllm_flags_<version>.json from a `vllm serve --help=all` dump."""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_VERSION = "0.33.0"

# argparse wraps help text at COLUMNS - 2 - 24; the dump was made at 80 columns.
HELP_INDENT = 24
HELP_WIDTH = 78 - HELP_INDENT

# Value types for flags whose default is None, so the help text cannot tell. Only flags that
# deploy-kit emits are listed; each matches the field's annotation in vLLM's config classes.
TYPE_OVERRIDES: dict[str, str] = {
    "--block-size": "int",
    "--data-parallel-rpc-port": "int",
    "--data-parallel-size-local": "int",
    "--data-parallel-start-rank": "int",
    "--gpu-memory-utilization": "float",
    "--max-num-seqs": "int",
    "--master-port": "int",
}

_GROUP_RE = re.compile(r"^([A-Za-z][\w ]*):$")
_ENTRY_RE = re.compile(r"^  (-\S.*)$")
_POSITIONAL_RE = re.compile(r"^  ([a-z_][\w-]*)(?:\s{2,}.*)?$")
_EPILOG_START = "When passing JSON CLI arguments"
_JSON_CONFIG_MARK = "Should either be a valid JSON string or JSON keys passed individually."
_INT_RE = re.compile(r"^-?\d+$")
_FLOAT_RE = re.compile(r"^-?(\d+\.\d*|\.\d+|\d+(\.\d*)?[eE]-?\d+)$")
_FLOAT_FRIENDLY_SUFFIXES = ("-gb", "-mb", "-interval", "-timeout", "-s", "-seconds")
_CONFIG_REPR_RE = re.compile(r"^[A-Za-z_]\w*\((.*)\)$", re.DOTALL)


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, compare) the flag table for one vLLM version."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--version", default=DEFAULT_VERSION, help="vLLM version of the dump")
    parser.add_argument(
        "--help-file",
        type=Path,
        help="the help dump (default: ../shared/facts/vllm-<version>-serve-help.txt)",
    )
    parser.add_argument("--out", type=Path, help="output JSON (default: the catalog file)")
    parser.add_argument("--check", action="store_true", help="exit 1 if the output is stale")
    args = parser.parse_args(argv)
    help_file = args.help_file or default_help_file(args.version)
    out = args.out or default_output(args.version)
    text = render(help_file.read_text(encoding="utf-8"), args.version)
    if args.check:
        current = out.read_text(encoding="utf-8") if out.exists() else ""
        if current != text:
            print(f"{out} is stale; run scripts/gen_vllm_flags.py", file=sys.stderr)
            return 1
        return 0
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}")
    return 0


def default_help_file(version: str) -> Path:
    """Where the shared facts keep the help dump for `version`."""
    return REPO.parent / "shared" / "facts" / f"vllm-{version}-serve-help.txt"


def default_output(version: str) -> Path:
    """The committed flag table for `version`."""
    return REPO / "deploy_kit" / "catalog" / f"vllm_flags_{version}.json"


def render(help_text: str, version: str) -> str:
    """The flag table as deterministic JSON text (sorted keys, trailing newline)."""
    table = parse_help(help_text)
    table["vllm_version"] = version
    table["source_sha256"] = hashlib.sha256(help_text.encode("utf-8")).hexdigest()
    table["source"] = f"vllm serve --help=all of vLLM {version}"
    table["generated_by"] = "scripts/gen_vllm_flags.py"
    return json.dumps(table, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def parse_help(help_text: str) -> dict[str, Any]:
    """Parse argparse help output into {"flags": {...}, "positionals": [...], ...}."""
    flags: dict[str, dict[str, Any]] = {}
    positionals: list[str] = []
    group: str | None = None
    entry: tuple[str, list[str]] | None = None  # (invocation, description lines)

    def flush() -> None:
        nonlocal entry
        if entry is not None and group is not None:
            spec = _build_flag(entry[0], entry[1], group)
            flags[spec.pop("name")] = spec
        entry = None

    for raw in help_text.splitlines():
        line = raw.rstrip()
        if line.startswith(_EPILOG_START):
            break
        if not line:
            flush()
            continue
        if m := _GROUP_RE.match(line):
            flush()
            group = m.group(1)
            continue
        if group is None:
            continue  # usage and description above the first group
        if m := _ENTRY_RE.match(line):
            flush()
            invocation, _, first = m.group(1).partition("  ")
            entry = (invocation.strip(), [first.strip()] if first.strip() else [])
            continue
        if line.startswith(" " * HELP_INDENT) and entry is not None:
            entry[1].append(line[HELP_INDENT:])
            continue
        if group == "positional arguments" and (m := _POSITIONAL_RE.match(line)):
            flush()
            positionals.append(m.group(1))
            continue
        flush()  # a group's own description: nothing to keep
    flush()
    return {
        "flags": flags,
        "positionals": positionals,
        # The epilog of --help=all: any JSON-valued flag also takes `--flag.key value`,
        # `--flag.key=value` and, for list values, `--flag.key+ a` / `--flag.key+=a,b`.
        "dotted_json_keys": True,
    }


def join_wrapped(lines: list[str]) -> str:
    """Undo argparse's line wrapping as far as the text allows."""
    out = ""
    for i, line in enumerate(lines):
        if i == 0:
            out = line
            continue
        prev = lines[i - 1]
        # textwrap cuts a word longer than the width exactly at the width, and breaks
        # hyphenated words after the hyphen: neither had a space there.
        glued = (len(prev) == HELP_WIDTH and not prev.endswith((",", ":"))) or bool(
            re.search(r"\w-$", prev) and re.match(r"\w", line)
        )
        out += ("" if glued else " ") + line
    return out


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split on `sep` outside brackets and quotes."""
    parts: list[str] = []
    depth = 0
    quote: str | None = None
    cur = ""
    for ch in text:
        if quote:
            cur += ch
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "([{<":
            depth += 1
        elif ch in ")]}>":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def extract_default(description: str) -> tuple[str, str | None]:
    """Split "help text (default: X)" into the help text and X (None when not shown)."""
    if not description.endswith(")"):
        return description, None
    start = 0
    while (idx := description.find("(default:", start)) != -1:
        candidate = description[idx + len("(default:") : -1]
        # An earlier "(default: ...)" in the prose leaves the tail unbalanced.
        if _balanced(candidate):
            return description[:idx].rstrip(), candidate.strip()
        start = idx + 1
    return description, None


def config_keys(default: str | None) -> list[str] | None:
    """Top-level keys of a config default shown as `Name(k=v, ...)` or `{'k': v, ...}`."""
    if default is None:
        return None
    if m := _CONFIG_REPR_RE.match(default):
        return sorted(p.split("=", 1)[0].strip() for p in split_top_level(m.group(1)))
    if default.startswith("{") and default.endswith("}"):
        keys = [p.split(":", 1)[0].strip().strip("'\"") for p in split_top_level(default[1:-1])]
        return sorted(k for k in keys if k)
    return None


def _split_invocation(invocation: str) -> list[str]:
    # "--a X, -b X" -> ["--a X", "-b X"]; commas inside {a,b} or ['a', 'b'] do not split.
    parts: list[str] = []
    for chunk in split_top_level(invocation):
        if chunk.startswith("-") or not parts:
            parts.append(chunk)
        else:
            parts[-1] += ", " + chunk
    return parts


def _metavar_shape(metavar: str) -> dict[str, Any]:
    """nargs, choices and the display metavar from what argparse printed after the option."""
    shape: dict[str, Any] = {"nargs": None, "choices": None, "choices_open": False}
    mv = metavar
    if m := re.fullmatch(r"\[(\S+)\]", mv):
        shape["nargs"] = "?"
        mv = m.group(1)
    elif m := re.fullmatch(r"\[(\S+) \.\.\.\]", mv):
        shape["nargs"] = "*"
        mv = m.group(1)
    elif m := re.fullmatch(r"(\S+) \[\1 \.\.\.\]", mv):
        shape["nargs"] = "+"
        mv = m.group(1)
    if m := re.fullmatch(r"\{([^{}]*)\}(?: or (.*))?", mv):
        shape["choices"] = m.group(1).split(",")
        # "{...} or name registered in --x-plugin": plugins can add values at run time.
        shape["choices_open"] = m.group(2) is not None
    elif mv.startswith("['"):
        # A list printed as the metavar: vLLM's `Literal[...] | str` fields suggest these
        # values but accept others.
        shape["choices"] = [p.strip().strip("'") for p in split_top_level(mv.strip("[]"))]
        shape["choices_open"] = True
    shape["metavar"] = mv
    return shape


def _negation_of(canonical: str, other: str) -> bool:
    base = canonical.removeprefix("--")
    pairs = [("enable-", "disable-"), ("disable-", "enable-")]
    if other == f"--no-{base}":
        return True
    return any(base.startswith(a) and other == "--" + b + base.removeprefix(a) for a, b in pairs)


def _value_type(name: str, spec: dict[str, Any], description: str) -> str:
    if not spec["takes_value"]:
        return "bool"
    if spec["takes_json"]:
        return "json"
    if name in TYPE_OVERRIDES:
        return TYPE_OVERRIDES[name]
    if "human-readable" in description:
        return "human_int"
    default = spec["default"]
    if spec["choices"] is not None or default is None:
        return "str"
    if _INT_RE.match(default):
        # An integer default does not rule out a float field (`--cpu-offload-gb 0`): sizes and
        # durations accept either, so only the value's numberness is checked there.
        return "number" if name.endswith(_FLOAT_FRIENDLY_SUFFIXES) else "int"
    if _FLOAT_RE.match(default):
        return "float"
    return "str"


def _build_flag(invocation: str, desc_lines: list[str], group: str) -> dict[str, Any]:
    parts = _split_invocation(invocation)
    names: list[str] = []
    metavar: str | None = None
    for part in parts:
        opt, _, mv = part.partition(" ")
        names.append(opt)
        if mv and metavar is None:
            metavar = mv
    longs = [n for n in names if n.startswith("--")]
    canonical = longs[0] if longs else names[0]
    description, default = extract_default(join_wrapped(desc_lines))
    negation = None
    aliases: list[str] = []
    for n in names:
        if n == canonical:
            continue
        if metavar is None and negation is None and _negation_of(canonical, n):
            negation = n
        else:
            aliases.append(n)
    shape = (
        _metavar_shape(metavar)
        if metavar
        else {"nargs": None, "choices": None, "choices_open": False, "metavar": None}
    )
    json_config = _JSON_CONFIG_MARK in description
    spec: dict[str, Any] = {
        "name": canonical,
        "aliases": sorted(aliases),
        "negation": negation,
        "takes_value": metavar is not None,
        "group": group,
        "default": default,
        "json_config": json_config,
        "takes_json": json_config
        or (metavar is not None and default is not None and default.startswith("{")),
        "deprecated": bool(
            re.search(r"(^|\s)(Deprecated:|\[DEPRECATED\])", description)
            or any(f"{n} is deprecated" in description for n in names)
        ),
        **shape,
    }
    spec["type"] = _value_type(canonical, spec, description)
    spec["json_keys"] = config_keys(default) if spec["takes_json"] else None
    return spec


if __name__ == "__main__":
    sys.exit(main())
