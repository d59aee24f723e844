"""The command-line contract: outputs, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from deploy_kit.cli.main import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "plan", "--model", "deepseek-v4-flash", "--hardware", "8xH200", "-o", "json"
    )
    assert code == 0
    plan = json.loads(out)
    for key in (
        "model",
        "checkpoint",
        "vllm_version",
        "image",
        "hardware",
        "strategy",
        "tensor_parallel",
        "pipeline_parallel",
        "data_parallel",
        "expert_parallel",
        "nodes",
        "gpus_per_node",
        "replicas",
        "max_model_len",
        "gpu_memory_utilization",
        "kv_cache_dtype",
        "block_size",
        "memory",
        "capacity",
        "performance",
        "vllm",
        "warnings",
        "rationale",
        "alternatives",
    ):
        assert key in plan
    assert set(plan["memory"]["per_gpu"]) >= {
        "total_gib",
        "weights_gib",
        "activation_gib",
        "overhead_gib",
        "kv_cache_gib",
    }
    assert set(plan["capacity"]) >= {
        "engines",
        "max_concurrency_per_engine",
        "kv_cache_tokens_per_engine",
        "max_concurrency_total",
        "max_model_len_fit",
    }
    assert plan["tensor_parallel"] * plan["pipeline_parallel"] * plan["data_parallel"] == 8


@pytest.mark.parametrize("fmt", ["table", "yaml", "csv"])
def test_plan_other_formats(capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    code, out, _ = run(capsys, "plan", "-H", "4xB200", "-o", fmt)
    assert code == 0 and out.strip()


def test_explain_lists_rejections(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "plan", "-m", "deepseek-v4-pro", "-H", "2x8xH200", "--explain")
    assert code == 0
    assert "Rejected layouts" in out and "[fp8-block]" in out


@pytest.mark.parametrize(
    ("model", "hardware", "summary"),
    [
        ("deepseek-v4-flash", "8xB200", "(1 layout rejected; --explain lists them)"),
        ("deepseek-v4-pro", "2x8xH200", "(23 layouts rejected; --explain lists them)"),
    ],
)
def test_table_counts_rejections(
    capsys: pytest.CaptureFixture[str], model: str, hardware: str, summary: str
) -> None:
    code, out, _ = run(capsys, "plan", "-m", model, "-H", hardware)
    assert code == 0
    assert out.rstrip().endswith(summary)


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["plan", "-m", "deepseek-v4-pro", "-H", "8xH100"], 3, "2x8xH100"),
        (["plan", "-H", "8xA100"], 3, "no upstream V4 path"),
        (["plan", "-m", "deepseek-v4-pro", "-H", "2x8xH200", "--tp", "16"], 2, "fp8-block"),
        (["plan", "--tp", "3"], 2, "heads"),
        (["plan", "-m", "nope"], 2, "unknown model"),
        (["plan", "-H", "8xZ9000"], 2, "unknown GPU"),
        (["plan", "--context", "-5"], 2, "context"),
        (["plan", "--context", "5M"], 2, "maximum"),
        (["plan", "--concurrency", "0"], 2, "concurrency"),
        (["plan", "--gpu-memory-utilization", "1.5"], 2, "gpu_memory_utilization"),
        (["plan", "--gpu-memory-utilization", "nan"], 2, "gpu_memory_utilization"),
        (["plan", "-H", "1000000000xH100"], 2, "out of range"),
        (["plan", "--bogus"], 2, "No such option"),
    ],
)
def test_errors_are_one_line_with_exit_code(
    capsys: pytest.CaptureFixture[str], args: list[str], code: int, needle: str
) -> None:
    got, _out, err = run(capsys, *args)
    assert got == code, err
    assert needle in err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[0].startswith("error:") and len(lines) <= 2


def test_worked_example_reproduced_by_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "plan",
        "-m",
        "deepseek-v4-flash",
        "-H",
        "8xB300",
        "--tp",
        "8",
        "--ep",
        "--kv-cache-memory-bytes",
        "4294967296",
        "--context",
        "8192",
        "--max-num-batched-tokens",
        "2048",
        "-o",
        "json",
    )
    assert code == 0
    cap = json.loads(out)["capacity"]
    assert (cap["max_concurrency_per_engine"], cap["kv_cache_tokens_per_engine"]) == (2.49, 20384)
    code, _, err = run(
        capsys,
        "plan",
        "-m",
        "deepseek-v4-flash",
        "-H",
        "1xB200",
        "--kv-cache-memory-bytes",
        "4GiB",
        "--context",
        "1M",
        "--max-num-batched-tokens",
        "2048",
    )
    assert code == 3 and "664064" in err


def test_list_commands_json_are_arrays(capsys: pytest.CaptureFixture[str]) -> None:
    for cmd in ("models", "hardware"):
        code, out, _ = run(capsys, cmd, "-o", "json")
        rows = json.loads(out)
        assert code == 0 and isinstance(rows, list) and rows and isinstance(rows[0], dict)


def test_capacity_covers_models_x_presets(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "capacity", "-o", "json", "--weights", "native")
    rows = json.loads(out)
    assert code == 0
    from deploy_kit.catalog import load_catalog

    presets = len(load_catalog().presets)
    assert len(rows) == 2 * presets
    fitting = [r for r in rows if r["fits"]]
    assert fitting and all(r["strategy"] and r["tokens_per_s"] for r in fitting)
    assert all(r["reason"] for r in rows if not r["fits"])


def test_capacity_csv(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "capacity", "-H", "8xH200", "-o", "csv")
    assert code == 0 and out.splitlines()[0].startswith("model,weights,")


def test_out_writes_file_atomically(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "plan.json"
    code, _, _ = run(capsys, "plan", "-o", "json", "--out", str(target))
    assert code == 0 and json.loads(target.read_text())["model"] == "deepseek-v4-flash"
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]


def test_deployment_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "deploy.yaml"
    f.write_text("model: deepseek-v4-pro\nhardware: 2x8xH200\nknobs:\n  context: 128K\n")
    code, out, _ = run(capsys, "plan", "-f", str(f), "-o", "json")
    plan = json.loads(out)
    assert code == 0 and plan["model"] == "deepseek-v4-pro" and plan["max_model_len"] == 131072


def test_cli_startup_does_not_import_heavy_modules() -> None:
    code = (
        "import sys; from deploy_kit.cli.main import main; "
        "heavy = [m for m in ('kubernetes', 'docker', 'rich') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_python_dash_m(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "deploy_kit", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0 and "deploy-kit" in out.stdout


def test_plan_on_cluster_pools_from_nodes_json(capsys: pytest.CaptureFixture[str]) -> None:
    nodes = Path(__file__).parent / "fixtures" / "nodes" / "nodes-mixed.json"
    code, out, err = run(
        capsys, "plan", "-m", "deepseek-v4-pro", "--nodes-json", str(nodes), "-o", "json"
    )
    assert code == 0, err
    plan = json.loads(out)
    assert plan["rationale"][0].startswith("chose pool gpu-h100")
    assert any("h200" in line for line in plan["rationale"][1:3])


def test_plan_cluster_without_cluster_exits_4(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "plan", "--cluster", "--kubeconfig", str(tmp_path / "none"))
    assert code == 4 and err.startswith("error:")
