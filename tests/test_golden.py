"""Golden bundles: `render --target all` for representative cases, compared byte for byte.

Regenerate after an intended change with `UPDATE_GOLDEN=1 pytest tests/test_golden.py` and
review the diff like code.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import deploy_kit
from deploy_kit.renderer import render_files
from deploy_kit.spec import Knobs

GOLDEN = Path(__file__).parent / "golden"
CASES = {
    "flash-8xh200": ("deepseek-v4-flash", "8xH200", {}),
    "flash-4xb200-dep": ("deepseek-v4-flash", "4xB200", {}),
    "pro-8xb200": ("deepseek-v4-pro", "8xB200", {}),
    "pro-2x8xh200": ("deepseek-v4-pro", "2x8xH200", {}),
    "flash-2xgb10": ("deepseek-v4-flash", "2xGB10", {}),
    "flash-4xmi355x": ("deepseek-v4-flash", "4xMI355X", {}),
}


def _files(case: str) -> dict[str, str]:
    model, hardware, knobs = CASES[case]
    plan = deploy_kit.plan(model, hardware, Knobs.model_validate(knobs))
    return render_files(plan, "all")


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_bundle(case: str) -> None:
    files = _files(case)
    root = GOLDEN / case
    if os.environ.get("UPDATE_GOLDEN") == "1":
        if root.exists():
            for old in sorted(root.rglob("*"), reverse=True):
                old.unlink() if old.is_file() else old.rmdir()
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text, encoding="utf-8")
        return
    if not root.is_dir():
        pytest.fail(f"no golden bundle for {case}: run UPDATE_GOLDEN=1 pytest {__file__}")
    stored = {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
    assert sorted(stored) == sorted(files), "files differ (UPDATE_GOLDEN=1 to accept)"
    for rel, text in files.items():
        assert text == stored[rel], f"{case}/{rel} differs from golden (UPDATE_GOLDEN=1 to accept)"


def test_golden_cases_cover_the_issue() -> None:
    flash_dep = deploy_kit.plan("deepseek-v4-flash", "4xB200")
    assert (flash_dep.data_parallel, flash_dep.expert_parallel) == (4, True)
    multi = deploy_kit.plan("deepseek-v4-pro", "2x8xH200")
    assert multi.nodes == 2
    files = render_files(multi, "all")
    assert "kubernetes/leaderworkerset.yaml" in files
    assert "compose/node-0.compose.yaml" in files and "compose/node-1.compose.yaml" in files
