"""vLLM `serve` flag tables per pinned version; the models of a parsed argv and its problems."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from deploy_kit.errors import InputError

DEFAULT_VLLM_VERSION = "0.33.0"

_CATALOG = Path(__file__).resolve().parent.parent / "catalog"

Severity = Literal["error", "warning", "info"]


class FlagSpec(BaseModel):
    """One `vllm serve` option as its --help=all describes it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    aliases: list[str] = Field(description="other spellings with the same meaning, e.g. -tp")
    negation: str | None = Field(description="the spelling that turns a switch off, if any")
    takes_value: bool = Field(description="False for switches")
    group: str = Field(description="argparse group: options, Frontend, ParallelConfig, ...")
    default: str | None = Field(description="the default exactly as printed; None if not shown")
    json_config: bool = Field(description="a config-class flag: JSON object or dotted sub-keys")
    takes_json: bool = Field(description="the value is JSON")
    deprecated: bool = Field(description="the help text says the flag is deprecated")
    nargs: Literal["?", "*", "+"] | None = Field(description="argparse nargs; None: one value")
    choices: list[str] | None = Field(description="allowed (or suggested) values")
    choices_open: bool = Field(description="choices are suggestions; other values pass")
    metavar: str | None = Field(description="the value placeholder argparse printed")
    type: Literal["bool", "int", "float", "number", "human_int", "json", "str"] = Field(
        description="value type: number is int or float; human_int accepts 1k, 2M, ..."
    )
    json_keys: list[str] | None = Field(
        description="top-level keys of a JSON config flag's default, when the help shows them"
    )


class FlagTable(BaseModel):
    """The generated flag table of one vLLM version (deploy_kit/catalog/vllm_flags_*.json)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    vllm_version: str = Field(description="vLLM release the table was generated from")
    flags: dict[str, FlagSpec] = Field(description="canonical long option -> its spec")
    positionals: list[str] = Field(description="positional arguments of `vllm serve`")
    dotted_json_keys: bool = Field(description="JSON flags also take --flag.key value")
    source: str = Field(description="what the table was generated from")
    source_sha256: str = Field(description="sha256 of that help text")
    generated_by: str = Field(description="the generator script")


class ArgProblem(BaseModel):
    """One thing wrong (or doubtful) in a vLLM argv."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: Literal[
        "unknown-flag",
        "ambiguous-flag",
        "abbreviated-flag",
        "missing-value",
        "unexpected-value",
        "bad-choice",
        "bad-type",
        "bad-json",
        "unknown-json-key",
        "not-a-json-flag",
        "unexpected-positional",
        "duplicate-flag",
        "conflicting-switch",
        "deprecated-flag",
        "model-twice",
    ] = Field(description="machine-readable kind of problem")
    severity: Severity = Field(description="error: vLLM refuses to start; warning: doubtful")
    message: str = Field(description="one line saying what is wrong")
    index: int | None = Field(description="position of the offending token in the argv")
    flag: str | None = Field(description="canonical flag concerned, if any")
    hint: str | None = Field(default=None, description="what to do instead")


class ParsedArgv(BaseModel):
    """A `vllm serve` argv as vLLM's parser would read it (without importing vLLM)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    vllm_version: str = Field(description="flag table used")
    prog: list[str] = Field(description="leading tokens naming the program (vllm serve, ...)")
    model: str | None = Field(description="the positional model (or --model value)")
    flags: dict[str, list[str | None]] = Field(
        description="canonical spelling -> values in order (None for a switch); the negative "
        "spelling of a switch (e.g. --no-enforce-eager) is its own key"
    )
    items: list[tuple[str, str | None]] = Field(
        description="(canonical spelling, value) in argv order, one per value"
    )
    dotted: dict[str, dict[str, Any]] = Field(
        description="JSON flag -> object merged from its --flag.key value arguments"
    )
    positionals: list[str] = Field(description="positional arguments other than the model")
    problems: list[ArgProblem] = Field(description="everything check_argv reports")

    def value(self, flag: str) -> str | None:
        """The last value given for `flag` (canonical spelling), or None."""
        values = self.flags.get(flag)
        return values[-1] if values else None

    def switch(self, flag: str) -> bool | None:
        """Whether a switch ends up on (True), off (False) or was not given (None)."""
        spec = load_flags(self.vllm_version).flags.get(flag)
        negation = spec.negation if spec else None
        state: bool | None = None
        for key, _ in self.items:
            if key == flag:
                state = True
            elif negation is not None and key == negation:
                state = False
        return state

    def json_value(self, flag: str) -> dict[str, Any] | None:
        """A JSON config flag's object: its last JSON value updated by its dotted keys."""
        raw = self.value(flag)
        base: dict[str, Any] = {}
        if raw is not None:
            try:
                loaded = json.loads(raw)
            except ValueError:
                loaded = None
            if isinstance(loaded, dict):
                base = loaded
        if flag in self.dotted:
            deep_merge(base, self.dotted[flag])
        return base if (raw is not None or flag in self.dotted) else None


def flag_table_path(version: str) -> Path:
    """The JSON file holding `version`'s flag table."""
    return _CATALOG / f"vllm_flags_{version}.json"


@lru_cache(maxsize=8)
def load_flags(version: str = DEFAULT_VLLM_VERSION) -> FlagTable:
    """Load (once) the flag table of a pinned vLLM version."""
    path = flag_table_path(version)
    if not path.is_file():
        known = sorted(
            p.stem.removeprefix("vllm_flags_") for p in _CATALOG.glob("vllm_flags_*.json")
        )
        raise InputError(
            f"no vLLM flag table for version {version} (known: {', '.join(known) or 'none'})",
            hint="generate one from `vllm serve --help=all` with scripts/gen_vllm_flags.py",
        )
    return FlagTable.model_validate_json(path.read_text(encoding="utf-8"))


def deep_merge(into: dict[str, Any], update: dict[str, Any]) -> None:
    """Merge `update` into `into` as vLLM merges repeated dotted keys (--flag.a.b value).

    Dicts merge, lists extend, anything else replaces: the same rules, so a merged object
    matches what vLLM would build.
    """
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            deep_merge(into[key], value)
        elif isinstance(value, list) and isinstance(into.get(key), list):
            into[key] = into[key] + value
        else:
            into[key] = value
