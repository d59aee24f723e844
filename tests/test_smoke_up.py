"""`deploy-kit up` runs smoke once the stack is ready: the step, against a recorded server."""

from __future__ import annotations

import click
import pytest
from smoke_fake import E2E_KEY, SERVED, FakeVllm

from deploy_kit.cli import local as cli_local
from deploy_kit.spec import Plan
from deploy_kit.vllm import argv as vllm
from tests.helpers import run_cli


def _plan_serving(plan: Plan, name: str, max_len: int) -> Plan:
    """The same plan, rendered for the recorded server's name and context."""
    argv = {}
    for role, args in plan.vllm.argv.items():
        pairs = zip(["", *args], args, strict=False)
        argv[role] = [name if prev == vllm.F_SERVED_NAME else a for prev, a in pairs]
    spec = plan.vllm.model_copy(update={"argv": argv})
    return plan.model_copy(update={"vllm": spec, "max_model_len": max_len})


@pytest.fixture
def plan(capsys: pytest.CaptureFixture[str], tmp_path_factory: pytest.TempPathFactory) -> Plan:
    out = tmp_path_factory.mktemp("p") / "plan.json"
    assert run_cli(capsys, "plan", "-H", "8xH200", "-o", "json", "--out", str(out), "-q")[0] == 0
    return Plan.model_validate_json(out.read_text())


def test_up_smoke_passes_on_a_good_server(
    plan: Plan, capsys: pytest.CaptureFixture[str], tmp_path: pytest.TempPathFactory
) -> None:
    with FakeVllm("recorded-full.json", E2E_KEY) as fake:
        cli_local.run_smoke(fake.url, _plan_serving(plan, SERVED, 2048), E2E_KEY, tmp_path)  # type: ignore[arg-type]
    out, err = capsys.readouterr()
    assert "PASS  tools.required" in out and "0 failed" in out
    assert E2E_KEY not in out + err


def test_up_smoke_failing_exits_1_and_says_the_stack_keeps_running(
    plan: Plan, capsys: pytest.CaptureFixture[str], tmp_path: pytest.TempPathFactory
) -> None:
    with (
        FakeVllm("recorded-full.json", E2E_KEY) as fake,
        pytest.raises(click.exceptions.Exit) as info,
    ):
        # The plan renders deepseek-v4-flash; the server serves tiny-chat.
        cli_local.run_smoke(fake.url, plan, E2E_KEY, tmp_path)  # type: ignore[arg-type]
    assert info.value.exit_code == 1
    out, err = capsys.readouterr()
    assert "FAIL  models" in out and "expected deepseek-v4-flash" in out
    assert "containers keep running" in err and f"--bundle {tmp_path}" in err


def test_up_dry_run_shows_the_smoke_step(
    capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    code, out, _ = run_cli(capsys, "up", "--dry-run", "-H", "8xH200", "--out", "o")
    assert code == 0
    assert (
        "  smoke: $ deploy-kit smoke http://127.0.0.1:8000 --bundle o  (skip with --no-smoke)"
        in out
    )
    code, out, _ = run_cli(capsys, "up", "--dry-run", "-H", "8xH200", "--out", "o", "--no-smoke")
    assert code == 0 and "smoke: skipped (--no-smoke)" in out
