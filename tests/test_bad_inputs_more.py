"""More hostile inputs: render targets, node lists, lint paths and deployment-file values.

Every case asserts the exit code, a one-line message naming the field or path (a `hint:` line
may follow), no traceback, and that nothing was written. Cases that show a bug today are
strict xfails whose reason says what is wrong and where.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from deploy_kit import yamlio
from deploy_kit.cli.main import LAZY_COMMANDS, main

ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 8) + "]\n"
    for i in range(9)
)
HUNDRED_MB = 100 * 1024 * 1024
Make = Callable[[Path], Path]


def snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_refused(code: int, err: str, needle: str, expected: int = 2) -> None:
    assert code == expected, err
    assert "Traceback" not in err and "internal error" not in err, err
    lines = err.strip().splitlines()
    assert lines and lines[0].startswith("error:"), err
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("hint:")), err
    assert needle.lower() in lines[0].lower(), f"{needle!r} not in {lines[0]!r}"


def text_file(name: str, content: str | bytes) -> Make:
    def make(root: Path) -> Path:
        path = root / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return make


def sparse_file(name: str, size: int = HUNDRED_MB) -> Make:
    def make(root: Path) -> Path:
        path = root / name
        with path.open("wb") as fh:
            fh.truncate(size)  # sparse: 100 MB without writing them
        return path

    return make


def directory(name: str) -> Make:
    def make(root: Path) -> Path:
        path = root / name
        path.mkdir()
        return path

    return make


def xfail(case: object, reason: str, *, run: bool = True) -> object:
    return pytest.param(case, marks=pytest.mark.xfail(reason=reason, strict=run, run=run))


# --- render --out / --name ----------------------------------------------------------------


def _read_only_parent(root: Path) -> Path:
    """A directory nobody may create entries in (root ignores mode bits: use sysfs then)."""
    if os.geteuid() != 0:
        locked = root / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        return locked / "bundle"
    sys_dir = Path("/sys")
    if not sys_dir.is_dir():
        pytest.skip("no read-only directory available to root here")
    return sys_dir / "deploy-kit-test-bundle"


OUT_CASES: dict[str, tuple[Callable[[Path], str], str]] = {
    "out-is-a-file": (lambda root: str(text_file("afile", "x\n")(root)), "afile"),
    "out-under-a-file": (lambda root: str(text_file("afile", "x\n")(root) / "sub"), "afile"),
    "out-with-nul": (lambda root: str(root / "bad\x00name"), "--out"),
    "out-read-only": (lambda root: str(_read_only_parent(root)), "bundle"),
}
WRITE_BUG = (
    "render --out {what} ends in an internal error (exit 70) instead of exit 2 naming --out: "
    "write_bundle (deploy_kit/renderer/bundle.py) lets {exc} escape"
)


@pytest.mark.parametrize(
    "case",
    [
        "out-is-a-file",
        "out-under-a-file",
        "out-with-nul",
        "out-read-only",
    ],
)
def test_render_bad_out(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make, needle = OUT_CASES[case]
    out = make(tmp_path)
    before = snapshot(tmp_path)
    code, _, err = run(capsys, "render", "-H", "8xH200", "-t", "all", "--out", out)
    assert_refused(code, err, needle)
    assert snapshot(tmp_path) == before


OPTION_CASES: dict[str, tuple[str, str, str]] = {
    # (option, value, needle)
    "name-uppercase": ("--name", "Bad_Name", "name"),
    "name-empty": ("--name", "", "name"),
    "name-slash": ("--name", "a/b", "name"),
    "name-traversal": ("--name", "../x", "name"),
    "name-too-long": ("--name", "a" * 60, "name"),
    "name-unicode": ("--name", "\u00fcmlaut", "name"),
    "name-newline": ("--name", "ok\nkind: Secret", "name"),
    "name-trailing-dash": ("--name", "app-", "name"),
    "namespace-space": ("--namespace", "my ns", "namespace"),
    "revision-space": ("--revision", "main; rm -rf /", "revision"),
    "storage-class-newline": ("--storage-class", "fast\nkind: Secret", "storage_class"),
}


@pytest.mark.parametrize(
    "case",
    [
        *sorted(OPTION_CASES),
    ],
)
def test_render_bad_option(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    option, value, needle = OPTION_CASES[case]
    out = tmp_path / "bundle"
    code, _, err = run(
        capsys, "render", "-H", "8xH200", "-t", "all", "--out", str(out), option, value
    )
    assert_refused(code, err, needle)
    assert not out.exists() and snapshot(tmp_path) == set()


# --- discover --from-file -----------------------------------------------------------------

NODE = {
    "metadata": {"name": "gpu-1", "labels": {"nvidia.com/gpu.product": "NVIDIA-H200"}},
    "status": {"capacity": {"nvidia.com/gpu": "8"}},
}
DISCOVER_CASES: dict[str, tuple[Make, str]] = {
    "empty": (text_file("empty.json", ""), "node list"),
    "binary": (text_file("bin.json", b"\x00\x01\x02\xff\xfe"), "binary"),
    "not-utf8": (text_file("latin.yaml", b"items: [\xff\xfe]\n"), "latin.yaml"),
    "huge": (sparse_file("huge.json"), "limit"),
    "deep-json": (text_file("deep.json", "[" * 5000 + "]" * 5000), "nested"),
    "deep-yaml": (text_file("deep.yaml", "items: " + "[" * 5000 + "]" * 5000), "nested"),
    "alias-bomb": (text_file("bomb.yaml", ALIAS_BOMB), "alias"),
    "top-list": (text_file("list.json", "[1, 2]"), "$"),
    "top-string": (text_file("str.json", '"nodes"'), "$"),
    "items-number": (text_file("n.json", '{"items": 5}'), "$.items"),
    "metadata-number": (text_file("m.json", '{"items": [{"metadata": 3}]}'), "$.items[0]"),
    "label-number": (
        text_file(
            "l.json",
            json.dumps(
                {
                    "items": [
                        {**NODE, "metadata": {"name": "n", "labels": {"nvidia.com/gpu.product": 5}}}
                    ]
                }
            ),
        ),
        "nvidia.com/gpu.product",
    ),
    "gpus-1e9": (
        text_file(
            "g.json",
            json.dumps({"items": [{**NODE, "status": {"capacity": {"nvidia.com/gpu": "1e9"}}}]}),
        ),
        "nvidia.com/gpu",
    ),
    "gpus-negative": (
        text_file(
            "neg.json",
            json.dumps({"items": [{**NODE, "status": {"capacity": {"nvidia.com/gpu": "-8"}}}]}),
        ),
        "nvidia.com/gpu",
    ),
    "directory": (directory("dir.json"), "directory"),
    "missing": (lambda root: root / "missing.json", "missing.json"),
}


@pytest.mark.parametrize("case", sorted(DISCOVER_CASES))
def test_discover_bad_node_list(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make, needle = DISCOVER_CASES[case]
    path = make(tmp_path)
    out = tmp_path / "profile.yaml"
    before = snapshot(tmp_path)
    code, stdout, err = run(capsys, "discover", "--from-file", str(path), "--out", str(out))
    assert_refused(code, err, needle)
    assert stdout == "" and snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "argv",
    [
        ["plan", "-H", "/dev/zero"],
        ["discover", "--from-file", "/dev/zero"],
    ],
)
def test_endless_input_file_is_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert_refused(code, err, "/dev/zero")


# --- lint -----------------------------------------------------------------------------------

needs_lint = pytest.mark.skipif("lint" not in LAZY_COMMANDS, reason="lint not registered yet")


def _json_findings(text: str) -> list[dict[str, object]]:
    findings = json.loads(text)["findings"]
    assert isinstance(findings, list)
    return findings


LINT_CASES: dict[str, tuple[Make, str]] = {
    # (input, word in the rule or message of the finding that names the file)
    "binary": (text_file("bin.yaml", b"\x00\x01\x02\xff\xfe"), "not-text"),
    "not-utf8": (text_file("latin.yaml", b"kind: Service\nname: \xff\n"), "not-text"),
    "sparse-100mb": (sparse_file("huge.yaml"), "limit"),
    "broken-yaml": (text_file("broken.yaml", "apiVersion: v1\nkind: [Service\n"), "syntax"),
    "deep-nesting": (text_file("deep.yaml", "a: " + "[" * 5000 + "]" * 5000), "nested deeper"),
    "alias-bomb": (text_file("bomb.yaml", ALIAS_BOMB), "alias"),
    # Found by yamllint / the schema step only: checked in the tools test.
    "duplicate-keys": (
        text_file("dup.yaml", "apiVersion: v1\nkind: Service\nkind: Pod\nmetadata: {name: x}\n"),
        "duplicat",
    ),
    "kind-not-string": (
        text_file("kind.yaml", "apiVersion: v1\nkind: [1, 2]\nmetadata: {}\n"),
        "kind",
    ),
}
NO_TOOLS_CASES = ("binary", "not-utf8", "sparse-100mb", "broken-yaml", "deep-nesting")


def assert_finding_or_refusal(code: int, out: str, err: str, path: Path, word: str) -> None:
    """Exit 1 with a finding on the file that mentions `word`, or exit 2 naming the file."""
    assert "Traceback" not in err and "internal error" not in err, err
    assert code in (1, 2) or (code == 0 and out), err
    if code == 2:
        assert_refused(code, err, path.name)
        return
    named = [f for f in _json_findings(out) if str(f.get("file", "")).endswith(path.name)]
    assert any(word in f"{f['rule']} {f['message']}".lower() for f in named), named


@needs_lint
@pytest.mark.parametrize(
    "case",
    [
        *NO_TOOLS_CASES,
        "alias-bomb",
    ],
)
def test_lint_hostile_file(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make, word = LINT_CASES[case]
    path = make(tmp_path)
    before = snapshot(tmp_path)
    code, out, err = run(capsys, "lint", "--no-tools", str(path), "-o", "json")
    assert_finding_or_refusal(code, out, err, path, word)
    assert snapshot(tmp_path) == before


@needs_lint
@pytest.mark.tools
@pytest.mark.parametrize(
    "case", ["binary", "broken-yaml", "sparse-100mb", "duplicate-keys", "kind-not-string"]
)
def test_lint_hostile_file_with_tools(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make, word = LINT_CASES[case]
    path = make(tmp_path)
    before = snapshot(tmp_path)
    code, out, err = run(capsys, "lint", str(path), "-o", "json")
    assert_finding_or_refusal(code, out, err, path, word)
    for output in ("text", "sarif"):
        again, text, err = run(capsys, "lint", str(path), "-o", output)
        assert again == code and "Traceback" not in err and path.name in text + err, err
    assert snapshot(tmp_path) == before


@needs_lint
@pytest.mark.parametrize(
    "case",
    [
        "directory-named-yaml",
        "fifo",
        "missing",
    ],
)
def test_lint_nothing_to_lint(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if case == "directory-named-yaml":
        path = directory("x.yaml")(tmp_path)
    elif case == "fifo":
        path = tmp_path / "pipe.yaml"
        os.mkfifo(path)
    else:
        path = tmp_path / "missing.yaml"
    before = snapshot(tmp_path)
    code, _, err = run(capsys, "lint", "--no-tools", str(path))
    assert_refused(code, err, path.name)
    assert snapshot(tmp_path) == before


@needs_lint
def test_lint_100mb_text_file_is_refused_by_its_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's file (small flow mappings; the tail left sparse) is refused by stat: no
    YAML parser runs, and the message gives its size and the limit, not an alias bomb."""
    path = tmp_path / "big.yaml"
    with path.open("w", encoding="utf-8") as fh:
        fh.write("items:\n" + "  - {a: 1, b: [x, y]}\n" * 4096)
        fh.truncate(HUNDRED_MB)

    def parser_called(*args: object, **kw: object) -> None:
        raise AssertionError("the 100 MB file reached the YAML parser")

    monkeypatch.setattr(yamlio, "scan_yaml", parser_called)
    monkeypatch.setattr(yaml, "compose_all", parser_called)
    code, out, err = run(capsys, "lint", "--no-tools", str(path))
    assert_refused(code, err, "big.yaml")
    first, hint = err.strip().splitlines()
    assert "is 100.0 MiB (104,857,600 bytes), over the limit of 16.0 MiB" in first
    assert "alias" not in first and hint.startswith("hint: split it into files under 16 MiB")
    assert out == "" and snapshot(tmp_path) == {"big.yaml"}


# --- deployment-file values (the catalog overrides a person writes) -------------------------

DEPLOY_VALUE_CASES: dict[str, tuple[str, str]] = {
    "gmu-nan": ("knobs: {gpu_memory_utilization: .nan}", "knobs.gpu_memory_utilization"),
    "gmu-inf": ("knobs: {gpu_memory_utilization: .inf}", "knobs.gpu_memory_utilization"),
    "gmu-negative-inf": ("knobs: {gpu_memory_utilization: -.inf}", "knobs.gpu_memory_utilization"),
    "gmu-1e9": ("knobs: {gpu_memory_utilization: 1.0e+9}", "knobs.gpu_memory_utilization"),
    "concurrency-1e9": ("knobs: {concurrency: 1.0e+9}", "knobs.concurrency"),
    "concurrency-fraction": ("knobs: {concurrency: 1.5}", "knobs.concurrency"),
    "tp-string": ("knobs: {tp: eight}", "knobs.tp"),
    "dp-huge": ("knobs: {dp: 1000000000000}", "knobs.dp"),
    "max-num-seqs-nan": ("knobs: {max_num_seqs: .nan}", "knobs.max_num_seqs"),
    "ep-maybe": ("knobs: {ep: maybe}", "knobs.ep"),
    "weights-number": ("knobs: {weights: 5}", "knobs.weights"),
    "context-inf": ("knobs: {context: .inf}", "knobs.context"),
    "context-negative": ("knobs: {context: -4096}", "knobs.context"),
    "kv-bytes-nan": ("knobs: {kv_cache_memory_bytes: .nan}", "knobs.kv_cache_memory_bytes"),
    "kv-bytes-negative": ("knobs: {kv_cache_memory_bytes: -1}", "knobs.kv_cache_memory_bytes"),
    "batched-tokens-inf": ("knobs: {max_num_batched_tokens: .inf}", "knobs.max_num_batched_tokens"),
    "knobs-list": ("knobs: [1, 2]", "knobs"),
    "vllm-version-shell": ("knobs: {vllm_version: 'x; rm -rf /'}", "vllm version"),
    "gpus-1e9": ("hardware: {gpu: h200, gpus_per_node: 1000000000}", "hardware.gpus_per_node"),
    "nodes-1e9": ("hardware: {gpu: h200, gpus_per_node: 8, nodes: 1.0e+9}", "hardware.nodes"),
    "preset-1e9-gpus": ("hardware: 1000000000xH200", "1000000000"),
    "preset-1e9-nodes": ("hardware: 1000000000x8xH200", "1000000000"),
    "memory-nan": (
        "hardware: {gpu: {name: x, memory: .nan, bandwidth_tbps: 4, arch: hopper}, "
        "gpus_per_node: 8}",
        "hardware.gpu.memory",
    ),
    "bandwidth-inf": (
        "hardware: {gpu: {name: x, memory: 141GB, bandwidth_tbps: .inf, arch: hopper}, "
        "gpus_per_node: 8}",
        "hardware.gpu.bandwidth_tbps",
    ),
    "tflops-nan": (
        "hardware: {gpu: {name: x, memory: 141GB, bandwidth_tbps: 4, arch: hopper, "
        "bf16_tflops: .nan}, gpus_per_node: 8}",
        "hardware.gpu.bf16_tflops",
    ),
    "price-negative": (
        "hardware: {gpu: h200, gpus_per_node: 8, gpu_hour_usd: -1}",
        "hardware.gpu_hour_usd",
    ),
    "network-nan": (
        "hardware: {gpu: h200, gpus_per_node: 8, nodes: 2, network_gbps: .nan}",
        "hardware.network_gbps",
    ),
    "hardware-number": ("hardware: 5", "hardware"),
    "model-number": ("model: 5", "model"),
    "model-null": ("model: null", "model"),
    "image-latest": ("knobs: {image: 'vllm/vllm-openai:latest'}", "image"),
}


def _deployment(case: str) -> str:
    body, _ = DEPLOY_VALUE_CASES[case]
    lines = [body]
    if not body.startswith("hardware:"):
        lines.append("hardware: 8xH200")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "case",
    [
        *sorted(DEPLOY_VALUE_CASES),
    ],
)
@pytest.mark.parametrize("command", ["plan", "render"])
def test_deployment_file_bad_value(
    case: str, command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if command == "render" and case == "image-latest":
        pytest.skip("render refuses it already (the xfail is about plan)")
    deploy = tmp_path / "deploy.yaml"
    deploy.write_text(_deployment(case), encoding="utf-8")
    out = tmp_path / ("plan.json" if command == "plan" else "bundle")
    argv = ["plan", "-f", str(deploy), "-o", "json", "--out", str(out)]
    if command == "render":
        argv = ["render", "-f", str(deploy), "-t", "all", "--out", str(out)]
    code, stdout, err = run(capsys, *argv)
    _, needle = DEPLOY_VALUE_CASES[case]
    assert_refused(code, err, needle)
    assert stdout == "" and snapshot(tmp_path) == {"deploy.yaml"}
