"""vLLM flag table generation and the offline argv checker."""

from __future__ import annotations

import json
import re
import runpy
from pathlib import Path
from typing import Any

import pytest

from deploy_kit.errors import InputError
from deploy_kit.vllm.flag_table import load_removed, version_from_image, version_key
from deploy_kit.vllm.flags import (
    ArgProblem,
    FlagSpec,
    check_argv,
    flag_table_path,
    load_flags,
    parse_argv,
)
from tests.helpers import run_cli

REPO = Path(__file__).resolve().parent.parent
HELP_FILE = REPO / "tests" / "fixtures" / "vllm-0.33.0-serve-help.txt"

# The recipe command for DeepSeek V4 Flash on 8 GPUs, as deploy-kit renders it.
V4_ARGV = [
    "vllm",
    "serve",
    "deepseek-ai/DeepSeek-V4-Flash",
    "--trust-remote-code",
    "--kv-cache-dtype",
    "fp8",
    "--block-size",
    "256",
    "--tokenizer-mode",
    "deepseek_v4",
    "--tool-call-parser",
    "deepseek_v4",
    "--enable-auto-tool-choice",
    "--reasoning-parser",
    "deepseek_v4",
    "--tensor-parallel-size",
    "8",
    "--enable-expert-parallel",
    "--max-model-len",
    "128k",
    "--gpu-memory-utilization",
    "0.92",
    "--speculative-config",
    '{"method": "mtp", "num_speculative_tokens": 2}',
    "--compilation-config",
    '{"cudagraph_mode": "FULL_AND_PIECEWISE", "custom_ops": ["all"]}',
    "--host",
    "0.0.0.0",
    "--port",
    "8000",
]


def codes(problems: list[ArgProblem], severity: str | None = None) -> list[str]:
    return [p.code for p in problems if severity is None or p.severity == severity]


def errors(argv: list[str]) -> list[str]:
    return codes(check_argv(argv), "error")


# --- the generated table ------------------------------------------------------------------

_OPTION = re.compile(r"^  (-\S.*?)(?:  |$)")


def _help_options() -> set[str]:
    """Every option string `vllm serve --help=all` of 0.33.0 prints (a second, independent
    source: the table comes from the parser object, this from its printed help)."""
    found: set[str] = set()
    for line in HELP_FILE.read_text(encoding="utf-8").splitlines():
        if m := _OPTION.match(line):
            for part in m.group(1).split(", "):
                if part.startswith("-"):
                    found.add(part.split(" ")[0])
    return found


def test_check_mode_passes_on_the_committed_files_and_catches_a_hand_edit(
    tmp_path: Path,
) -> None:
    gen = runpy.run_path(str(REPO / "scripts" / "gen_vllm_flags.py"))
    table = flag_table_path("0.33.0")
    fixture = REPO / "tests" / "fixtures" / "vllm_parser_verdicts_0.33.0.json"
    assert gen["check"](table, fixture) == []
    edited = tmp_path / "table.json"
    data = json.loads(table.read_text(encoding="utf-8"))
    data["flags"]["--port"]["type"] = "str"
    edited.write_text(gen["dumps"](data), encoding="utf-8")
    problems = gen["check"](edited, fixture)
    assert any("edited by hand" in p for p in problems)
    assert any("another flag table" in p for p in problems)


def test_table_holds_every_option_the_help_text_prints() -> None:
    table = load_flags("0.33.0")
    assert table.vllm_version == "0.33.0"
    assert table.positionals == ["model_tag"]
    index = table.option_strings()
    missing = _help_options() - set(index) - {"-h", "--help"}
    assert missing == set()
    # The parser also knows spellings the help hides: --no-enable-X next to --disable-X.
    assert len(index) > len(_help_options())


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        (
            "--tensor-parallel-size",
            {"aliases": ["-tp"], "type": "int", "group": "ParallelConfig", "default": "1"},
        ),
        ("--api-server-count", {"aliases": ["-asc"], "takes_value": True}),
        (
            "--enable-log-requests",
            {
                "negation": "--disable-log-requests",
                "negations": ["--disable-log-requests", "--no-enable-log-requests"],
                "takes_value": False,
                "type": "bool",
            },
        ),
        ("--enforce-eager", {"negations": ["--no-enforce-eager"], "default": "False"}),
        (
            "--enable-prefix-caching",
            {"negations": ["--disable-prefix-caching", "--no-enable-prefix-caching"]},
        ),
        (
            "--disable-hybrid-kv-cache-manager",
            {
                "negations": [
                    "--enable-hybrid-kv-cache-manager",
                    "--no-disable-hybrid-kv-cache-manager",
                ]
            },
        ),
        (
            "--data-parallel-hybrid-lb",
            {"negation": "--no-data-parallel-hybrid-lb", "aliases": ["-dph"]},
        ),
        ("--data-parallel-multi-port-external-lb", {"negations": [], "aliases": ["-dpm"]}),
        ("--api-key", {"nargs": "+", "metavar": "API_KEY", "optional": True}),
        ("--hf-token", {"nargs": "?", "const": True, "metavar": "HF_TOKEN"}),
        ("--middleware", {"nargs": "append"}),
        ("--dtype", {"choices_open": False, "default": "auto"}),
        ("--moe-backend", {"choices_normalise": "lower_underscore"}),
        ("--gpu-memory-utilization", {"aliases": ["--device-memory-utilization"], "type": "float"}),
        ("--max-model-len", {"type": "human_int_or_auto"}),
        ("--max-num-batched-tokens", {"type": "human_int"}),
        ("--port", {"type": "int", "default": "8000", "group": "Frontend"}),
        ("--compilation-config", {"aliases": ["-cc"], "json_config": True, "type": "config"}),
        ("--attention-config", {"aliases": ["-ac"], "json_config": True}),
        ("--speculative-config", {"aliases": ["-sc"], "type": "json", "json_config": False}),
        ("--allowed-origins", {"type": "json", "json_shape": "list"}),
        ("--hf-overrides", {"type": "json_or_str"}),
        ("--lora-modules", {"type": "lora_modules", "nargs": "+"}),
        ("--disable-cascade-attn", {"deprecated": True}),
        ("--allow-deprecated-quantization", {"deprecated": False}),
    ],
)
def test_table_entries(flag: str, expected: dict[str, Any]) -> None:
    spec = load_flags().flags[flag]
    for key, value in expected.items():
        assert getattr(spec, key) == value, (flag, key)


def test_choices_closed_and_open() -> None:
    flags = load_flags().flags
    dtype = flags["--dtype"].choices or []
    assert dtype == ["auto", "bfloat16", "float", "float16", "float32", "half"]
    # `Literal[...] | str` fields suggest values but accept others.
    assert "fp8" in (flags["--kv-cache-dtype"].choices or [])
    assert flags["--kv-cache-dtype"].choices_open
    # "{...} or name registered in --tool-parser-plugin"
    assert "deepseek_v4" in (flags["--tool-call-parser"].choices or [])
    assert flags["--tool-call-parser"].choices_open


def test_config_fields_come_from_the_config_classes() -> None:
    flags = load_flags().flags
    compilation = flags["--compilation-config"].json_fields or {}
    assert {"mode", "cudagraph_mode", "custom_ops", "pass_config"} <= set(compilation)
    attention = flags["--attention-config"].json_fields or {}
    assert attention["indexer_kv_dtype"].kind == "str"
    assert attention["use_non_causal"].kind == "bool"
    assert "use_fp4_indexer_cache" not in attention
    assert "*" not in attention  # vLLM's configs forbid unknown keys


def test_unknown_version_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"no vLLM flag table for version 9\.9\.9"):
        load_flags("9.9.9")
    with pytest.raises(InputError, match="not a vLLM release number"):
        parse_argv(["vllm", "serve", "m"], "latest")


# --- parse_argv -----------------------------------------------------------------------


def test_recipe_argv_parses_clean() -> None:
    parsed = parse_argv(V4_ARGV)
    assert parsed.problems == []
    assert parsed.prog == ["vllm", "serve"]
    assert parsed.model == "deepseek-ai/DeepSeek-V4-Flash"
    assert parsed.flags["--tensor-parallel-size"] == ["8"]
    assert parsed.flags["--trust-remote-code"] == [None]
    assert parsed.value("--kv-cache-dtype") == "fp8"
    assert parsed.switch("--enable-expert-parallel") is True
    assert parsed.switch("--enforce-eager") is None
    assert parsed.json_value("--speculative-config") == {
        "method": "mtp",
        "num_speculative_tokens": 2,
    }


def test_argv_forms() -> None:
    flags_only = parse_argv(["--tensor-parallel-size", "8", "--model", "m"])
    assert flags_only.prog == [] and flags_only.model == "m" and flags_only.problems == []

    model_first = parse_argv(["deepseek-ai/DeepSeek-V4-Pro", "-tp", "8"])
    assert model_first.model == "deepseek-ai/DeepSeek-V4-Pro"
    assert model_first.flags == {"--tensor-parallel-size": ["8"]}

    module = parse_argv(
        ["python3", "-m", "vllm.entrypoints.openai.api_server", "--model", "m", "--port=9000"]
    )
    assert module.prog == ["python3", "-m", "vllm.entrypoints.openai.api_server"]
    assert module.model == "m" and module.value("--port") == "9000" and module.problems == []
    # The module entry point builds the same parser: a positional model is fine there, and
    # --model is an ordinary option (not moved to the front as vllm serve does).
    both = parse_argv(["python", "-m", "vllm.entrypoints.openai.api_server", "m", "--model", "n"])
    assert both.problems == [] and both.model == "m"
    stray = check_argv(["python", "-m", "vllm.entrypoints.openai.api_server", "m", "x"])
    assert codes(stray) == ["unexpected-positional"]

    path_prog = parse_argv(["/usr/local/bin/vllm", "serve", "m", "--port", "8000"])
    assert path_prog.model == "m" and path_prog.problems == []


def test_flag_equals_value_and_underscores() -> None:
    parsed = parse_argv(["m", "--max_model_len=65536", "--gpu-memory-utilization=0.9"])
    assert parsed.problems == []
    assert parsed.flags == {"--max-model-len": ["65536"], "--gpu-memory-utilization": ["0.9"]}


def test_aliases_resolve_to_the_canonical_flag() -> None:
    parsed = parse_argv(["m", "-tp", "4", "-dp=2", "--device-memory-utilization", "0.8"])
    assert parsed.flags == {
        "--tensor-parallel-size": ["4"],
        "--data-parallel-size": ["2"],
        "--gpu-memory-utilization": ["0.8"],
    }


def test_negative_switches_are_kept_apart_and_resolved_in_order() -> None:
    parsed = parse_argv(["m", "--enforce-eager", "--no-enforce-eager"])
    assert parsed.flags == {"--enforce-eager": [None], "--no-enforce-eager": [None]}
    assert parsed.switch("--enforce-eager") is False
    assert codes(parsed.problems) == ["conflicting-switch"]


@pytest.mark.parametrize(
    ("token", "flag", "state"),
    [
        # argparse's --no-X for every switch, the hidden --no-enable-X next to --disable-X
        ("--no-enable-prefix-caching", "--enable-prefix-caching", False),
        ("--no-enable-flashinfer-autotune", "--enable-flashinfer-autotune", False),
        ("--no-disable-hybrid-kv-cache-manager", "--disable-hybrid-kv-cache-manager", False),
        ("--enable-hybrid-kv-cache-manager", "--disable-hybrid-kv-cache-manager", False),
        ("--disable-prefix-caching", "--enable-prefix-caching", False),
        ("--no_enable_prefix_caching", "--enable-prefix-caching", False),
    ],
)
def test_every_negative_spelling_turns_the_switch_off(token: str, flag: str, state: bool) -> None:
    parsed = parse_argv(["m", token])
    assert parsed.problems == []
    assert parsed.switch(flag) is state


def test_optimization_level_shorthands() -> None:
    for argv in (["m", "-O3"], ["m", "-O", "3"], ["m", "-O=3"]):
        parsed = parse_argv(argv)
        assert parsed.flags == {"--optimization-level": ["3"]}, argv
        assert parsed.problems == []
    # --optimization-level is a plain string in 0.33.0's parser: vLLM accepts -Ofast too.
    assert errors(["m", "-Ofast"]) == []
    # "-O 5" is not rewritten (only 0-3 are), so "-O" stays an unknown option.
    assert errors(["m", "-O", "5"]) == ["unknown-flag"]


def test_negative_numbers_are_values() -> None:
    assert errors(["m", "--seed", "-1"]) == []


def test_optional_values_accept_none() -> None:
    assert errors(["m", "--grpc-port", "None"]) == []
    assert errors(["m", "--max-lora-rank", "None"]) == ["bad-type"]  # int, not optional
    assert errors(["m", "--port", "None"]) == ["bad-type"]


def test_nargs() -> None:
    parsed = parse_argv(["m", "--served-model-name", "a", "b", "--port", "8000"])
    assert parsed.flags["--served-model-name"] == ["a", "b"]
    assert errors(["m", "--api-key"]) == ["missing-value"]
    hf = parse_argv(["m", "--hf-token", "--port", "8000"])
    assert hf.flags["--hf-token"] == [None] and hf.problems == []
    # With "=" a nargs='+' flag takes that one value; the next token is left over.
    assert errors(["m", "--served-model-name=a", "b"]) == ["unexpected-positional"]


def test_dotted_json_keys() -> None:
    parsed = parse_argv(
        [
            "m",
            "--compilation-config.mode",
            "3",
            "--compilation-config.cudagraph_mode=FULL_DECODE_ONLY",
            "--compilation-config.custom_ops+",
            "all",
            "--compilation-config.custom_ops+=-rms_norm,+silu",
            "--compilation_config.pass_config.fuse_allreduce_rms=true",
        ]
    )
    assert parsed.problems == []
    expected = {
        "mode": 3,
        "cudagraph_mode": "FULL_DECODE_ONLY",
        "custom_ops": ["all", "-rms_norm", "+silu"],
        "pass_config": {"fuse_allreduce_rms": True},
    }
    assert parsed.dotted["--compilation-config"] == expected
    assert parsed.json_value("--compilation-config") == expected


def test_dotted_keys_under_two_spellings_keep_only_the_last() -> None:
    # vLLM gathers -cc.* and --compilation-config.* apart and passes both: the last wins.
    parsed = parse_argv(["m", "--compilation-config.mode", "3", "-cc.custom_ops+", "all"])
    assert parsed.json_value("--compilation-config") == {"custom_ops": ["all"]}
    assert codes(parsed.problems) == ["json-overridden"]


def test_dotted_keys_replace_the_json_value() -> None:
    # vLLM appends the gathered dotted keys as a second --compilation-config value, so the
    # explicit JSON is lost (checked against vLLM 0.33.0: custom_ops ends up []).
    parsed = parse_argv(
        ["m", "--compilation-config", '{"mode": 0, "custom_ops": ["all"]}', "-cc.mode=3"]
    )
    assert parsed.json_value("--compilation-config") == {"mode": 3}
    assert codes(parsed.problems) == ["json-overridden"]


def test_fp4_indexer_key_from_the_recipes_is_refused_by_0_33() -> None:
    # facts/deepseek-v4.md gives --attention_config.use_fp4_indexer_cache=True for Blackwell;
    # vLLM 0.33.0's AttentionConfig has no such field and forbids unknown keys (its parser
    # refuses this argv: tests/fixtures/vllm_parser_verdicts_0.33.0.json).
    problems = check_argv(["m", "--attention_config.use_fp4_indexer_cache=True"])
    assert [(p.code, p.severity, p.flag) for p in problems] == [
        ("unknown-json-key", "error", "--attention-config")
    ]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["m", "--tensor-parallel-sizes", "8"], ["unknown-flag"]),
        (["m", "--tensor-parallel-size"], ["missing-value"]),
        (["m", "--tensor-parallel-size", "--enforce-eager"], ["missing-value"]),
        (["m", "--tensor-parallel-size", "eight"], ["bad-type"]),
        (["m", "--tensor-parallel-size=8.5"], ["bad-type"]),
        (["m", "--gpu-memory-utilization", "high"], ["bad-type"]),
        (["m", "--max-model-len", "12x"], ["bad-type"]),
        (["m", "--max-model-len", "1.5K"], ["bad-type"]),  # no decimals with binary suffixes
        (["m", "--dtype", "fp9"], ["bad-choice"]),
        (["m", "--uvicorn-log-level=loud"], ["bad-choice"]),
        (["m", "--compilation-config", "{mode: 3}"], ["bad-json"]),
        (["m", "--speculative-config", '{"method": "mtp",}'], ["bad-json"]),
        (["m", "--allowed-origins", "http://example.com"], ["bad-json"]),
        (["m", "--lora-modules", "not-json"], ["bad-json"]),
        (["m", "--lora-modules", '{"name": "a"}'], ["bad-json"]),
        (["m", "--attention-config", '{"use_non_causal": 2}'], ["bad-type"]),
        (["m", "--compilation-config", "[]"], ["bad-json"]),
        # P/D files: KVTransferConfig refuses a connector without a role
        (["m", "--kv-transfer-config", '{"kv_connector": "NixlConnector"}'], ["bad-json"]),
        (["m", "--kv-transfer-config.kv_connector", "NixlConnector"], ["bad-json"]),
        (["m", "--compilation-config", '{"custom_ops": ["rms_norm"]}'], ["bad-json"]),
        (["m", "--enable-auto-tool-choice"], ["requires-flag"]),
        (["m", "--data-parallel-multi-port-external-lb", "-dp", "4"], ["requires-flag"]),
        (["m", "--reasoning-effort-map", '{"turbo": "x"}'], ["requires-flag"]),
        (["m", "--model", "n"], ["model-twice"]),
        (["--port", "1", "--served-model-name", "a"], ["model-not-first"]),
        (["m", "--enforce-eager=true"], ["unexpected-value"]),
        (["m", "--port.x", "1"], ["not-a-json-flag"]),
        (["m", "--bogus-config.x", "1"], ["unknown-flag"]),
        (["m", "--compilation-config.mode"], ["missing-value"]),
        (["m", "extra"], ["unexpected-positional"]),
        (["m", "--max-num", "8"], ["ambiguous-flag"]),
    ],
)
def test_broken_argv_is_reported(argv: list[str], expected: list[str]) -> None:
    assert errors(argv) == expected


def test_config_cross_field_rules_pass_what_vllm_accepts() -> None:
    kv = '{"kv_connector": "NixlConnector", "kv_role": "kv_both"}'
    assert errors(["m", "--kv-transfer-config", kv]) == []
    assert errors(["m", "--compilation-config", '{"custom_ops": ["+rms_norm", "none"]}']) == []
    [problem] = check_argv(["m", "--kv-transfer-config", '{"kv_connector": "X"}'])
    assert "kv_role is required when kv_connector is set" in problem.message


def test_negative_form_of_a_value_flag_gets_the_right_hint() -> None:
    [problem] = check_argv(["m", "--no-max-model-len"])
    assert problem.code == "unknown-flag" and problem.severity == "error"
    assert problem.hint == "--max-model-len takes a value and has no negative form"


def test_task_was_removed_and_points_at_runner() -> None:
    [problem] = check_argv(["m", "--task", "embed"])
    assert (problem.code, problem.flag) == ("removed-flag", "--task")
    assert problem.hint is not None and "--runner pooling" in problem.hint


def test_unknown_flag_suggests_a_close_spelling() -> None:
    [problem] = check_argv(["m", "--tensor-paralel-size", "8"])
    assert problem.hint == "did you mean --tensor-parallel-size?"
    assert problem.index == 1


def test_warnings() -> None:
    assert codes(check_argv(["m", "--kv-cache-dtype", "fp9"])) == ["bad-choice"]
    assert codes(check_argv(["m", "--kv-cache-dtype", "fp9"]), "error") == []
    assert codes(check_argv(["m", "--max-model", "1000"]), "warning") == ["abbreviated-flag"]
    assert codes(check_argv(["m", "--port", "1", "--port", "2"])) == ["duplicate-flag"]
    assert codes(check_argv(["m", "--disable-cascade-attn"])) == ["deprecated-flag"]
    assert codes(check_argv(["m", "--speculative-config", "3"])) == ["bad-json"]
    assert errors(["m", "--speculative-config", "3"]) == []  # the parser passes it
    # --allowed-origins is JSON, and its default a list: an object passes the parser only.
    assert codes(check_argv(["m", "--allowed-origins", '{"a": 1}'])) == ["bad-json"]
    assert errors(["m", "--allowed-origins", '{"a": 1}']) == []
    assert check_argv(["m", "--allowed-origins", '["https://a.example"]']) == []


def _valid_value(spec: FlagSpec) -> str:
    if spec.choices:
        return spec.choices[0]
    if spec.json_shape == "list":
        return '["*"]'
    return {
        "int": "2",
        "float": "0.5",
        "human_int": "4k",
        "human_int_or_auto": "auto",
        "json": "{}",
        "json_or_str": "{}",
        "config": "{}",
        "lora_modules": "a=/b",
    }.get(spec.type, "value")


def test_every_flag_accepts_a_well_typed_value() -> None:
    cross_flag = {  # need another flag to pass vLLM's serve checks
        "--enable-auto-tool-choice",
        "--enable-log-outputs",
        "--data-parallel-multi-port-external-lb",
        "--reasoning-effort-map",
    }
    for name, spec in load_flags().flags.items():
        if name in ("--model", *cross_flag):
            continue
        argv = ["m", name] if not spec.takes_value else ["m", name, _valid_value(spec)]
        found = [p for p in check_argv(argv) if p.code != "deprecated-flag"]
        assert found == [], (name, found)
        for alias in spec.aliases:
            argv[1] = alias
            assert errors(argv) == [], (alias, argv)


# --- version-aware rules ------------------------------------------------------------------

PINNED = REPO / "tests" / "fixtures" / "lint" / "pinned" / "vllm-0.8.5-swap-space.yaml"


@pytest.mark.parametrize(
    ("image", "version"),
    [
        ("vllm/vllm-openai:v0.8.5", "0.8.5"),
        ("docker.io/vllm/vllm-openai:v0.10.1.1", "0.10.1.1"),
        ("vllm/vllm-openai:0.33.0", "0.33.0"),
        ("vllm/vllm-openai-rocm:v0.14.1", "0.14.1"),
        ("vllm/vllm-openai:v0.9.0-cu128", "0.9.0"),
        ("vllm/vllm-openai:latest", None),
        ("vllm/vllm-openai@sha256:" + "a" * 64, None),
        ("vllm/vllm-openai:${TAG}", None),
        ("lmcache/vllm-openai:v0.3.1", None),  # LMCache's version, not vLLM's
        ("nvcr.io/nvidia/vllm:26.02-py3", None),
        ("vllm/vllm-tpu:v0.11.0", "0.11.0"),
        ("registry.example/aibrix/vllm/vllm-openai:v0.9.2", "0.9.2"),
        ("public.ecr.aws/q9t5s3a7/vllm-cpu-release-repo:v0.10.1", "0.10.1"),
        ("aibrix/vllm-openai:v0.7.3.self.post1", "0.7.3"),
        ("cr.example/aibrix/vllm-openai-aibrix-kvcache:v0.10.2-20251022", "0.10.2"),
        ("rocm/vllm:rocm6.3.1_instinct_vllm0.8.3_20250410", "0.8.3"),
        ("rocm/vllm:rocm6.3.1_mi300_ubuntu22.04_py3.12_vllm_0.6.6", "0.6.6"),
        ("${VLLM_IMAGE:-vllm/vllm-openai:v0.6.6}", "0.6.6"),
        ("myorg/server:1.2.3", None),
        (None, None),
    ],
)
def test_version_from_image(image: str | None, version: str | None) -> None:
    assert version_from_image(image) == version


def test_removed_table_is_consistent_with_the_pinned_table() -> None:
    table = load_flags()
    index = table.option_strings()
    removed = load_removed()
    for name in ("--swap-space", "--num-scheduler-steps", "--use-v2-block-manager", "--task"):
        assert removed[name].kind == "flag" and name not in index
    for name in ("VLLM_USE_V1", "VLLM_ATTENTION_BACKEND"):
        assert removed[name].kind == "env"
    for item in removed.values():
        assert item.source and item.removed_by
        if item.kind == "flag":
            assert item.name not in index, item.name
        for word in (item.replacement or "").split():
            if word.startswith("--"):  # a replacement the pinned release really has
                assert word.split(".")[0] in index, (item.name, word)
        assert version_key(item.last_seen_in) < version_key(item.removed_in)
        assert version_key(item.removed_in) <= version_key(table.vllm_version)


def test_a_removed_flag_is_an_error_for_the_pinned_table() -> None:
    [problem] = check_argv(["vllm", "serve", "m", "--swap-space", "16"], "0.8.5")
    assert (problem.code, problem.severity, problem.flag) == (
        "removed-flag",
        "error",
        "--swap-space",
    )
    assert "0.18.0" in problem.message
    [problem] = check_argv(["vllm", "serve", "m", "--use-v2-block-manager"])
    assert problem.code == "removed-flag"


def _lint_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, Any]]]:
    code, out, _ = run_cli(capsys, "lint", "--no-tools", "-o", "json", *args)
    findings: list[dict[str, Any]] = json.loads(out)["findings"]
    return code, findings


def test_a_file_pinned_to_0_8_5_with_swap_space_lints_with_a_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, findings = _lint_json(capsys, str(PINNED))
    assert code == 0
    assert [(f["rule"], f["severity"]) for f in findings] == [
        ("DK100", "warning"),
        ("DK114", "warning"),
    ]
    assert "--swap-space was removed in vLLM 0.18.0" in findings[0]["message"]
    assert "blocks upgrading" in findings[0]["message"]
    assert "VLLM_USE_V1 was removed in vLLM 0.11.1" in findings[1]["message"]


def test_the_same_file_on_the_pinned_release_is_an_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    current = tmp_path / "current.yaml"
    text = PINNED.read_text(encoding="utf-8")
    current.write_text(text.replace("v0.8.5", "v0.33.0"), encoding="utf-8")
    code, findings = _lint_json(capsys, str(current))
    assert code == 1
    assert [(f["rule"], f["severity"]) for f in findings] == [
        ("DK100", "error"),
        ("DK114", "error"),
    ]
    # A release after the removal refuses it too, and the message names that release.
    later = tmp_path / "later.yaml"
    later.write_text(text.replace("v0.8.5", "v0.19.1"), encoding="utf-8")
    code, findings = _lint_json(capsys, str(later))
    assert code == 1
    assert findings[0]["message"].startswith(
        "--swap-space was removed in vLLM 0.18.0; vLLM 0.19.1 refuses it"
    )
    # An image whose tag names no vLLM release is judged by --vllm-version (0.33.0 unless set).
    custom = tmp_path / "custom.yaml"
    custom.write_text(text.replace("vllm/vllm-openai:v0.8.5", "myorg/server:2.0"), encoding="utf-8")
    code, findings = _lint_json(capsys, str(custom))
    assert code == 1
    code, findings = _lint_json(capsys, "--vllm-version", "0.8.5", str(custom))
    assert code == 0 and {f["severity"] for f in findings} == {"warning"}


def test_a_malformed_vllm_version_is_bad_usage(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "lint", "--no-tools", "--vllm-version", "latest", str(PINNED))
    assert code == 2
    assert "not a vLLM release number" in err


def test_auto_tool_choice_without_a_parser_is_one_finding(tmp_path: Path) -> None:
    from deploy_kit.validate.lint import lint_paths

    manifest = PINNED.read_text(encoding="utf-8").replace("v0.8.5", "v0.33.0")
    for model, rule in (
        ("Qwen/Qwen2.5-7B-Instruct", "DK100"),
        ("deepseek-ai/DeepSeek-V4-Flash", "DK113"),
    ):
        path = tmp_path / f"{rule}.yaml"
        text = manifest.replace("Qwen/Qwen2.5-7B-Instruct", model)
        text = text.replace('"--swap-space", "16"', '"--enable-auto-tool-choice"')
        path.write_text(text, encoding="utf-8")
        findings = lint_paths([path], tools=False).findings
        refusing = [
            f for f in findings if "tool-call-parser" in f.message and f.severity == "error"
        ]
        assert [f.rule for f in refusing] == [rule], model


def test_short_aliases_are_the_parsers_own() -> None:
    """argv.SHORT_ALIASES (read by the chart's consistency rules) agrees with vLLM's parser."""
    import json

    from deploy_kit.vllm.argv import SHORT_ALIASES

    table = json.loads((REPO / "deploy_kit" / "catalog" / "vllm_flags_0.33.0.json").read_text())
    for flag, alias in SHORT_ALIASES.items():
        assert alias in table["flags"][flag]["aliases"], flag
