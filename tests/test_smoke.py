"""`deploy-kit smoke` against a fake endpoint replaying responses recorded from a real vLLM
CPU server (`make e2e E2E_RECORD=1`), plus the pure parts: percentiles, comparison, redaction."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import xmlschema
import yaml
from smoke_fake import E2E_KEY, FIXTURES, SERVED, WRONG_KEY, FakeVllm

from deploy_kit.smoke import checks, expect, load, probe, report
from deploy_kit.smoke.results import CheckResult, SmokeReport
from deploy_kit.vllm import argv as vllm
from tests.helpers import run_cli

REPO = Path(__file__).resolve().parents[1]
XSDS = [FIXTURES / "junit" / "ant-junit.xsd", FIXTURES / "junit" / "jenkins-junit-10.xsd"]
LOAD_ARGS = ["--load", "--concurrency", "2", "--isl", "64", "--osl", "16", "--requests", "2"]


def smoke(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return run_cli(capsys, "smoke", *args)


def statuses(out: str) -> dict[str, tuple[str, str]]:
    return {c["name"]: (c["status"], c["reason"]) for c in json.loads(out)["checks"]}


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("E2E_KEY", E2E_KEY)
    monkeypatch.delenv("VLLM_API_KEY", raising=False)


# --- the full server ---------------------------------------------------------------------------


@pytest.mark.usefixtures("keyed")
def test_every_check_passes_against_the_recorded_full_server(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with FakeVllm("recorded-full.json", E2E_KEY) as fake:
        code, out, err = smoke(
            capsys, fake.url, "--model", SERVED, "--api-key-env", "E2E_KEY", "-o", "json"
        )
    assert fake.misses == [], "smoke sent a request the recording lacks: re-record (make e2e)"
    assert code == 0, out + err
    st = statuses(out)
    must_pass = [
        *("health", "models", "auth", "chat", "stream", "tools.auto", "tools.required"),
        *("tools.named", "json.schema", "thinking.off", "thinking.on", "metrics"),
    ]
    for name in must_pass:
        assert st[name][0] == "pass", (name, st[name])
    assert st["thinking.max"] == (
        "skip",
        "Think Max needs max_model_len >= 393216; the server serves 2048",
    )
    assert st["embeddings"][0] == "skip" and "serves no embeddings" in st["embeddings"][1]
    assert "cut at max_tokens" not in st["tools.required"][1]
    assert json.loads(out)["server_version"].startswith("0.32")


@pytest.mark.usefixtures("keyed")
def test_embeddings_fail_only_when_required(capsys: pytest.CaptureFixture[str]) -> None:
    with FakeVllm("recorded-full.json", E2E_KEY) as fake:
        code, out, _ = smoke(
            capsys, fake.url, "--model", SERVED, "--api-key-env", "E2E_KEY", "--require",
            "embeddings", "-o", "json",
        )  # fmt: skip
    assert code == 1
    assert statuses(out)["embeddings"][0] == "fail"


@pytest.mark.usefixtures("keyed")
def test_the_table_says_what_passed_and_nothing_secret(capsys: pytest.CaptureFixture[str]) -> None:
    with FakeVllm("recorded-full.json", E2E_KEY) as fake:
        code, out, err = smoke(capsys, fake.url, "--model", SERVED, "--api-key-env", "E2E_KEY")
    assert code == 0
    assert "PASS  tools.named" in out and "13 passed, 0 failed, 3 skipped" in out
    assert E2E_KEY not in out + err


def test_a_wrong_key_fails_models_and_is_never_printed(capsys: pytest.CaptureFixture[str]) -> None:
    with FakeVllm("recorded-full.json", E2E_KEY) as fake:
        for fmt in ("json", "table", "junit"):
            code, out, err = smoke(
                capsys, fake.url, "--model", SERVED, "--api-key", WRONG_KEY, "-o", fmt
            )
            assert code == 1
            assert WRONG_KEY not in out + err
        code, out, _ = smoke(
            capsys, fake.url, "--model", SERVED, "--api-key", WRONG_KEY, "-o", "json"
        )
    st = statuses(out)
    assert st["models"] == ("fail", "HTTP 401: the server rejected the API key (not shown)")
    assert st["auth"][0] == "pass"  # the key-less request is still refused
    assert st["chat"] == ("skip", "not run: the API key was rejected (see models)")
    assert st["metrics"][0] == "pass"


def test_no_key_against_a_keyed_server_says_to_pass_one(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    with FakeVllm("recorded-full.json", E2E_KEY) as fake:
        code, out, _ = smoke(capsys, fake.url, "--model", SERVED, "-o", "json")
    assert fake.misses == []
    assert code == 1
    st = statuses(out)
    assert st["models"][0] == "fail" and "pass --api-key-env VAR" in st["models"][1]
    assert st["auth"] == (
        "fail",
        "the server wants an API key and none was given (--api-key-env VAR)",
    )
    assert st["chat"] == ("skip", "not run: the server requires an API key and none was given")


# --- the server without a tool parser ------------------------------------------------------------


def test_tools_fail_with_vllms_reason_without_a_tool_parser(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    with FakeVllm("recorded-noparser.json", None) as fake:
        code, out, _ = smoke(capsys, fake.url, "--model", SERVED, "-o", "json")
    assert fake.misses == []
    assert code == 1
    st = statuses(out)
    status, reason = st["tools.auto"]
    assert status == "fail" and reason.startswith("HTTP 400: ")
    assert "--enable-auto-tool-choice" in reason and "--tool-call-parser" in reason
    assert st["auth"][0] == "skip"  # no key on either side
    assert st["chat"][0] == "pass"


# --- unreachable and bad input -------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_closed_port_exits_4_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = smoke(capsys, f"http://127.0.0.1:{_closed_port()}")
    assert code == 4
    assert out == ""
    assert err.splitlines()[0].startswith("error: cannot reach http://127.0.0.1:")
    assert "connection refused" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ftp://x"], "is not an http(s) URL"),
        (["http://user:pw@127.0.0.1:1"], "carries credentials"),
        (["http://127.0.0.1:1", "--api-key-env", "DK_SMOKE_UNSET_VAR"], "not set or empty"),
        (["http://127.0.0.1:1", "--api-key", "k", "--api-key-env", "X"], "exclude each other"),
        (["http://127.0.0.1:1", "--plan", "/nonexistent/plan.json"], "plan"),
        (["http://127.0.0.1:1", "--bundle", "/nonexistent"], "not a folder"),
        (["http://127.0.0.1:1", "--isl", "10"], "add --load"),
        (["http://127.0.0.1:1", "--load", "--calibration-out", "c.json"], "--plan or --bundle"),
        (["http://127.0.0.1:1", "--timeout", "0"], "--timeout"),
    ],
)
def test_bad_input_exits_2_before_any_request(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _, err = smoke(capsys, *args)
    assert code == 2, err
    assert message in err and "Traceback" not in err


def test_a_bundle_without_plan_json_is_bad_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = smoke(capsys, "http://127.0.0.1:1", "--bundle", str(tmp_path))
    assert code == 2 and "no plan.json" in err


# --- JUnit -------------------------------------------------------------------------------------


@pytest.mark.usefixtures("keyed")
@pytest.mark.parametrize("key_arg", [["--api-key-env", "E2E_KEY"], ["--api-key", WRONG_KEY]])
def test_junit_validates_against_the_ant_and_jenkins_schemas(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, key_arg: list[str]
) -> None:
    out_file = tmp_path / "smoke.xml"
    with FakeVllm("recorded-full.json", E2E_KEY) as fake:
        smoke(capsys, fake.url, "--model", SERVED, *key_arg, "-o", "junit", "--out", str(out_file))
    text = out_file.read_text()
    for xsd in XSDS:
        xmlschema.XMLSchema(str(xsd)).validate(str(out_file))
    if "--api-key" in key_arg:
        assert '<failure message="HTTP 401' in text and "<skipped" in text
        assert WRONG_KEY not in text


def test_junit_rejects_what_the_schema_forbids() -> None:
    """The schemas are strict enough to catch a broken report (else validating proves nothing)."""
    good = report.junit(SmokeReport(url="http://x", model=None, checks=[_check("a", "pass")]))
    schema = xmlschema.XMLSchema(str(XSDS[0]))
    assert schema.is_valid(good)
    assert not schema.is_valid(
        good.replace("<system-err", "<system-error").replace("</system-err>", "</system-error>")
    )
    assert not schema.is_valid(good.replace(' tests="1"', ""))


# --- load probe --------------------------------------------------------------------------------


@pytest.mark.usefixtures("keyed")
def test_load_probe_measures_and_compares_with_the_plan(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plan_file = tmp_path / "plan.json"
    assert run_cli(capsys, "plan", "-m", "deepseek-v4-flash", "-H", "8xH200", "-o", "json",
                   "--out", str(plan_file), "-q")[0] == 0  # fmt: skip
    calib = tmp_path / "calibration.json"
    delay = 0.02
    with FakeVllm("recorded-full.json", E2E_KEY, event_delay_s=delay) as fake:
        code, out, err = smoke(
            capsys, fake.url, "--model", SERVED, "--api-key-env", "E2E_KEY", "--plan",
            str(plan_file), *LOAD_ARGS, "--calibration-out", str(calib), "-o", "json",
        )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    m = data["load"]
    assert m["requests"] == 2 and m["errors"] == 0
    assert m["concurrency"] == 2 and m["osl"] == 16
    # The fake sends each SSE event after `delay`: the first token comes after >= 2 events
    # (role, then the first delta), each later token one event later.
    assert m["ttft_ms"]["p50"] >= 2 * delay * 1000 * 0.9
    # Lower bounds only: a slow machine may stretch both, nothing makes them shorter.
    assert m["tpot_ms"]["p50"] >= delay * 1000 * 0.9
    assert m["gpus"] == 8
    assert m["output_tokens_per_s_per_gpu"] == pytest.approx(m["output_tokens_per_s"] / 8, rel=1e-3)
    plan = json.loads(plan_file.read_text())
    rows = {c["metric"]: c for c in data["comparison"]}
    assert rows["tpot_ms"]["estimate"] == pytest.approx(plan["performance"]["tpot_ms"], abs=1e-3)
    at = plan["performance"]["percentile"]  # measured at the percentile the plan states
    assert rows["tpot_ms"]["at"] == at and rows["tpot_ms"]["measured"] == m["tpot_ms"][at]
    assert rows["tpot_ms"]["ratio"] == pytest.approx(
        rows["tpot_ms"]["measured"] / rows["tpot_ms"]["estimate"], rel=1e-2
    )
    record = json.loads(calib.read_text())
    assert record["source"] == "deploy-kit smoke"
    assert record["gpu"] == "h200" and record["concurrency"] == 2 and record["osl"] == 16
    assert record["layout"].startswith(plan["strategy"])
    assert (
        record["tpot_ms"] == m["tpot_ms"]["mean"] and record["tpot_ms_p50"] == m["tpot_ms"]["p50"]
    )
    # Every key of a row of the catalog's calibration table, in that table's meaning.
    table = yaml.safe_load((REPO / "deploy_kit" / "catalog" / "calibration.yaml").read_text())
    assert set(table["rows"][0]) <= set(record)
    assert record["checkpoint"] == "deepseek-v4-flash" and record["num_prompts"] == 2
    assert record["total_tokens_per_s_per_gpu"] == pytest.approx(
        m["output_tokens_per_s_per_gpu"] * (record["isl"] + 16) / 16, rel=1e-3
    )
    assert record["isl"] == m["measured_isl"] > 64  # the chat template adds tokens
    assert any("64 concurrent" in n or "concurrent" in n for n in data["comparison_notes"])


def test_percentiles_interpolate_like_numpy() -> None:
    assert load.percentile([1, 2, 3, 4], 0.5) == 2.5
    assert load.percentile([10.0], 0.9) == 10.0
    assert load.percentile([0, 10], 0.9) == pytest.approx(9.0)
    assert load.percentile([], 0.5) == 0.0


def test_summarise_turns_samples_into_ttft_tpot_and_throughput() -> None:
    samples = [
        load.Sample(start=0.0, first=0.1, end=1.1, prompt_tokens=70, output_tokens=11),
        load.Sample(start=0.0, first=0.3, end=2.3, prompt_tokens=70, output_tokens=11),
        load.Sample(start=0.5, first=None, end=0.6, prompt_tokens=0, output_tokens=0, error="x"),
    ]
    m = load.summarise(samples, load.LoadSettings(concurrency=2, isl=64, osl=11), 2, 2.5, 4)
    assert m.requests == 2 and m.errors == 1 and m.first_error == "x"
    assert m.ttft_ms.p50 == pytest.approx(200.0) and m.ttft_ms.mean == pytest.approx(200.0)
    assert m.tpot_ms.p50 == pytest.approx(150.0)  # (1000/10 + 2000/10) / 2
    assert m.output_tokens_per_s == pytest.approx(22 / 2.3, rel=1e-3)
    assert m.output_tokens_per_s_per_gpu == pytest.approx(22 / 2.3 / 4, rel=1e-3)
    assert m.measured_isl == 70


def test_the_probe_stops_at_its_request_cap() -> None:
    calls: list[int] = []

    def fake_request(
        client: Any, model: str, settings: load.LoadSettings, t0: float
    ) -> load.Sample:
        calls.append(1)
        return load.Sample(0.0, 0.01, 0.02, 10, 4)

    settings = load.LoadSettings(concurrency=3, duration_s=60, max_requests=7)
    m = load.run_load(None, "m", settings, None, request=fake_request)
    assert len(calls) == 7 and m.requests == 7


# --- pieces ------------------------------------------------------------------------------------


def _check(name: str, status: Any, reason: str = "r") -> CheckResult:
    return CheckResult(name=name, status=status, reason=reason)


def test_redact_scrubs_a_key_a_server_echoed_back() -> None:
    key = "sk-" + "s" * 30
    echoed = SmokeReport(
        url="http://x", model="m", checks=[_check("chat", "fail", f"HTTP 401: bad key {key}")]
    )
    clean = report.redact(echoed, [key, None])
    for fmt in report.FORMATS:
        assert key not in report.render(clean, fmt)
    assert "[redacted]" in clean.checks[0].reason


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://127.0.0.1:8000/v1/", "http://127.0.0.1:8000"),
        ("https://llm.example/prefix/v1", "https://llm.example/prefix"),
    ],
)
def test_urls_are_reduced_to_their_base(url: str, base: str) -> None:
    assert probe.normalise_url(url) == base


def test_server_messages_are_read_from_every_vllm_error_shape() -> None:
    class Err:
        def __init__(self, body: Any) -> None:
            self.body = body
            self.message = "fallback"

    assert checks.server_message(Err({"message": "m1", "type": "BadRequestError"})) == "m1"
    assert checks.server_message(Err({"error": {"message": "m2"}})) == "m2"
    assert checks.server_message(Err("Unauthorized")) == "Unauthorized"
    assert checks.server_message(Err({"detail": "Not Found"})) == "Not Found"
    assert checks.server_message(Err(None)) == "fallback"


def test_the_served_name_comes_from_the_rendered_argv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan_file = tmp_path / "plan.json"
    run_cli(
        capsys,
        "plan",
        "-m",
        "deepseek-v4-flash",
        "-H",
        "8xH200",
        "-o",
        "json",
        "--out",
        str(plan_file),
        "-q",
    )
    e = expect.from_plan(plan_file)
    assert e.served_name == "deepseek-v4-flash"
    assert e.max_model_len == json.loads(plan_file.read_text())["max_model_len"]


def test_think_max_threshold_is_the_planners_rule() -> None:
    from deploy_kit.planner.rules import THINK_MAX_CONTEXT

    s = checks.Session("http://x", None, 1.0, None, served_max_len=THINK_MAX_CONTEXT - 1)
    assert checks.check_thinking_max(s).status == "skip"
    assert str(THINK_MAX_CONTEXT) in checks.check_thinking_max(s).reason


def test_the_command_does_not_import_openai_until_it_runs() -> None:
    code = (
        "import sys, deploy_kit.cli.main as m; m.cli.get_command(None, 'smoke');"
        "print(sorted(n for n in ('openai', 'jsonschema', 'httpx') if n in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- failures a real server may show, made by editing one recorded reply ------------------------


def _tampered(tmp_path: Path, match: str, edit: Any) -> Path:
    """recorded-full.json with the replies to requests whose key contains `match` edited."""
    data = json.loads((FIXTURES / "recorded-full.json").read_text())
    hits = 0
    for key, entry in data["responses"].items():
        if match in key:
            body = json.loads(entry["body"])
            entry["body"] = json.dumps(edit(body))
            hits += 1
    assert hits, match
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.usefixtures("keyed")
def test_a_reply_without_choices_fails_the_check_without_a_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    chat = '"max_tokens":32,"messages":[{"content":"Say OK.","role":"user"}],"model":"tiny-chat",'
    chat += '"temperature":0}'  # the chat check's request, not the stream's
    path = _tampered(tmp_path, chat, lambda body: {**body, "choices": []})
    with FakeVllm(str(path), E2E_KEY) as fake:
        code, out, err = smoke(
            capsys, fake.url, "--model", SERVED, "--api-key-env", "E2E_KEY", "-o", "json"
        )
    assert code == 1, err
    status, reason = statuses(out)["chat"]
    assert status == "fail" and reason.startswith("malformed reply (IndexError")


@pytest.mark.usefixtures("keyed")
def test_reasoning_left_in_the_content_fails_thinking(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def unparsed(body: dict[str, Any]) -> dict[str, Any]:
        message = body["choices"][0]["message"]
        message["content"] = "<think>" + (message.pop("reasoning") or "")
        return body

    path = _tampered(tmp_path, '"thinking":true', unparsed)
    with FakeVllm(str(path), E2E_KEY) as fake:
        code, out, _ = smoke(
            capsys, fake.url, "--model", SERVED, "--api-key-env", "E2E_KEY", "-o", "json"
        )
    assert code == 1
    status, reason = statuses(out)["thinking.on"]
    assert status == "fail" and "not separated" in reason


@pytest.mark.usefixtures("keyed")
def test_tool_arguments_outside_the_schema_fail(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def wrong_city(body: dict[str, Any]) -> dict[str, Any]:
        for call in body["choices"][0]["message"].get("tool_calls") or []:
            call["function"]["arguments"] = json.dumps({"city": "Atlantis", "unit": "celsius"})
        return body

    path = _tampered(tmp_path, '"tool_choice":"required"', wrong_city)
    with FakeVllm(str(path), E2E_KEY) as fake:
        code, out, _ = smoke(
            capsys, fake.url, "--model", SERVED, "--api-key-env", "E2E_KEY", "-o", "json"
        )
    assert code == 1
    status, reason = statuses(out)["tools.required"]
    assert status == "fail" and "do not match the schema" in reason and "Atlantis" in reason


def test_the_calibration_record_names_the_speculative_draft(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plan_file = tmp_path / "plan.json"
    args = ["-m", "deepseek-v4-flash", "-H", "8xH200", "--speculative", "-o", "json"]
    assert run_cli(capsys, "plan", *args, "--out", str(plan_file), "-q")[0] == 0
    plan = expect.load_plan(plan_file)
    spec = load.speculative_of(plan)
    assert spec is not None and spec["tokens"] >= 1 and spec["method"]
    argv = plan.vllm.argv["node-0"]
    config = json.loads(argv[argv.index(vllm.F_SPECULATIVE) + 1])
    assert spec == {"method": config["method"], "tokens": config["num_speculative_tokens"]}
    assert (
        load.speculative_of(
            plan.model_copy(update={"vllm": plan.vllm.model_copy(update={"argv": {}})})
        )
        is None
    )
