"""bench/run.py's decisions: parsing, ratios against floors, byte-compiling, the result file."""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import deploy_kit

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("bench_run", REPO / "bench" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module


def test_parse_importtime(bench: ModuleType) -> None:
    stderr = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       120 |        120 |   _io\n"
        "import time:      4603 |     168433 | deploy_kit.cli.inputs\n"
        "some other line\n"
    )
    assert bench._parse_importtime(stderr) == [
        {"module": "_io", "self_us": 120, "cumulative_us": 120},
        {"module": "deploy_kit.cli.inputs", "self_us": 4603, "cumulative_us": 168433},
    ]


def test_pairs_reads_the_render_summary(bench: ModuleType) -> None:
    assert bench._pairs("rendered 47 of 96 model x hardware pair(s) into out/") == 96
    assert bench._pairs("nothing") == 0


@pytest.mark.parametrize(
    ("case", "floor", "ratio", "met"),
    [
        ([0.20, 0.24, 0.22], [0.11, 0.12, 0.10], 2.0, True),  # exactly at the target
        ([0.25, 0.24, 0.26], [0.11, 0.12, 0.10], 2.27, False),
        ([0.30, 0.12, 0.13], [0.10, 0.10, 0.50], 1.3, True),  # medians, not means
    ],
)
def test_ratio_of_medians_against_the_target(
    bench: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    case: list[float],
    floor: list[float],
    ratio: float,
    met: bool,
) -> None:
    monkeypatch.setattr(bench, "_interleaved", lambda *_: (case, floor))
    result: dict[str, Any] = bench._against_floor(["x"], ["y"], len(case), 2.0)
    assert result["ratio"] == ratio
    assert result["target_met"] is met
    assert result["target"] == "ratio <= 2.0"


def test_compile_package_leaves_bytecode_for_the_cli(bench: ModuleType) -> None:
    what = bench._compile_package()
    package = Path(deploy_kit.__file__).parent
    assert str(package) in what
    for module in ("cli/main.py", "spec.py", "catalog/__init__.py"):
        cached = importlib.util.cache_from_source(str(package / module))
        assert os.path.isfile(cached), cached


def test_a_run_writes_medians_floors_and_the_bytecode_note(
    bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # main() changes directory; restore it afterwards
    out = tmp_path / "result.json"
    assert bench.main(["--cases", "help", "-n", "1", "--out", str(out)]) == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["runs"] == 1
    assert "byte-compiled" in result["bytecode"]
    case = result["cases"]["help"]
    assert case["floor"]["argv"] == "python -c import click"
    assert case["median_s"] > 0 and case["floor"]["median_s"] > 0
    assert case["ratio"] == pytest.approx(case["median_s"] / case["floor"]["median_s"], abs=0.01)
