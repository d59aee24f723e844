"""vLLM `serve` flag tables per pinned version; the models of a parsed argv and its problems."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from deploy_kit.errors import InputError

DEFAULT_VLLM_VERSION = "0.33.0"

_CATALOG = Path(__file__).resolve().parent.parent / "catalog"

Severity = Literal["error", "warning", "info"]


JsonKind = Literal["bool", "int", "float", "str", "choice", "list", "object", "any"]


class JsonField(BaseModel):
    """One field of a config class that a JSON flag is validated against (pydantic, lax)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: JsonKind = Field(description="the field's type, simplified; any: not checked offline")
    nullable: bool = Field(description="null is accepted")
    choices: list[str] | None = Field(
        default=None, description="a Literal field's values (of its items, for a list)"
    )
    items: JsonKind | None = Field(default=None, description="a list field's element type")
    fields: dict[str, JsonField] | None = Field(
        default=None, description="a nested config's fields (object kind); '*' admits any key"
    )


ValueType = Literal[
    "bool",
    "int",
    "float",
    "human_int",
    "human_int_or_auto",
    "json",
    "json_or_str",
    "config",
    "lora_modules",
    "str",
]


class FlagSpec(BaseModel):
    """One `vllm serve` option as vLLM's own argparse parser defines it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    aliases: list[str] = Field(description="other spellings with the same meaning, e.g. -tp")
    negations: list[str] = Field(
        description="every spelling that turns the switch off, hidden ones included "
        "(--no-enable-x next to --disable-x)"
    )
    negation: str | None = Field(description="the negative spelling --help shows, if any")
    takes_value: bool = Field(description="False for switches")
    group: str = Field(description="argparse group: options, Frontend, ParallelConfig, ...")
    default: str | None = Field(description="the default as text; None if suppressed")
    optional: bool = Field(description="the value 'None' (or '') means unset and is not typed")
    deprecated: bool = Field(description="vLLM marks the option deprecated")
    deprecation: str | None = Field(description="what vLLM's help says about the deprecation")
    nargs: Literal["?", "*", "+", "append"] | None = Field(
        description="argparse nargs ('append': one value, the flag may repeat); None: one value"
    )
    const: bool = Field(description="nargs '?': the flag alone is valid")
    choices: list[str] | None = Field(description="allowed (or, if open, suggested) values")
    choices_normalise: Literal["lower_underscore"] | None = Field(
        description="vLLM lower-cases the value and turns '-' into '_' before the choice check"
    )
    choices_open: bool = Field(description="choices are suggestions; other values pass")
    metavar: str | None = Field(description="the value placeholder --help prints")
    json_keys: list[str] | None = Field(
        description="keys vLLM accepts in this flag's JSON items (--lora-modules, "
        "--reasoning-effort-map)"
    )
    type: ValueType = Field(
        description="how vLLM converts the value: human_int accepts 1k, 2M ...; config is a "
        "JSON object validated against a config class; json_or_str is JSON when in braces"
    )
    takes_json: bool = Field(description="the value is (or may be) JSON")
    json_shape: Literal["list", "object"] | None = Field(
        description="the JSON a json flag's default has (a JSON list for --allowed-origins)"
    )
    json_config: bool = Field(description="a config-class flag: JSON object or dotted sub-keys")
    json_fields: dict[str, JsonField] | None = Field(
        description="the config class's fields (json_config flags)"
    )
    json_requires: dict[str, str] | None = Field(
        description="config keys that need another key (kv_connector needs kv_role)"
    )
    json_item_patterns: dict[str, str] | None = Field(
        description="regex each item of a config list field must match (custom_ops)"
    )
    action: str = Field(description="the argparse action class")


class FlagTable(BaseModel):
    """The generated flag table of one vLLM version (deploy_kit/catalog/vllm_flags_*.json)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    vllm_version: str = Field(description="vLLM release the table was generated from")
    flags: dict[str, FlagSpec] = Field(description="canonical long option -> its spec")
    positionals: list[str] = Field(description="positional arguments of `vllm serve`")
    forms: dict[str, bool] = Field(
        description="general spellings the parser accepts, measured: underscores, equals, "
        "abbreviations (unique prefixes), no_prefix (--no-X), dotted_json_keys "
        "(--flag.key value), dotted_list_append (--flag.key+ a,b), optimization_shorthand (-O3)"
    )

    @property
    def abbreviations(self) -> bool:
        """argparse accepts unique prefixes of options (allow_abbrev)."""
        return self.forms.get("abbreviations", False)

    source: str = Field(description="what the table was generated from")
    source_sha256: str = Field(description="sha256 of the installed vLLM's RECORD file")
    flags_sha256: str = Field(description="sha256 of flags + positionals (hand-edit check)")
    generated_by: str = Field(description="the generator script")

    def option_strings(self) -> dict[str, tuple[str, bool]]:
        """Every registered option string -> (canonical flag, is a negative spelling)."""
        index: dict[str, tuple[str, bool]] = {}
        for name, spec in self.flags.items():
            index[name] = (name, False)
            for alias in spec.aliases:
                index[alias] = (name, False)
            for negation in spec.negations:
                index[negation] = (name, True)
        return index


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
        "model-not-first",
        "removed-flag",
        "requires-flag",
        "json-overridden",
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
        description="flag -> the object vLLM builds from its --flag.key value arguments"
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
        negations = set(spec.negations) if spec else set()
        state: bool | None = None
        for key, _ in self.items:
            if key == flag:
                state = True
            elif key in negations:
                state = False
        return state

    def json_value(self, flag: str) -> dict[str, Any] | None:
        """A JSON flag's object as vLLM ends up with it: its last value. vLLM appends the
        gathered dotted keys (--flag.key value) as a last value, so they replace an explicit
        JSON value rather than merge into it."""
        raw = self.value(flag)
        if raw is None:
            return None
        try:
            loaded = json.loads(raw)
        except ValueError:
            return None
        return loaded if isinstance(loaded, dict) else None


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


_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?(?:\.(\d+))?$")
_RELEASE = r"v?(\d+\.\d+\.\d+(?:\.\d+)?)(?:[-+._][\w.+-]*)?"
# Images whose tag names the vLLM release inside. Other vendors' images named vllm-*
# (lmcache/vllm-openai:v0.3.1, nvcr.io/nvidia/vllm:26.02-py3) carry their own version
# numbers, so they name no vLLM release and are judged by the pinned table.
_VLLM_IMAGE_TAGS = (
    # vLLM's own images on Docker Hub, and mirrors that keep the path: vllm/vllm-openai:v0.8.5,
    # vllm/vllm-openai-rocm:v0.10.1.1, vllm/vllm-tpu:v0.11.0, vllm/vllm-openai-cpu:v0.23.0
    re.compile(r"(?:^|/)vllm/vllm-[\w.-]+:" + _RELEASE + "$"),
    # vLLM's CPU release images (public.ecr.aws/q9t5s3a7/vllm-cpu-release-repo:v0.10.1)
    re.compile(r"(?:^|/)vllm-cpu-release-repo:" + _RELEASE + "$"),
    # AIBrix's builds of vLLM, tagged with the vLLM release they build
    # (aibrix/vllm-openai:v0.7.3.self.post1, aibrix/vllm-openai-aibrix-kvcache:v0.10.2-20251022)
    re.compile(r"(?:^|/)aibrix/vllm-openai[\w.-]*:" + _RELEASE + "$"),
    # AMD's ROCm builds name it after "vllm" in the tag (rocm/vllm:rocm6.3.1_instinct_vllm0.8.3_...)
    re.compile(r"(?:^|/)rocm/vllm:[\w.-]*?_vllm_?(\d+\.\d+\.\d+)(?:[_-][\w.-]*)?$"),
)
# Compose pulls the default of ${VAR:-default} when VAR is unset.
_DEFAULTED = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}$]*)\}")


def version_key(version: str) -> tuple[int, ...]:
    """0.8.5 -> (0, 8, 5, 0); InputError when it is not a release number."""
    m = _VERSION.match(version.strip())
    if m is None:
        raise InputError(
            f"{version!r} is not a vLLM release number", hint="write it as X.Y.Z, e.g. 0.8.5"
        )
    return tuple(int(part or 0) for part in m.groups())


def table_version(version: str) -> str:
    """The flag table a vLLM release is checked with: its own, else the pinned default one.

    Only the pinned release has a table; any other release is read with it, and what that
    release still accepts but the table's release removed is reported with the version it went
    away in (vllm_removed.json).
    """
    version_key(version)
    return version if flag_table_path(version).is_file() else DEFAULT_VLLM_VERSION


def version_from_image(image: str | None) -> str | None:
    """The vLLM release an image names in its tag (vllm/vllm-openai:v0.8.5 -> 0.8.5), or None.

    A digest pins bytes, not a readable release: None. `${VAR:-default}` is read as its default.
    """
    if not image:
        return None
    image = _DEFAULTED.sub(lambda m: m.group(1), image.strip())
    if "$" in image or "@" in image:
        return None
    for pattern in _VLLM_IMAGE_TAGS:
        if m := pattern.search(image):
            return m.group(1)
    return None


class RemovedItem(BaseModel):
    """A flag or environment variable vLLM removed or renamed, and the release it went in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="the flag (--swap-space) or variable (VLLM_USE_V1)")
    kind: Literal["flag", "env"] = Field(description="a vllm serve flag or an env var")
    takes_value: bool = Field(description="a flag that took a value")
    removed_in: str = Field(description="first vLLM release without it")
    last_seen_in: str = Field(description="a release known to still have it")
    replacement: str | None = Field(description="what to use instead, if anything")
    removed_by: str = Field(description="the PR (or release) that removed it, in short")
    source: str = Field(description="the PR or release notes that removed it, and the check")

    @property
    def hint(self) -> str:
        """What to do about it."""
        return f"use {self.replacement}" if self.replacement else "delete it"


class RemovedTable(BaseModel):
    """deploy_kit/catalog/vllm_removed.json."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(description="how the versions were established")
    items: list[RemovedItem] = Field(description="one entry per flag or variable")


@lru_cache(maxsize=1)
def load_removed() -> dict[str, RemovedItem]:
    """Removed flags and env vars by name."""
    path = _CATALOG / "vllm_removed.json"
    table = RemovedTable.model_validate_json(path.read_text(encoding="utf-8"))
    return {item.name: item for item in table.items}


def removed_item(name: str) -> RemovedItem | None:
    """The removal record of a flag (any spelling: --swap_space) or env var, if vLLM dropped it."""
    if name.startswith("--"):
        name = "--" + name[2:].split(".", 1)[0].replace("_", "-")
    return load_removed().get(name)


def removed_after(item: RemovedItem, pinned: str | None) -> bool:
    """Whether the pinned release still had the item (so it only blocks upgrading)."""
    if pinned is None:
        return False
    try:
        return version_key(pinned) < version_key(item.removed_in)
    except InputError:
        return False


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
