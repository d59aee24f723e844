"""Hostile inputs: every case exits 2 with one line naming the problem, no traceback, no write."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from deploy_kit.cli.main import main

ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(9)
)


def _write(name: str, content: str | bytes) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        p = tmp / name
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8")
        return p

    return make


def _huge(tmp: Path) -> Path:
    p = tmp / "huge.yaml"
    with p.open("wb") as fh:
        fh.truncate(100 * 1024 * 1024)  # sparse: 100 MB without writing 100 MB
    return p


def _directory(tmp: Path) -> Path:
    p = tmp / "dir.yaml"
    p.mkdir()
    return p


HW_CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "empty": (_write("e.yaml", ""), "empty"),
    "binary": (_write("b.yaml", b"\x00\x01\x02\xff\xfe"), "binary"),
    "not-utf8": (_write("u.yaml", b"gpu: \xff\xfe\n"), "UTF-8"),
    "huge": (_huge, "limit"),
    "deep": (_write("d.yaml", "a: " + "[" * 5000 + "]" * 5000), "nested"),
    "alias-bomb": (_write("bomb.yaml", ALIAS_BOMB), "alias"),
    "list-top": (_write("l.yaml", "- 1\n- 2\n"), "expected a mapping"),
    "unknown-key": (_write("k.yaml", "gpu: h100\ngpus_per_node: 8\ncolor: red\n"), "color"),
    "wrong-type": (_write("t.yaml", "gpu: h100\ngpus_per_node: eight\n"), "gpus_per_node"),
    "negative": (_write("n.yaml", "gpu: h100\ngpus_per_node: -8\n"), "gpus_per_node"),
    "zero": (_write("z.yaml", "gpu: h100\ngpus_per_node: 0\n"), "gpus_per_node"),
    "absurd-gpus": (_write("a.yaml", "gpu: h100\ngpus_per_node: 1000000000\n"), "gpus_per_node"),
    "absurd-nodes": (_write("an.yaml", "gpu: h100\ngpus_per_node: 8\nnodes: 1e9\n"), "nodes"),
    "nan-price": (
        _write("p.yaml", "gpu: h100\ngpus_per_node: 8\ngpu_hour_usd: .nan\n"),
        "gpu_hour",
    ),
    "inf-memory": (
        _write(
            "m.yaml",
            "gpu: {name: x, memory: .inf, bandwidth_tbps: 1, arch: hopper}\ngpus_per_node: 8\n",
        ),
        "memory",
    ),
    "unknown-gpu": (_write("g.yaml", "gpu: Z9000\ngpus_per_node: 8\n"), "unknown GPU"),
    "duplicate-key": (_write("dup.yaml", "gpu: h100\ngpu: h200\ngpus_per_node: 8\n"), "duplicate"),
    "bad-yaml": (_write("y.yaml", "gpu: [h100\n"), "line"),
    "unicode-name": (
        _write("uni.yaml", 'name: "\\u202e\\u0000x"\ngpu: h100\ngpus_per_node: 8\n'),
        "control characters",
    ),
    "directory": (_directory, "directory"),
    "missing": (lambda tmp: tmp / "missing.yaml", "cannot read"),
    "traversal": (lambda tmp: tmp / ".." / ".." / "nope" / "hw.yaml", "cannot read"),
}


@pytest.mark.parametrize("case", sorted(HW_CASES))
def test_bad_hardware_file(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make, needle = HW_CASES[case]
    path = make(tmp_path)
    out = tmp_path / "out.json"
    before = sorted(p.name for p in tmp_path.iterdir()) if tmp_path.exists() else []
    code = main(["plan", "--hardware", str(path), "-o", "json", "--out", str(out)])
    _, err = capsys.readouterr()
    assert code == 2, err
    assert needle.lower() in err.lower()
    assert "Traceback" not in err
    assert err.startswith("error:") and len(err.strip().splitlines()) <= 2
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


DEPLOY_CASES = {
    "unknown-top": ("model: deepseek-v4-flash\nhardware: 8xH200\nextra: 1\n", "extra"),
    "bad-knob": ("hardware: 8xH200\nknobs: {tp: -1}\n", "knobs.tp"),
    "knob-type": ("hardware: 8xH200\nknobs: {context: lots}\n", "context"),
    "missing-hw": ("model: deepseek-v4-flash\n", "hardware"),
    "long-model": ("model: " + "x" * 5000 + "\nhardware: 8xH200\n", "model"),
}


@pytest.mark.parametrize("case", sorted(DEPLOY_CASES))
def test_bad_deployment_file(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text, needle = DEPLOY_CASES[case]
    f = tmp_path / "deploy.yaml"
    f.write_text(text)
    code = main(["plan", "-f", str(f)])
    _, err = capsys.readouterr()
    assert code == 2, err
    assert needle in err and "Traceback" not in err
