"""Local `up`/`down` decisions over recorded Docker facts, GPU tool output, a loopback server."""

from __future__ import annotations

import json
import os
import socket
import stat
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from deploy_kit.cli.options import make_plan
from deploy_kit.errors import EnvironmentMissing, ExitCode
from deploy_kit.inventory import parse_nvidia_smi_csv, parse_rocm_smi_json
from deploy_kit.local import up as local
from deploy_kit.local.docker_client import DockerBackend, classify_engine_error, compose_candidates
from deploy_kit.spec import Plan
from tests.helpers import FakeVllm, nvidia_probe

FIXTURES = Path(__file__).parent / "fixtures"
DOCKER = FIXTURES / "docker"
SMI = FIXTURES / "smi"


def facts(info: str, version: str = "version-28.json", host: str = local.DEFAULT_SOCKET) -> Any:
    return local.engine_facts(
        json.loads((DOCKER / info).read_text()), json.loads((DOCKER / version).read_text()), host
    )


@pytest.fixture(scope="module")
def h200() -> Plan:
    plan: Plan = make_plan({"hardware_": "8xH200"})
    return plan


# --- engine facts and checks --------------------------------------------------------------------


def test_engine_facts_from_recorded_info_and_version() -> None:
    nv = facts("info-nvidia-runtime.json", "version-27.json")
    assert nv.server_version == "27.5.1" and nv.api_version == "1.47"
    assert "nvidia" in nv.runtimes and nv.discovered_devices == ()
    assert nv.cdi_spec_dirs == ("/etc/cdi", "/var/run/cdi")
    assert nv.docker_root_dir == "/var/lib/docker" and nv.os_type == "linux"
    cdi = facts("info-cdi-only.json")
    assert "nvidia" not in cdi.runtimes
    assert cdi.discovered_devices[0] == "nvidia.com/gpu=0" and len(cdi.discovered_devices) == 9
    bare = facts("info-no-gpu-runtime.json")
    assert bare.runtimes == ("io.containerd.runc.v2", "runc") and bare.discovered_devices == ()


def test_engine_facts_tolerate_missing_keys() -> None:
    f = local.engine_facts({}, {"Version": "20.10.7", "ApiVersion": "1.41"}, "tcp://h:2375")
    assert f.server_version == "20.10.7" and f.runtimes == () and f.cdi_spec_dirs == ()
    assert local.check_engine(f).ok


def test_check_engine_rejects_windows_containers() -> None:
    f = local.engine_facts({"OSType": "windows"}, {}, "npipe:////./pipe/docker_engine")
    result = local.check_engine(f)
    assert not result.ok and "Linux engine" in result.message and result.hint


@pytest.mark.parametrize(
    ("host", "is_local"),
    [
        ("unix:///var/run/docker.sock", True),
        ("tcp://127.0.0.1:2375", True),
        ("tcp://localhost:2376", True),
        ("tcp://[::1]:2375", True),
        ("tcp://10.0.0.5:2376", False),
        ("ssh://me@gpu-box", False),
    ],
)
def test_is_local_host(host: str, is_local: bool) -> None:
    assert local.is_local_host(host) is is_local


def test_engine_host_prefers_docker_host() -> None:
    assert local.engine_host({}) == "unix:///var/run/docker.sock"
    assert local.engine_host({"DOCKER_HOST": "tcp://h:2376"}) == "tcp://h:2376"


def test_engine_unreachable_is_one_line_with_a_hint() -> None:
    err = local.engine_unreachable("unix:///var/run/docker.sock", "socket not found")
    assert err.exit_code == ExitCode.ENVIRONMENT
    assert (
        err.message
        == "no Docker engine reachable at unix:///var/run/docker.sock (socket not found)"
    )
    assert err.hint and "\n" not in err.message + err.hint


@pytest.mark.parametrize(
    ("text", "ok", "needle"),
    [
        ("2.40.3", True, "Compose 2.40.3"),
        ("v2.29.1-desktop.1", True, "Compose 2.29.1"),
        ("Docker Compose version v2.24.6", True, "2.24.6"),
        ("docker-compose version 1.29.2, build 5becea4c", False, "(v1)"),
        ("garbage", False, "cannot read"),
        (None, False, "not found"),
    ],
)
def test_check_compose(text: str | None, ok: bool, needle: str) -> None:
    result = local.check_compose(text, ("docker", "compose"))
    assert result.ok is ok and needle in result.message
    if not ok:
        assert result.hint and "docker-compose-plugin" in result.hint


# --- GPU runtime --------------------------------------------------------------------------------


def test_gpu_runtime_nvidia_runtime_registered() -> None:
    result = local.check_gpu_runtime(facts("info-nvidia-runtime.json"), "nvidia", local.HostFacts())
    assert result.ok and "NVIDIA runtime" in result.message


def test_gpu_runtime_cdi_devices_only() -> None:
    result = local.check_gpu_runtime(facts("info-cdi-only.json"), "nvidia", local.HostFacts())
    assert result.ok and "nvidia.com/gpu=0" in result.message


def test_gpu_runtime_missing_fails_with_the_fix() -> None:
    result = local.check_gpu_runtime(facts("info-no-gpu-runtime.json"), "nvidia", local.HostFacts())
    assert not result.ok and result.exit_code == ExitCode.ENVIRONMENT
    assert "no NVIDIA runtime or CDI" in result.message
    assert result.hint and "nvidia-ctk runtime configure" in result.hint


def test_gpu_runtime_hook_or_cdi_spec_on_disk_is_enough() -> None:
    bare = facts("info-no-gpu-runtime.json")
    assert local.check_gpu_runtime(bare, "nvidia", local.HostFacts(nvidia_hook=True)).ok
    spec = local.HostFacts(cdi_kinds=frozenset({"nvidia.com/gpu"}))
    assert "CDI spec" in local.check_gpu_runtime(bare, "nvidia", spec).message


def test_gpu_runtime_amd_needs_kfd_and_dri() -> None:
    bare = facts("info-no-gpu-runtime.json")
    assert local.check_gpu_runtime(bare, "amd", local.HostFacts(amd_devices=True)).ok
    result = local.check_gpu_runtime(bare, "amd", local.HostFacts())
    assert not result.ok and "/dev/kfd" in result.message


def test_cdi_kinds_read_from_spec_files(tmp_path: Path) -> None:
    (tmp_path / "nvidia.yaml").write_text("cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices: []\n")
    (tmp_path / "amd.json").write_text('{"cdiVersion": "0.6.0", "kind": "amd.com/gpu"}')
    (tmp_path / "notes.txt").write_text("kind: ignored.com/x")
    kinds = local.cdi_kinds_in([str(tmp_path), str(tmp_path / "absent")])
    assert kinds == {"nvidia.com/gpu", "amd.com/gpu"}


def test_host_facts_are_empty_for_a_remote_engine() -> None:
    remote = facts("info-nvidia-runtime.json", host="tcp://10.1.2.3:2376")
    assert local.host_facts(remote) == local.HostFacts()


# --- GPU detection --------------------------------------------------------------------------------


class FakeTools:
    """Answers probe commands from recorded output; records what was asked."""

    def __init__(self, answers: dict[str, tuple[int, str, str] | None]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, argv: Sequence[str], timeout: float) -> tuple[int, str, str] | None:
        self.calls.append(tuple(argv))
        key = " ".join(argv)
        for prefix, answer in self.answers.items():
            if key.startswith(prefix):
                return answer
        return None


def test_probe_nvidia_smi_sample() -> None:
    tools = FakeTools({"nvidia-smi": (0, (SMI / "nvidia-smi-h100x8.csv").read_text(), "")})
    found = local.probe_gpus(tools)
    assert [(o.product, o.count, o.memory_mib) for o in found.observations] == [
        ("NVIDIA H100 80GB HBM3", 8, 81559)
    ]
    assert tools.calls[0] == local.NVSMI_QUERY


def test_probe_falls_back_to_rocm_smi() -> None:
    tools = FakeTools({"rocm-smi": (0, (SMI / "rocm-smi-mi300x.json").read_text(), "")})
    found = local.probe_gpus(tools)
    assert found.observations[0].vendor == "amd" and found.observations[0].count == 8


def test_probe_falls_back_to_amd_smi() -> None:
    tools = FakeTools({"amd-smi": (0, (SMI / "amd-smi-static-mi300x.json").read_text(), "")})
    assert local.probe_gpus(tools).observations[0].product == "AMD Instinct MI300X"


def test_probe_retries_without_compute_cap_on_old_drivers() -> None:
    old = 'Field "compute_cap" is not a valid field to query.\n'
    header = "index, name, memory.total [MiB]\n0, NVIDIA A100-SXM4-80GB, 81920 MiB\n"
    tools = FakeTools({" ".join(local.NVSMI_QUERY): (2, old, ""), "nvidia-smi": (0, header, "")})
    found = local.probe_gpus(tools)
    assert tools.calls[1] == local.NVSMI_QUERY_OLD
    assert found.observations[0].memory_mib == 81920


def test_probe_reports_why_a_present_tool_found_nothing() -> None:
    broken = (
        9,
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make "
        "sure that the latest NVIDIA driver is installed and running.\n",
        "",
    )
    found = local.probe_gpus(FakeTools({"nvidia-smi": broken}))
    assert found.observations == ()
    assert found.notes and "couldn't communicate with the NVIDIA driver" in found.notes[0]
    none = local.probe_gpus(FakeTools({"nvidia-smi": (6, "No devices were found\n", "")}))
    assert none.observations == () and "No devices were found" in none.notes[0]


def test_probe_nothing_installed() -> None:
    assert local.probe_gpus(FakeTools({})) == local.GpuProbe(())


def _script(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def test_detect_gpus_runs_the_real_tool_from_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = SMI / "nvidia-smi-h200x8.csv"
    _script(tmp_path, "nvidia-smi", f'exec /bin/cat "{sample}"\n')
    monkeypatch.setenv("PATH", str(tmp_path))
    found = local.detect_gpus()
    assert len(found) == 1 and found[0].product == "NVIDIA H200" and found[0].count == 8


def test_detect_gpus_empty_without_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert local.detect_gpus() == []


def test_run_tool_times_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _script(tmp_path, "nvidia-smi", "exec sleep 5\n")
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    started = time.monotonic()
    result = local.run_tool(["nvidia-smi"], 0.3)
    assert result is not None and result[0] == 124 and "did not answer" in result[2]
    assert time.monotonic() - started < 4


# --- GPUs against the plan ------------------------------------------------------------------------


def test_check_gpus_enough(h200: Plan) -> None:
    result = local.check_gpus(h200, nvidia_probe("nvidia-smi-h200x8.csv"))
    assert result.ok and "8 x NVIDIA H200" in result.message


def test_check_gpus_too_little_memory(h200: Plan) -> None:
    result = local.check_gpus(h200, nvidia_probe("nvidia-smi-h100x8.csv"))
    assert not result.ok and "GiB per GPU" in result.message and "--detect" in (result.hint or "")


def test_check_gpus_too_few(h200: Plan) -> None:
    text = "\n".join((SMI / "nvidia-smi-h200x8.csv").read_text().splitlines()[:5]) + "\n"
    result = local.check_gpus(h200, local.GpuProbe(tuple(parse_nvidia_smi_csv(text))))
    assert not result.ok and "needs 8 GPUs" in result.message and "4 visible" in result.message


def test_check_gpus_none_visible_names_the_reason(h200: Plan) -> None:
    result = local.check_gpus(h200, local.GpuProbe((), ("nvidia-smi failed: driver missing",)))
    assert not result.ok and result.exit_code == ExitCode.ENVIRONMENT
    assert "no NVIDIA GPU visible" in result.message and "driver missing" in result.message


def test_check_gpus_wrong_vendor(h200: Plan) -> None:
    amd = local.GpuProbe(tuple(parse_rocm_smi_json((SMI / "rocm-smi-mi300x.json").read_text())))
    result = local.check_gpus(h200, amd)
    assert not result.ok and "AMD Instinct MI300X" in result.message


def test_check_gpus_engine_devices_when_no_tool_ran(h200: Plan) -> None:
    cdi = facts("info-cdi-only.json")
    result = local.check_gpus(h200, local.GpuProbe(()), cdi.discovered_devices)
    assert result.status == "warn" and "8 GPU(s) listed by the engine" in result.message


def test_check_gpus_unified_memory_is_not_compared() -> None:
    plan: Plan = make_plan({"hardware_": "2xGB10", "model": "deepseek-v4-flash"})
    gb10 = parse_nvidia_smi_csv((SMI / "nvidia-smi-gb10.csv").read_text())
    if plan.gpus_per_node != 1:
        pytest.skip("2xGB10 plans two nodes; single-box check covered elsewhere")
    assert local.check_gpus(plan, local.GpuProbe(tuple(gb10))).ok


def test_check_single_node_rejects_multi_node_plans(h200: Plan) -> None:
    assert local.check_single_node(h200).ok
    multi: Plan = make_plan({"hardware_": "2x8xH200", "model": "deepseek-v4-pro"})
    result = local.check_single_node(multi)
    assert not result.ok and result.exit_code == ExitCode.BAD_INPUT and "2 nodes" in result.message


# --- cache, disk, secrets, ports ------------------------------------------------------------------

NAMED = """
services:
  vllm:
    image: vllm/vllm-openai:v0.33.0
    volumes:
      - hf-cache:/root/.cache/huggingface
volumes:
  hf-cache: {}
"""
NAMED_EXPLICIT = NAMED.replace("hf-cache: {}", "hf-cache:\n    name: deepseek-hf-cache")
BIND = """
services:
  vllm:
    volumes:
      - type: bind
        source: /var/lib/deploy-kit/hf-cache
        target: /root/.cache/huggingface
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (NAMED, local.CacheLocation("volume", "proj_hf-cache")),
        (NAMED_EXPLICIT, local.CacheLocation("volume", "deepseek-hf-cache")),
        (BIND, local.CacheLocation("bind", "/var/lib/deploy-kit/hf-cache")),
        ("services: {vllm: {image: x}}", None),
        (": not yaml : [", None),
    ],
)
def test_cache_location(text: str, expected: local.CacheLocation | None) -> None:
    assert local.cache_location(text, "/root/.cache/huggingface", "proj") == expected


def test_check_disk_decisions() -> None:
    gib = local.GIB
    assert local.check_disk(150 * gib, 500 * gib, "/var/lib/docker").ok
    short = local.check_disk(150 * gib, 80 * gib, "/var/lib/docker")
    assert not short.ok and "150 GiB needed on /var/lib/docker, 80 GiB free" in short.message
    assert short.hint and "--cache-dir" in short.hint
    assert local.check_disk(150 * gib, 1 * gib, "/c", cached=150 * gib).ok
    partial = local.check_disk(150 * gib, 60 * gib, "/c", cached=100 * gib)
    assert partial.ok and "50 GiB needed" in partial.message
    assert local.check_disk(150 * gib, None, "tcp://h").status == "warn"


def test_free_bytes_and_sizes(tmp_path: Path) -> None:
    assert local.free_bytes(tmp_path / "not" / "yet") > 0
    assert local.existing_ancestor(tmp_path / "a" / "b") == tmp_path
    cache = local.hf_cache_dir(tmp_path, "deepseek-ai/DeepSeek-V4-Flash")
    assert cache == tmp_path / "hub" / "models--deepseek-ai--DeepSeek-V4-Flash"
    cache.mkdir(parents=True)
    (cache / "blob").write_bytes(b"x" * 1000)
    assert local.dir_size(tmp_path) == 1000


def test_weights_bytes_from_catalog_or_plan(h200: Plan, catalog: Any) -> None:
    checkpoint = catalog.checkpoints[h200.checkpoint_id]
    assert local.weights_bytes(h200, checkpoint) == int(checkpoint.disk_gib * local.GIB)
    unsized = checkpoint.model_copy(update={"disk_gib": None})
    assert local.weights_bytes(h200, unsized) > 0


def test_secrets_from_env_or_env_file_never_printed(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("# c\nexport HF_TOKEN='hf_secret_from_file'\nVLLM_API_KEY=change-me\n")
    values = local.read_env_file(env_file)
    assert values["HF_TOKEN"] == "hf_secret_from_file"
    assert local.secret_value(local.HF_TOKEN_ENVS, {}, values) == "hf_secret_from_file"
    assert local.secret_value(("VLLM_API_KEY",), {}, values) is None  # a placeholder
    assert local.secret_value(local.HF_TOKEN_ENVS, {"HUGGING_FACE_HUB_TOKEN": "hf_env"}, {}) == (
        "hf_env"
    )
    assert local.read_env_file(tmp_path / "absent") == {}


def test_hf_token_check(catalog: Any) -> None:
    checkpoint = catalog.checkpoints["deepseek-v4-flash"]
    present = local.check_hf_token(checkpoint, True)
    assert present.ok and "not shown" in present.message
    assert local.check_hf_token(checkpoint, False).status == "warn"
    gated = SimpleNamespace(hf_id="org/gated-model", gated=True)
    result = local.check_hf_token(gated, False)  # type: ignore[arg-type]
    assert not result.ok and "gated" in result.message and "HF_TOKEN" in (result.hint or "")


def test_port_check_against_a_real_listener() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert local.port_free("127.0.0.1", port) is False
        busy = local.check_port("127.0.0.1", port, False, False)
        assert (
            not busy.ok
            and f"port {port}" in busy.message
            and "deploy-kit down" in (busy.hint or "")
        )
        assert local.check_port("127.0.0.1", port, False, True).ok
    assert local.port_free("127.0.0.1", port) is True


# --- compose commands and state ------------------------------------------------------------------


def test_compose_commands_are_exact() -> None:
    cmds = local.ComposeCommands(
        ("docker", "compose"), Path("/b/compose/compose.yaml"), Path("/b/compose/.env"), "proj"
    )
    base = ["docker", "compose", "-f", "/b/compose/compose.yaml", "--env-file", "/b/compose/.env"]
    assert cmds.up() == [*base, "-p", "proj", "up", "-d"]
    assert cmds.logs() == [*base, "-p", "proj", "logs", "--no-color", "--tail", "50"]
    assert cmds.logs(10, follow=True)[-3:] == ["--tail", "10", "-f"]
    assert cmds.down() == [*base, "-p", "proj", "down"]
    assert cmds.down(volumes=True) == [*base, "-p", "proj", "down", "-v"]
    assert cmds.ps() == [*base, "-p", "proj", "ps", "-a", "--format", "json"]
    bare = local.ComposeCommands(("/t/docker-compose",), Path("/b/c.yaml"), None, "p")
    assert bare.up() == ["/t/docker-compose", "-f", "/b/c.yaml", "-p", "p", "up", "-d"]
    assert local.shell(["a b", "c"]) == "'a b' c"


def test_project_name_and_paths() -> None:
    assert local.project_name("DeepSeek V4/Flash!") == "deepseek-v4-flash"
    assert local.project_name("---") == "deploy-kit"
    compose, env, example = local.bundle_paths(Path("/o"))
    assert (compose, env, example) == (
        Path("/o/compose/compose.yaml"),
        Path("/o/compose/.env"),
        Path("/o/compose/.env.example"),
    )


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("compose-ps-running.jsonl", None),
        ("compose-ps-running-array.json", None),
        ("compose-ps-exited.jsonl", "vllm exited with code 1"),
    ],
)
def test_parse_ps_and_stopped_reason(name: str, reason: str | None) -> None:
    rows = local.parse_ps((DOCKER / name).read_text())
    assert rows and rows[0]["Service"] == "vllm"
    assert local.stopped_reason(rows) == reason


def test_restart_loop_counts_as_stopped() -> None:
    rows = [{"Service": "vllm", "State": "restarting", "ExitCode": 78}]
    assert local.stopped_reason(rows) == "vllm keeps restarting (last exit with code 78)"


def test_parse_ps_tolerates_noise() -> None:
    assert local.parse_ps("") == []
    assert local.parse_ps('warning: x\n{"State": "running"}\n') == [{"State": "running"}]


def test_ensure_env_file_generates_a_private_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env_file, example = tmp_path / ".env", tmp_path / ".env.example"
    example.write_text("# Optional\nHF_TOKEN=\n# Required\nVLLM_API_KEY=\n")
    change = local.ensure_env_file(env_file, example, {}, api_key=True)
    assert change == local.EnvFileChange(created=True, generated_key=True, copied=())
    values = local.read_env_file(env_file)
    key = values["VLLM_API_KEY"]
    assert len(key) >= 32 and values["HF_TOKEN"] == ""
    assert env_file.read_text().count("VLLM_API_KEY=") == 1 and "# Optional" in env_file.read_text()
    assert stat.S_IMODE(os.stat(env_file).st_mode) == 0o600
    out, err = capsys.readouterr()
    assert key not in out + err
    # A second run keeps the key and changes nothing.
    assert local.ensure_env_file(env_file, example, {}, api_key=True) == local.EnvFileChange()
    assert local.read_env_file(env_file)["VLLM_API_KEY"] == key


def test_ensure_env_file_copies_exported_secrets(tmp_path: Path) -> None:
    """The container reads .env only, so exported secrets must land there."""
    env_file, example = tmp_path / ".env", tmp_path / ".env.example"
    example.write_text("HF_TOKEN=\nVLLM_API_KEY=\n")
    environ = {"VLLM_API_KEY": "sk-exported", "HUGGING_FACE_HUB_TOKEN": "hf_exported"}
    change = local.ensure_env_file(env_file, example, environ, api_key=True)
    assert change.copied == ("HF_TOKEN", "VLLM_API_KEY") and not change.generated_key
    values = local.read_env_file(env_file)
    assert values["VLLM_API_KEY"] == "sk-exported" and values["HF_TOKEN"] == "hf_exported"
    without_key = tmp_path / "nokey.env"
    change = local.ensure_env_file(without_key, example, {}, api_key=False)
    assert change == local.EnvFileChange(created=True)
    assert local.read_env_file(without_key)["VLLM_API_KEY"] == ""


def test_ensure_env_file_replaces_a_placeholder_in_place(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("HF_TOKEN=hf_x\nVLLM_API_KEY=change-me\n")
    change = local.ensure_env_file(env_file, tmp_path / "none", {}, api_key=True)
    assert change.generated_key and not change.created
    text = env_file.read_text()
    assert "change-me" not in text and text.count("VLLM_API_KEY=") == 1 and "HF_TOKEN=hf_x" in text


# --- the wait loop against a real server on 127.0.0.1 -------------------------------------------


@pytest.fixture
def late_server() -> Iterator[FakeVllm]:
    with FakeVllm(healthy_after=0.6) as server:
        yield server


def test_wait_succeeds_when_health_comes_late(late_server: FakeVllm) -> None:
    ticks: list[local.WaitProgress] = []
    started = time.monotonic()
    ready = local.wait_ready(late_server.url, 10, 5, poll_s=0.1, on_progress=ticks.append)
    assert ready.models == ("deepseek-v4-flash",) and ready.base_url == late_server.url
    assert 0.5 <= time.monotonic() - started < 5
    assert ticks and ticks[0].phase == "health" and ticks[0].expected_s == 5
    assert "HTTP 503" in (ticks[0].last_error or "")
    paths = [p for p, _ in late_server.seen]
    assert paths.index("/v1/models") > paths.index("/health")


def test_wait_times_out_and_honours_the_timeout() -> None:
    with FakeVllm(healthy_after=None) as server:
        started = time.monotonic()
        with pytest.raises(local.NotReady) as info:
            local.wait_ready(server.url, 0.8, 600, poll_s=0.2)
        took = time.monotonic() - started
    assert 0.8 <= took < 3
    assert "/health not ready after" in info.value.message and "HTTP 503" in info.value.message
    assert info.value.exit_code == ExitCode.ENVIRONMENT and "--timeout" in (info.value.hint or "")


def test_wait_with_nothing_listening_reports_the_connection_error() -> None:
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    with pytest.raises(local.NotReady) as info:
        local.wait_ready(f"http://127.0.0.1:{port}", 0.3, 1, poll_s=0.1)
    assert "refused" in info.value.message.lower()


def test_wait_sends_the_api_key_and_never_shows_it() -> None:
    with FakeVllm(healthy_after=0, key="sk-very-secret") as server:
        ready = local.wait_ready(server.url, 5, 1, poll_s=0.05, api_key="sk-very-secret")
        assert ready.models
        assert ("/v1/models", "Bearer sk-very-secret") in server.seen
        with pytest.raises(local.NotReady) as info:
            local.wait_ready(server.url, 5, 1, poll_s=0.05, api_key="wrong-key")
    assert "HTTP 401" in info.value.message and "wrong-key" not in str(info.value) + (
        info.value.hint or ""
    )


def test_wait_waits_for_a_model_to_be_listed() -> None:
    with FakeVllm(healthy_after=0, models=()) as server, pytest.raises(local.NotReady) as info:
        local.wait_ready(server.url, 0.4, 1, poll_s=0.1)
    assert info.value.phase == "models" and "lists no model" in info.value.message


def test_wait_stops_early_when_the_containers_exit() -> None:
    with FakeVllm(healthy_after=None) as server:
        started = time.monotonic()
        with pytest.raises(local.NotReady) as info:
            local.wait_ready(
                server.url, 60, 1, poll_s=0.1, stopped=lambda: "vllm exited with code 1"
            )
        assert time.monotonic() - started < 5
    assert "stopped before it was ready: vllm exited with code 1" in info.value.message


def test_wait_uses_the_injected_clock() -> None:
    """Timeout arithmetic without real sleeping: the fake clock jumps by each sleep."""
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    with FakeVllm(healthy_after=None) as server, pytest.raises(local.NotReady):
        local.wait_ready(server.url, 12, 600, poll_s=5, clock=lambda: now[0], sleep=sleep)
    assert slept == [5, 5, 2]


# --- presentation helpers -------------------------------------------------------------------------


def test_progress_line_and_duration() -> None:
    line = local.progress_line(local.WaitProgress("health", 75, 600, 3600, "HTTP 503"))
    assert line == (
        "waiting for /health: 1m15s elapsed, load estimated ~10m00s, timeout 1h00m - HTTP 503"
    )
    assert local.duration(5.9) == "5s" and local.duration(-1) == "0s"


def test_endpoint_and_examples() -> None:
    assert local.endpoint("127.0.0.1", 8000) == "http://127.0.0.1:8000"
    assert local.endpoint("0.0.0.0", 8000) == "http://127.0.0.1:8000"
    assert local.endpoint("::", 8000) == "http://[::1]:8000"
    text = local.usage_examples("http://127.0.0.1:8000", "deepseek-v4-flash", "VLLM_API_KEY")
    assert "curl http://127.0.0.1:8000/v1/chat/completions" in text
    assert '"Authorization: Bearer $VLLM_API_KEY"' in text
    assert 'OpenAI(base_url="http://127.0.0.1:8000/v1", api_key=os.environ["VLLM_API_KEY"])' in text
    assert "Bearer" not in local.usage_examples("http://h:1", "m", None)


def test_default_timeout_covers_the_healthcheck_window(h200: Plan) -> None:
    assert local.timeout_for(h200) >= 2 * h200.load_time_s
    assert local.timeout_for(h200) >= 3600


# --- the docker layer ----------------------------------------------------------------------------


def test_classify_engine_errors() -> None:
    assert classify_engine_error("PermissionError(13, 'Permission denied')")[1]
    assert classify_engine_error("FileNotFoundError(2, 'No such file')")[0] == "socket not found"
    assert classify_engine_error("Connection refused")[0] == "connection refused"
    assert classify_engine_error("something else") == ("", None)


def test_backend_without_engine_raises_environment_missing(tmp_path: Path) -> None:
    host = f"unix://{tmp_path}/docker.sock"
    backend = DockerBackend({"DOCKER_HOST": host, "PATH": os.environ.get("PATH", "")})
    with pytest.raises(EnvironmentMissing) as info:
        backend.engine_facts()
    assert info.value.message == f"no Docker engine reachable at {host} (socket not found)"
    assert info.value.exit_code == ExitCode.ENVIRONMENT and info.value.hint


def test_backend_connection_refused_on_tcp() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    backend = DockerBackend({"DOCKER_HOST": f"tcp://127.0.0.1:{port}"})
    with pytest.raises(EnvironmentMissing) as info:
        backend.engine_facts()
    assert f"tcp://127.0.0.1:{port}" in info.value.message


def test_backend_finds_rootless_socket(tmp_path: Path) -> None:
    if Path("/var/run/docker.sock").exists():
        pytest.skip("a system socket exists here")
    (tmp_path / "docker.sock").touch()
    backend = DockerBackend({"XDG_RUNTIME_DIR": str(tmp_path)})
    assert backend.host == f"unix://{tmp_path}/docker.sock"


def test_compose_candidates_and_version_probe(tmp_path: Path) -> None:
    _script(tmp_path, "docker-compose", 'echo "docker-compose version 1.29.2, build 5becea4c"\n')
    env = {"PATH": str(tmp_path)}
    found = compose_candidates(env)
    assert (str(tmp_path / "docker-compose"),) in found
    prefix, text = DockerBackend(env).compose()
    if prefix == (str(tmp_path / "docker-compose"),):
        assert text is not None and local.check_compose(text, prefix).ok is False
    _script(tmp_path, "docker", 'test "$1 $2 $3" = "compose version --short" && echo 2.40.3\n')
    prefix, text = DockerBackend(env).compose()
    assert prefix == ("docker", "compose") and text == "2.40.3"
