"""Hostile input at every entry point that reads a file a person hands deploy-kit (issue 15).

A file over its size bound, a sparse file, a FIFO and /dev/zero are refused by stat: the tests
record every open and assert the input was never opened, so they fail (rather than hang or take
minutes) if a reader goes back to reading first. Deep nesting is refused by the parse limits with
a message naming nesting. Every refusal names the file and, for size, its size and the limit.
"""

from __future__ import annotations

import builtins
import importlib.util
import io
import json
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import yaml

from deploy_kit import yamlio
from deploy_kit.catalog import load_catalog
from deploy_kit.cli import inputs
from deploy_kit.cli.cluster import _node_list
from deploy_kit.cli.main import main
from deploy_kit.errors import InputError
from deploy_kit.renderer.bundle import MANIFEST, write_bundle
from deploy_kit.validate.discover import discover
from deploy_kit.validate.documents import LINT_LIMITS, MAX_LINT_FILE_BYTES
from deploy_kit.yamlio import ParseLimits, parse_json, parse_yaml, scan_yaml

HUNDRED_MB = 100 * 1024 * 1024
JUST_OVER_LINT = 17 * 1000 * 1000  # 17 MB: 16.2 MiB, just over the 16 MiB lint bound
# The file: a long list of small flow mappings (7 values a line).
FLOW_LINE = "  - {a: 1, b: [x, y]}\n"
Make = Callable[[Path], Path]


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every path opened in this process (os.open and io.open) while the test runs."""
    seen: list[str] = []
    real_os_open, real_io_open = os.open, io.open

    def os_open(path: Any, flags: int, *args: Any, **kw: Any) -> int:
        seen.append(os.path.realpath(os.fspath(path)))
        return real_os_open(path, flags, *args, **kw)

    def io_open(file: Any, *args: Any, **kw: Any) -> Any:
        if not isinstance(file, int):
            seen.append(os.path.realpath(os.fspath(file)))
        return real_io_open(file, *args, **kw)

    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(io, "open", io_open)
    monkeypatch.setattr(builtins, "open", io_open)
    return seen


@pytest.fixture(autouse=True)
def no_hang() -> Iterator[None]:
    """A reader that opens a FIFO for reading blocks for ever: fail after 60 s instead."""

    def fire(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError("blocked: a FIFO or device was opened for reading")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(60)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _no_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every YAML/JSON parse entry fail the test (call after the catalog is loaded)."""

    def boom(*args: Any, **kw: Any) -> Any:
        raise AssertionError("the parser was called for a file that should be refused by stat")

    for cls in {yaml.SafeLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader)}:
        monkeypatch.setattr(cls, "__init__", boom)
    monkeypatch.setattr(yaml, "compose_all", boom)
    monkeypatch.setattr(yamlio, "scan_yaml", boom)
    monkeypatch.setattr(json, "loads", boom)


# --- inputs -----------------------------------------------------------------------------------


def _sized(size: int, head: str = "") -> Make:
    """A file of `size` bytes: `head` written, the rest a hole (sparse, costs no disk)."""

    def make(where: Path) -> Path:
        path = where / "in.yaml"
        with path.open("wb") as fh:
            fh.write(head.encode())
            fh.truncate(size)
        return path

    return make


def _fifo(where: Path) -> Path:
    path = where / "in.yaml"
    os.mkfifo(path)
    return path


def _dev_zero(where: Path) -> Path:
    path = where / "in.yaml"
    path.symlink_to("/dev/zero")
    return path


def _deep(where: Path) -> Path:
    path = where / "in.yaml"
    # JSON and YAML at once, so the JSON readers see the same nesting.
    path.write_text('{"a": ' + "[" * 5000 + "]" * 5000 + "}\n", encoding="utf-8")
    return path


FLOW_HEAD = "items:\n" + FLOW_LINE * 3000
# input -> (make it, needle in the message, read by stat alone)
INPUTS: dict[str, tuple[Make, str, bool]] = {
    "text-100mb": (_sized(HUNDRED_MB, FLOW_HEAD), "is 100.0 MiB (104,857,600 bytes)", True),
    "just-over-16mib": (_sized(JUST_OVER_LINT, FLOW_HEAD), "(17,000,000 bytes)", True),
    "sparse-1tib": (_sized(1 << 40), "(1,099,511,627,776 bytes)", True),
    "fifo": (_fifo, "is a FIFO (named pipe), not a regular file", True),
    "dev-zero": (_dev_zero, "is a character device, not a regular file", True),
    "deep-nesting": (_deep, "nested deeper than 64 levels", False),
}
SIZE_INPUTS = ("text-100mb", "just-over-16mib", "sparse-1tib")


def _lint_dir(make: Make, tmp: Path) -> tuple[list[str], Path]:
    d = tmp / "tree"
    (d / "sub").mkdir(parents=True)
    return ["lint", "--no-tools", str(d)], make(d / "sub")


def _lint_kustomization(make: Make, tmp: Path) -> tuple[list[str], Path]:
    k, outside = tmp / "k", tmp / "outside"
    k.mkdir()
    outside.mkdir()
    (k / "kustomization.yaml").write_text("resources:\n- ../outside/in.yaml\n", encoding="utf-8")
    return ["lint", "--no-tools", str(k)], make(outside)


def _lint_helm_values(make: Make, tmp: Path) -> tuple[list[str], Path]:
    chart = tmp / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: deepseek-v4\nversion: 0.1.0\n")
    values = make(chart)
    return ["lint", "--no-tools", str(chart)], values.rename(chart / "values-prod.yaml")


def _lint_crd(make: Make, tmp: Path) -> tuple[list[str], Path]:
    ok = tmp / "svc.yaml"
    ok.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n", encoding="utf-8")
    path = make(tmp)
    return ["lint", "--no-tools", "--crd", str(path), str(ok)], path


def _simple(*argv: str) -> Callable[[Make, Path], tuple[list[str], Path]]:
    def build(make: Make, tmp: Path) -> tuple[list[str], Path]:
        path = make(tmp)
        return [a.format(file=path, tmp=tmp) for a in argv], path

    return build


# entry -> (argv and input, the size limit its message must name)
ENTRIES: dict[str, tuple[Callable[[Make, Path], tuple[list[str], Path]], str]] = {
    "lint": (_simple("lint", "--no-tools", "{file}"), "16.0 MiB"),
    "lint DIR": (_lint_dir, "16.0 MiB"),
    "lint kustomization": (_lint_kustomization, "16.0 MiB"),
    "lint helm values": (_lint_helm_values, "16.0 MiB"),
    "lint --crd": (_lint_crd, "16.0 MiB"),
    "plan -f": (_simple("plan", "-f", "{file}", "--out", "{tmp}/plan.json"), "4.0 MiB"),
    "render -f": (_simple("render", "-f", "{file}", "-t", "all", "--out", "{tmp}/b"), "4.0 MiB"),
    "plan --hardware": (_simple("plan", "--hardware", "{file}", "-o", "json"), "4.0 MiB"),
    "discover --from-file": (
        _simple("discover", "--from-file", "{file}", "--out", "{tmp}/p.yaml"),
        "4.0 MiB",
    ),
}


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("name", sorted(INPUTS))
@pytest.mark.parametrize("entry", sorted(ENTRIES))
def test_hostile_input_is_refused(
    entry: str,
    name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    opened: list[str],
) -> None:
    build, limit = ENTRIES[entry]
    make, needle, by_stat = INPUTS[name]
    argv, path = build(make, tmp_path)
    before = _snapshot(tmp_path)
    opened.clear()  # making the input opened it
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "internal error" not in err, err
    lines = err.strip().splitlines()
    if entry in ("lint", "lint DIR", "lint helm values") and name == "deep-nesting":
        # Over the parse limits in a lint path: a finding on the file, the rest is linted.
        assert code == 1, err
        assert f"{path.name}" in out and "yaml/limit" in out and needle in out, out
        assert "alias" not in out
    else:
        assert code == 2, err
        assert lines[0].startswith("error:"), err
        # The file as given, or where its link leads (a kustomization resolves its resources).
        assert path.name in lines[0] or os.path.realpath(path) in lines[0], err
        assert needle in lines[0], lines[0]
        assert "alias" not in lines[0]
    if name in SIZE_INPUTS:
        assert f"over the limit of {limit}" in lines[0], lines[0]
        if entry.startswith("lint") and entry != "lint --crd":
            assert lines[1].startswith("hint: split it into files under 16 MiB"), err
    if by_stat:
        assert os.path.realpath(path) not in opened, "the input was opened, not refused by stat"
    assert _snapshot(tmp_path) == before  # nothing written


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_hostile_bundle_manifest_is_refused(name: str, tmp_path: Path, opened: list[str]) -> None:
    """Re-rendering into a bundle whose manifest is hostile: refused, nothing written."""
    make, needle, by_stat = INPUTS[name]
    bundle = tmp_path / "bundle"
    write_bundle(bundle, {"compose.yaml": "services: {}\n"})
    (bundle / MANIFEST).unlink()
    path = make(tmp_path)
    (bundle / MANIFEST).symlink_to(path)
    before = _snapshot(tmp_path)
    opened.clear()  # making the input opened it
    with pytest.raises(InputError) as err:
        write_bundle(bundle, {"compose.yaml": "services: {a: {}}\n"})
    assert MANIFEST in err.value.message and needle in err.value.message, err.value.message
    if name in SIZE_INPUTS:
        assert "over the limit of 4.0 MiB" in err.value.message
    if by_stat:
        assert os.path.realpath(path) not in opened
    assert _snapshot(tmp_path) == before


def test_a_fifo_where_a_bundle_file_is_written_is_not_opened(
    tmp_path: Path, opened: list[str]
) -> None:
    bundle = tmp_path / "bundle"
    write_bundle(bundle, {"compose.yaml": "services: {}\n"})
    (bundle / "compose.yaml").unlink()
    os.mkfifo(bundle / "compose.yaml")
    opened.clear()
    with pytest.raises(InputError, match="not a regular file"):
        write_bundle(bundle, {"compose.yaml": "services: {a: {}}\n"})
    assert str((bundle / "compose.yaml").resolve()) not in opened


def test_oversized_file_never_reaches_the_parser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, opened: list[str]
) -> None:
    """Each reader refuses the issue's 100 MB file by its size: no parser runs, no open."""
    catalog = load_catalog()
    big = _sized(HUNDRED_MB, FLOW_HEAD)(tmp_path)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / MANIFEST).symlink_to(big)
    _no_parser(monkeypatch)
    opened.clear()  # making the input opened it
    readers: dict[str, Callable[[], object]] = {
        "lint discovery": lambda: discover([big]),
        "deployment file": lambda: inputs.load_deployment(big, catalog),
        "hardware file": lambda: catalog.hardware_from_file(big),
        "node list": lambda: _node_list(big, None, None),
        "bundle manifest": lambda: write_bundle(bundle, {"a.yaml": "a: 1\n"}),
    }
    for what, read in readers.items():
        with pytest.raises(InputError) as err:
            read()
        assert "100.0 MiB" in err.value.message and "over the limit" in err.value.message, what
    assert os.path.realpath(big) not in opened


# --- the parse limits name the cause they found -----------------------------------------------


def test_many_values_without_aliases_are_not_blamed_on_aliases(tmp_path: Path) -> None:
    """The issue's file, under the size bound but over the values limit: lint names the count."""
    lines = LINT_LIMITS.values // 7 + 100
    path = tmp_path / "big.yaml"
    path.write_text("items:\n" + FLOW_LINE * lines, encoding="utf-8")
    assert path.stat().st_size < MAX_LINT_FILE_BYTES
    found = discover([path])
    (finding,) = found.findings
    assert finding.rule == "yaml/limit"
    assert "more than 500,000 values" in finding.message
    said = finding.message.replace(str(path), "FILE")  # the tmp path holds the test's name
    assert said.startswith("FILE (line ") and "written in the file" in said
    assert "alias" not in said


def test_alias_expansion_is_named_as_aliases() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 8) + "]\n"
        for i in range(9)
    )
    with pytest.raises(InputError, match=r"72 YAML alias\(es\) expand to more than 200,000"):
        parse_yaml(bomb, origin="bomb.yaml")


def test_too_many_aliases_and_values_and_depth_each_name_themselves() -> None:
    small = ParseLimits(values=50, depth=4, aliases=3)
    with pytest.raises(InputError, match=r"x \(line 2\): more than 3 YAML aliases"):
        scan_yaml("a: &a 1\nb: [*a, *a, *a, *a]\n", origin="x", limits=small)
    with pytest.raises(InputError, match="more than 50 values") as err:
        scan_yaml("[" + ", ".join(["1"] * 60) + "]", origin="x", limits=small)
    assert "alias" not in err.value.message
    with pytest.raises(InputError, match=r"x \(line 1\): nested deeper than 4 levels"):
        scan_yaml("a: [[[[1]]]]", origin="x", limits=small)
    # Within every limit: the counts come back.
    stats = scan_yaml("a: &a 1\nb: *a\n", origin="x", limits=small)
    assert (stats.nodes, stats.aliases) == (5, 1)  # mapping, a, 1, b, *a


def test_json_limits_never_mention_aliases() -> None:
    with pytest.raises(InputError, match="more than 5 values, the parse limit") as err:
        parse_json("[1, 2, 3, 4, 5, 6]", origin="x.json", limits=ParseLimits(values=5))
    assert "alias" not in err.value.message
    with pytest.raises(InputError, match="nested deeper than 64 levels"):
        parse_json("[" * 5000 + "]" * 5000, origin="x.json")


def test_libyaml_nesting_error_is_reported_as_nesting() -> None:
    """libyaml stops at its own depth (1000) while looking ahead: still named as nesting."""
    with pytest.raises(InputError, match="nested deeper than 64 levels"):
        scan_yaml("a: " + "[" * 5000 + "]" * 5000, origin="x")


# --- the bench case's own decisions -----------------------------------------------------------


@pytest.fixture(scope="module")
def bench() -> Any:
    path = Path(__file__).resolve().parent.parent / "bench" / "run.py"
    spec = importlib.util.spec_from_file_location("bench_run_hostile", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_refusal_records_exit_message_and_a_hang(
    bench: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    refuse = [sys.executable, "-c", "import sys; sys.stderr.write('error: no\\n'); sys.exit(2)"]
    floor: list[float] = []
    cell = bench._refusal("lint", "fifo", refuse, 2, floor)
    assert (cell["exit"], cell["message"]) == (2, "error: no")
    assert len(cell["runs_s"]) == len(floor) == 2  # each run after a floor run
    # A reader that blocks is cut at the timeout, reported as such, and not run again.
    monkeypatch.setattr(bench, "HOSTILE_TIMEOUT_S", 0.5)
    hang = [sys.executable, "-c", "import time; time.sleep(30)"]
    cell = bench._refusal("lint", "fifo", hang, 3, floor)
    assert cell["exit"] is None and cell["message"] == "timed out after 0.5 s"
    assert cell["runs_s"] == [0.5]


@pytest.mark.parametrize("name", sorted(set(INPUTS) - {"deep-nesting"}))
def test_compose_env_file_is_refused_before_it_is_opened(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], opened: list[str]
) -> None:
    """An env_file a compose file names is read by lint too: same bound, same refusal."""
    make, needle, by_stat = INPUTS[name]
    env = make(tmp_path)
    compose = tmp_path / "compose.yaml"
    compose.write_text(
        "services:\n  vllm:\n    image: vllm/vllm-openai:v0.33.0\n"
        f"    env_file: {env}\n    command: [deepseek-ai/DeepSeek-V4-Flash]\n",
        encoding="utf-8",
    )
    opened.clear()
    code = main(["lint", "--no-tools", str(compose)])
    _, err = capsys.readouterr()
    assert code == 2, err
    first = err.strip().splitlines()[0]
    assert first.startswith("error: env file") and needle in first, err
    if name in SIZE_INPUTS:
        assert "over the limit of 4.0 MiB" in first, first
    if by_stat:
        assert os.path.realpath(env) not in opened


def test_local_env_and_plan_files_are_read_within_the_bound(
    tmp_path: Path, opened: list[str]
) -> None:
    """`up` reads the bundle's .env; `down` reads its plan.json: neither opens a FIFO."""
    from deploy_kit.cli import local as cli_local
    from deploy_kit.errors import InputError
    from deploy_kit.local import up

    fifo = _fifo(tmp_path)
    assert up.read_env_file(fifo) == {}  # not a file: no .env yet
    big = tmp_path / ".env"
    with big.open("wb") as f:
        f.truncate(HUNDRED_MB)
    with pytest.raises(InputError, match="over the limit"):
        up.read_env_file(big)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    os.mkfifo(bundle / "plan.json")
    # A plan.json that cannot be read leaves `down` with the folder's name, never a hang.
    assert cli_local._bundle_identity(bundle)[0] == up.project_name("bundle")
    assert not {os.path.realpath(fifo), os.path.realpath(bundle / "plan.json")} & set(opened)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        # More values than 5,000 large nodes hold (8 MB, under the 64 MiB JSON bound).
        ('{"items": [' + ",".join(["0"] * 4_000_001) + "]}", "more than 4,000,000 values"),
        ('{"items": ' + "[" * 5000 + "]" * 5000 + "}", "nested deeper than 64 levels"),
        ('{"items": ' + "[" * 70 + "]" * 70 + "}", "nested deeper than 64 levels"),
        (None, "over the limit of 64.0 MiB"),  # a sparse 100 MB file, refused by its size
    ],
)
def test_json_node_list_is_read_within_the_shared_bounds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, needle: str
) -> None:
    """`discover --from-file nodes.json` takes up to 64 MiB (a 5,000-node cluster); its parse
    work is bounded too, and the message names what it hit, never aliases."""
    path = tmp_path / "nodes.json"
    if content is None:
        with path.open("wb") as fh:
            fh.truncate(HUNDRED_MB)
    else:
        path.write_text(content, encoding="utf-8")
    code = main(["discover", "--from-file", str(path), "--out", str(tmp_path / "p.yaml")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert needle in err and "alias" not in err and "Traceback" not in err, err
    assert not (tmp_path / "p.yaml").exists()


@pytest.mark.parametrize("name", ["text-100mb", "fifo", "dev-zero"])
def test_render_refuses_a_hostile_manifest_before_planning(
    name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    opened: list[str],
) -> None:
    """`render --out DIR` over a bundle whose manifest is hostile stops before the planner
    runs, by stat alone, and writes nothing."""
    import deploy_kit.cli.render as cli_render

    def planned(*_: object) -> None:
        raise AssertionError("the planner ran before the manifest was checked")

    monkeypatch.setattr(cli_render, "make_plan", planned)
    make, needle, _ = INPUTS[name]
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    path = make(tmp_path)
    (bundle / MANIFEST).symlink_to(path)
    before = _snapshot(tmp_path)
    opened.clear()
    code = main(["render", "-t", "compose", "--out", str(bundle)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert MANIFEST in err and needle in err and "Traceback" not in err, err
    assert os.path.realpath(path) not in opened
    assert _snapshot(tmp_path) == before
