"""Offline checker for vLLM argv: reads `vllm serve ...` the way vLLM's own parser does.

It replays, without importing vLLM, what `vllm serve` does with its argv in the pinned version
(vllm/utils/argparse_utils.py FlexibleArgumentParser.parse_args, then Python's argparse, then
vllm/entrypoints/common/cli_args.py validate_parsed_serve_args):

1. `--model X` is moved to the front (vllm serve only), so a positional model as well is left
   over; `--served-model-name` without a leading positional model is refused.
2. Underscores become dashes in an option's name (up to the first dot); `-O3`, `-O=3` and
   `-O 3` become `--optimization-level`.
3. Dotted keys (`--flag.a.b value`, `--flag.a=value`, `--flag.list+ a,b`) of any flag are
   gathered into one JSON object appended as `--flag {...}` at the end, so it replaces an
   explicit JSON value given for the same flag.
4. argparse: exact option strings, `--opt=value`, unique prefixes (abbreviations), nargs,
   the type conversion of each value and the choices; leftovers are "unrecognized arguments".
5. The serve subcommand's cross-flag checks.

The flag tables and result models live in flag_table; their names are re-exported here.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from deploy_kit.vllm.flag_table import DEFAULT_VLLM_VERSION as DEFAULT_VLLM_VERSION
from deploy_kit.vllm.flag_table import ArgProblem as ArgProblem
from deploy_kit.vllm.flag_table import FlagSpec as FlagSpec
from deploy_kit.vllm.flag_table import FlagTable as FlagTable
from deploy_kit.vllm.flag_table import JsonField as JsonField
from deploy_kit.vllm.flag_table import ParsedArgv as ParsedArgv
from deploy_kit.vllm.flag_table import Severity as Severity
from deploy_kit.vllm.flag_table import deep_merge
from deploy_kit.vllm.flag_table import flag_table_path as flag_table_path
from deploy_kit.vllm.flag_table import load_flags as load_flags
from deploy_kit.vllm.flag_table import removed_item as removed_item
from deploy_kit.vllm.flag_table import table_version as table_version

# argparse's _negative_number_matcher (Lib/argparse.py): such tokens are values, not options.
_NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")
# vllm.utils.argparse_utils.human_readable_int
_HUMAN_INT = re.compile(r"(\d+(?:\.\d+)?)([kKmMgGtT])")
_DECIMAL = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_BINARY = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
# vllm.engine.arg_utils._expand_json_human_readable_numbers
_JSON_STRING = re.compile(r'("(?:[^"\\]|\\.)*")')
_JSON_HUMAN = re.compile(r"\b\d+(?:\.\d+)?[kKmMgGtT]\b")
# vllm.engine.arg_utils.union_dict_and_str: a value in braces is JSON, anything else a string.
_BRACED = re.compile(r"(?s)^\s*{.*}\s*$")
_MODEL_OPTION = re.compile(r"^--model(=.+|$)")
_SERVED_NAME = re.compile(r"^--served[-_]model[-_]name(=.+|$)")
_CONFIG_OPTION = re.compile(r"^--config(=.+|$)")
# pydantic's lax bool parsing (pydantic-core: str and int inputs)
_BOOL_STRINGS = {"0", "off", "f", "false", "n", "no", "1", "on", "t", "true", "y", "yes"}
# LoRAModulePath (vllm/entrypoints/openai/models/protocol.py, 0.33.0): fields without default.
_LORA_REQUIRED = ("name", "path")
_API_SERVER_MODULES = {"vllm.entrypoints.openai.api_server", "vllm.entrypoints.api_server"}
_PYTHON = re.compile(r"^python(\d+(\.\d+)?)?$")
_OPT_LEVEL = "--optimization-level"


def check_argv(
    argv: Sequence[str],
    version: str = DEFAULT_VLLM_VERSION,
    env: Mapping[str, str] | None = None,
) -> list[ArgProblem]:
    """Every problem vLLM's parser (or the serve command's checks) would have with `argv`.

    `env`: the container's environment when it is fully known (some checks depend on it);
    None when it is not, and those checks are skipped.
    """
    return parse_argv(argv, version, env).problems


def parse_argv(
    argv: Sequence[str],
    version: str = DEFAULT_VLLM_VERSION,
    env: Mapping[str, str] | None = None,
) -> ParsedArgv:
    """Parse `vllm serve MODEL ...`, `python -m vllm.entrypoints.openai.api_server ...` or bare
    flags the way vLLM's FlexibleArgumentParser does, collecting problems on the way.

    `version` may be any vLLM release: a release without its own table is read with the
    nearest table, and what it still accepts but that table does not becomes a warning.
    """
    return _Parser(load_flags(table_version(version)), list(argv), version, env).run()


# --- implementation --------------------------------------------------------------------


@lru_cache(maxsize=8)
def _option_index(version: str) -> dict[str, tuple[str, bool]]:
    return load_flags(version).option_strings()


@dataclass
class _Tok:
    text: str
    index: int  # position in the caller's argv
    dotted: bool = False  # the JSON vLLM built from --flag.key arguments


@dataclass
class _State:
    """What argparse's namespace would hold, for the cross-flag checks."""

    values: dict[str, Any] = field(default_factory=dict)  # canonical -> last converted value
    switches: dict[str, bool] = field(default_factory=dict)


# argparse's reading of one token: None for a value, else (canonical flag or None when
# unknown or "" when ambiguous, the option string, the explicit `=` value).
_Kind = tuple[str | None, str, str | None] | None


class _Bad(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def human_readable_int(value: str) -> int:
    """vLLM's human_readable_int: 4096, 128k (decimal), 1K (binary, no decimals)."""
    value = value.strip()
    m = _HUMAN_INT.fullmatch(value)
    if m:
        number, suffix = m.groups()
        if suffix in _DECIMAL:
            return int(float(number) * _DECIMAL[suffix])
        try:
            return int(number) * _BINARY[suffix]
        except ValueError:
            raise _Bad(
                "bad-type",
                f"decimals are not allowed with binary suffixes like {suffix}; "
                f"did you mean {number}{suffix.lower()}?",
            ) from None
    try:
        return int(value)
    except ValueError:
        raise _Bad(
            "bad-type", f"expected an integer such as 4096, 128k or 1M, got {value!r}"
        ) from None


def _expand_json_numbers(text: str) -> str:
    parts = _JSON_STRING.split(text)
    for i in range(0, len(parts), 2):
        parts[i] = _JSON_HUMAN.sub(lambda m: str(human_readable_int(m.group())), parts[i])
    return "".join(parts)


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _Bad(
            "bad-json", f"invalid JSON ({exc.msg} at column {exc.colno}): {text!r}"
        ) from None


class _Parser:
    """One pass over an argv in the order vLLM and argparse read it."""

    def __init__(
        self, table: FlagTable, argv: list[str], pinned: str, env: Mapping[str, str] | None
    ) -> None:
        self.table = table
        self.pinned = pinned
        self.env = env
        self.index = _option_index(table.vllm_version)
        self.argv = argv
        self.problems: list[ArgProblem] = []
        self.flags: dict[str, list[str | None]] = {}
        self.items: list[tuple[str, str | None]] = []
        self.dotted: dict[str, dict[str, Any]] = {}
        self.positionals: list[str] = []
        self.model: str | None = None
        self.serve = True
        self.state = _State()
        self.start = 0
        self.moved = False  # vllm serve moved --model X to the front

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
        self.start = self._skip_prog()
        tokens = [_Tok(t, i) for i, t in enumerate(self.argv) if i >= self.start]
        tokens = self._move_model(tokens)
        tokens = self._normalise(tokens)
        tokens = self._gather_dotted(tokens)
        self._argparse(tokens)
        self._conflicts()
        self._serve_checks()
        return ParsedArgv(
            vllm_version=self.table.vllm_version,
            prog=self.argv[: self.start],
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
                # The module entry point builds the same parser but without the serve
                # subcommand's --model move.
                self.serve = False
                return 3
            if argv[2] == "vllm.entrypoints.cli.main" and len(argv) > 3 and argv[3] == "serve":
                return 4
        return 0

    # -- FlexibleArgumentParser.parse_args's rewriting ------------------------------------

    def _move_model(self, tokens: list[_Tok]) -> list[_Tok]:
        if not self.serve:
            return tokens
        at = next((k for k, t in enumerate(tokens) if _MODEL_OPTION.match(t.text)), None)
        if at is not None:
            token = tokens[at]
            if token.text == "--model":
                if at + 1 >= len(tokens):
                    self.problem(
                        "missing-value", "error", "--model needs a value", token.index, "--model"
                    )
                    return tokens[:at]
                moved, rest = tokens[at + 1], at + 2
            else:
                moved, rest = _Tok(token.text.removeprefix("--model="), token.index), at + 1
            self._record("--model", moved.text)
            self.model = moved.text
            tokens = [moved, *tokens[:at], *tokens[rest:]]
            self.moved = True
        if (
            len(tokens) > 0
            and tokens[0].text.startswith("-")
            and not any(_CONFIG_OPTION.match(t.text) for t in tokens)
            and any(_SERVED_NAME.match(t.text) for t in tokens)
        ):
            self.problem(
                "model-not-first",
                "error",
                "with --served-model-name, vllm serve needs the model as its first argument",
                tokens[0].index,
                hint="write vllm serve MODEL --served-model-name NAME ...",
            )
        return tokens

    def _normalise(self, tokens: list[_Tok]) -> list[_Tok]:
        out: list[_Tok] = []
        for k, tok in enumerate(tokens):
            text = tok.text
            if text.startswith("--"):
                key, eq, value = text.partition("=")
                head, dot, tail = key[2:].partition(".")
                out.append(_Tok("--" + head.replace("_", "-") + dot + tail + eq + value, tok.index))
            elif text.startswith("-O") and text != "-O":
                level = text[3:] if text[2] == "=" else text[2:]
                out += [_Tok(_OPT_LEVEL, tok.index), _Tok(level, tok.index)]
            elif (
                text == "-O" and k + 1 < len(tokens) and tokens[k + 1].text in {"0", "1", "2", "3"}
            ):
                out.append(_Tok(_OPT_LEVEL, tok.index))
            else:
                out.append(tok)
        return out

    def _gather_dotted(self, tokens: list[_Tok]) -> list[_Tok]:
        delete: set[int] = set()
        gathered: dict[str, tuple[dict[str, Any], int]] = {}
        seen: dict[str, int] = {}
        for k, tok in enumerate(tokens):
            if k in delete:
                continue
            text = tok.text
            if text.startswith("--") and "." not in text:
                name = text.split("=", 1)[0]
                seen[name] = seen.get(name, 0) + 1
                continue
            if not (text.startswith("-") and "." in text):
                continue
            if "=" in text:
                key, raw = text.split("=", 1)
                if "." not in key:
                    continue  # the dot was in the value
            else:
                if k + 1 >= len(tokens):
                    # vLLM indexes past the end (IndexError) and stops.
                    self.problem("missing-value", "error", f"{text} needs a value", tok.index)
                    delete.add(k)
                    continue
                key, raw = text, tokens[k + 1].text
                delete.add(k + 1)
            delete.add(k)
            if key.endswith("+"):
                key = key[:-1]
                raw = json.dumps(raw.split(","))
            root, *path = key.split(".")
            value: Any
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                try:
                    value = human_readable_int(raw)
                except (_Bad, ValueError):
                    value = raw
            nested: Any = value
            for part in reversed(path):
                nested = {part: nested}
            target = gathered.setdefault(root, ({}, tok.index))[0]
            if isinstance(nested, dict):
                deep_merge(target, nested)
        for name, count in seen.items():
            if count > 1 and name in self.index:
                canonical = self.index[name][0]
                spec = self.table.flags[canonical]
                if spec.nargs != "append":
                    self.problem(
                        "duplicate-flag",
                        "warning",
                        f"{name} is given {count} times; the last one wins",
                        None,
                        canonical,
                        hint="give each flag once",
                    )
        out = [t for k, t in enumerate(tokens) if k not in delete]
        for root, (obj, index) in gathered.items():
            # One JSON value per spelling (-cc and --compilation-config apart), in order.
            out += [_Tok(root, index, dotted=True), _Tok(json.dumps(obj), index, dotted=True)]
            resolved = self.index.get(root)
            if resolved is not None:
                self.dotted[resolved[0]] = obj
        return out

    # -- argparse ----------------------------------------------------------------------------

    def _match(self, text: str) -> _Kind:
        """argparse's _parse_optional: None for a value; (canonical, option, explicit)."""
        if not text or text[0] != "-":
            return None
        if text in self.index:
            return self.index[text][0], text, None
        if len(text) == 1:
            return None
        if "=" in text:
            option, explicit = text.split("=", 1)
            if option in self.index:
                return self.index[option][0], option, explicit
        matches = self._prefix_matches(text)
        if len(matches) > 1 and removed_item(text.split("=", 1)[0]) is not None:
            return None, text, None  # vLLM refuses it either way; say that it was removed
        if len(matches) > 1:
            raise _Bad(
                "ambiguous-flag",
                f"{text.split('=')[0]} is ambiguous: it could match "
                + ", ".join(m[1] for m in matches[:6])
                + (", ..." if len(matches) > 6 else ""),
            )
        if len(matches) == 1:
            canonical, option, _ = matches[0]
            self.problem(
                "abbreviated-flag",
                "warning",
                f"{text.split('=')[0]} is an abbreviation of {option}",
                None,
                canonical,
                hint=f"spell it out as {option}; a new vLLM flag can make it ambiguous",
            )
            return matches[0]
        if _NEGATIVE_NUMBER.match(text) or " " in text:
            return None
        return None, text, None

    def _prefix_matches(self, text: str) -> list[tuple[str, str, str | None]]:
        found: list[tuple[str, str, str | None]] = []
        if text.startswith("--"):
            if not self.table.abbreviations:
                return found
            prefix, eq, explicit = text.partition("=")
            for option, (canonical, _) in self.index.items():
                if option.startswith(prefix):
                    found.append((canonical, option, explicit if eq else None))
        else:
            short, short_explicit = text[:2], text[2:]
            for option, (canonical, _) in self.index.items():
                if option == short:
                    found.append((canonical, option, short_explicit))
                elif option.startswith(text):
                    found.append((canonical, option, None))
        return found

    def _argparse(self, tokens: list[_Tok]) -> None:
        kinds: list[_Kind] = []
        only_values = False
        cleaned: list[_Tok] = []
        for tok in tokens:
            if only_values:
                kinds.append(None)
                cleaned.append(tok)
                continue
            if tok.text == "--":
                only_values = True
                continue
            try:
                before = len(self.problems)
                kinds.append(self._match(tok.text))
                if len(self.problems) > before:
                    self.problems[-1] = self.problems[-1].model_copy(update={"index": tok.index})
            except _Bad as bad:
                self.problem(bad.code, "error", bad.message, tok.index, hint="spell the flag out")
                kinds.append(("", tok.text, None))
            cleaned.append(tok)
        model_free = True  # the positional model_tag (nargs='?') is still unfilled
        k = 0
        while k < len(cleaned):
            tok, kind = cleaned[k], kinds[k]
            previous = kinds[k - 1] if k > 0 else None
            after_bad = previous is not None and previous[0] in (None, "")
            if kind is None and after_bad and not model_free:
                # The value of an unknown or ambiguous flag: vLLM lists it among the
                # unrecognized arguments too, but the flag's own error says it all.
                k += 1
                continue
            if kind is None:
                if model_free:
                    model_free = False
                    self.model = self.model or tok.text
                elif self.moved and k == 1:
                    self._leftover_model(tok)
                else:
                    self._extra_value(tok)
                k += 1
                continue
            canonical, option, explicit = kind
            if canonical == "":
                k += 1  # ambiguous, already reported
                continue
            if canonical is None:
                self._unknown(tok, cleaned, kinds, k)
                k += 1
                continue
            k = self._consume(canonical, option, explicit, cleaned, kinds, k)

    def _leftover_model(self, tok: _Tok) -> None:
        self.problem(
            "model-twice",
            "error",
            f"the model is given twice ({tok.text!r} and --model {self.model!r}); vllm serve "
            f"moves --model to the front, so {tok.text!r} is left over",
            tok.index,
            "--model",
            hint="give the model once, as the positional argument of vllm serve",
        )

    def _extra_value(self, tok: _Tok) -> None:
        self.positionals.append(tok.text)
        self.problem(
            "unexpected-positional",
            "error",
            f"unexpected argument {tok.text!r} (vLLM: unrecognized arguments)",
            tok.index,
            hint="vLLM takes one positional (the model, first); quote values with spaces, "
            "and check the flag before it takes that many values",
        )

    def _unknown(
        self,
        tok: _Tok,
        tokens: list[_Tok],
        kinds: list[_Kind],
        k: int,
    ) -> None:
        name = tok.text.split("=", 1)[0]
        removed = removed_item(name)
        if removed is not None:
            # Swallow its value so that the value is not blamed as a stray positional.
            taken = removed.takes_value and "=" not in tok.text and k + 1 < len(tokens)
            if taken and kinds[k + 1] is None:
                kinds[k + 1] = ("", tokens[k + 1].text, None)
            self.problem(
                "removed-flag",
                "error",
                f"{name} was removed in vLLM {removed.removed_in}; vLLM "
                f"{self.table.vllm_version} refuses it (unrecognized arguments)",
                tok.index,
                name,
                hint=removed.hint,
            )
            return
        if "." in name:
            root = name.split(".", 1)[0]
            self.problem(
                "unknown-flag",
                "error",
                f"unknown flag {root} (in {name}) for vLLM {self.table.vllm_version}",
                tok.index,
                hint=self._suggest(root),
            )
            return
        self.problem(
            "unknown-flag",
            "error",
            f"unknown flag {name} for vLLM {self.table.vllm_version}",
            tok.index,
            hint=self._suggest(name),
        )

    def _suggest(self, name: str) -> str | None:
        if name.startswith("--no-"):
            positive = "--" + name.removeprefix("--no-")
            spec = self.table.flags.get(positive)
            if spec is not None and spec.takes_value:
                return f"{positive} takes a value and has no negative form"
        close = difflib.get_close_matches(name, list(self.index), n=1, cutoff=0.75)
        return f"did you mean {close[0]}?" if close else None

    def _consume(
        self,
        canonical: str,
        option: str,
        explicit: str | None,
        tokens: list[_Tok],
        kinds: list[_Kind],
        k: int,
    ) -> int:
        tok = tokens[k]
        spec = self.table.flags[canonical]
        negative = option in spec.negations
        if spec.deprecated:
            self.problem(
                "deprecated-flag",
                "warning",
                f"{option} is deprecated in vLLM {self.table.vllm_version}",
                tok.index,
                canonical,
                hint=spec.deprecation or "drop it or use its replacement",
            )
        if not spec.takes_value:
            if explicit is not None:
                self.problem(
                    "unexpected-value",
                    "error",
                    f"{option} is a switch and takes no value (got {explicit!r})",
                    tok.index,
                    canonical,
                    hint=f"write {option} alone"
                    + (f", or {spec.negation} to turn it off" if spec.negation else ""),
                )
                return k + 1
            key = option if negative else canonical
            self._record(key, None)
            self.state.switches[canonical] = not negative
            return k + 1
        values: list[_Tok] = []
        nxt = k + 1
        if explicit is not None:
            values = [_Tok(explicit, tok.index)]
        elif spec.nargs in ("+", "*"):
            while nxt < len(tokens) and kinds[nxt] is None:
                values.append(tokens[nxt])
                nxt += 1
        elif nxt < len(tokens) and kinds[nxt] is None:
            values = [tokens[nxt]]
            nxt += 1
        if not values:
            if spec.nargs == "?" and spec.const:
                self._record(canonical, None)
                self.state.values[canonical] = True
                return nxt
            if spec.nargs == "*":
                self._record(canonical, None)
                return nxt
            self.problem(
                "missing-value",
                "error",
                f"{option} needs "
                + ("at least one value" if spec.nargs == "+" else "a value")
                + (f" ({spec.metavar})" if spec.metavar else ""),
                tok.index,
                canonical,
                hint=f"write {option} VALUE or {option}=VALUE",
            )
            return nxt
        converted: list[Any] = []
        for value in values:
            converted.append(self._convert(option, canonical, spec, value))
            self._record(canonical, value.text)
        if canonical == "--model" and self.model is None:
            self.model = values[0].text
        if spec.type == "lora_modules":
            self._lora(option, canonical, values)
        if spec.nargs == "append":
            self.state.values.setdefault(canonical, []).extend(converted)
        else:
            self.state.values[canonical] = converted if spec.nargs in ("+", "*") else converted[0]
        return nxt

    def _convert(self, option: str, canonical: str, spec: FlagSpec, value: _Tok) -> Any:
        text = value.text
        if spec.optional and text in ("", "None"):
            return None
        try:
            converted = _convert_type(spec, text)
        except _Bad as bad:
            if value.dotted and not spec.takes_json:
                self.problem(
                    "not-a-json-flag",
                    "error",
                    f"{canonical} does not take JSON, so {canonical}.KEY has no meaning "
                    f"(vLLM passes it {text} and fails: {bad.message})",
                    value.index,
                    canonical,
                    hint=f"pass {canonical} VALUE",
                )
            else:
                self.problem(bad.code, "error", f"{option}: {bad.message}", value.index, canonical)
            return None
        if spec.choices is not None:
            candidate = converted
            if spec.choices_normalise == "lower_underscore" and isinstance(candidate, str):
                candidate = candidate.lower().replace("-", "_")
            if str(candidate) not in spec.choices:
                shown = ", ".join(spec.choices[:12]) + (", ..." if len(spec.choices) > 12 else "")
                close = difflib.get_close_matches(str(candidate), spec.choices, n=1)
                self.problem(
                    "bad-choice",
                    "warning" if spec.choices_open else "error",
                    f"{option} {text!r} is not one of: {shown}"
                    + (" (plugins may add values)" if spec.choices_open else ""),
                    value.index,
                    canonical,
                    hint=f"did you mean {close[0]!r}?" if close else None,
                )
        if spec.json_config and spec.json_fields is not None:
            problem = _config_problem(converted, spec.json_fields, "") or _config_rules(
                converted, spec
            )
            if problem is not None:
                code, message = problem
                self.problem(code, "error", f"{option}: {message}", value.index, canonical)
        elif spec.json_shape is not None and not isinstance(converted, str | None):
            wanted = list if spec.json_shape == "list" else dict
            if not isinstance(converted, wanted):
                self.problem(
                    "bad-json",
                    "warning",
                    f"{option} expects a JSON {spec.json_shape} (its default is "
                    f"{spec.default}), got {text!r}; the parser passes it, the server may not",
                    value.index,
                    canonical,
                )
        elif canonical == "--speculative-config" and not isinstance(converted, dict | None):
            self.problem(
                "bad-json",
                "warning",
                f"{option}: expected a JSON object, got {text!r} (the parser passes it, "
                "the engine does not)",
                value.index,
                canonical,
            )
        return converted

    def _lora(self, option: str, canonical: str, values: list[_Tok]) -> None:
        # LoRAParserAction (vllm/entrypoints/common/cli_args.py): name=path or a JSON object.
        allowed = set(self.table.flags[canonical].json_keys or [])
        for value in values:
            item = value.text
            if item in ("", "None") or ("=" in item and "," not in item):
                continue
            try:
                loaded = json.loads(item)
            except json.JSONDecodeError:
                self.problem(
                    "bad-json",
                    "error",
                    f"{option}: {item!r} is neither name=path nor a JSON object",
                    value.index,
                    canonical,
                )
                continue
            if not isinstance(loaded, dict):
                message = f"{option}: {item!r} is not a JSON object"
            elif unknown := sorted(set(loaded) - allowed):
                message = f"{option}: unknown field(s) {', '.join(unknown)} in {item!r}"
            elif missing := [k for k in _LORA_REQUIRED if k not in loaded]:
                message = f"{option}: {item!r} lacks {', '.join(missing)}"
            else:
                continue
            self.problem("bad-json", "error", message, value.index, canonical)

    def _record(self, key: str, value: str | None) -> None:
        self.flags.setdefault(key, []).append(value)
        self.items.append((key, value))

    # -- validate_parsed_serve_args ------------------------------------------------------

    def _value(self, canonical: str, default: Any = None) -> Any:
        return self.state.values.get(canonical, default)

    def _on(self, canonical: str) -> bool:
        if canonical in self.state.switches:
            return self.state.switches[canonical]
        spec = self.table.flags.get(canonical)
        return spec is not None and spec.default == "True"

    def _conflicts(self) -> None:
        for name in self.dotted:
            if len(self.flags.get(name, [])) > 1:
                self.problem(
                    "json-overridden",
                    "warning",
                    f"{name} is given more than once as JSON (a JSON value and dotted keys, or "
                    "dotted keys under two spellings); vLLM keeps only the last one",
                    None,
                    name,
                    hint="put every key in one JSON value, or use dotted keys of one spelling",
                )
        for name, spec in self.table.flags.items():
            if name in self.flags and any(n in self.flags for n in spec.negations):
                self.problem(
                    "conflicting-switch",
                    "warning",
                    f"both {name} and its negation are given; the last one wins",
                    None,
                    name,
                )

    def _serve_checks(self) -> None:
        """The checks vllm serve makes before loading (cli_args.validate_parsed_serve_args)."""
        if any(p.severity == "error" for p in self.problems):
            return  # argparse stops at the first error; these would not run
        fail: list[tuple[str, str]] = []
        if self._value("--grpc-port") is not None:
            fail += self._grpc_port_checks()
        efforts = self._value("--reasoning-effort-map")
        if efforts is not None:
            allowed = self.table.flags["--reasoning-effort-map"].json_keys or []
            if not isinstance(efforts, dict) or not all(
                isinstance(v, str) for v in efforts.values()
            ):
                fail.append(
                    (
                        "--reasoning-effort-map",
                        "--reasoning-effort-map must be a JSON object mapping reasoning "
                        "efforts to strings",
                    )
                )
            elif unknown := sorted(set(efforts) - set(allowed)):
                fail.append(
                    (
                        "--reasoning-effort-map",
                        f"--reasoning-effort-map has unknown efforts {unknown}; keys must be "
                        f"one of {allowed}",
                    )
                )
        if self._on("--enable-auto-tool-choice") and not self._value("--tool-call-parser"):
            fail.append(
                (
                    "--enable-auto-tool-choice",
                    "--enable-auto-tool-choice requires --tool-call-parser",
                )
            )
        if self._on("--enable-log-outputs") and not self._on("--enable-log-requests"):
            fail.append(
                ("--enable-log-outputs", "--enable-log-outputs requires --enable-log-requests")
            )
        interval = self._value("--sse-keep-alive-interval", 0)
        if isinstance(interval, int | float) and interval < 0:
            fail.append(
                ("--sse-keep-alive-interval", "--sse-keep-alive-interval must not be negative")
            )
        if self._on("--enable-per-request-metrics") and self._on("--disable-log-stats"):
            fail.append(
                (
                    "--enable-per-request-metrics",
                    "--enable-per-request-metrics needs engine statistics; remove "
                    "--disable-log-stats",
                )
            )
        if self._on("--data-parallel-multi-port-external-lb"):
            fail += self._multi_port_checks()
        for flag, message in fail[:1]:  # vLLM raises at the first one
            self.problem("requires-flag", "error", message, None, flag)

    def _grpc_port_checks(self) -> list[tuple[str, str]]:
        port = self._value("--grpc-port")
        flag = "--grpc-port"
        if self._on("--grpc"):
            return [(flag, "--grpc and --grpc-port are mutually exclusive")]
        if self.env is not None and self.env.get("VLLM_USE_RUST_FRONTEND", "0") in ("", "0"):
            return [(flag, "--grpc-port requires VLLM_USE_RUST_FRONTEND=1")]
        count = self._value("--api-server-count")
        if self._on("--headless") or (isinstance(count, int) and count <= 0):
            return [(flag, "--grpc-port needs an API server; remove --headless")]
        if self._on("--data-parallel-multi-port-external-lb"):
            return [
                (flag, "--grpc-port is incompatible with --data-parallel-multi-port-external-lb")
            ]
        if isinstance(port, int) and not 0 <= port <= 65535:
            return [(flag, "--grpc-port must be between 0 and 65535")]
        if port and port == self._value("--port", 8000) and not self._value("--uds"):
            return [(flag, "--grpc-port must differ from --port")]
        return []

    def _multi_port_checks(self) -> list[tuple[str, str]]:
        # dp_supervisor.validate_multi_port_external_lb_args (vLLM 0.33.0), in its order.
        flag = "--data-parallel-multi-port-external-lb"
        dp = self._value("--data-parallel-size", 1)
        local = self._value("--data-parallel-size-local")
        checks = [
            (self._on("--grpc"), f"{flag} does not support --grpc"),
            (self._value("--uds") is not None, f"{flag} does not support --uds"),
            (
                bool(self._value("--ssl-keyfile")) != bool(self._value("--ssl-certfile")),
                "--ssl-keyfile and --ssl-certfile must be given together",
            ),
            (
                self._value("--api-server-count") not in (None, 1),
                f"{flag} requires --api-server-count=1",
            ),
            (
                self._value("--data-parallel-rank") is not None,
                f"{flag} sets --data-parallel-rank itself",
            ),
            (
                self._on("--data-parallel-external-lb") or self._on("--data-parallel-hybrid-lb"),
                f"{flag} cannot be combined with --data-parallel-external-lb or -hybrid-lb",
            ),
            (isinstance(dp, int) and dp < 2, f"{flag} requires --data-parallel-size > 1"),
            (
                not isinstance(local, int) or local < 2,
                f"{flag} requires --data-parallel-size-local >= 2",
            ),
            (
                isinstance(local, int) and isinstance(dp, int) and local > dp,
                "--data-parallel-size-local cannot exceed --data-parallel-size",
            ),
            (
                isinstance(local, int) and isinstance(dp, int) and local > 0 and dp % local != 0,
                "--data-parallel-size must be divisible by --data-parallel-size-local",
            ),
        ]
        return [(flag, message) for failed, message in checks if failed]


def _convert_type(spec: FlagSpec, text: str) -> Any:
    """The value as vLLM's argparse `type` converts it; _Bad when the conversion fails."""
    kind = spec.type
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            raise _Bad("bad-type", f"expected an integer, got {text!r}") from None
    if kind == "float":
        try:
            return float(text)
        except ValueError:
            raise _Bad("bad-type", f"expected a number, got {text!r}") from None
    if kind == "human_int":
        return human_readable_int(text)
    if kind == "human_int_or_auto":
        if text.strip() == "-1" or text.strip().lower() == "auto":
            return -1
        return human_readable_int(text)
    if kind == "json":
        return _loads(text)
    if kind == "json_or_str":
        if not _BRACED.match(text):
            return text
        return None if text in ("", "None") else _loads(text)
    if kind == "config":
        loaded = _loads(_expand_json_numbers(text))
        if not isinstance(loaded, dict):
            raise _Bad("bad-json", f"expected a JSON object, got {text!r}")
        return loaded
    return text


def _config_problem(
    value: Any, fields: Mapping[str, JsonField], path: str
) -> tuple[str, str] | None:
    """The first field of a config object pydantic (lax mode) would refuse, if any."""
    if not isinstance(value, dict):
        return "bad-json", f"{path or 'the value'} must be a JSON object"
    for key, item in value.items():
        where = f"{path}.{key}" if path else key
        spec = fields.get(key) or fields.get("*")
        if spec is None:
            close = difflib.get_close_matches(key, [k for k in fields if k != "*"], n=1)
            return (
                "unknown-json-key",
                f"{where!r} is not a field of this config (vLLM forbids unknown keys)"
                + (f"; did you mean {close[0]!r}?" if close else ""),
            )
        problem = _field_problem(item, spec, where)
        if problem is not None:
            return problem
    return None


def _config_rules(value: Any, spec: FlagSpec) -> tuple[str, str] | None:
    """The config class's own cross-field checks (recorded, and verified, by the generator)."""
    if not isinstance(value, dict):
        return None
    for key, needed in (spec.json_requires or {}).items():
        if value.get(key) is not None and value.get(needed) is None:
            choices = (spec.json_fields or {}).get(needed)
            shown = ", ".join(choices.choices or []) if choices else ""
            return "bad-json", f"{needed} is required when {key} is set" + (
                f" ({shown})" if shown else ""
            )
    for key, pattern in (spec.json_item_patterns or {}).items():
        items = value.get(key)
        if isinstance(items, list):
            for item in items:
                if not isinstance(item, str) or not re.match(pattern, item):
                    return "bad-json", f"{key} item {item!r} does not match {pattern}"
    return None


def _field_problem(item: Any, spec: JsonField, where: str) -> tuple[str, str] | None:
    if item is None:
        return None if spec.nullable or spec.kind == "any" else ("bad-json", f"{where} is null")
    kind = spec.kind
    ok = True
    if kind == "bool":
        ok = (
            isinstance(item, bool)
            or (isinstance(item, int) and item in (0, 1))
            or (isinstance(item, str) and item.lower() in _BOOL_STRINGS)
        )
    elif kind == "int":
        ok = _lax_int(item)
    elif kind == "float":
        ok = _lax_float(item)
    elif kind == "str":
        ok = isinstance(item, str)
    elif kind == "choice":
        ok = isinstance(item, str) and item in (spec.choices or [])
    elif kind == "list":
        ok = isinstance(item, list)
        if ok and spec.items in ("int", "float", "str", "bool", "choice"):
            element = JsonField(kind=spec.items, nullable=False, choices=spec.choices)
            for n, each in enumerate(item):
                problem = _field_problem(each, element, f"{where}[{n}]")
                if problem is not None:
                    return problem
    elif kind == "object":
        if not isinstance(item, dict):
            return "bad-json", f"{where} must be a JSON object"
        return _config_problem(item, spec.fields or {"*": spec}, where)
    if not ok:
        return "bad-type", f"{where}: {json.dumps(item)} is not a valid {kind}"
    return None


def _lax_int(item: Any) -> bool:
    if isinstance(item, bool):
        return True  # pydantic's lax mode reads true/false as 1/0
    if isinstance(item, int):
        return True
    if isinstance(item, float):
        return item.is_integer()
    if isinstance(item, str):
        try:
            int(item.strip())
        except ValueError:
            return False
        return True
    return False


def _lax_float(item: Any) -> bool:
    if isinstance(item, bool | int | float):
        return True
    if isinstance(item, str):
        try:
            float(item.strip())
        except ValueError:
            return False
        return True
    return False
