"""The checkov exception list stays valid and narrow (make security uses it; no checkov here)."""

from __future__ import annotations

import importlib.util
import json
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent.parent
EXCEPTIONS = REPO / "security" / "checkov-exceptions.yaml"


@cache
def _compare() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "checkov_compare", REPO / "scripts" / "checkov_compare.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through it
    spec.loader.exec_module(module)
    return module


def _result(*failures: tuple[str, str, str]) -> dict[str, object]:
    return {
        "check_type": "kubernetes",
        "summary": {"passed": 1, "failed": len(failures), "resource_count": 1, "parsing_errors": 0},
        "results": {
            "failed_checks": [
                {"check_id": c, "check_name": c, "resource": r, "file_path": f"/{f}"}
                for c, r, f in failures
            ]
        },
    }


def test_every_exception_is_valid_and_explained() -> None:
    compare = _compare()
    entries = compare.load_exceptions(EXCEPTIONS)
    assert entries
    ids = [(e.check, e.resource, e.file, e.gpu_vendor, e.multi_node) for e in entries]
    assert len(ids) == len(set(ids)), "duplicate exception"
    for entry in entries:
        assert entry.check.startswith(("CKV_", "CKV2_")) and len(entry.reason) > 80


def test_exceptions_are_scoped(tmp_path: Path) -> None:
    """IPC_LOCK only on multi-node pods, root only on AMD: the same failure elsewhere counts."""
    compare = _compare()
    entries = compare.load_exceptions(EXCEPTIONS)
    matrix = tmp_path / "matrix"
    matrix.mkdir()
    cases = [
        {"case": "m/8xH200", "nodes": 1, "gpu_vendor": "nvidia"},
        {"case": "m/8xMI355X", "nodes": 1, "gpu_vendor": "amd"},
        {"case": "m/2x8xH100", "nodes": 2, "gpu_vendor": "nvidia"},
    ]
    (matrix / "matrix.json").write_text(json.dumps({"cases": cases}))
    result = [
        _result(
            ("CKV_K8S_23", "Deployment.default.m", "m/8xMI355X/kubernetes/deployment.yaml"),
            ("CKV_K8S_23", "Deployment.default.m", "m/8xH200/kubernetes/deployment.yaml"),
            ("CKV_K8S_25", "Pod.default.m-lws-leader", "m/2x8xH100/scan/lws-pods.yaml"),
            ("CKV_K8S_25", "Deployment.default.m", "m/8xH200/kubernetes/deployment.yaml"),
            ("CKV_K8S_8", "Pod.default.m-lws-worker", "m/2x8xH100/scan/lws-pods.yaml"),
            ("CKV_K8S_8", "Pod.default.m-lws-leader", "m/2x8xH100/scan/lws-pods.yaml"),
        )
    ]
    report = compare.compare([result], entries, compare.load_cases(matrix))
    uncovered = {(f.check, f.file.split("/")[1], f.resource) for f in report.unexpected}
    assert uncovered == {
        ("CKV_K8S_23", "8xH200", "Deployment.default.m"),
        ("CKV_K8S_25", "8xH200", "Deployment.default.m"),
        ("CKV_K8S_8", "2x8xH100", "Pod.default.m-lws-leader"),
    }


@pytest.mark.parametrize(
    "text, word",
    [
        ("exceptions: [{check: CKV_K8S_1}]\n", "reason"),
        ("exceptions: [{check: CKV_K8S_1, reason: because, color: red}]\n", "unknown"),
        ("exceptions: {}\n", "exceptions"),
    ],
)
def test_malformed_exceptions_are_refused(text: str, word: str, tmp_path: Path) -> None:
    compare = _compare()
    path = tmp_path / "exceptions.yaml"
    path.write_text(text)
    with pytest.raises(compare.Unusable, match=word):
        compare.load_exceptions(path)
