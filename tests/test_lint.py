"""`deploy-kit lint` end to end: fixtures with marked mistakes, exit codes, bundles, batching."""

from __future__ import annotations

import json
import re
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

import deploy_kit
from deploy_kit.cli.main import main
from deploy_kit.errors import PlanError
from deploy_kit.renderer import render_bundle
from deploy_kit.spec import Knobs
from deploy_kit.validate.discover import packaged_chart
from deploy_kit.validate.findings import Finding
from deploy_kit.validate.lint import HELM_API_VERSIONS, lint_paths
from deploy_kit.validate.report import LintReport
from deploy_kit.validate.structural import tools
from deploy_kit.validate.structural import validators as structural
from deploy_kit.validate.structural.crd import BUNDLED_CRD_DIR
from deploy_kit.validate.structural.tools import tool_available

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "lint"
GOOD = FIXTURES / "good"
BAD = FIXTURES / "bad"
CRD_DIR = BUNDLED_CRD_DIR
FILE_TOOLS = ("yamllint", "kubernetes-validate", "docker-compose", "hadolint")
MARK = re.compile(r"#\s*(<-|next:|file:)\s*((?:[A-Za-z][\w/.-]*\s*)+)$")


def crds() -> list[Path]:
    return sorted(CRD_DIR.glob("*.yaml"))


def needs_tools(*names: str) -> pytest.MarkDecorator:
    missing = [n for n in names or FILE_TOOLS if not tool_available(n)]
    return pytest.mark.skipif(bool(missing), reason=f"{missing} not installed: run `make tools`")


def expectations(path: Path) -> set[tuple[str, int | None]]:
    """(rule, line) pairs marked in a fixture: `# <- RULE` (this line), `# next: RULE` (the next
    line that is not a comment) and `# file: RULE` (anywhere in the file)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out: set[tuple[str, int | None]] = set()
    for number, text in enumerate(lines, start=1):
        m = MARK.search(text)
        if m is None:
            continue
        kind, rules = m.group(1), m.group(2).split()
        target: int | None = number
        if kind == "next:":
            target = next(
                i
                for i in range(number + 1, len(lines) + 1)
                if not lines[i - 1].lstrip().startswith("#")
            )
        elif kind == "file:":
            target = None
        out |= {(rule, target) for rule in rules}
    return out


def bad_files(*dirs: str) -> list[Path]:
    return sorted(p for d in dirs for p in (BAD / d).iterdir() if p.is_file())


@cache
def bad_report(tools_on: bool) -> LintReport:
    paths = [BAD / "k8s", BAD / "compose", BAD / "docker"]
    return lint_paths(paths, crds=crds(), tools=tools_on)


def in_file(report: LintReport, path: Path) -> list[Finding]:
    return [f for f in report.findings if Path(f.file).resolve() == path.resolve()]


def check_marks(findings: list[Finding], path: Path, *, domain_only: bool = False) -> None:
    expected = expectations(path)
    if domain_only:
        expected = {(r, line) for r, line in expected if r.startswith("DK")}
        findings = [f for f in findings if f.rule.startswith("DK")]
    assert expected or domain_only, f"{path.name} marks no expected finding"
    got = {(f.rule, f.line) for f in findings}
    rules_anywhere = {f.rule for f in findings}
    for rule, line in sorted(expected, key=str):
        if line is None:
            assert rule in rules_anywhere, f"{path.name}: expected {rule}; got {sorted(got)}"
        else:
            assert (rule, line) in got, f"{path.name}: expected {rule} at line {line}; got " + (
                "; ".join(f"{f.rule}@{f.line}: {f.message}" for f in findings)
            )
    marked = {r for r, line in expected if line is None} | {(r, line) for r, line in expected}
    unexpected = [
        f
        for f in findings
        if f.severity == "error" and (f.rule, f.line) not in marked and f.rule not in marked
    ]
    assert not unexpected, f"{path.name}: unmarked errors: " + "; ".join(
        f"{f.rule}@{f.line}: {f.message}" for f in unexpected
    )


# --- hand-written fixtures ----------------------------------------------------------------


@pytest.mark.tools
@needs_tools()
@pytest.mark.parametrize(
    "path", bad_files("k8s", "compose", "docker"), ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_bad_fixture_reports_its_mistake(path: Path) -> None:
    report = bad_report(True)
    check_marks(in_file(report, path), path)
    assert report.exit_code == 1


@pytest.mark.parametrize(
    "path", bad_files("k8s", "compose", "docker"), ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_bad_fixture_domain_rules_without_tools(path: Path) -> None:
    # Domain rules need no external tool: --no-tools still finds every DK mistake.
    check_marks(in_file(bad_report(False), path), path, domain_only=True)


def test_every_domain_rule_has_a_kubernetes_or_compose_fixture() -> None:
    from deploy_kit.validate.rules.facts import RULES

    marked: dict[str, set[str]] = {}
    for path in bad_files("k8s", "compose", "docker", "hardware"):
        for rule, _ in expectations(path):
            marked.setdefault(rule, set()).add(path.parent.name)
    assert set(RULES) <= set(marked), sorted(set(RULES) - set(marked))
    assert {"k8s", "compose"} <= {kind for kinds in marked.values() for kind in kinds}
    both = [r for r, kinds in marked.items() if {"k8s", "compose"} <= kinds]
    assert len(both) >= 8, both  # most mistakes are shown in both formats


@pytest.mark.parametrize("path", bad_files("hardware"), ids=lambda p: p.name)
def test_hardware_fixture_needs_the_hardware(path: Path) -> None:
    with_hw = lint_paths([path], hardware="8xH200", tools=False)
    check_marks(with_hw.findings, path, domain_only=True)
    without = lint_paths([path], tools=False)
    assert not [f for f in without.findings if f.rule == "DK110"]


def test_kv_fit_reproduces_vllms_own_estimate() -> None:
    report = lint_paths([BAD / "hardware" / "kv-fit.yaml"], hardware="8xH200", tools=False)
    (finding,) = [f for f in report.findings if f.rule == "DK110"]
    assert "664064" in finding.message  # facts section 4: vLLM 0.33.0's planner says so


@pytest.mark.tools
@needs_tools("yamllint", "kubernetes-validate", "docker-compose", "hadolint", "kubectl")
def test_good_fixtures_are_clean_with_every_tool() -> None:
    report = lint_paths([GOOD], crds=crds(), strict=True)
    assert report.findings == [], [
        f"{f.file}:{f.line} {f.rule} {f.message}" for f in report.findings
    ]
    assert report.exit_code == 0
    kinds = Counter(f.kind for f in report.files)
    assert kinds["kubernetes"] >= 7 and kinds["compose"] == 4 and kinds["dockerfile"] == 1
    assert kinds["kustomization"] == 2
    runs = {t.tool: t.runs for t in report.tool_runs}
    assert runs["kubectl kustomize"] == 2


def test_good_fixtures_are_clean_without_tools() -> None:
    report = lint_paths([GOOD], crds=crds(), strict=True, tools=False)
    assert report.findings == [], [
        f"{f.file}:{f.line} {f.rule} {f.message}" for f in report.findings
    ]
    assert report.tool_runs == []
    assert any("--no-tools" in note for note in report.notes)


def test_kustomize_without_kubectl_reads_the_listed_resources() -> None:
    report = lint_paths([GOOD / "kustomize"], tools=False)
    assert report.exit_code == 0
    assert any(f.kind == "kustomization" for f in report.files)


# --- rendered bundles and the chart ----------------------------------------------------------


MODELS = ("deepseek-v4-flash", "deepseek-v4-pro")


@cache
def matrix() -> list[tuple[str, str]]:
    out = []
    for model in MODELS:
        for preset in deploy_kit.load_catalog().presets:
            try:
                deploy_kit.plan(model, preset, Knobs())
            except PlanError:
                continue
            out.append((model, preset))
    return out


def lint_cli_json(capsys: pytest.CaptureFixture[str], out: Path, *paths: Path) -> dict[str, Any]:
    """`deploy-kit lint PATH... --crd ... -o json --out FILE`, as CI runs it."""
    args = ["lint", *map(str, paths), "-o", "json", "--out", str(out)]
    for crd in crds():
        args += ["--crd", str(crd)]
    code = main(args)
    capsys.readouterr()
    data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    errors = [
        f"{f['file']}:{f['line']} {f['rule']} {f['message']}"
        for f in data["findings"]
        if f["severity"] == "error"
    ]
    assert errors == []
    assert code == 0 == data["exit_code"]
    return data


@pytest.mark.tools
@needs_tools("yamllint", "kubernetes-validate", "docker-compose", "hadolint", "helm", "kubectl")
def test_whole_render_matrix_lints_clean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundles = []
    for model, preset in matrix():
        out = tmp_path / "bundles" / f"{model}-{preset}"
        render_bundle(deploy_kit.plan(model, preset, Knobs()), "all", out)
        bundles.append(out)
    assert len(bundles) >= 10
    data = lint_cli_json(capsys, tmp_path / "lint.json", *bundles)
    kinds = Counter(f["kind"] for f in data["files"])
    assert kinds["helm-values"] == len(bundles) and kinds["dockerfile"] == len(bundles)
    runs = {t["tool"]: t["runs"] for t in data["tool_runs"]}
    assert runs["yamllint"] == 1 and runs["kubernetes-validate"] == 1 and runs["hadolint"] == 1


@pytest.mark.tools
@needs_tools("helm", "yamllint", "kubernetes-validate")
def test_chart_helm_template_output_lints_clean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chart = packaged_chart()
    assert chart is not None
    rendered = structural.helm_template(chart, None, HELM_API_VERSIONS)
    out = tmp_path / "helm-template.yaml"
    out.write_text(rendered, encoding="utf-8")
    data = lint_cli_json(capsys, tmp_path / "lint.json", out)
    assert [f["kind"] for f in data["files"]] == ["kubernetes"]


# --- command line, exit codes, bad input ---------------------------------------------------------


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["lint", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_exit_codes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run_cli(capsys, "--no-tools", str(GOOD / "k8s" / "deployment.yaml"))
    assert code == 0 and "0 error(s)" in out
    code, out, err = run_cli(capsys, "--no-tools", str(BAD / "k8s" / "gpu-count.yaml"))
    assert code == 1 and "DK101" in out and err.startswith("error: lint failed")
    code, _, err = run_cli(capsys, "--no-tools", str(tmp_path / "missing.yaml"))
    assert code == 2 and "no such file" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(capsys, "--no-tools", "-H", "9xNOPE", str(GOOD))
    assert code == 2 and "Traceback" not in err
    code, _, err = run_cli(capsys, "-o", "yaml", str(GOOD))
    assert code == 2


def test_cli_strict_fails_on_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(BAD / "compose" / "healthcheck-short.yaml")
    assert run_cli(capsys, "--no-tools", path)[0] == 0  # only a warning
    code, _, err = run_cli(capsys, "--no-tools", "--strict", path)
    assert code == 1 and "--strict" in err


def test_missing_tool_is_exit_4(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DEPLOY_KIT_HADOLINT", str(tmp_path / "no-hadolint"))
    monkeypatch.setenv("DEPLOY_KIT_YAMLLINT", str(tmp_path / "no-yamllint"))
    code, _, err = run_cli(capsys, str(GOOD / "docker"))
    assert code == 4
    assert "hadolint" in err and "hint:" in err


def test_cli_json_and_out_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    code, out, err = run_cli(
        capsys, "--no-tools", "-o", "json", "--out", str(target), str(BAD / "compose")
    )
    assert code == 1 and out == "" and "wrote" in err
    data = json.loads(target.read_text(encoding="utf-8"))
    assert data["exit_code"] == 1 and data["errors"] > 0
    rules = {f["rule"] for f in data["findings"]}
    assert {"DK101", "DK117", "DK115"} <= rules
    assert data["findings"] == sorted(
        data["findings"],
        key=lambda f: (
            f["file"],
            f["line"] or 0,
            f["document"] or 0,
            f["rule"],
            f["path"] or "",
            f["message"],
            f["severity"],
        ),
    )


def test_text_groups_by_file_and_verbose_lists_skipped(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    shutil.copy(BAD / "k8s" / "gpu-count.yaml", tmp_path / "a.yaml")
    shutil.copy(BAD / "k8s" / "image-latest.yaml", tmp_path / "b.yaml")
    (tmp_path / "notes.txt").write_text("hello\n", encoding="utf-8")
    (tmp_path / "other.yaml").write_text("just: data\n", encoding="utf-8")
    code, out, _ = run_cli(capsys, "--no-tools", "-v", str(tmp_path))
    assert code == 1
    lines = out.splitlines()
    assert lines.index(str(tmp_path / "a.yaml")) < lines.index(str(tmp_path / "b.yaml"))
    assert "\x1b[" not in out  # no colour when not a terminal
    assert f"{tmp_path / 'notes.txt'}: not YAML, JSON or a Dockerfile" in out
    assert f"{tmp_path / 'other.yaml'}: YAML that is not a manifest" in out


def test_bad_input_never_tracebacks(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "binary.yaml").write_bytes(b"\x00\x01\xff\xfe" * 64)
    (tmp_path / "dir.yaml").mkdir()
    (tmp_path / "dir.yaml" / "empty.yaml").write_text("", encoding="utf-8")
    (tmp_path / "broken.yaml").write_text("a: [1, 2\nb: }\n", encoding="utf-8")
    (tmp_path / "latin1.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    (tmp_path / "Dockerfile").write_text('FROM\nCMD ["unterminated\n', encoding="utf-8")
    (tmp_path / "compose.yaml").write_text("services: []\n", encoding="utf-8")
    (tmp_path / "deep.yaml").write_text("a: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    code, out, err = run_cli(capsys, "--no-tools", "-o", "json", str(tmp_path))
    assert "Traceback" not in err and "internal error" not in err
    data = json.loads(out)
    rules = {(Path(f["file"]).name, f["rule"]) for f in data["findings"]}
    assert ("binary.yaml", "lint/not-text") in rules
    assert ("latin1.yaml", "lint/not-text") in rules
    assert ("broken.yaml", "yaml/syntax") in rules
    assert code == 1


# --- batching: one process per tool per batch, 200 files ----------------------------------------


@pytest.fixture
def tool_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Counts external processes by tool, wrapping run_tool where the validators call it."""
    calls: Counter[str] = Counter()
    real = tools.run_tool

    def counting(argv: Any, **kw: Any) -> tools.ToolResult:
        args = [str(a) for a in argv]
        name = Path(args[0]).name
        if len(args) > 1 and args[1].endswith("_k8s_runner.py"):
            name = "kubernetes-validate"
        elif name == "kubectl" and len(args) > 1:
            name = f"kubectl {args[1]}"
        calls[name] += 1
        return real(argv, **kw)

    monkeypatch.setattr(tools, "run_tool", counting)
    monkeypatch.setattr(structural, "run_tool", counting)
    yield calls


def make_tree(root: Path, count: int = 200) -> dict[str, int]:
    """`count` files: Kubernetes manifests, compose files and Dockerfiles from the fixtures."""
    sources = {
        "k8s": GOOD / "k8s" / "deployment.yaml",
        "compose": GOOD / "compose" / "compose.yaml",
        "docker": GOOD / "docker" / "Dockerfile",
    }
    made = Counter[str]()
    for i in range(count):
        kind = "docker" if i % 10 == 0 else "compose" if i % 10 == 1 else "k8s"
        sub = root / f"team-{i % 7}" / kind
        sub.mkdir(parents=True, exist_ok=True)
        text = sources[kind].read_text(encoding="utf-8")
        if kind == "k8s":
            text = text.replace("name: flash\n", f"name: flash-{i}\n")
            (sub / f"deploy-{i}.yaml").write_text(text, encoding="utf-8")
        elif kind == "compose":
            (sub / f"svc-{i}.compose.yaml").write_text(text, encoding="utf-8")
        else:
            (sub / f"Dockerfile.{i}").write_text(text, encoding="utf-8")
        made[kind] += 1
    return dict(made)


@pytest.mark.tools
@needs_tools()
def test_200_files_one_process_per_tool(tmp_path: Path, tool_calls: Counter[str]) -> None:
    made = make_tree(tmp_path)
    assert sum(made.values()) == 200
    started = time.monotonic()
    report = lint_paths([tmp_path])
    elapsed = time.monotonic() - started
    print(f"\nlint of 200 files: {elapsed:.2f} s, processes {dict(tool_calls)}")
    assert len(report.files) == 200
    assert report.exit_code == 0, [f"{f.file} {f.rule} {f.message}" for f in report.findings]
    assert tool_calls["yamllint"] == 1
    assert tool_calls["kubernetes-validate"] == 1
    assert tool_calls["hadolint"] == 1
    # compose merges several -f files into one project, so each file is its own run.
    assert tool_calls["docker-compose"] == made["compose"]
    assert {t.tool: t.runs for t in report.tool_runs}["yamllint"] == 1


def test_lint_is_a_registered_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--crd", "--hardware", "--k8s-version", "--strict", "--no-tools", "sarif"):
        assert option in out


def test_text_colour_only_when_asked() -> None:
    from deploy_kit.validate.report import to_text

    report = lint_paths([BAD / "k8s" / "gpu-count.yaml"], tools=False)
    assert "\x1b[31m" in to_text(report, color=True)
    assert "\x1b[" not in to_text(report, color=False)


@pytest.mark.tools
@needs_tools("yamllint", "kubernetes-validate")
def test_leaderworkerset_is_schema_checked_without_crd_option() -> None:
    # The bundled CRDs are used by default; nothing is passed with --crd here.
    report = lint_paths([BAD / "k8s" / "lws-crd.yaml"])
    assert ("crd-schema", "spec.leaderWorkerTemplate.sizee") in [
        (f.rule, f.path) for f in report.findings
    ]
    assert not [f for f in report.findings if f.rule == "k8s-schema/no-schema"]
