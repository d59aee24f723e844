"""`deploy-kit up` / `down` end to end against a recorded Docker backend and a loopback server."""

from __future__ import annotations

import importlib
import json
import os
import stat
import subprocess
import sys
import time
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from deploy_kit.cli import local as cli_local
from deploy_kit.cli.main import main
from deploy_kit.errors import EnvironmentMissing
from deploy_kit.local import up as local
from tests.helpers import FakeVllm, nvidia_probe, run_cli

FIXTURES = Path(__file__).parent / "fixtures"
DOCKER = FIXTURES / "docker"
SMI = FIXTURES / "smi"
LOGS = "\n".join(
    [f"vllm-1  | INFO loading shard {i}/40" for i in range(1, 60)]
    + ["vllm-1  | torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"]
)


class FakeBackend:
    """Docker as recorded: fixture `docker info`/`version`, compose answers, logged commands."""

    def __init__(
        self,
        info: str = "info-nvidia-runtime.json",
        compose_version: str | None = "2.40.3",
        ps: str = "compose-ps-running.jsonl",
        up_code: int = 0,
        volume_bytes: int | None = 12 * local.GIB,
        engine_missing: bool = False,
    ) -> None:
        self.info = json.loads((DOCKER / info).read_text())
        version = "version-27.json" if "27" in self.info["ServerVersion"] else "version-28.json"
        self.version = json.loads((DOCKER / version).read_text())
        self.compose_version = compose_version
        self.ps = (DOCKER / ps).read_text()
        self.up_code = up_code
        self.volume_bytes = volume_bytes
        self.engine_missing = engine_missing
        self.ran: list[list[str]] = []
        self.asked: list[list[str]] = []

    @property
    def host(self) -> str:
        return local.DEFAULT_SOCKET

    def engine_facts(self) -> local.EngineFacts:
        if self.engine_missing:
            raise local.engine_unreachable(self.host, "socket not found")
        return local.engine_facts(self.info, self.version, self.host)

    def compose(self) -> tuple[tuple[str, ...], str | None]:
        return ("docker", "compose"), self.compose_version

    def project_running(self, project: str) -> bool:
        return False

    def volume_size(self, name: str) -> int | None:
        return self.volume_bytes

    def run(self, argv: Sequence[str]) -> int:
        self.ran.append(list(argv))
        return self.up_code if "up" in argv else 0

    def output(self, argv: Sequence[str], timeout: float = 60) -> tuple[int, str]:
        self.asked.append(list(argv))
        if "logs" in argv:
            return 0, LOGS
        if "ps" in argv:
            return 0, self.ps
        return 1, ""


def _stub_compose_render(ctx: Any) -> dict[str, str]:
    compose = (
        "services:\n  vllm:\n    image: " + ctx.image + "\n    ports:\n"
        f'      - "{ctx.options.publish_address}:{ctx.port}:{ctx.port}"\n'
        f"    volumes:\n      - hf-cache:{ctx.cache_mount}\nvolumes:\n  hf-cache: {{}}\n"
    )
    return {
        "compose.yaml": compose,
        ".env.example": "HF_TOKEN=\nVLLM_API_KEY=\n",
        "README.md": "x\n",
    }


def installed(monkeypatch: pytest.MonkeyPatch, **change: Any) -> FakeBackend:
    """A FakeBackend that `up` and `down` use in place of the Docker SDK."""
    backend = FakeBackend(**change)
    monkeypatch.setattr(cli_local, "backend_factory", lambda: backend)
    return backend


@pytest.fixture(autouse=True)
def compose_target(monkeypatch: pytest.MonkeyPatch) -> None:
    """Use the real compose renderer when it exists; a minimal stand-in while it is written."""
    try:
        importlib.import_module("deploy_kit.renderer.compose")
    except ModuleNotFoundError as exc:
        if exc.name != "deploy_kit.renderer.compose":
            raise
        stub = types.ModuleType("deploy_kit.renderer.compose")
        stub.render = _stub_compose_render  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "deploy_kit.renderer.compose", stub)


@pytest.fixture(autouse=True)
def quiet_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("VLLM_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def h200_machine(monkeypatch: pytest.MonkeyPatch) -> FakeBackend:
    """8 x H200 with the NVIDIA runtime, plenty of disk and a free port."""
    backend = installed(monkeypatch)
    found = nvidia_probe("nvidia-smi-h200x8.csv")
    monkeypatch.setattr(local, "probe_gpus", lambda *a, **k: found)
    monkeypatch.setattr(local, "free_bytes", lambda path: 4096 * local.GIB)
    monkeypatch.setattr(local, "port_free", lambda host, port: True)
    monkeypatch.setattr(local, "host_facts", lambda facts: local.HostFacts())
    return backend


@pytest.fixture
def fast_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Poll every 0.1 s instead of 5 s so the tests stay quick."""
    real = local.wait_ready

    def wait(*args: Any, **kwargs: Any) -> local.ReadyResult:
        kwargs["poll_s"] = 0.1
        return real(*args, **kwargs)

    monkeypatch.setattr(local, "wait_ready", wait)


def serve(monkeypatch: pytest.MonkeyPatch, server: FakeVllm) -> None:
    monkeypatch.setattr(cli_local, "endpoint_for", lambda rctx: server.url)


# --- acceptance: no engine here ------------------------------------------------------------------


def test_up_without_engine_exits_4_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    host = f"unix://{tmp_path}/docker.sock"
    monkeypatch.setenv("DOCKER_HOST", host)
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "up", "--detect")
    assert code == 4, err
    lines = err.strip().splitlines()
    assert lines == [
        f"error: no Docker engine reachable at {host} (socket not found)",
        lines[1],
    ]
    assert lines[1].startswith("hint: ") and "DOCKER_HOST" in lines[1]
    assert out == "" and list(tmp_path.iterdir()) == []


def test_make_up_command_line_without_engine(tmp_path: Path) -> None:
    """What `make up` runs, as a process: exit 4, one error line and one hint, no files."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_HOST"] = f"unix://{tmp_path}/docker.sock"
    done = subprocess.run(
        [sys.executable, "-m", "deploy_kit", "up", "--detect"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 4, done.stderr
    err = done.stderr.strip().splitlines()
    assert len(err) == 2 and "no Docker engine reachable" in err[0] and err[1].startswith("hint:")
    assert list(tmp_path.iterdir()) == []


def test_dry_run_prints_plan_files_and_commands_and_runs_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = installed(monkeypatch, engine_missing=True)
    out_dir = tmp_path / "bundle"
    code, out, err = run_cli(
        capsys, "up", "--dry-run", "--hardware", "8xH200", "--out", str(out_dir)
    )
    assert code == 0, err
    assert "Plan: deepseek-ai/DeepSeek-V4-Flash on 8xH200" in out
    assert f"{out_dir}/compose/compose.yaml" in out and f"{out_dir}/plan.json" in out
    compose_file = out_dir.absolute() / "compose" / "compose.yaml"
    assert (
        f"$ docker compose -f {compose_file} --env-file {compose_file.parent / '.env'} "
        "-p deepseek-v4-flash up -d"
    ) in out
    assert "http://127.0.0.1:8000/health" in out and "/v1/models" in out
    assert "logs --no-color --tail 50" in out and " down -v" in out
    assert "Preflight (would check" in out and "nvidia runtime or CDI" in out
    assert not out_dir.exists() and backend.ran == [] and backend.asked == []


def test_dry_run_with_the_real_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/docker.sock")
    code, out, _ = run_cli(capsys, "up", "--dry-run", "-H", "8xH200", "--out", str(tmp_path / "o"))
    assert code == 0 and " up -d" in out and not (tmp_path / "o").exists()


def test_detect_and_hardware_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "up", "--detect", "--hardware", "8xH200", "--dry-run")
    assert code == 2 and "--detect and --hardware" in err


def test_dry_run_detect_without_gpus_exits_4(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(local, "probe_gpus", lambda *a, **k: local.GpuProbe(()))
    code, _, err = run_cli(capsys, "up", "--dry-run")
    assert code == 4 and "no GPU found on this machine" in err


# --- bring up ------------------------------------------------------------------------------------


def test_up_serves_and_prints_examples(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    h200_machine: FakeBackend,
    fast_wait: None,
) -> None:
    out_dir = tmp_path / "local"
    with FakeVllm(healthy_after=0.5) as server:
        serve(monkeypatch, server)
        # This fake answers /health and /v1/models only; smoke after up: tests/test_smoke_up.py
        code, out, err = run_cli(
            capsys, "up", "--detect", "--out", str(out_dir), "--timeout", "20", "--no-smoke"
        )
    assert code == 0, err
    assert "ready in " in out and f"{server.url} serves deepseek-v4-flash" in out
    assert f"curl {server.url}/v1/chat/completions" in out and "OpenAI(" in out
    assert "deploy-kit down --out" in out
    compose_file = out_dir.absolute() / "compose" / "compose.yaml"
    env_file = compose_file.parent / ".env"
    assert h200_machine.ran == [
        [
            "docker",
            "compose",
            "-f",
            str(compose_file),
            "--env-file",
            str(env_file),
            "-p",
            "deepseek-v4-flash",
            "up",
            "-d",
        ]
    ]
    assert compose_file.is_file() and stat.S_IMODE(env_file.stat().st_mode) == 0o600
    key = local.read_env_file(env_file)["VLLM_API_KEY"]
    assert key and key not in out + err
    for name in ("engine", "compose", "gpu runtime", "gpus", "disk", "hf token", "port"):
        assert f"{name}: " in err
    assert "waiting for /health" in err


def test_up_never_healthy_shows_logs_and_honours_timeout(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    h200_machine: FakeBackend,
    fast_wait: None,
) -> None:
    with FakeVllm(healthy_after=None) as server:
        serve(monkeypatch, server)
        started = time.monotonic()
        code, _, err = run_cli(capsys, "up", "--out", str(tmp_path / "o"), "--timeout", "1")
        took = time.monotonic() - started
    assert code == 4 and took < 15
    assert "last 50 log lines:" in err and "CUDA out of memory" in err
    assert "loading shard 9/40" not in err  # only the tail
    assert "/health not ready after 1s" in err and "hint:" in err
    assert "follow:" in err and "logs --no-color --tail 50 -f" in err
    assert [a for a in h200_machine.ran if "down" in a] == []


def test_up_stops_waiting_when_the_container_exits(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    h200_machine: FakeBackend,
    fast_wait: None,
) -> None:
    h200_machine.ps = (DOCKER / "compose-ps-exited.jsonl").read_text()
    with FakeVllm(healthy_after=None) as server:
        serve(monkeypatch, server)
        started = time.monotonic()
        code, _, err = run_cli(capsys, "up", "--out", str(tmp_path / "o"), "--timeout", "60")
    assert code == 4 and time.monotonic() - started < 15
    assert "stopped before it was ready: vllm exited with code 1" in err
    assert "CUDA out of memory" in err


def test_ctrl_c_leaves_containers_running(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    h200_machine: FakeBackend,
) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> local.ReadyResult:
        raise KeyboardInterrupt

    monkeypatch.setattr(local, "wait_ready", interrupted)
    code, _, err = run_cli(capsys, "up", "--out", str(tmp_path / "o"))
    assert code == 130
    assert "the containers keep running" in err and "logs --no-color --tail 50 -f" in err
    assert f"deploy-kit down --out {tmp_path / 'o'}" in err
    assert all("down" not in argv for argv in h200_machine.ran)


def test_compose_up_failure_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], h200_machine: FakeBackend
) -> None:
    h200_machine.up_code = 1
    code, _, err = run_cli(capsys, "up", "--out", str(tmp_path / "o"))
    assert code == 4 and "docker compose up failed with exit code 1" in err


# --- preflight failures write nothing -------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "args", "code", "needle"),
    [
        ({"info": "info-no-gpu-runtime.json"}, [], 4, "FAIL gpu runtime"),
        ({"compose_version": "1.29.2"}, [], 4, "v2 is required"),
        ({"compose_version": None}, [], 4, "Docker Compose v2 not found"),
        ({}, ["-m", "deepseek-v4-pro", "-H", "2x8xH200"], 2, "spans 2 nodes"),
    ],
)
def test_preflight_failure_writes_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    h200_machine: FakeBackend,
    change: dict[str, Any],
    args: list[str],
    code: int,
    needle: str,
) -> None:
    backend = installed(monkeypatch, **change)
    out_dir = tmp_path / "o"
    got, _, err = run_cli(capsys, "up", "--out", str(out_dir), *args)
    assert got == code and needle in err, err
    assert not out_dir.exists() and backend.ran == []


def test_plan_for_bigger_gpus_than_present(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    h200_machine: FakeBackend,
) -> None:
    found = nvidia_probe("nvidia-smi-h100x8.csv")
    monkeypatch.setattr(local, "probe_gpus", lambda *a, **k: found)
    code, _, err = run_cli(capsys, "up", "-H", "8xH200", "--out", str(tmp_path / "o"))
    assert code == 4 and "GiB per GPU" in err and "hint: use --detect" in err
    assert not (tmp_path / "o").exists()


def test_not_enough_disk(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    h200_machine: FakeBackend,
) -> None:
    h200_machine.volume_bytes = 0
    monkeypatch.setattr(local, "free_bytes", lambda path: 20 * local.GIB)
    code, _, err = run_cli(capsys, "up", "--out", str(tmp_path / "o"))
    assert code == 4 and "not enough disk for the weights" in err and "20 GiB free" in err


def test_busy_port(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    h200_machine: FakeBackend,
) -> None:
    monkeypatch.setattr(local, "port_free", lambda host, port: False)
    code, _, err = run_cli(capsys, "up", "--out", str(tmp_path / "o"))
    assert code == 4 and "port 8000 on 127.0.0.1 is in use" in err


# --- down ----------------------------------------------------------------------------------------


def _bundle(tmp_path: Path, compose: str) -> Path:
    out_dir = tmp_path / "bundle"
    (out_dir / "compose").mkdir(parents=True)
    (out_dir / "compose" / "compose.yaml").write_text(compose)
    plan = main(["plan", "-H", "8xH200", "-o", "json", "--out", str(out_dir / "plan.json"), "-q"])
    assert plan == 0
    return out_dir


NAMED = """services:
  vllm:
    image: vllm/vllm-openai:v0.33.0
    volumes: ["hf-cache:/root/.cache/huggingface"]
volumes:
  hf-cache: {}
"""


def test_down_keeps_the_cache_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = installed(monkeypatch)
    out_dir = _bundle(tmp_path, NAMED)
    capsys.readouterr()
    code, _, err = run_cli(capsys, "down", "--out", str(out_dir))
    compose_file = out_dir.absolute() / "compose" / "compose.yaml"
    assert code == 0, err
    assert backend.ran == [
        ["docker", "compose", "-f", str(compose_file), "-p", "deepseek-v4-flash", "down"]
    ]
    assert "model cache is kept (volume deepseek-v4-flash_hf-cache)" in err


def test_down_volumes_says_the_size_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = installed(monkeypatch, volume_bytes=int(151.5 * local.GIB))
    out_dir = _bundle(tmp_path, NAMED)
    (out_dir / "compose" / ".env").write_text("VLLM_API_KEY=k\n")
    capsys.readouterr()
    code, _, err = run_cli(capsys, "down", "--out", str(out_dir), "--volumes")
    assert code == 0
    size_at = err.index("removing the model cache volume deepseek-v4-flash_hf-cache (151.5 GiB)")
    assert size_at < err.index("$ docker compose")
    assert backend.ran[0][-2:] == ["down", "-v"] and "--env-file" in backend.ran[0]


def test_down_volumes_removes_a_bind_mounted_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    installed(monkeypatch)
    cache = tmp_path / "var" / "cache" / "hf"
    (cache / "hub").mkdir(parents=True)
    (cache / "hub" / "blob").write_bytes(b"x" * 2048)
    compose = f"services:\n  vllm:\n    volumes:\n      - {cache}:/root/.cache/huggingface\n"
    out_dir = _bundle(tmp_path, compose)
    capsys.readouterr()
    code, _, err = run_cli(capsys, "down", "--out", str(out_dir), "--volumes")
    assert code == 0, err
    assert f"removing the model cache folder {cache} (0.0 GiB)" in err and not cache.exists()


def test_down_without_bundle_or_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(capsys, "down", "--out", str(tmp_path / "nothing"))
    assert code == 2 and "no compose bundle" in err
    out_dir = _bundle(tmp_path, NAMED)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/docker.sock")
    capsys.readouterr()
    code, _, err = run_cli(capsys, "down", "--out", str(out_dir))
    assert code == 4 and "no Docker engine reachable" in err


def test_down_dry_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = installed(monkeypatch, engine_missing=True)
    out_dir = _bundle(tmp_path, NAMED)
    capsys.readouterr()
    code, out, _ = run_cli(capsys, "down", "--out", str(out_dir), "--volumes", "--dry-run")
    assert code == 0 and out.strip().endswith("down -v") and backend.ran == []


# --- progress display -----------------------------------------------------------------------------


def test_plain_progress_is_rate_limited(capsys: pytest.CaptureFixture[str]) -> None:
    display = cli_local.Display(tty=False, quiet=False)
    for second in (0, 5, 10, 31, 32):
        display(local.WaitProgress("health", second, 600, 3600, "HTTP 503"))
    display(local.WaitProgress("models", 33, 600, 3600))
    display.close()
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("waiting for /health: 0s elapsed")
    assert lines[2].startswith("waiting for /v1/models")


def test_rich_progress_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    display = cli_local.Display(tty=True, quiet=False)
    display(local.WaitProgress("health", 1, 10, 60))
    display(local.WaitProgress("models", 12, 10, 60))
    display.close()
    silent = cli_local.Display(tty=True, quiet=True)
    silent(local.WaitProgress("health", 1, 10, 60))
    silent.close()


def test_detection_without_discovery_module(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.import_module

    def missing(name: str, *args: Any) -> Any:
        if name == "deploy_kit.planner.pools":
            raise ModuleNotFoundError(name=name)
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", missing)
    found = nvidia_probe("nvidia-smi-h200x8.csv")
    with pytest.raises(EnvironmentMissing, match="detection is not available"):
        cli_local._detected_profile(found)


def test_detect_plans_for_the_workload_file_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], h200_machine: FakeBackend
) -> None:
    """--detect builds its own knobs: the workload mix must reach the planner as with -H."""
    mix = tmp_path / "mix.yaml"
    mix.write_text("- {isl: 2000, osl: 400, weight: 3}\n- {isl: 8000, osl: 1000, weight: 1}\n")
    sla = ("--workload", str(mix), "--ttft", "2s", "--tpot", "50ms")
    code, out, err = run_cli(capsys, "up", "--detect", "--dry-run", "--out", str(tmp_path), *sla)
    assert code == 0, err
    code, planned, _ = run_cli(capsys, "plan", "--hardware", "8xH200", *sla)
    assert code == 0
    assert "max-model-len 1048576" not in out
    assert planned.splitlines()[0].split(": ", 1)[1] in out
