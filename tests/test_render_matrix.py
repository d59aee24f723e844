"""`render --matrix`: every model x preset that plans in one process, and the writes behind it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import deploy_kit
from deploy_kit.cli.main import main
from deploy_kit.renderer import bundle, render_files
from deploy_kit.renderer.bundle import MANIFEST, write_bundle
from deploy_kit.spec import Knobs
from deploy_kit.validate.documents import parse_yaml_docs
from deploy_kit.validate.structural import tools
from deploy_kit.validate.structural.kustomize import build_directly

FLASH = "deepseek-v4-flash"
# 1xH100 is too small for V4-Flash; the other three plan (one of them on two nodes).
SMALL = ("--model", FLASH, "-H", "8xH200", "-H", "1xH100", "-H", "2x8xH200", "-H", "2xGB10")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_matrix_renders_what_plans_and_lists_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "render", "--matrix", "--out", str(tmp_path), *SMALL)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / FLASH).iterdir()) == ["2x8xH200", "2xGB10", "8xH200"]
    assert out.startswith("rendered 3 of 4 model x hardware pair(s) (--target all)")
    assert f"{FLASH}/1xH100: DeepSeek V4 Flash (native) does not fit on 1xH100" in out
    for preset in ("8xH200", "2x8xH200", "2xGB10"):
        files = tree(tmp_path / FLASH / preset)
        assert MANIFEST in files and "plan.json" in files and "helm/values.yaml" in files


def test_matrix_bundle_is_byte_identical_to_the_single_form(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    matrix, single = tmp_path / "matrix", tmp_path / "single"
    code, _, err = run(
        capsys, "render", "--matrix", "-m", FLASH, "-H", "2x8xH200", "--out", str(matrix)
    )
    assert code == 0, err
    code, _, err = run(
        capsys, "render", "-m", FLASH, "-H", "2x8xH200", "-t", "all", "--out", str(single)
    )
    assert code == 0, err
    assert tree(matrix / FLASH / "2x8xH200") == tree(single)


def test_matrix_defaults_are_both_models_and_every_preset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "render", "--matrix", "--out", str(tmp_path), "-t", "docker")
    assert code == 0
    pairs = 2 * len(deploy_kit.load_catalog().presets)
    rendered = sorted(p.parent.parent.name + "/" + p.parent.name for p in tmp_path.glob("*/*/*"))
    assert f" of {pairs} model x hardware pair(s) (--target docker)" in out.splitlines()[0]
    assert {r.split("/")[0] for r in rendered} == {"deepseek-v4-flash", "deepseek-v4-pro"}
    assert all((tmp_path / r / "docker" / "Dockerfile").is_file() for r in set(rendered))
    assert not list(tmp_path.glob("*/*/kubernetes"))  # --target docker only


def test_knobs_apply_to_every_pair_and_a_broken_pin_is_a_skip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "render", "--matrix", "--out", str(tmp_path), "-m", FLASH,
        "-H", "8xH200", "-H", "1xB200", "--tp", "8",
    )  # fmt: skip
    assert code == 0
    assert "TP8" in out and f"{FLASH}/1xB200: pinned TP x PP x DP = 8" in out
    assert (tmp_path / FLASH / "8xH200" / MANIFEST).is_file()


def test_nothing_fits_is_exit_3_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "m"
    code, _, err = run(
        capsys, "render", "--matrix", "-m", "deepseek-v4-pro", "-H", "1xH100", "--out", str(out_dir)
    )
    assert code == 3 and "no model x hardware pair of the matrix plans" in err
    assert not out_dir.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--matrix", "-m", "deepseek-v9"), "unknown model 'deepseek-v9'"),
        (("--matrix", "-H", "nonsense"), "hardware"),
        (("--matrix", "-f", "deploy.yaml"), "--matrix takes --model/--hardware, not -f/--file"),
        (("-m", FLASH, "-m", "deepseek-v4-pro", "-t", "all"), "--model given 2 times"),
        (("-m", FLASH, "-H", "8xH200"), "Missing option '--target'"),
    ],
)
def test_bad_usage_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    code, _, err = run(capsys, "render", *args, "--out", str(tmp_path / "out"))
    assert code == 2 and message in err
    assert not (tmp_path / "out").exists()


def test_rerender_keeps_unchanged_files_and_refuses_edits_per_bundle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "render", "--matrix", "--out", str(tmp_path), *SMALL)[0] == 0
    code, out, _ = run(capsys, "render", "--matrix", "--out", str(tmp_path), *SMALL)
    assert code == 0 and "files: 0 written" in out and " 0 removed" in out
    edited = tmp_path / FLASH / "8xH200" / "compose" / "compose.yaml"
    edited.write_text(edited.read_text() + "# mine\n")
    code, out, err = run(capsys, "render", "--matrix", "--out", str(tmp_path), *SMALL, "--tp", "1")
    assert code == 2 and f"error: {FLASH}/8xH200: " in err and "failed 1" in out
    assert edited.read_text().endswith("# mine\n")
    assert "TP1" in tree(tmp_path / FLASH / "2x8xH200")["plan.json"].decode()  # others written
    code, _, _ = run(
        capsys, "render", "--matrix", "--out", str(tmp_path), *SMALL, "--tp", "1", "--force"
    )
    assert code == 0 and edited.with_name("compose.yaml.bak").read_text().endswith("# mine\n")
    leftovers = [p.name for p in (tmp_path / FLASH).iterdir() if p.name.startswith(".")]
    assert leftovers == []  # no staging or replaced trees left behind


# --- write_bundle: what makes re-rendering cheap ------------------------------------------------


def test_unchanged_files_are_linked_not_rewritten(tmp_path: Path) -> None:
    out = tmp_path / "b"
    write_bundle(out, {"a.yaml": "a: 1\n", "sub/b.yaml": "b: 1\n"})
    before = {p: (out / p).stat().st_ino for p in ("a.yaml", "sub/b.yaml")}
    old_a = out / "a.yaml"
    keep = tmp_path / "old-a"
    os.link(old_a, keep)  # a handle on the old bundle's file
    report = write_bundle(out, {"a.yaml": "a: 2\n", "sub/b.yaml": "b: 1\n"})
    assert report.written == ["a.yaml"] and report.unchanged == ["sub/b.yaml"]
    assert (out / "sub/b.yaml").stat().st_ino == before["sub/b.yaml"]  # same file, not a copy
    assert (out / "a.yaml").stat().st_ino != before["a.yaml"]
    assert keep.read_text() == "a: 1\n"  # the old tree was never written through


def test_batch_removes_replaced_trees_before_it_returns(tmp_path: Path) -> None:
    outs = [tmp_path / f"b{i}" for i in range(3)]
    for out in outs:
        write_bundle(out, {"a.yaml": "a: 1\n"})
    with bundle.batch():
        for out in outs:
            write_bundle(out, {"a.yaml": "a: 2\n"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b0", "b1", "b2"]
    assert all((out / "a.yaml").read_text() == "a: 2\n" for out in outs)


def test_render_files_is_unchanged_by_the_caches() -> None:
    """The template and `yaml` filter caches give the same bytes on a second render."""
    plan = deploy_kit.plan(FLASH, "2x8xH200", Knobs())
    assert render_files(plan, "all") == render_files(plan, "all")


# --- lint of a rendered matrix: kustomizations built without kubectl ------------------------------


@pytest.mark.tools
@pytest.mark.skipif(not tools.tool_available("kubectl"), reason="kubectl not installed")
@pytest.mark.parametrize(
    "extra",
    [(), ("--namespace", "team-a", "--autoscaling", "hpa", "--monitoring", "servicemonitor")],
)
def test_rendered_kustomizations_build_directly_exactly_as_kubectl(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: tuple[str, ...]
) -> None:
    assert run(capsys, "render", "--matrix", "--out", str(tmp_path), *SMALL, *extra)[0] == 0
    kubectl = tools.find_tool("kubectl")
    kdirs = sorted(p.parent for p in tmp_path.rglob("kustomization.yaml"))
    assert len(kdirs) == 3
    for kdir in kdirs:
        direct = build_directly(kdir)
        assert direct is not None, kdir
        proc = subprocess.run(
            [str(kubectl), "kustomize", str(kdir)], capture_output=True, text=True, check=True
        )
        built = parse_yaml_docs(proc.stdout, "kubectl")
        # Same documents, same order, same key order: what kubectl prints.
        assert [list(d.data.items()) for d in direct] == [list(d.data.items()) for d in built]


@pytest.mark.parametrize(
    ("resource", "why"),
    [
        ("data:\n  on: yes\n", "a YAML 1.1 boolean go-yaml reads as a string"),
        ("data:\n  n: 1e3\n", "a number only go-yaml reads"),
        ("data:\n  d: 2024-01-01\n", "a date kustomize prints as a timestamp"),
        ("data:\n  f: 1.0\n", "a float kustomize prints as 1"),
        ("data:\n  a: &x v\n  b: *x\n", "an alias"),
        ("  labels:\n    n: 5\n", "a label that is not a string"),
    ],
)
def test_what_kustomize_would_change_goes_to_kubectl(
    tmp_path: Path, resource: str, why: str
) -> None:
    meta = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"
    (tmp_path / "c.yaml").write_text(meta + resource, encoding="utf-8")
    (tmp_path / "kustomization.yaml").write_text("resources:\n  - c.yaml\n", encoding="utf-8")
    assert build_directly(tmp_path) is None, why
    (tmp_path / "c.yaml").write_text(meta + "data:\n  a: '1e3'\n", encoding="utf-8")
    assert build_directly(tmp_path) is not None
