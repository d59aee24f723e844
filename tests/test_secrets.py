"""Secrets never leak: a canary passed through every channel never shows up in any output.

The canary sits in HF_TOKEN, HUGGING_FACE_HUB_TOKEN and VLLM_API_KEY, in `.env` files a person
wrote, in kubeconfig credentials, and inline in hand-written manifests. Every command runs with
it; stdout, stderr, log records and every file under the test directory are searched for the
canary and its base64 form. Only files the person wrote (and the `.env` that `up` writes on
purpose, mode 600) may hold it.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from deploy_kit.cli import local as cli_local
from deploy_kit.cli.main import cli, main
from deploy_kit.inventory import parse_nvidia_smi_csv
from deploy_kit.local import up as local
from deploy_kit.local.docker_client import Backend
from deploy_kit.validate.structural.crd import BUNDLED_CRD_DIR

CANARY = "hf_dkCanary7f3a9c1e5b2d4680xQ"
CANARY_B64 = base64.b64encode(CANARY.encode()).decode()
NEEDLES = (CANARY, CANARY_B64)
SECRET_ENVS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "VLLM_API_KEY")
FIXTURES = Path(__file__).parent / "fixtures"
NODES = FIXTURES / "nodes" / "nodes-h100x2.json"
DOCKER = FIXTURES / "docker"
SINGLE, MULTI = "8xH200", "2x8xH100"


@dataclass
class Result:
    """One CLI run: exit code, both streams and every log record emitted meanwhile."""

    code: int
    out: str
    err: str
    logs: str

    @property
    def text(self) -> str:
        return "\n".join((self.out, self.err, self.logs))


@pytest.fixture
def canary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The canary in every secret variable; cwd, HOME and Docker point into tmp_path."""
    for name in SECRET_ENVS:
        monkeypatch.setenv(name, CANARY)
    for name in ("KUBECONFIG", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, *args: str) -> Result:
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        code = main(list(args))
    out, err = capsys.readouterr()
    return Result(code, out, err, caplog.text)


def leaked(text: str) -> list[str]:
    return [needle for needle in NEEDLES if needle in text]


def assert_no_leak(result: Result, root: Path, allowed: Iterable[Path] = ()) -> None:
    """Neither stream, nor a log record, nor any file under root but `allowed` has the canary."""
    for name, text in (("stdout", result.out), ("stderr", result.err), ("logs", result.logs)):
        assert not leaked(text), f"canary in {name}:\n{text}"
    assert_files_clean(root, allowed)


def assert_files_clean(root: Path, allowed: Iterable[Path] = ()) -> None:
    keep = {p.resolve() for p in allowed}
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file() or path.resolve() in keep:
            continue
        data = path.read_bytes()
        for needle in NEEDLES:
            assert needle.encode() not in data, f"canary written to {path.relative_to(root)}"


def person_writes(path: Path, text: str) -> Path:
    """A file a person wrote (may hold the canary)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _choices(command: str, option: str = "output") -> list[str]:
    cmd = cli.get_command(click.Context(cli), command)
    assert cmd is not None
    for param in cmd.params:
        if param.name == option and isinstance(param.type, click.Choice):
            return [str(c) for c in param.type.choices]
    raise AssertionError(f"{command} has no {option} choice")


# --- plan, capacity, catalog --------------------------------------------------------------------


@pytest.mark.parametrize("output", _choices("plan"))
def test_plan_every_output_format(
    output: str,
    canary: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    out = canary / f"plan.{output}"
    result = run(capsys, caplog, "--debug", "plan", "-H", MULTI, "-o", output, "--explain")
    assert result.code == 0, result.err
    assert result.out.strip()
    written = run(capsys, caplog, "plan", "-H", SINGLE, "-o", output, "--out", str(out))
    assert written.code == 0 and out.is_file(), written.err
    assert_no_leak(result, canary)
    assert_no_leak(written, canary)


@pytest.mark.parametrize("output", _choices("capacity"))
def test_capacity(
    output: str,
    canary: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    result = run(capsys, caplog, "capacity", "-H", SINGLE, "-H", MULTI, "-o", output)
    assert result.code == 0, result.err
    assert_no_leak(result, canary)


@pytest.mark.parametrize("command", ["models", "hardware"])
def test_catalog_listings(
    command: str,
    canary: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    for output in _choices(command):
        result = run(capsys, caplog, command, "-o", output)
        assert result.code == 0, result.err
        assert_no_leak(result, canary)


ERROR_CASES: dict[str, tuple[list[str], int, str]] = {
    # (argv, exit code, a word the one-line message must contain)
    "no-fit": (["plan", "-H", "1xH100"], 3, "error:"),
    "unknown-model": (["plan", "--model", "nope", "-H", SINGLE], 2, "unknown model"),
    "bad-context": (["plan", "-H", SINGLE, "--context", "lots"], 2, "context"),
    "unpinned-image": (
        ["render", "-H", SINGLE, "-t", "docker", "--out", "b", "--image", "vllm/vllm-openai"],
        2,
        "pinned",
    ),
    "what-if": (
        ["render", "-H", SINGLE, "-t", "all", "--out", "b", "--weights", "int4"],
        2,
        "what-if",
    ),
}


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_error_paths_with_debug(
    case: str,
    canary: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    argv, code, word = ERROR_CASES[case]
    result = run(capsys, caplog, "--debug", *argv)
    assert result.code == code, result.err
    assert word in result.err and "Traceback" not in result.err
    assert_no_leak(result, canary)


def test_secret_under_a_wrong_key_is_not_echoed(
    canary: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """A token pasted into deploy.yaml or a hardware file under any key: named, never shown."""
    deploy = person_writes(
        canary / "deploy.yaml",
        f"model: deepseek-v4-flash\nhardware: {SINGLE}\nhf_token: {CANARY}\n",
    )
    hw = person_writes(canary / "hw.yaml", f"gpu: h100\ngpus_per_node: 8\napi_key: {CANARY}\n")
    nested = person_writes(
        canary / "nested.yaml",
        f"hardware: {SINGLE}\nknobs:\n  env: {{VLLM_API_KEY: {CANARY}}}\n",
    )
    for argv, field in (
        (["plan", "-f", str(deploy)], "hf_token"),
        (["plan", "-H", str(hw)], "api_key"),
        (["render", "-f", str(nested), "-t", "all", "--out", "b"], "knobs.env"),
    ):
        result = run(capsys, caplog, "--debug", *argv)
        assert result.code == 2, result.err
        assert field in result.err and result.err.startswith("error:")
        assert_no_leak(result, canary, allowed=[deploy, hw, nested])


# --- render ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("hardware", [SINGLE, MULTI])
def test_render_all_targets(
    hardware: str,
    canary: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    out = canary / "bundle"
    result = run(
        capsys, caplog, "--debug", "render", "-H", hardware, "-t", "all", "--out", str(out)
    )
    assert result.code == 0, result.err
    assert (out / "kubernetes").is_dir() and (out / "compose" / ".env.example").is_file()
    assert_no_leak(result, canary)
    # Secrets only by reference: a secretKeyRef on Kubernetes, the env file for compose.
    kube = "\n".join(p.read_text() for p in (out / "kubernetes").glob("*.yaml"))
    assert "secretKeyRef" in kube and "VLLM_API_KEY" in kube
    compose = "\n".join(p.read_text() for p in (out / "compose").glob("*compose.yaml"))
    assert "env_file" in compose
    assert "VLLM_API_KEY:" not in compose  # never in `environment:`, not even as ${VAR}


def test_rerender_keeps_the_persons_env_files_and_copies_nothing(
    canary: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    out = canary / "bundle"
    first = run(capsys, caplog, "render", "-H", MULTI, "-t", "all", "--out", str(out))
    assert first.code == 0, first.err
    env_text = f"HF_TOKEN={CANARY}\nVLLM_API_KEY={CANARY}\nHEAD_IP=10.0.0.1\nNET_IF=ib0\n"
    envs = [
        person_writes(out / "compose" / ".env", env_text),
        person_writes(out / ".env", env_text),
        person_writes(out / "kubernetes" / "secret.env", env_text),
    ]
    for argv in (
        ["render", "-H", MULTI, "-t", "all", "--out", str(out), "--context", "128K"],
        ["--debug", "render", "-H", MULTI, "-t", "all", "--out", str(out), "--force"],
        ["render", "-H", MULTI, "-t", "compose", "--out", str(out), "--no-api-key"],
    ):
        result = run(capsys, caplog, *argv)
        assert result.code == 0, result.err
        assert_no_leak(result, canary, allowed=envs)
        for env in envs:
            assert env.read_text() == env_text, f"{env} changed"


def test_no_api_key_is_warned(
    canary: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    out = canary / "bundle"
    result = run(
        capsys, caplog, "render", "-H", SINGLE, "-t", "all", "--out", str(out), "--no-api-key"
    )
    assert result.code == 0, result.err
    assert "warning" in result.err and "api" in result.err.lower()
    assert_no_leak(result, canary)


def test_no_api_key_is_warned_even_quiet(
    canary: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    out = canary / "bundle"
    result = run(
        capsys,
        caplog,
        "render",
        "-H",
        SINGLE,
        "-t",
        "kubernetes",
        "--out",
        str(out),
        "--no-api-key",
        "--quiet",
    )
    assert result.code == 0, result.err
    assert "warning" in result.err


# --- lint ---------------------------------------------------------------------------------------

INLINE_MANIFEST = f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: inline}}
spec:
  selector: {{matchLabels: {{app: inline}}}}
  template:
    metadata: {{labels: {{app: inline}}}}
    spec:
      containers:
        - name: vllm
          image: vllm/vllm-openai:v0.33.0
          command: ["vllm", "serve"]
          args: ["deepseek-ai/DeepSeek-V4-Flash", "--api-key", "{CANARY}"]
          env:
            - name: VLLM_API_KEY
              value: "{CANARY}"
            - name: HF_TOKEN
              value: "{CANARY}"
---
apiVersion: v1
kind: Secret
metadata: {{name: vllm-api-key}}
stringData: {{key: "{CANARY}"}}
data: {{token: "{CANARY_B64}"}}
"""
INLINE_COMPOSE = f"""\
services:
  vllm:
    image: vllm/vllm-openai:v0.33.0
    command: ["deepseek-ai/DeepSeek-V4-Flash", "--api-key", "{CANARY}"]
    environment:
      VLLM_API_KEY: "{CANARY}"
      HF_TOKEN: "{CANARY}"
"""
INLINE_DOCKERFILE = f"""\
FROM vllm/vllm-openai:v0.33.0
ENV VLLM_API_KEY={CANARY} HF_TOKEN="{CANARY}"
CMD ["deepseek-ai/DeepSeek-V4-Flash", "--api-key", "{CANARY}"]
"""


def _inline_files(root: Path) -> list[Path]:
    return [
        person_writes(root / "manifests" / "deployment.yaml", INLINE_MANIFEST),
        person_writes(root / "manifests" / "compose.yaml", INLINE_COMPOSE),
        person_writes(root / "manifests" / "Dockerfile", INLINE_DOCKERFILE),
    ]


def _lint_formats(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    root: Path,
    target: Path,
    allowed: Sequence[Path],
    *extra: str,
) -> list[Result]:
    results = []
    for output in ("text", "json", "sarif"):
        report = root / f"lint.{output}"
        printed = run(capsys, caplog, "lint", str(target), "-o", output, *extra)
        written = run(
            capsys, caplog, "lint", str(target), "-o", output, "--out", str(report), *extra
        )
        for result in (printed, written):
            assert result.code in (0, 1), result.err
            assert "Traceback" not in result.err
            assert_no_leak(result, root, allowed)
        results.append(printed)
    return results


def test_lint_flags_inline_secrets_without_echoing_them(
    canary: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    files = _inline_files(canary)
    text, as_json, _ = _lint_formats(
        capsys, caplog, canary, canary / "manifests", files, "--no-tools"
    )
    assert text.code == 1
    rules = {f["rule"] for f in json.loads(as_json.out)["findings"]}
    assert "DK112" in rules, rules
    # One finding per inline value, each naming where it is.
    assert text.out.count("VLLM_API_KEY") >= 3 and "HF_TOKEN" in text.out


@pytest.mark.tools
def test_lint_with_tools_on_inline_secrets(
    canary: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    files = _inline_files(canary)
    _lint_formats(capsys, caplog, canary, canary / "manifests", files)


@pytest.mark.tools
def test_lint_rendered_bundle_with_a_filled_env_file(
    canary: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """docker compose reads the bundle's .env while validating: nothing of it may surface."""
    out = canary / "bundle"
    assert run(capsys, caplog, "render", "-H", MULTI, "-t", "all", "--out", str(out)).code == 0
    env = person_writes(
        out / "compose" / ".env", f"HF_TOKEN={CANARY}\nVLLM_API_KEY={CANARY}\nHEAD_IP=10.0.0.1\n"
    )
    _lint_formats(capsys, caplog, canary, out, [env])


WRONG_TYPE_MANIFEST = f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: typo}}
spec:
  selector: {{matchLabels: {{app: typo}}}}
  template:
    metadata: {{labels: {{app: typo}}}}
    spec:
      containers:
        - name: vllm
          image: vllm/vllm-openai:v0.33.0
          env:
            - name: VLLM_API_KEY
              valueFrom: "{CANARY}"
"""
WRONG_TYPE_LWS = f"""\
apiVersion: leaderworkerset.x-k8s.io/v1
kind: LeaderWorkerSet
metadata: {{name: typo}}
spec:
  leaderWorkerTemplate:
    size: "{CANARY}"
    workerTemplate:
      spec:
        containers:
          - name: vllm
            image: vllm/vllm-openai:v0.33.0
"""


@pytest.mark.tools
def test_lint_schema_error_on_a_secret_does_not_echo_it(
    canary: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    path = person_writes(canary / "typo" / "deployment.yaml", WRONG_TYPE_MANIFEST)
    _lint_formats(capsys, caplog, canary, path, [path])


def test_lint_crd_error_on_a_secret_does_not_echo_it(
    canary: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    crd = BUNDLED_CRD_DIR / "leaderworkerset.x-k8s.io_leaderworkersets.yaml"
    path = person_writes(canary / "typo" / "lws.yaml", WRONG_TYPE_LWS)
    _lint_formats(capsys, caplog, canary, path, [path], "--no-tools", "--crd", str(crd))


# --- up / down ----------------------------------------------------------------------------------


def test_up_dry_run(
    canary: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    out = canary / "local"
    result = run(capsys, caplog, "--debug", "up", "--dry-run", "-H", SINGLE, "--out", str(out))
    assert result.code == 0, result.err
    assert " up -d" in result.out and not out.exists()
    assert_no_leak(result, canary)
    down = run(capsys, caplog, "down", "--dry-run", "--out", str(out))
    assert down.code in (0, 2, 4), down.err
    assert_no_leak(down, canary)


def test_up_without_engine(
    canary: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    result = run(capsys, caplog, "--debug", "up", "-H", SINGLE, "--out", str(canary / "local"))
    assert result.code == 4, result.err
    assert_no_leak(result, canary)


class _Docker:
    """Just enough of Docker for `up` to reach compose up, which fails with given logs."""

    def __init__(self, logs: str) -> None:
        self.logs = logs
        self.info = json.loads((DOCKER / "info-nvidia-runtime.json").read_text())
        self.version = json.loads((DOCKER / "version-28.json").read_text())
        self.ran: list[list[str]] = []

    @property
    def host(self) -> str:
        return local.DEFAULT_SOCKET

    def engine_facts(self) -> local.EngineFacts:
        return local.engine_facts(self.info, self.version, self.host)

    def compose(self) -> tuple[tuple[str, ...], str | None]:
        return ("docker", "compose"), "2.40.3"

    def project_running(self, project: str) -> bool:
        return False

    def volume_size(self, name: str) -> int | None:
        return 0

    def run(self, argv: Sequence[str]) -> int:
        self.ran.append(list(argv))
        return 1  # compose up fails: `up` reports it and stops

    def output(self, argv: Sequence[str], timeout: float = 60) -> tuple[int, str]:
        return (0, self.logs) if "logs" in argv else (1, "")


def _fake_machine(monkeypatch: pytest.MonkeyPatch, logs: str = "") -> _Docker:
    docker = _Docker(logs)
    backend: Backend = docker
    monkeypatch.setattr(cli_local, "backend_factory", lambda: backend)
    monkeypatch.setattr(local, "free_bytes", lambda path: 4096 * local.GIB)
    monkeypatch.setattr(local, "port_free", lambda host, port: True)
    monkeypatch.setattr(local, "host_facts", lambda facts: local.HostFacts())
    smi = (FIXTURES / "smi" / "nvidia-smi-h200x8.csv").read_text()
    probe = local.GpuProbe(tuple(parse_nvidia_smi_csv(smi)))
    monkeypatch.setattr(local, "probe_gpus", lambda *a, **k: probe)
    return docker


def test_up_copies_secrets_into_the_private_env_file_only(
    canary: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    docker = _fake_machine(monkeypatch)
    out = canary / "local"
    result = run(capsys, caplog, "--debug", "up", "-H", SINGLE, "--out", str(out))
    assert result.code == 4 and docker.ran, result.err  # compose up failed after the writes
    env = out / "compose" / ".env"
    assert CANARY in env.read_text()  # by design: compose reads secrets from .env alone
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert "not shown" in result.err
    assert_no_leak(result, canary, allowed=[env])


def test_up_redacts_known_secrets_in_container_logs(
    canary: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    _fake_machine(monkeypatch, logs=f"vllm-1  | INFO args: api_key='{CANARY}'\n")
    monkeypatch.setattr(cli_local, "_wait_and_report", _fail_wait)
    docker = cli_local.backend_factory()
    assert isinstance(docker, _Docker)
    docker.run = lambda argv: 0  # type: ignore[method-assign]
    out = canary / "local"
    result = run(capsys, caplog, "up", "-H", SINGLE, "--out", str(out), "--timeout", "1")
    assert result.code != 0
    assert_no_leak(result, canary, allowed=[out / "compose" / ".env"])


def _fail_wait(
    backend: Backend, plan: object, rctx: object, cmds: local.ComposeCommands, *args: object
) -> None:
    cli_local._show_logs(backend, cmds)
    raise local.NotReady("vLLM did not become healthy", hint="see the log lines above")


# --- cluster commands ---------------------------------------------------------------------------


def _kubeconfig(root: Path) -> Path:
    # Port 9 on loopback: refused at once, so the client fails fast and offline.
    return person_writes(
        root / "kubeconfig.yaml",
        "apiVersion: v1\nkind: Config\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        f"users: [{{name: u, user: {{token: '{CANARY}', password: '{CANARY}'}}}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n",
    )


def test_discover_from_file(
    canary: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    for output in _choices("discover"):
        result = run(capsys, caplog, "discover", "--from-file", str(NODES), "-o", output)
        assert result.code == 0, result.err
        assert_no_leak(result, canary)
    profile = canary / "profile.yaml"
    result = run(capsys, caplog, "discover", "--from-file", str(NODES), "--out", str(profile))
    assert result.code == 0 and profile.is_file(), result.err
    assert_no_leak(result, canary)


def test_cluster_credentials_are_not_echoed(
    canary: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    kubeconfig = _kubeconfig(canary)
    out = canary / "bundle"
    assert (
        run(capsys, caplog, "render", "-H", SINGLE, "-t", "kubernetes", "--out", str(out)).code == 0
    )
    for argv in (
        ["discover", "--kubeconfig", str(kubeconfig)],
        ["status", str(out / "kubernetes"), "--kubeconfig", str(kubeconfig)],
        ["apply", str(out / "kubernetes"), "--dry-run", "server", "--kubeconfig", str(kubeconfig)],
        ["plan", "--cluster", "--kubeconfig", str(kubeconfig)],
    ):
        result = run(capsys, caplog, "--debug", *argv)
        assert result.code == 4, f"{argv}: {result.err}"
        assert_no_leak(result, canary, allowed=[kubeconfig])


def test_apply_client_dry_run_does_not_print_secret_data(
    canary: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    out = canary / "bundle"
    assert (
        run(capsys, caplog, "render", "-H", SINGLE, "-t", "kubernetes", "--out", str(out)).code == 0
    )
    secret = person_writes(
        out / "kubernetes" / "secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: vllm-api-key}\n"
        f"stringData: {{key: '{CANARY}'}}\ndata: {{token: '{CANARY_B64}'}}\n",
    )
    for output in _choices("apply"):
        result = run(
            capsys, caplog, "apply", str(out / "kubernetes"), "--dry-run", "client", "-o", output
        )
        assert result.code == 0, result.err
        assert_no_leak(result, canary, allowed=[secret])


# --- real processes: logging and warnings go to the real stderr ---------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["--debug", "render", "-H", MULTI, "-t", "all", "--out", "bundle"],
        ["--debug", "plan", "-H", "1xH100", "-o", "json"],
    ],
    ids=["render", "plan-no-fit"],
)
def test_as_a_process(argv: list[str], canary: Path) -> None:
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    done = subprocess.run(
        [sys.executable, "-m", "deploy_kit", *argv],
        cwd=canary,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode in (0, 3), done.stderr
    assert_no_leak(Result(done.returncode, done.stdout, done.stderr, ""), canary)
