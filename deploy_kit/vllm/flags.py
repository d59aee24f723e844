"""Offline checker for rendered vLLM argv: reads `vllm serve ...` the way vLLM's parser would.

The flag tables and the result models live in vllm_flag_table; their names are re-exported here
so `from deploy_kit.vllm.flags import ...` keeps working.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from deploy_kit.vllm.flag_table import DEFAULT_VLLM_VERSION as DEFAULT_VLLM_VERSION
from deploy_kit.vllm.flag_table import ArgProblem as ArgProblem
from deploy_kit.vllm.flag_table import FlagSpec as FlagSpec
from deploy_kit.vllm.flag_table import FlagTable as FlagTable
from deploy_kit.vllm.flag_table import ParsedArgv as ParsedArgv
from deploy_kit.vllm.flag_table import Severity as Severity
from deploy_kit.vllm.flag_table import deep_merge
from deploy_kit.vllm.flag_table import flag_table_path as flag_table_path
from deploy_kit.vllm.flag_table import load_flags as load_flags

_NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE]-?\d+)?$")
_HUMAN_INT = re.compile(r"^(\d+(\.\d+)?[kmgt]|\d+[KMGT]|-?\d+)$")
_API_SERVER_MODULES = {"vllm.entrypoints.openai.api_server", "vllm.entrypoints.api_server"}
_PYTHON = re.compile(r"^python(\d+(\.\d+)?)?$")


def check_argv(argv: Sequence[str], version: str = DEFAULT_VLLM_VERSION) -> list[ArgProblem]:
    """Every problem vLLM's parser (or its config classes) would have with `argv`."""
    return parse_argv(argv, version).problems


def parse_argv(argv: Sequence[str], version: str = DEFAULT_VLLM_VERSION) -> ParsedArgv:
    """Parse `vllm serve MODEL ...`, `python -m vllm.entrypoints.openai.api_server ...` or bare
    flags the way vLLM 0.33's FlexibleArgumentParser does, collecting problems on the way."""
    return _Parser(load_flags(version), list(argv)).run()


# --- implementation --------------------------------------------------------------------


@lru_cache(maxsize=8)
def _option_index(version: str) -> dict[str, tuple[str, bool]]:
    return _build_index(load_flags(version))


def _build_index(table: FlagTable) -> dict[str, tuple[str, bool]]:
    index: dict[str, tuple[str, bool]] = {}
    for name, spec in table.flags.items():
        index[name] = (name, False)
        for alias in spec.aliases:
            index[alias] = (name, False)
        if spec.negation:
            index[spec.negation] = (name, True)
    return index


def _looks_like_option(token: str) -> bool:
    # argparse treats "-5" as a value because no vLLM option looks like a negative number.
    return token.startswith("-") and token != "-" and not _NEGATIVE_NUMBER.match(token)


def _normalise_name(name: str) -> str:
    # vLLM accepts --max_model_len: underscores become dashes up to the first dot.
    if not name.startswith("--"):
        return name
    head, dot, tail = name[2:].partition(".")
    return "--" + head.replace("_", "-") + dot + tail


def _dotted_value(raw: str) -> Any:
    # vLLM: JSON first, then a human-readable integer (80g), else the plain string.
    try:
        return json.loads(raw)
    except ValueError:
        pass
    return _human_int(raw) if _HUMAN_INT.match(raw) else raw


def _human_int(raw: str) -> int:
    multipliers = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
    binary = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    suffix = raw[-1]
    if suffix in multipliers:
        return int(float(raw[:-1]) * multipliers[suffix])
    if suffix in binary:
        return int(raw[:-1]) * binary[suffix]
    return int(raw)


class _Parser:
    """One pass over an argv; mirrors argparse's consumption rules closely enough to lint."""

    def __init__(self, table: FlagTable, argv: list[str]) -> None:
        self.table = table
        self.index = _option_index(table.vllm_version)
        self.argv = argv
        self.problems: list[ArgProblem] = []
        self.flags: dict[str, list[str | None]] = {}
        self.items: list[tuple[str, str | None]] = []
        self.dotted: dict[str, dict[str, Any]] = {}
        self.positionals: list[str] = []
        self.model: str | None = None
        self.model_index: int | None = None
        self.serve = True

    def problem(
        self,
        code: Any,
        severity: Severity,
        message: str,
        index: int | None,
        flag: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.problems.append(
            ArgProblem(
                code=code, severity=severity, message=message, index=index, flag=flag, hint=hint
            )
        )

    def run(self) -> ParsedArgv:
        start = self._skip_prog()
        i = start
        only_positionals = False
        while i < len(self.argv):
            token = self.argv[i]
            if only_positionals or not _looks_like_option(token):
                self._positional(token, i)
                i += 1
            elif token == "--":
                only_positionals = True
                i += 1
            else:
                i = self._option(i)
        self._after()
        return ParsedArgv(
            vllm_version=self.table.vllm_version,
            prog=self.argv[:start],
            model=self.model,
            flags=self.flags,
            items=self.items,
            dotted=self.dotted,
            positionals=self.positionals,
            problems=self.problems,
        )

    def _skip_prog(self) -> int:
        argv = self.argv
        if not argv:
            return 0
        first = os.path.basename(argv[0])
        if first == "vllm" and len(argv) > 1 and argv[1] == "serve":
            return 2
        if first == "serve":
            return 1
        if _PYTHON.match(first) and len(argv) > 2 and argv[1] == "-m":
            if argv[2] in _API_SERVER_MODULES:
                self.serve = False  # the module entry point takes the model only via --model
                return 3
            if argv[2] == "vllm.entrypoints.cli.main" and len(argv) > 3 and argv[3] == "serve":
                return 4
        return 0

    def _positional(self, token: str, i: int) -> None:
        if self.serve and self.model is None and not self.positionals:
            self.model = token
            self.model_index = i
            return
        self.positionals.append(token)
        self.problem(
            "unexpected-positional",
            "error",
            f"unexpected positional argument {token!r}",
            i,
            hint="vLLM takes one positional (the model); quote values with spaces, "
            "and check the flag before it takes a value",
        )

    def _option(self, i: int) -> int:
        token = self.argv[i]
        if token.startswith("-O") and not token.startswith("--") and token[2:3] != ".":
            return self._optimization_level(i)
        name, eq, explicit = token.partition("=")
        name = _normalise_name(name)
        explicit_value = explicit if eq else None
        if "." in name:
            return self._dotted(i, name, explicit_value)
        resolved = self._resolve(name, i)
        if resolved is None:
            # Unknown: argparse would reject it anyway; swallow a following bare value so the
            # model positional is not blamed for it.
            nxt = i + 1
            if (
                explicit_value is None
                and nxt < len(self.argv)
                and not _looks_like_option(self.argv[nxt])
                and self.model is not None
            ):
                return nxt + 1
            return i + 1
        canonical, negative = resolved
        spec = self.table.flags[canonical]
        key = spec.negation if (negative and spec.negation) else canonical
        if spec.deprecated:
            self.problem(
                "deprecated-flag",
                "warning",
                f"{token.split('=')[0]} is deprecated in vLLM {self.table.vllm_version}",
                i,
                canonical,
                hint="drop it or use its replacement (see vllm serve --help=all)",
            )
        if not spec.takes_value:
            if explicit_value is not None:
                self.problem(
                    "unexpected-value",
                    "error",
                    f"{name} is a switch and takes no value (got {explicit_value!r})",
                    i,
                    canonical,
                    hint=f"write {name} alone"
                    + (f", or {spec.negation} to turn it off" if spec.negation else ""),
                )
            self._record(key, None)
            return i + 1
        if canonical == "--model":
            return self._model_flag(i, name, explicit_value)
        return self._values(i, name, canonical, spec, explicit_value)

    def _resolve(self, name: str, i: int) -> tuple[str, bool] | None:
        if name in self.index:
            return self.index[name]
        if name.startswith("--"):
            # argparse's allow_abbrev: a unique prefix of a long option is accepted.
            matches = sorted({o for o in self.index if o.startswith(name) and o.startswith("--")})
            targets = {self.index[o] for o in matches}
            if len(targets) == 1:
                self.problem(
                    "abbreviated-flag",
                    "warning",
                    f"{name} is an abbreviation of {matches[0]}",
                    i,
                    self.index[matches[0]][0],
                    hint=f"spell it out as {matches[0]}; a new flag can make it ambiguous",
                )
                return self.index[matches[0]]
            if len(targets) > 1:
                self.problem(
                    "ambiguous-flag",
                    "error",
                    f"{name} is ambiguous: {', '.join(matches[:5])}",
                    i,
                    hint="spell the flag out",
                )
                return None
        self.problem(
            "unknown-flag",
            "error",
            f"unknown flag {name} for vLLM {self.table.vllm_version}",
            i,
            hint=self._suggest(name),
        )
        return None

    def _suggest(self, name: str) -> str | None:
        if name.startswith("--no-"):
            positive = "--" + name.removeprefix("--no-")
            if positive in self.table.flags:
                negation = self.table.flags[positive].negation
                if negation:
                    return f"the negative form of {positive} is {negation}"
                return f"{positive} has no negative form; leave it out"
        close = difflib.get_close_matches(name, list(self.index), n=1, cutoff=0.75)
        return f"did you mean {close[0]}?" if close else None

    def _model_flag(self, i: int, name: str, explicit: str | None) -> int:
        nxt = i + 1
        if explicit is None:
            if nxt >= len(self.argv) or _looks_like_option(self.argv[nxt]):
                self.problem("missing-value", "error", f"{name} needs a value", i, "--model")
                return nxt
            explicit, nxt = self.argv[nxt], nxt + 1
        if self.model is not None:
            self.problem(
                "model-twice",
                "warning",
                f"the model is given twice ({self.model!r} and {explicit!r})",
                i,
                "--model",
                hint="give the model once, as the positional argument of vllm serve",
            )
        else:
            self.model, self.model_index = explicit, i
        self._record("--model", explicit)
        return nxt

    def _values(
        self, i: int, name: str, canonical: str, spec: FlagSpec, explicit: str | None
    ) -> int:
        nxt = i + 1
        values: list[str | None] = []
        if explicit is not None:
            values = [explicit]
        elif spec.nargs in ("+", "*"):
            while nxt < len(self.argv) and not _looks_like_option(self.argv[nxt]):
                values.append(self.argv[nxt])
                nxt += 1
        elif nxt < len(self.argv) and not _looks_like_option(self.argv[nxt]):
            values = [self.argv[nxt]]
            nxt += 1
        if not values:
            if spec.nargs in ("?", "*"):
                self._record(canonical, None)
                return nxt
            self.problem(
                "missing-value",
                "error",
                f"{name} needs a value" + (f" ({spec.metavar})" if spec.metavar else ""),
                i,
                canonical,
                hint=f"write {name} VALUE or {name}=VALUE",
            )
            return nxt
        for value in values:
            self._check_value(i, name, canonical, spec, value)
            self._record(canonical, value)
        return nxt

    def _check_value(
        self, i: int, name: str, canonical: str, spec: FlagSpec, value: str | None
    ) -> None:
        if value is None:
            return
        if spec.choices is not None and value not in spec.choices:
            shown = ", ".join(spec.choices[:12]) + (", ..." if len(spec.choices) > 12 else "")
            close = difflib.get_close_matches(value, spec.choices, n=1)
            self.problem(
                "bad-choice",
                "warning" if spec.choices_open else "error",
                f"{name} {value!r} is not one of: {shown}"
                + (" (plugins may add values)" if spec.choices_open else ""),
                i,
                canonical,
                hint=f"did you mean {close[0]!r}?" if close else None,
            )
            return
        if value == "None" and spec.default == "None" and spec.type != "json":
            return  # vLLM's optional types read "None" as unset
        problem = _type_problem(spec, value)
        if problem is not None:
            code, message = problem
            self.problem(code, "error", f"{name}: {message}", i, canonical)
            return
        if spec.json_config and spec.json_keys is not None:
            loaded = json.loads(value)
            for key in sorted(set(loaded) - set(spec.json_keys)):
                self._unknown_key(i, canonical, key)

    def _dotted(self, i: int, name: str, explicit: str | None) -> int:
        root, _, path = name.partition(".")
        nxt = i + 1
        if explicit is None:
            # vLLM always takes the next token as the value of a dotted key.
            if nxt >= len(self.argv):
                self.problem("missing-value", "error", f"{name} needs a value", i, hint=None)
                return nxt
            explicit, nxt = self.argv[nxt], nxt + 1
        resolved = self.index.get(root)
        if resolved is None:
            self.problem(
                "unknown-flag",
                "error",
                f"unknown flag {root} (in {name}) for vLLM {self.table.vllm_version}",
                i,
                hint=self._suggest(root),
            )
            return nxt
        canonical = resolved[0]
        spec = self.table.flags[canonical]
        if not spec.takes_json:
            self.problem(
                "not-a-json-flag",
                "error",
                f"{canonical} does not take JSON, so {name} has no meaning",
                i,
                canonical,
                hint=f"pass {canonical} VALUE",
            )
            return nxt
        append = path.endswith("+")
        keys = path.removesuffix("+").split(".")
        if not all(keys):
            self.problem("bad-json", "error", f"{name}: empty key", i, canonical)
            return nxt
        if spec.json_keys is not None and keys[0] not in spec.json_keys:
            self._unknown_key(i, canonical, keys[0])
        value: Any = explicit.split(",") if append else _dotted_value(explicit)
        nested: Any = value
        for key in reversed(keys):
            nested = {key: nested}
        deep_merge(self.dotted.setdefault(canonical, {}), nested)
        self.items.append((canonical, f"{path}={explicit}"))
        return nxt

    def _unknown_key(self, i: int, canonical: str, key: str) -> None:
        spec = self.table.flags[canonical]
        close = difflib.get_close_matches(key, spec.json_keys or [], n=1)
        self.problem(
            "unknown-json-key",
            "warning",
            f"{canonical}: {key!r} is not among the fields vLLM {self.table.vllm_version} "
            "shows for this config",
            i,
            canonical,
            hint=(f"did you mean {close[0]!r}? " if close else "")
            + "the default printed by `vllm serve --help=all` lacks it; vLLM rejects unknown "
            "config keys at start-up",
        )

    def _optimization_level(self, i: int) -> int:
        token = self.argv[i]
        nxt = i + 1
        if token == "-O":
            if nxt < len(self.argv) and self.argv[nxt] in {"0", "1", "2", "3"}:
                level, nxt = self.argv[nxt], nxt + 1
            else:
                self.problem("missing-value", "error", "-O needs a level 0-3", i)
                return nxt
        else:
            level = token[3:] if token[2] == "=" else token[2:]
        spec = self.table.flags.get("--optimization-level")
        if spec is None:
            self.problem("unknown-flag", "error", f"{token}: no --optimization-level here", i)
            return nxt
        self._check_value(i, token, "--optimization-level", spec, level)
        self._record("--optimization-level", level)
        return nxt

    def _record(self, key: str, value: str | None) -> None:
        self.flags.setdefault(key, []).append(value)
        self.items.append((key, value))

    def _after(self) -> None:
        for key, values in self.flags.items():
            canonical, negative = self.index.get(key, (key, False))
            spec = self.table.flags.get(canonical)
            if spec is None or spec.nargs in ("+", "*"):
                continue
            if len(values) > 1 and key != "--model":
                self.problem(
                    "duplicate-flag",
                    "warning",
                    f"{key} is given {len(values)} times; the last one wins",
                    None,
                    canonical,
                    hint="give each flag once",
                )
            if not negative and spec.negation and spec.negation in self.flags:
                self.problem(
                    "conflicting-switch",
                    "warning",
                    f"both {key} and {spec.negation} are given; the last one wins",
                    None,
                    canonical,
                )


def _type_problem(spec: FlagSpec, value: str) -> tuple[str, str] | None:
    kind = spec.type
    if kind == "int":
        try:
            int(value)
        except ValueError:
            return "bad-type", f"expected an integer, got {value!r}"
    elif kind in ("float", "number"):
        try:
            float(value)
        except ValueError:
            return "bad-type", f"expected a number, got {value!r}"
    elif kind == "human_int":
        if not (_HUMAN_INT.match(value) or value.lower() == "auto"):
            return "bad-type", f"expected an integer such as 4096, 128k or 1M, got {value!r}"
    elif kind == "json":
        try:
            loaded = json.loads(value)
        except json.JSONDecodeError as exc:
            return "bad-json", f"invalid JSON ({exc.msg} at column {exc.colno}): {value!r}"
        if spec.json_config and not isinstance(loaded, dict):
            return "bad-json", f"expected a JSON object, got {value!r}"
    return None
