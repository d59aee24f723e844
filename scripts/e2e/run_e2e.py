"""`make e2e`: run `deploy-kit smoke` against real vLLM CPU servers serving a tiny random model.

Cases: a full server (hermes tool parser, reasoning parser, API key) where every protocol check
passes; the same server with a wrong key; a server without a tool parser (tools.auto must fail
with vLLM's own reason); a closed port (exit 4). With --record, the responses are also captured
through a recording proxy into tests/fixtures/smoke/ for the unit tests' fake server.

Usage: python scripts/e2e/run_e2e.py --venv DIR [--work DIR] [--record]
Only 127.0.0.1 is used. Every server is stopped at the end, also on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from smoke_fake import RecordingProxy  # noqa: E402

DK = [str(ROOT / ".venv" / "bin" / "deploy-kit")]
FIXTURES = ROOT / "tests" / "fixtures" / "smoke"
KEY = "e2e-" + "k" * 28  # a test key for a loopback-only server; checked never to be printed
WRONG_KEY = "e2e-wrong-" + "w" * 22
SERVED = "tiny-chat"
MAX_LEN = 2048
START_TIMEOUT_S = 600  # first start compiles kernels; measured ~60-90 s on 2 cores
# Flags of the test server. The package's own argv lives in deploy_kit/vllm/argv.py; these
# start a scratch CPU server for a test and are not rendered anywhere.
COMMON = [
    "--load-format", "dummy",
    "--served-model-name", SERVED,
    "--host", "127.0.0.1",
    "--max-model-len", str(MAX_LEN),
    "--dtype", "float32",
    "--reasoning-parser", "deepseek_v3",
    # Bound JSON whitespace: random weights otherwise loop on whitespace inside guided JSON.
    "--structured-outputs-config", '{"backend": "xgrammar", "disable_any_whitespace": true}',
]  # fmt: skip
TOOLS = [
    "--enable-auto-tool-choice",
    "--tool-call-parser", "hermes",
    "--tool-strict-level", "parameter",
]  # fmt: skip
ENV = {
    "VLLM_CPU_KVCACHE_SPACE": "1",  # GiB of KV cache: plenty for a 2K context tiny model
    # vLLM 0.32 builds hermes structural tags with unbounded whitespace between JSON tokens
    # (vllm/tool_parsers/structural_tag_registry.py, _hermes_tool_tags: no max_whitespace_cnt),
    # on which a random-weight model never stops; without structural tags, named and required
    # tool choice use the JSON-schema path that disable_any_whitespace bounds.
    "VLLM_ENFORCE_STRICT_TOOL_CALLING": "0",
}

failures: list[str] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def expect(cond: bool, what: str) -> None:
    print(("  ok    " if cond else "  FAIL  ") + what, flush=True)
    if not cond:
        failures.append(what)


class Server:
    def __init__(self, venv: Path, model: Path, name: str, extra: list[str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [str(venv / "bin" / "vllm"), "serve", str(model), *COMMON, "--port", str(self.port)]
        self.argv = argv + extra
        self.name, self.log = name, log
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        shown = " ".join(shlex.quote(a) if a != KEY else "$KEY" for a in self.argv)
        print(f"\n== {self.name}: {shown}", flush=True)
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **ENV},
                start_new_session=True,
            )  # fmt: skip
        start = time.monotonic()
        while time.monotonic() - start < START_TIMEOUT_S:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited {self.proc.returncode}; see {self.log}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=5) as resp:
                    if resp.status == 200:
                        print(f"   ready in {time.monotonic() - start:.0f} s", flush=True)
                        return self
            except OSError:
                time.sleep(2)
        self.__exit__()
        raise SystemExit(f"{self.name} not ready in {START_TIMEOUT_S} s; see {self.log}")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)


def smoke(url: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    argv = [*DK, "smoke", url, "--timeout", "120", *args]
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=900, env={**os.environ, **(env or {})}
    )
    return proc.returncode, proc.stdout, proc.stderr


def statuses(report: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["name"]: (c["status"], c["reason"]) for c in report["checks"]}


def full_server_cases(url: str, work: Path) -> None:
    env = {"E2E_KEY": KEY}
    code, out, err = smoke(
        url, "--model", SERVED, "--api-key-env", "E2E_KEY", "-o", "json", env=env
    )
    report = json.loads(out) if out.strip().startswith("{") else {"checks": []}
    st = statuses(report)
    print(out if code else "", err, flush=True)
    expect(code == 0, f"full server: exit 0 (got {code})")
    must_pass = [
        *("health", "models", "auth", "chat", "stream", "tools.auto", "tools.required"),
        *("tools.named", "json.schema", "thinking.off", "thinking.on", "metrics"),
    ]
    for name in must_pass:
        expect(
            st.get(name, ("missing",))[0] == "pass", f"full server: {name} passes {st.get(name)}"
        )
    expect(
        st.get("json.object", ("missing",))[0] in ("pass", "skip"),
        f"json.object {st.get('json.object')}",
    )
    expect("393216" in st.get("thinking.max", ("", ""))[1], "thinking.max skipped: 393216 > 2048")
    expect(st.get("embeddings", ("",))[0] == "skip", "embeddings: not served, skipped")
    expect(KEY not in out + err, "the key is never printed")

    code, out, err = smoke(url, "--model", SERVED, "--api-key-env", "E2E_KEY", "--require",
                           "embeddings", "-o", "json", env=env)  # fmt: skip
    expect(code == 1, f"--require embeddings: exit 1 (got {code})")

    junit = work / "smoke-junit.xml"
    code, out, err = smoke(url, "--model", SERVED, "--api-key-env", "E2E_KEY", "-o", "junit",
                           "--out", str(junit), env=env)  # fmt: skip
    expect(code == 0 and junit.is_file(), f"junit written (exit {code})")
    try:
        import xmlschema

        for xsd in ("ant-junit.xsd", "jenkins-junit-10.xsd"):
            xmlschema.XMLSchema(str(FIXTURES / "junit" / xsd)).validate(str(junit))
            expect(True, f"junit validates against {xsd}")
    except ImportError:
        expect(False, "xmlschema is installed in .venv (pip install -e '.[dev]')")
    except Exception as exc:  # xmlschema's validation error
        expect(False, f"junit validates: {exc}")

    plan = work / "plan.json"
    subprocess.run([*DK, "plan", "-m", "deepseek-v4-flash", "-H", "8xH200", "-o", "json",
                    "--out", str(plan), "-q"], check=True, timeout=120)  # fmt: skip
    calib = work / "calibration.json"
    load = ["--load", "--concurrency", "2", "--isl", "64", "--osl", "16", "--requests", "4"]
    code, out, err = smoke(url, "--model", SERVED, "--api-key-env", "E2E_KEY", "--plan",
                           str(plan), *load, "--calibration-out", str(calib), env=env)  # fmt: skip
    print(out, err, flush=True)
    expect(code == 0, f"load probe with --plan: exit 0 (got {code})")
    record = json.loads(calib.read_text()) if calib.is_file() else {}
    expect(record.get("source") == "deploy-kit smoke" and record.get("tpot_ms", 0) > 0,
           f"calibration record written: {sorted(record)[:6]}...")  # fmt: skip
    expect("against the plan" in out, "measured figures shown next to the plan's")

    code, out, err = smoke(url, "--model", SERVED, "--api-key", WRONG_KEY, "-o", "json")
    st = statuses(json.loads(out)) if out.strip().startswith("{") else {}
    expect(code == 1, f"wrong key: exit 1 (got {code})")
    expect(
        "rejected" in st.get("models", ("", ""))[1], f"wrong key: models says {st.get('models')}"
    )
    expect(st.get("auth", ("",))[0] == "pass", "wrong key: the key-less request still gets 401")
    expect(WRONG_KEY not in out + err, "the wrong key is never printed")


def noparser_cases(url: str) -> None:
    code, out, _err = smoke(url, "--model", SERVED, "-o", "json", env={"VLLM_API_KEY": ""})
    st = statuses(json.loads(out)) if out.strip().startswith("{") else {}
    print(json.dumps(st, indent=1), flush=True)
    expect(code == 1, f"no tool parser: exit 1 (got {code})")
    auto = st.get("tools.auto", ("", ""))
    expect(auto[0] == "fail" and "tool" in auto[1] and "HTTP 400" in auto[1],
           f"no tool parser: tools.auto fails with vLLM's reason: {auto[1]}")  # fmt: skip
    expect(st.get("auth", ("",))[0] == "skip", "no key on either side: auth skipped")


def record(
    url: str, key: str | None, name: str, runs: list[list[str]], meta: dict[str, Any]
) -> None:
    with RecordingProxy(url, key) as proxy:
        for args in runs:
            smoke(proxy.url, *args, env={"E2E_KEY": KEY, "VLLM_API_KEY": ""})
        proxy.save(FIXTURES / name, meta)
    print(f"   recorded {FIXTURES / name}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--venv", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=ROOT / "out" / "e2e")
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args()
    work: Path = args.work.absolute()
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    model = work / "tiny-model"
    subprocess.run([str(args.venv / "bin" / "python"), str(ROOT / "scripts/e2e/make_tiny_model.py"),
                    str(model)], check=True)  # fmt: skip
    version = subprocess.run([str(args.venv / "bin" / "vllm"), "--version"], capture_output=True,
                             text=True, timeout=300).stdout.strip().splitlines()[-1]  # fmt: skip
    meta = {"vllm": version, "model": "tiny random Llama (scripts/e2e/make_tiny_model.py)",
            "recorded_by": "make e2e (scripts/e2e/run_e2e.py --record)"}  # fmt: skip

    with Server(
        args.venv, model, "full server", [*TOOLS, "--api-key", KEY], work / "vllm-full.log"
    ) as srv:
        full_server_cases(srv.url, work)
        if args.record:
            load = ["--load", "--concurrency", "2", "--isl", "64", "--osl", "16", "--requests", "2"]
            runs = [
                ["--model", SERVED, "--api-key-env", "E2E_KEY", "-o", "json"],
                ["--model", SERVED, "--api-key-env", "E2E_KEY", "-o", "json", *load],
                ["--model", SERVED, "--api-key", WRONG_KEY, "-o", "json"],
                ["--model", SERVED, "-o", "json"],  # no key at all
            ]
            flags = " ".join([*COMMON, *TOOLS, "--api-key", "$KEY"])
            record(srv.url, KEY, "recorded-full.json", runs, {**meta, "server": flags})

    with Server(args.venv, model, "no tool parser", [], work / "vllm-noparser.log") as srv:
        noparser_cases(srv.url)
        if args.record:
            runs = [["--model", SERVED, "-o", "json"]]
            record(
                srv.url, None, "recorded-noparser.json", runs, {**meta, "server": " ".join(COMMON)}
            )

    port = free_port()
    code, _out, err = smoke(f"http://127.0.0.1:{port}")
    expect(
        code == 4, f"closed port: exit 4 (got {code}): {err.strip().splitlines()[0] if err else ''}"
    )

    took = time.monotonic() - t0
    print(f"\ne2e: {len(failures)} failed in {took:.0f} s (servers, checks and recording)")
    for f in failures:
        print(f"  - {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
