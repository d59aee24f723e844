"""The offline checker against vLLM's own parser, on the corpus scripts/gen_vllm_flags.py ran.

tests/fixtures/vllm_parser_verdicts_0.33.0.json holds vLLM 0.33.0's verdict (parse_args plus
the serve subcommand's validate step) on every argv; regenerate it with the generator.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from deploy_kit.vllm.flags import check_argv

FIXTURE = Path(__file__).parent / "fixtures" / "vllm_parser_verdicts_0.33.0.json"
# The generator ran vLLM with no VLLM_* variable set; the checker gets the same environment.
ENV: dict[str, str] = {}
MIN_RECALL = 0.98


def _cases() -> list[dict[str, Any]]:
    data = json.loads(FIXTURE.read_text(encoding="utf-8"))
    cases: list[dict[str, Any]] = data["cases"]
    return cases


def _errors(argv: list[str]) -> list[str]:
    problems = check_argv(["vllm", "serve", *argv], "0.33.0", ENV)
    return [f"{p.code}: {p.message}" for p in problems if p.severity == "error"]


def test_corpus_is_large_and_mixed() -> None:
    cases = _cases()
    assert len(cases) >= 1500
    kinds = Counter(c["kind"] for c in cases)
    for kind in (
        "canonical",
        "alias",
        "negation",
        "typo",
        "bad-choice",
        "bad-type",
        "dotted",
        "repeated",
        "underscore",
        "equals",
    ):
        assert kinds[kind] > 0, kind
    assert any(c["accepted"] for c in cases) and not all(c["accepted"] for c in cases)


def test_every_argv_vllm_accepts_gets_no_error() -> None:
    wrong = []
    for case in _cases():
        if case["accepted"]:
            found = _errors(case["argv"])
            if found:
                wrong.append(f"{case['kind']}: {case['argv'][1:]} -> {found[0]}")
    assert not wrong, f"{len(wrong)} accepted argv get an error:\n" + "\n".join(wrong[:40])


def test_argv_vllm_rejects_get_an_error() -> None:
    rejected = [c for c in _cases() if not c["accepted"]]
    missed = [c for c in rejected if not _errors(c["argv"])]
    recall = 1 - len(missed) / len(rejected)
    listing = "\n".join(
        f"  {c['kind']}: {c['argv'][1:]} (vLLM: {c['message'][:120]})" for c in missed
    )
    print(f"\n{len(rejected) - len(missed)}/{len(rejected)} rejected argv flagged ({recall:.2%})")
    if missed:
        print("rejected by vLLM, passed by the checker:\n" + listing)
    assert recall >= MIN_RECALL, listing


@pytest.mark.parametrize(
    "argv",
    [
        ["m", "--no-enable-prefix-caching"],
        ["m", "--no-enable-flashinfer-autotune"],
        ["m", "--no-disable-hybrid-kv-cache-manager"],
    ],
)
def test_negations_real_files_use_are_accepted_by_both(argv: list[str]) -> None:
    verdicts = {tuple(c["argv"][1:]): c["accepted"] for c in _cases()}
    assert verdicts[tuple(argv[1:])] is True
    assert _errors(argv) == []
