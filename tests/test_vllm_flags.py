"""vLLM flag table generation and the offline argv checker."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest

from deploy_kit.errors import InputError
from deploy_kit.vllm.flags import (
    ArgProblem,
    FlagSpec,
    check_argv,
    flag_table_path,
    load_flags,
    parse_argv,
)

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


def test_regenerating_the_table_gives_identical_bytes() -> None:
    gen = runpy.run_path(str(REPO / "scripts" / "gen_vllm_flags.py"))
    text = gen["render"](HELP_FILE.read_text(encoding="utf-8"), "0.33.0")
    assert text == flag_table_path("0.33.0").read_text(encoding="utf-8"), (
        "stale flag table: run scripts/gen_vllm_flags.py"
    )


def test_table_covers_every_option_of_the_help_text() -> None:
    table = load_flags("0.33.0")
    assert table.vllm_version == "0.33.0"
    assert table.positionals == ["model_tag"]
    # 321 option entries in `vllm serve --help=all` of 0.33.0
    assert len(table.flags) == 321
    assert all(name.startswith("--") for name in table.flags)


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        (
            "--tensor-parallel-size",
            {"aliases": ["-tp"], "type": "int", "group": "ParallelConfig", "default": "1"},
        ),
        ("--api-server-count", {"aliases": ["-asc"], "group": "options", "takes_value": True}),
        (
            "--enable-log-requests",
            {"negation": "--disable-log-requests", "takes_value": False, "type": "bool"},
        ),
        ("--enforce-eager", {"negation": "--no-enforce-eager", "default": "False"}),
        (
            "--data-parallel-hybrid-lb",
            {"negation": "--no-data-parallel-hybrid-lb", "aliases": ["-dph"]},
        ),
        ("--data-parallel-multi-port-external-lb", {"negation": None, "aliases": ["-dpm"]}),
        ("--api-key", {"nargs": "+", "metavar": "API_KEY"}),
        ("--hf-token", {"nargs": "?", "metavar": "HF_TOKEN"}),
        ("--dtype", {"choices_open": False, "default": "auto"}),
        ("--gpu-memory-utilization", {"aliases": ["--device-memory-utilization"], "type": "float"}),
        ("--max-model-len", {"type": "human_int"}),
        ("--port", {"type": "int", "default": "8000", "group": "Frontend"}),
        ("--compilation-config", {"aliases": ["-cc"], "json_config": True, "type": "json"}),
        ("--attention-config", {"aliases": ["-ac"], "json_config": True}),
        ("--speculative-config", {"aliases": ["-sc"], "json_config": True, "json_keys": None}),
        ("--disable-cascade-attn", {"deprecated": True, "negation": "--enable-cascade-attn"}),
        ("--reasoning-parser", {"default": ""}),
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
    # A list printed as the metavar is a suggestion (Literal | str fields).
    assert "fp8" in (flags["--kv-cache-dtype"].choices or [])
    assert flags["--kv-cache-dtype"].choices_open
    # "{...} or name registered in --tool-parser-plugin"
    assert "deepseek_v4" in (flags["--tool-call-parser"].choices or [])
    assert flags["--tool-call-parser"].choices_open
    assert "deepseek_v4" in (flags["--tokenizer-mode"].choices or [])


def test_json_config_keys_come_from_the_printed_default() -> None:
    flags = load_flags().flags
    assert {"mode", "cudagraph_mode", "custom_ops"} <= set(
        flags["--compilation-config"].json_keys or []
    )
    attention = flags["--attention-config"].json_keys or []
    assert "backend" in attention and "indexer_kv_dtype" in attention
    # A line-wrapped repr ("KernelConfig(ir_op_prio\nrity=...") is glued back together.
    assert "ir_op_priority" in (flags["--kernel-config"].json_keys or [])


def test_unknown_version_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"no vLLM flag table for version 9\.9\.9"):
        load_flags("9.9.9")


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
    # The module entry point has no positional model.
    stray = check_argv(["python", "-m", "vllm.entrypoints.openai.api_server", "m"])
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


def test_optimization_level_shorthands() -> None:
    for argv in (["m", "-O3"], ["m", "-O", "3"], ["m", "-O=3"]):
        parsed = parse_argv(argv)
        assert parsed.flags == {"--optimization-level": ["3"]}, argv
        assert parsed.problems == []
    assert errors(["m", "-Ofast"]) == ["bad-type"]


def test_negative_numbers_are_values() -> None:
    assert errors(["m", "--seed", "-1"]) == []


def test_optional_values_accept_none() -> None:
    assert errors(["m", "--max-num-seqs", "None"]) == []


def test_nargs() -> None:
    parsed = parse_argv(["m", "--served-model-name", "a", "b", "--port", "8000"])
    assert parsed.flags["--served-model-name"] == ["a", "b"]
    assert errors(["m", "--api-key"]) == ["missing-value"]
    hf = parse_argv(["m", "--hf-token", "--port", "8000"])
    assert hf.flags["--hf-token"] == [None] and hf.problems == []


def test_dotted_json_keys() -> None:
    parsed = parse_argv(
        [
            "m",
            "--compilation-config.mode",
            "3",
            "-cc.cudagraph_mode=FULL_DECODE_ONLY",
            "--compilation-config.custom_ops+",
            "all",
            "--compilation-config.custom_ops+=-rms_norm,+silu",
            "--compilation-config.pass_config.fuse_allreduce_rms=true",
        ]
    )
    assert parsed.problems == []
    assert parsed.dotted["--compilation-config"] == {
        "mode": 3,
        "cudagraph_mode": "FULL_DECODE_ONLY",
        "custom_ops": ["all", "-rms_norm", "+silu"],
        "pass_config": {"fuse_allreduce_rms": True},
    }
    assert parsed.json_value("--compilation-config") == parsed.dotted["--compilation-config"]


def test_dotted_value_merges_over_the_json_value() -> None:
    parsed = parse_argv(
        ["m", "--compilation-config", '{"mode": 0, "custom_ops": ["all"]}', "-cc.mode=3"]
    )
    assert parsed.json_value("--compilation-config") == {"mode": 3, "custom_ops": ["all"]}


def test_fp4_indexer_key_from_the_recipes_is_not_a_known_attention_field() -> None:
    # facts/deepseek-v4.md gives --attention_config.use_fp4_indexer_cache=True for Blackwell;
    # vLLM 0.33.0's AttentionConfig default does not list that field: flag it, softly.
    problems = check_argv(["m", "--attention_config.use_fp4_indexer_cache=True"])
    assert [(p.code, p.severity, p.flag) for p in problems] == [
        ("unknown-json-key", "warning", "--attention-config")
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
        (["m", "--speculative-config", "3"], ["bad-json"]),
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


def test_negative_form_that_does_not_exist_gets_the_right_hint() -> None:
    # The Hopper recipe spells --no-enable-flashinfer-autotune; 0.33.0 only has
    # --enable-flashinfer-autotune / --disable-flashinfer-autotune.
    [problem] = check_argv(["m", "--no-enable-flashinfer-autotune"])
    assert problem.code == "unknown-flag" and problem.severity == "error"
    assert problem.hint is not None and "--disable-flashinfer-autotune" in problem.hint


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
    assert codes(check_argv(["m", "--model", "n"])) == ["model-twice"]
    assert codes(check_argv(["m", "--compilation-config", '{"modee": 3}'])) == ["unknown-json-key"]


def _valid_value(spec: FlagSpec) -> str:
    if spec.choices:
        return spec.choices[0]
    return {
        "int": "2",
        "float": "0.5",
        "number": "1.5",
        "human_int": "4k",
        "json": "{}",
    }.get(spec.type, "value")


def test_every_flag_accepts_a_well_typed_value() -> None:
    for name, spec in load_flags().flags.items():
        if name in ("--help", "--model"):
            continue
        argv = ["m", name] if not spec.takes_value else ["m", name, _valid_value(spec)]
        found = [p for p in check_argv(argv) if p.code != "deprecated-flag"]
        assert found == [], (name, found)
        for alias in spec.aliases:
            argv[1] = alias
            assert errors(argv) == [], (alias, argv)
