"""Generate the vLLM flag table and the parser-verdict fixture from vLLM's own argument parser.

Run by hand, outside the project's venv, with an interpreter that can import vLLM's parser.
Nothing touches a GPU. vLLM 0.33.0 pins torch==2.14.0 and CUDA-only kernels, which its
parser does not need; what was run to make the committed files:

    python3.11 -m venv /tmp/vllm-venv
    /tmp/vllm-venv/bin/pip install torch==2.13.0     # a CPU build is enough
    /tmp/vllm-venv/bin/pip install --no-deps vllm==0.33.0
    /tmp/vllm-venv/bin/pip install regex cachetools psutil numpy requests tqdm py-cpuinfo \
        pyyaml pydantic msgspec cloudpickle 'transformers>=5.16.1,<5.21.0' huggingface_hub \
        tokenizers safetensors uvloop cbor2 pyzmq aiohttp openai-harmony openai pillow \
        pybase64 fastapi prometheus_client partial-json-parser xgrammar llguidance uvicorn \
        watchfiles orjson    # what the import chain of vllm.entrypoints.cli.serve needs
    /tmp/vllm-venv/bin/python scripts/gen_vllm_flags.py

(10 to 20 s on 2 cores: the import takes about 6 s, the 5,400 parses the rest).

It builds the `vllm serve` parser exactly as `vllm.entrypoints.cli.main` does
(FlexibleArgumentParser + ServeSubcommand.subparser_init), introspects every action into
deploy_kit/catalog/vllm_flags_<version>.json, then runs that parser (parse_args, then the serve
subcommand's validate step) over a generated corpus of argv and records each verdict in
tests/fixtures/vllm_parser_verdicts_<version>.json. tests/test_vllm_parser_parity.py replays
the corpus through the offline checker.

The verdicts come from the interpreter that runs this script (3.11 here); vLLM's images run
3.12. Loading Python 3.12.1's and 3.13.0's argparse.py in place of 3.11's gave the same verdict
on every argv of the corpus.

`--check` (run by `make lint`) needs no vLLM: it checks that the committed table was not edited
by hand (its flags digest) and that the committed verdicts were produced from that very table.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import enum
import hashlib
import importlib.metadata
import io
import json
import os
import platform
import random
import re
import sys
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_VERSION = "0.33.0"
GENERATOR = "scripts/gen_vllm_flags.py"
MIN_CORPUS = 1500
# The corpus's random part is seeded so that regenerating gives identical bytes.
SEED = 20261203
MODEL = "org/model"


# --- paths and the vLLM-free check -------------------------------------------------------


def default_output(version: str) -> Path:
    """The committed flag table for `version`."""
    return REPO / "deploy_kit" / "catalog" / f"vllm_flags_{version}.json"


def default_fixture(version: str) -> Path:
    """The committed parser verdicts for `version`."""
    return REPO / "tests" / "fixtures" / f"vllm_parser_verdicts_{version}.json"


def dumps(data: Any) -> str:
    """Deterministic JSON text (sorted keys, one-space indent, trailing newline)."""
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def flags_digest(table: dict[str, Any]) -> str:
    """sha256 of the table's content (flags and positionals), independent of formatting."""
    body = {"flags": table["flags"], "positionals": table["positionals"]}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode("utf-8")).hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check(out: Path, fixture: Path) -> list[str]:
    """What is stale or hand-edited in the committed table and fixture (empty: all good)."""
    problems: list[str] = []
    if not out.is_file() or not fixture.is_file():
        return [f"missing {out if not out.is_file() else fixture}; run {GENERATOR}"]
    text = out.read_text(encoding="utf-8")
    table = json.loads(text)
    if table.get("flags_sha256") != flags_digest(table):
        problems.append(f"{out}: flags were edited by hand (digest differs); run {GENERATOR}")
    if dumps(table) != text:
        problems.append(f"{out}: not in the generator's format; run {GENERATOR}")
    verdicts = json.loads(fixture.read_text(encoding="utf-8"))
    if verdicts.get("table_sha256") != sha256_text(text):
        problems.append(f"{fixture}: made from another flag table; run {GENERATOR}")
    if verdicts.get("vllm_version") != table.get("vllm_version"):
        problems.append(f"{fixture}: vLLM version differs from {out}")
    cases = verdicts.get("cases", [])
    if len(cases) < MIN_CORPUS:
        problems.append(f"{fixture}: {len(cases)} cases, fewer than {MIN_CORPUS}")
    if {c.get("accepted") for c in cases} != {True, False}:
        problems.append(f"{fixture}: needs both accepted and rejected cases")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, verify) the flag table and the verdict fixture."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default=DEFAULT_VERSION, help="the installed vLLM version")
    parser.add_argument("--out", type=Path, help="flag table (default: the catalog file)")
    parser.add_argument("--fixture", type=Path, help="verdicts (default: tests/fixtures/...)")
    parser.add_argument("--check", action="store_true", help="exit 1 if stale; needs no vLLM")
    args = parser.parse_args(argv)
    out = args.out or default_output(args.version)
    fixture = args.fixture or default_fixture(args.version)
    if args.check:
        problems = check(out, fixture)
        for p in problems:
            print(p, file=sys.stderr)
        return 1 if problems else 0
    installed = importlib.metadata.version("vllm")
    if installed != args.version:
        print(f"vLLM {installed} is installed, not {args.version}", file=sys.stderr)
        return 2
    serve = build_serve_parser()
    table = introspect(serve, args.version)
    table_text = dumps(table)
    cases = [run_case(serve, c) for c in corpus(table)]
    verdicts = {
        "vllm_version": args.version,
        "python": platform.python_version(),
        "table_sha256": sha256_text(table_text),
        "generated_by": GENERATOR,
        "note": "argv are the tokens after `vllm serve`; accepted means parse_args and the "
        "serve subcommand's validate step both passed",
        "cases": cases,
    }
    out.write_text(table_text, encoding="utf-8")
    fixture.write_text(dumps(verdicts), encoding="utf-8")
    rejected = sum(not c["accepted"] for c in cases)
    print(f"wrote {out} ({len(table['flags'])} flags)")
    print(f"wrote {fixture} ({len(cases)} argv, {rejected} rejected)")
    return 0


# --- building and running vLLM's parser (imports vLLM) ----------------------------------


class _Rejected(Exception):
    pass


def build_serve_parser() -> Any:
    """The top-level `vllm` parser with the serve subcommand, as vllm's CLI main builds it."""
    # Help strings (where deprecations are stated) are only computed when --help is in argv.
    saved = sys.argv
    sys.argv = ["vllm", "--help"]  # not "serve --help": that hides --model
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
    try:
        from vllm import platforms
        from vllm.entrypoints.cli.serve import ServeSubcommand
        from vllm.platforms.cpu import CpuPlatform
        from vllm.utils.argparse_utils import FlexibleArgumentParser

        # vLLM's own CLI does this for `vllm bench` when no accelerator is found; the parser's
        # options do not depend on the platform, only some printed defaults do.
        if platforms.current_platform.is_unspecified():
            platforms.current_platform = CpuPlatform()
        top = FlexibleArgumentParser(description="vLLM CLI")
        subparsers = top.add_subparsers(required=False, dest="subparser")
        command = ServeSubcommand()
        serve = command.subparser_init(subparsers)
    finally:
        sys.argv = saved

    def _exit(status: int = 0, message: str | None = None) -> None:
        raise _Rejected((message or "").strip())

    for p in (top, serve):
        p.exit = _exit  # argparse's error() ends here; keep the message instead of exiting
    serve._deploy_kit = (top, command)
    return serve


def run_case(serve: Any, case: dict[str, Any]) -> dict[str, Any]:
    """vLLM's verdict on one argv (tokens after `vllm serve`)."""
    top, command = serve._deploy_kit
    message = ""
    stage = "validate"
    sink = io.StringIO()
    try:
        with contextlib.redirect_stderr(sink), contextlib.redirect_stdout(sink):
            try:
                ns = top.parse_args(["serve", *case["argv"]])
            except BaseException:
                stage = "parse"
                raise
            command.validate(ns)
        accepted = True
    except _Rejected as exc:
        accepted, message = False, str(exc).removeprefix("vllm serve: error: ")
    except Exception as exc:  # vLLM raises ValueError/TypeError from parse_args and validate
        accepted, message = False, f"{type(exc).__name__}: {exc}"
    out = {"argv": case["argv"], "kind": case["kind"], "accepted": accepted}
    if not accepted:
        out["stage"] = stage
        first = message.splitlines()[0][:300] if message else ""
        # vLLM prints function reprs with their address: keep the bytes reproducible.
        out["message"] = re.sub(r" at 0x[0-9a-f]+>", ">", first)
    return out


def _type_kind(fn: Any) -> tuple[str, bool, str | None]:
    """(value type, optional, choice normalisation) from an argparse `type` callable."""
    if fn is None or fn is str:
        return "str", False, None
    name = getattr(fn, "__qualname__", "")
    cells = [c.cell_contents for c in (getattr(fn, "__closure__", None) or [])]
    if name.endswith("optional_type.<locals>._optional_type"):
        kind, _, norm = _type_kind(cells[0])
        return kind, True, norm
    if name.endswith("parse_type.<locals>._parse_type"):
        return _type_kind(cells[0])
    if fn is int:
        return "int", False, None
    if fn is float:
        return "float", False, None
    if name == "human_readable_int":
        return "human_int", False, None
    if name == "human_readable_int_or_auto":
        return "human_int_or_auto", False, None
    if name == "loads":
        return "json", False, None
    if name == "union_dict_and_str":
        return "json_or_str", True, None
    if name.endswith("parse_dataclass"):
        return "config", False, None
    if name == "parse_reasoning_parser":
        return "str", False, None
    if "<lambda>" in name:
        # The backends' choice normaliser (s.lower().replace("-", "_")) or --device-ids'
        # comma splitter: probe which, rather than trusting the source text.
        if fn("A-B") == "a_b":
            return "str", False, "lower_underscore"
        return "str", False, None
    raise SystemExit(f"unknown argparse type {fn!r} ({name}); teach _type_kind about it")


# Cross-field checks of vLLM's config classes (their __post_init__), which field types cannot
# express. Each is written down from vLLM 0.33.0's source and verified against the installed
# vLLM when the table is generated, so a release that changes one fails the generator.
# vllm/config/kv_transfer.py and ec_transfer.py: "Please specify kv_role when kv_connector is set"
CONFIG_REQUIRES: dict[str, dict[str, str]] = {
    "--kv-transfer-config": {"kv_connector": "kv_role"},
    "--ec-transfer-config": {"ec_connector": "ec_role"},
}
# vllm/config/compilation.py: custom ops are 'all', 'none', '+op' or '-op'.
CONFIG_ITEM_PATTERNS: dict[str, dict[str, str]] = {
    "--compilation-config": {"custom_ops": r"^(all|none|[+-].+)$"},
}


def _verified_requires(flag: str, cls: Any) -> dict[str, str] | None:
    rules = CONFIG_REQUIRES.get(flag)
    if not rules:
        return None
    from pydantic import TypeAdapter

    adapter = TypeAdapter(cls)
    for field, needed in rules.items():
        role = typing.get_args(typing.get_type_hints(cls)[needed])
        choices = [c for c in _flatten_literal(role)]
        if _validates(adapter, {field: "X"}) or not _validates(
            adapter, {field: "X", needed: choices[0]}
        ):
            raise SystemExit(f"{flag}: {field} no longer requires {needed}; update CONFIG_REQUIRES")
    return rules


def _flatten_literal(args: tuple[Any, ...]) -> list[Any]:
    out: list[Any] = []
    for arg in args:
        if typing.get_origin(arg) is typing.Literal:
            out += _flatten_literal(typing.get_args(arg))
        elif arg is not type(None):
            out.append(arg)
    return out


def _verified_patterns(flag: str, cls: Any) -> dict[str, str] | None:
    rules = CONFIG_ITEM_PATTERNS.get(flag)
    if not rules:
        return None
    from pydantic import TypeAdapter

    adapter = TypeAdapter(cls)
    for field, pattern in rules.items():
        good, bad = "+x", "x"
        assert re.match(pattern, good) and not re.match(pattern, bad)
        if _validates(adapter, {field: [bad]}) or not _validates(adapter, {field: [good]}):
            raise SystemExit(f"{flag}: {field} items changed syntax; update CONFIG_ITEM_PATTERNS")
    return rules


def _deprecation(help_text: str) -> str | None:
    """The sentence of a help text that says the option is deprecated, if any."""
    for sentence in re.split(r"(?<=\.)\s+", help_text):
        if re.search(r"is deprecated|^Deprecated:|\[DEPRECATED\]", sentence):
            rest = help_text[help_text.index(sentence) :]
            return " ".join(re.split(r"(?<=\.)\s+", rest)[:2])
    return None


def _lora_module_path() -> Any:
    from vllm.entrypoints.openai.models.protocol import LoRAModulePath

    return LoRAModulePath


def _reasoning_efforts() -> list[str]:
    # validate_parsed_serve_args checks the map's keys against this Literal.
    from vllm.renderers.params import ReasoningEffort

    return list(typing.get_args(ReasoningEffort))


def _dataclass_keys(cls: Any) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _dataclass_of(fn: Any) -> Any:
    """The config dataclass a parse_dataclass type function validates against."""
    if getattr(fn, "__qualname__", "").endswith("parse_dataclass"):
        return fn.__defaults__[0]
    for cell in getattr(fn, "__closure__", None) or []:
        found = _dataclass_of(cell.cell_contents) if callable(cell.cell_contents) else None
        if found is not None:
            return found
    return None


def _json_field(hint: Any) -> dict[str, Any]:
    """A simplified description of a config field's type, for the offline JSON check."""
    nullable = False
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, __import__("types").UnionType):
        rest = [a for a in args if a is not type(None)]
        nullable = len(rest) != len(args)
        if len(rest) == 1:
            inner = _json_field(rest[0])
            inner["nullable"] = inner["nullable"] or nullable
            return inner
        literal = [a for a in rest if typing.get_origin(a) is typing.Literal]
        if str in rest and literal:
            return {"kind": "str", "nullable": nullable}
        return {"kind": "any", "nullable": nullable}
    if origin is typing.Literal:
        if all(isinstance(a, str) for a in args):
            return {"kind": "choice", "choices": sorted(args), "nullable": nullable}
        return {"kind": "any", "nullable": nullable}
    if hint is bool:
        return {"kind": "bool", "nullable": nullable}
    if hint is int:
        return {"kind": "int", "nullable": nullable}
    if hint is float:
        return {"kind": "float", "nullable": nullable}
    if hint is str:
        return {"kind": "str", "nullable": nullable}
    if origin in (list, set, tuple) or hint in (list, set, tuple):
        items = [a for a in args if a is not Ellipsis]
        item = _json_field(items[0]) if len(set(items)) == 1 else {"kind": "any"}
        out = {"kind": "list", "nullable": nullable, "items": item["kind"]}
        if item["kind"] == "choice":
            out["choices"] = item["choices"]
        return out
    if dataclasses.is_dataclass(hint) and hasattr(hint, "__pydantic_fields__"):
        return {"kind": "object", "nullable": nullable, "fields": _config_fields(hint)}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"kind": "any", "nullable": nullable}
    return {"kind": "any", "nullable": nullable}


def _config_fields(cls: Any) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    extra = (getattr(cls, "__pydantic_config__", None) or {}).get("extra")
    fields: dict[str, Any] = {}
    from pydantic import TypeAdapter

    adapter = TypeAdapter(cls)
    defaults_ok = _validates(adapter, {})
    for name, info in cls.__pydantic_fields__.items():
        spec = _json_field(hints.get(name, Any))
        key = info.alias or name
        if defaults_ok:
            # vLLM's configs skip validation of None for some fields (a wrap validator), so
            # whether null passes is measured, not read off the annotation.
            spec["nullable"] = _validates(adapter, {key: None})
            default = info.get_default(call_default_factory=True)
            if name.startswith("_") and not _validates(adapter, {key: default}):
                continue  # a private field: not a key the JSON may set
        fields[name] = spec
        if info.alias and info.alias != name:
            fields[info.alias] = spec
    if extra != "forbid":
        fields["*"] = {"kind": "any", "nullable": True}  # unknown keys pass
    return fields


def _validates(adapter: Any, data: dict[str, Any]) -> bool:
    try:
        adapter.validate_python(data)
    except Exception:  # pydantic's ValidationError, or a config's own __post_init__ check
        return False
    return True


def _json_shape(kind: str, default: Any) -> str | None:
    """ "list" or "object" when a JSON flag's default shows which the server expects."""
    if kind not in ("json", "json_or_str"):
        return None
    if isinstance(default, list | tuple | set):
        return "list"
    if isinstance(default, dict):
        return "object"
    return None


# Spellings FlexibleArgumentParser accepts for any option, each measured on a probe argv.
FORM_PROBES: dict[str, list[str]] = {
    "underscores": ["--max_model_len", "4k"],
    "equals": ["--max-model-len=4k"],
    "abbreviations": ["--max-model-l", "4k"],
    "no_prefix": ["--no-enforce-eager"],
    "dotted_json_keys": ["--compilation-config.mode", "3"],
    "dotted_list_append": ["--compilation-config.custom_ops+", "all"],
    "optimization_shorthand": ["-O3"],
}


def measure_forms(serve: Any) -> dict[str, bool]:
    """Which general spellings vLLM's parser accepts (the checker implements each)."""
    return {
        form: run_case(serve, {"argv": [MODEL, *probe], "kind": form})["accepted"]
        for form, probe in FORM_PROBES.items()
    }


def _default_text(value: Any) -> str | None:
    if value is argparse.SUPPRESS:
        return None
    if isinstance(value, enum.Enum):
        return str(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return type(value).__name__
    if isinstance(value, set):
        return repr(sorted(value))
    return str(value)


def introspect(serve: Any, version: str) -> dict[str, Any]:
    """Every option of `vllm serve`: spellings, value shape and type, negations, deprecation."""
    from vllm.utils.argparse_utils import EnableDisableAction

    group_of: dict[int, str] = {}
    for group in serve._action_groups:
        for action in group._group_actions:
            group_of[id(action)] = group.title or "options"
    by_action: dict[int, list[str]] = {}
    for option, action in serve._option_string_actions.items():
        by_action.setdefault(id(action), []).append(option)
    flags: dict[str, Any] = {}
    positionals: list[str] = []
    for action in serve._actions:
        if not action.option_strings:
            positionals.append(action.dest)
            continue
        if isinstance(action, argparse._HelpAction):
            continue
        registered = by_action[id(action)]
        longs = [o for o in action.option_strings if o.startswith("--")]
        canonical = longs[0] if longs else action.option_strings[0]
        negative = sorted(getattr(action, "negative_option_strings", ()) or ())
        if isinstance(action, argparse.BooleanOptionalAction) and not negative:
            negative = sorted(o for o in registered if o.startswith("--no-"))
        aliases = sorted(o for o in registered if o != canonical and o not in negative)
        visible = [o for o in action.option_strings if o in negative]
        primary = visible[0] if visible else (negative[0] if negative else None)
        switch = action.nargs == 0
        kind, optional, normalise = ("bool", False, None) if switch else _type_kind(action.type)
        if isinstance(action, argparse._AppendAction):
            nargs = "append"
        else:
            nargs = action.nargs if action.nargs in ("?", "*", "+") else None
        if type(action).__name__ == "LoRAParserAction":
            kind = "lora_modules"  # name=path or a JSON object per item (cli_args.py)
        help_text = " ".join((action.help or "").split())
        deprecation = _deprecation(help_text)
        choices = action.choices
        config_cls = None
        if kind == "config":
            config_cls = _dataclass_of(action.type)
        spec: dict[str, Any] = {
            "aliases": aliases,
            "negations": negative,
            "negation": primary,
            "takes_value": not switch,
            "group": group_of.get(id(action), "options"),
            "default": _default_text(action.default),
            "optional": optional,
            "deprecated": action in getattr(serve, "_deprecated", set()) or bool(deprecation),
            "deprecation": deprecation,
            "nargs": nargs,
            "const": action.const is not None and nargs == "?",
            "choices": [str(c) for c in choices if c is not None] if choices else None,
            "choices_normalise": normalise,
            "choices_open": False,
            "metavar": action.metavar if isinstance(action.metavar, str) else None,
            "json_keys": None,
            "type": kind,
            "takes_json": kind in ("json", "json_or_str", "config"),
            "json_shape": _json_shape(kind, action.default),
            "json_config": kind == "config",
            "json_fields": _config_fields(config_cls) if config_cls else None,
            "json_requires": _verified_requires(canonical, config_cls),
            "json_item_patterns": _verified_patterns(canonical, config_cls),
            "action": type(action).__name__,
        }
        if isinstance(action.metavar, (list, tuple)) and not choices:
            # `Literal[...] | str` fields pass their suggestions as the metavar: open choices.
            spec["choices"] = [str(c) for c in action.metavar]
            spec["choices_open"] = True
        elif spec["metavar"] and (m := re.fullmatch(r"\{([^{}]*)\} or .*", spec["metavar"])):
            # "{a,b} or name registered in --x-plugin": suggestions; plugins add values.
            spec["choices"] = m.group(1).split(",")
            spec["choices_open"] = True
        if kind == "lora_modules":
            spec["json_keys"] = _dataclass_keys(_lora_module_path())
        if canonical == "--reasoning-effort-map":
            spec["json_keys"] = _reasoning_efforts()
        if spec["metavar"] is None and not switch:
            spec["metavar"] = action.dest.upper()
        if isinstance(action, EnableDisableAction | argparse.BooleanOptionalAction):
            spec["action"] = "EnableDisableAction"
        flags[canonical] = spec
    table = {
        "vllm_version": version,
        "flags": dict(sorted(flags.items())),
        "positionals": positionals,
        "forms": measure_forms(serve),
        "source": f"vLLM {version}: FlexibleArgumentParser with the serve subcommand, "
        f"introspected under Python {platform.python_version()}",
        "source_sha256": hashlib.sha256(
            (importlib.metadata.distribution("vllm").read_text("RECORD") or "").encode()
        ).hexdigest(),
        "generated_by": GENERATOR,
    }
    table["flags_sha256"] = flags_digest(table)
    return table


# --- the corpus ----------------------------------------------------------------------------


# Values that pass vLLM's later checks where the type alone is not enough.
GOOD_VALUES = {
    # validate_chat_template: a path-like value must exist; a template string is always fine.
    "--chat-template": "{% for m in messages %}{{ m.content }}{% endfor %}",
    # validate_reasoning_effort_map: keys are ReasoningEffort values, values strings.
    "--reasoning-effort-map": '{"high": "deep"}',
}


def _good(spec: dict[str, Any], name: str = "") -> list[str]:
    """A value vLLM's parser accepts for this flag (one token per list element)."""
    if name in GOOD_VALUES:
        return [GOOD_VALUES[name]]
    if spec["choices"] and not spec["choices_open"]:
        return [spec["choices"][0]]
    kind = spec["type"]
    sample = {
        "int": "2",
        "float": "0.5",
        "human_int": "4k",
        "human_int_or_auto": "auto",
        "json": '{"a": 1}' if not (spec["default"] or "").startswith("[") else '["*"]',
        "json_or_str": "{}",
        "config": "{}",
        "lora_modules": "adapter=/models/adapter",
    }.get(kind, "value")
    if kind == "str" and spec["choices"]:
        sample = spec["choices"][0]
    if spec["nargs"] == "+":
        return [sample, sample]
    return [sample]


def _bad_values(spec: dict[str, Any]) -> list[str]:
    kind = spec["type"]
    return {
        "int": ["eight", "8.5", "1e3", "0x10"],
        "float": ["high", "1,5", "0.9x"],
        "human_int": ["12x", "1.5K", "4 kb", "-"],
        "human_int_or_auto": ["12x", "1.5M", "automatic"],
        "json": ["{bad", "not json", "[1,"],
        "json_or_str": ["{bad}", "{'a': 1}"],
        "config": ["{bad", '{"zz_not_a_field": 1}', "3", "[]", "plain"],
        "lora_modules": ["adapter", '{"name": "a"}', "{bad"],
    }.get(kind, [])


def _typos(name: str, rng: random.Random) -> Iterator[str]:
    body = name[2:]
    if len(body) < 4:
        return
    i = rng.randrange(1, len(body) - 1)
    yield "--" + body[:i] + body[i + 1 :]  # a letter dropped
    j = rng.randrange(0, len(body) - 1)
    yield "--" + body[:j] + body[j + 1] + body[j] + body[j + 2 :]  # two letters swapped


def _json_sample(field: dict[str, Any]) -> tuple[str, str] | None:
    """(good value, bad value) for a config field, as dotted-key tokens."""
    kind = field["kind"]
    if kind == "bool":
        return "true", "maybe"
    if kind == "int":
        return "4", "four"
    if kind == "float":
        return "0.5", "half"
    if kind == "choice":
        return field["choices"][0], "zz-not-a-choice"
    if kind == "str":
        return "text", "[1, 2]"
    return None


def corpus(table: dict[str, Any]) -> list[dict[str, Any]]:
    """A deterministic list of argv (after `vllm serve`), each tagged with what it exercises."""
    rng = random.Random(SEED)
    flags: dict[str, dict[str, Any]] = table["flags"]
    cases: list[dict[str, Any]] = []
    seen: set[tuple[str, ...]] = set()

    def add(kind: str, *tokens: str) -> None:
        argv = (MODEL, *tokens)
        if argv not in seen:
            seen.add(argv)
            cases.append({"kind": kind, "argv": list(argv)})

    every_option = {o for n, s in flags.items() for o in (n, *s.get("aliases", []))}
    every_option |= {o for s in flags.values() for o in s["negations"]}
    value_flags = {n: s for n, s in flags.items() if s["takes_value"]}
    for name, spec in flags.items():
        if name in ("--config",):
            continue  # reads a file
        good = _good(spec, name) if spec["takes_value"] else []
        add("canonical", name, *good)
        for alias in spec["aliases"]:
            add("alias", alias, *good)
        for neg in spec["negations"]:
            add("negation", neg)
            add("negation-with-value", f"{neg}=1")
        if spec["takes_value"]:
            add("equals", f"{name}={good[0]}")
            add("missing-value", name)
            add("missing-value", name, "--enforce-eager")
            add("underscore", "--" + name[2:].replace("-", "_"), *good)
            add("repeated", name, *good, name, *good)
            for bad in _bad_values(spec):
                add("bad-type", name, bad)
            if spec["choices"]:
                add("bad-choice", name, "zz-not-a-choice")
                if spec["choices_normalise"]:
                    add("choice-spelling", name, spec["choices"][0].upper().replace("_", "-"))
            if spec["optional"]:
                add("none-value", name, "None")
            add("no-prefix-on-value-flag", "--no-" + name[2:])
            # Dotted keys on a flag that is not JSON: vLLM turns them into a JSON value.
            add("dotted", f"{name}.key", "1")
        else:
            add("switch-with-value", f"{name}=true")
            add("underscore", "--" + name[2:].replace("-", "_"))
            add("repeated", name, name)
            if spec["negation"]:
                add("conflicting", name, spec["negation"])
            add("dotted", f"{name}.key", "1")
        for typo in _typos(name, rng):
            if typo not in every_option:
                add("typo", typo, *good)
        prefix = name[: max(4, len(name) - 3)]
        add("abbreviation", prefix, *good)
        if spec["json_fields"]:
            fields = spec["json_fields"]
            names = sorted(k for k in fields if k != "*")
            picked = names[:: max(1, len(names) // 8)]
            for field in picked:
                sample = _json_sample(fields[field])
                if sample is None:
                    add("dotted", f"{name}.{field}", "null")
                    continue
                good_v, bad_v = sample
                add("dotted", f"{name}.{field}", good_v)
                add("dotted", f"{name}.{field}={good_v}")
                add("dotted-bad-type", f"{name}.{field}", bad_v)
                add("json-bad-type", name, json.dumps({field: bad_v}))
                try:
                    typed: Any = json.loads(good_v)
                except ValueError:
                    typed = good_v
                add("json", name, json.dumps({field: typed}))
                add("dotted-underscore", f"--{name[2:].replace('-', '_')}.{field}", good_v)
                for alias in spec["aliases"]:
                    add("dotted-alias", f"{alias}.{field}={good_v}")
            add("dotted-unknown-key", f"{name}.zz_not_a_field", "1")
            add("dotted-repeated", f"{name}.{picked[0]}", "null", f"{name}.{picked[0]}", "null")
            for field in names:
                nested = fields[field].get("fields")
                if nested:
                    sub = sorted(k for k in nested if k != "*")[:2]
                    for key in sub:
                        add("dotted-nested", f"{name}.{field}.{key}", "null")
                    add("dotted-nested", f"{name}.{field}.zz_not_a_field", "1")
                if fields[field]["kind"] == "list":
                    add("dotted-list", f"{name}.{field}+", "a")
                    add("dotted-list", f"{name}.{field}+=a,b")
    # Spellings real deployment files use (llm-d guides, vLLM recipes, LWS examples).
    for tokens in (
        ["--no-enable-prefix-caching"],
        ["--no-enable-flashinfer-autotune"],
        ["--no-disable-hybrid-kv-cache-manager"],
        ["--attention_config.use_fp4_indexer_cache=True"],
        ["--attention-config.indexer_kv_dtype=fp8"],
        ["--max-model-len", "128k"],
        ["--max-model-len", "1M"],
        ["--max-model-len", "-1"],
        ["--seed", "-1"],
        ["-O3"],
        ["-O", "3"],
        ["-O=3"],
        ["-O0"],
        ["-Ofast"],
        ["-O", "5"],
        ["--model", "other/model"],
        ["extra-positional"],
        ["--served-model-name", "a", "b", "extra"],
        ["--", "--port"],
        ["--swap-space", "16"],
        ["--num-scheduler-steps", "8"],
        ["--use-v2-block-manager"],
        ["--allowed-origins", "http://example.com"],
        ["--allowed-origins", '["http://example.com"]'],
        ["--lora-modules", "a=/x", '{"name": "b", "path": "/y"}'],
        ["--lora-modules", "not-json"],
        ["--enable-auto-tool-choice"],
        ["--enable-auto-tool-choice", "--tool-call-parser", "hermes"],
        ["--port", "8000", "--port", "9000"],
        ["--compilation-config", '{"mode": 3}', "-cc.mode=0"],
        ["--compilation-config", "3"],  # production-stack's GIE example (a bare level)
        ["--max-num-seq", "8"],  # the same file: an abbreviation argparse completes
        ["--api-server-count", "4", "--data-parallel-hybrid-lb"],
        ["--kv-transfer-config", '{"kv_connector": "NixlConnector", "kv_role": "kv_both"}'],
        ["--tensor-parallel-size=8", "--data-parallel-size=2", "--enable-expert-parallel"],
        ["--served-model-name=a", "b"],
        ["--compilation-config.cudagraph_capture_sizes+", "1,2"],
        ["--kv-transfer-config", '{"kv_connector": "NixlConnector", "kv_role": 3}'],
        ["--hf-token", "--port", "8000"],
        ["--speculative-config", "3"],
        ["--speculative-config", '{"method": "mtp", "num_speculative_tokens": 2}'],
    ):
        add("real-world", *tokens)
    # The serve subcommand's validate step (cli_args.validate_parsed_serve_args).
    mp = ["--data-parallel-multi-port-external-lb"]
    for tokens in (
        [*mp, "--data-parallel-size", "4", "--data-parallel-size-local", "2"],
        [*mp, "--data-parallel-size", "4", "--data-parallel-size-local", "1"],
        [*mp, "--data-parallel-size", "4"],
        [*mp, "--data-parallel-size", "4", "--data-parallel-size-local", "2", "--grpc"],
        [*mp, "-dp", "4", "--data-parallel-size-local", "2", "--uds", "/tmp/s"],
        [*mp, "-dp", "4", "--data-parallel-size-local", "2", "--api-server-count", "2"],
        [*mp, "-dp", "4", "--data-parallel-size-local", "2", "--data-parallel-rank", "0"],
        [*mp, "-dp", "4", "--data-parallel-size-local", "2", "--data-parallel-hybrid-lb"],
        [*mp, "-dp", "4", "--data-parallel-size-local", "2", "--ssl-keyfile", "k"],
        ["--enable-log-outputs", "--enable-log-requests"],
        ["--enable-per-request-metrics", "--disable-log-stats"],
        ["--enable-per-request-metrics"],
        ["--sse-keep-alive-interval", "-1"],
        ["--sse-keep-alive-interval", "15"],
        ["--reasoning-effort-map", '{"turbo": "x"}'],
        ["--reasoning-effort-map", '{"high": 3}'],
        ["--reasoning-effort-map", "[]"],
        ["--grpc-port", "50051", "--grpc"],
        ["--enable-auto-tool-choice", "--tool-call-parser", ""],
        ["--served-model-name", "a"],
    ):
        add("serve-validate", *tokens)
    for tokens in (
        ["--port", "8000", MODEL],
        ["--served-model-name", "a", "--port", "1"],
    ):
        cases.append({"kind": "model-position", "argv": tokens})
    for _ in ():
        add("real-world", *tokens)
    # Random well-formed combinations, and the same with one broken token inserted.
    names = sorted(n for n in flags if n not in ("--config", "--model"))
    for _ in range(250):
        picked = rng.sample(names, 4)
        parts: list[list[str]] = []
        for name in picked:
            spec = flags[name]
            parts.append([name, *(_good(spec, name) if spec["takes_value"] else [])])
        add("combination", *[t for part in parts for t in part])
        victim = rng.choice(sorted(value_flags))
        bads = _bad_values(value_flags[victim])
        broken = [victim, rng.choice(bads)] if bads else ["--zz-unknown-flag"]
        parts.insert(rng.randrange(0, len(parts) + 1), broken)
        add("combination-broken", *[t for part in parts for t in part])
    return cases


if __name__ == "__main__":
    sys.exit(main())
