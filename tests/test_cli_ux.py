"""Small things a new user trips over: counts, mixed-up files, --out noise, cut-off ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_cli

NODES = Path(__file__).parent / "fixtures" / "nodes" / "nodes-mixed.json"


@pytest.mark.parametrize("hardware", ["-8xH100", "+8xH100", "0xH100", "0x8xH100", "-2x8xH100"])
def test_a_negative_or_zero_count_is_refused(
    capsys: pytest.CaptureFixture[str], hardware: str
) -> None:
    code, out, err = run_cli(capsys, "plan", f"--hardware={hardware}")
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert "count" in lines[0] or "out of range" in lines[0]


def test_a_hardware_profile_given_as_a_deployment_file_says_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    profile = tmp_path / "hw.yaml"
    code, _, _ = run_cli(capsys, "discover", "--from-file", str(NODES), "--out", str(profile))
    assert code == 0
    code, out, err = run_cli(capsys, "plan", "-f", str(profile))
    assert code == 2 and out == ""
    assert "is a hardware profile" in err and f"--hardware {profile}" in err
    assert "Field required" not in err
    code, out, _ = run_cli(capsys, "plan", "--hardware", str(profile))
    assert code == 0 and "on 2x8xH100" in out


@pytest.mark.parametrize("output", ["yaml", "json", "table"])
def test_discover_out_prints_only_the_wrote_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, output: str
) -> None:
    profile = tmp_path / "hw.yaml"
    code, out, err = run_cli(
        capsys, "discover", "--from-file", str(NODES), "-o", output, "--out", str(profile)
    )
    assert code == 0 and out == ""
    assert f"wrote {profile}" in err and "gpus_per_node" not in err
    assert "gpus_per_node: 8" in profile.read_text()


@pytest.mark.parametrize("command", ["models", "hardware"])
def test_ids_are_never_cut(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    import json

    monkeypatch.setenv("COLUMNS", "80")
    code, raw, _ = run_cli(capsys, command, "-o", "json")
    assert code == 0
    ids = [r["id"] for r in json.loads(raw)]
    code, table, _ = run_cli(capsys, command)
    assert code == 0 and "…" not in table
    cells = {c.strip() for line in table.splitlines() for c in line.split("│")}
    assert set(ids) <= cells, sorted(set(ids) - cells)
    lines = [line for line in table.splitlines()[1:] if line.strip()]
    assert all(line.rstrip()[-1] in "┓┃┩│┘" for line in lines), "the table's right edge is cut"
