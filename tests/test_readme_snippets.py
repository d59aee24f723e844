"""The client snippet each bundle README shows runs, with the official openai client, against
replies a real vLLM server gave (tests/fixtures/smoke/recorded-full.json, recorded by `make e2e`).

The snippet's own requests were never recorded (it asks the rendered model, with no token
limit), so each is answered with the real reply to a request of the same kind: plain chat,
streaming with usage, tools, a JSON schema, thinking. What this proves is that the snippet's code
handles the shapes a real server sends (tool_calls, the reasoning field, a streamed usage chunk,
JSON content), end to end through the client, and that it sends the key it says it sends.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import python_block, run_cli
from tests.smoke_fake import E2E_KEY, FIXTURES, FakeVllm, _Handler

RECORDED = json.loads((FIXTURES / "recorded-full.json").read_text(encoding="utf-8"))["responses"]
# kind -> a piece of the recorded request key that picks the real reply of that kind
KINDS = {
    "stream": '"content":"Say OK.","role":"user"}],"model":"tiny-chat","stream":true,'
    '"stream_options":{"include_usage":true}',
    "tools": '"tool_choice":"required"',
    "json_schema": '"response_format":{"json_schema"',
    "thinking": '"thinking":true',
    "chat": '"max_tokens":32,"messages":[{"content":"Say OK.","role":"user"}],"model":"tiny-chat",'
    '"temperature":0}',
}


def _recorded(kind: str) -> dict[str, Any]:
    found = [v for k, v in RECORDED.items() if k.startswith("POST /v1/chat") and KINDS[kind] in k]
    assert len(found) == 1, kind
    return found[0]


def kind_of(request: dict[str, Any]) -> str:
    if request.get("stream"):
        return "stream"
    if request.get("tools"):
        return "tools"
    if (request.get("response_format") or {}).get("type") == "json_schema":
        return "json_schema"
    if (request.get("chat_template_kwargs") or {}).get("thinking"):
        return "thinking"
    return "chat"


class _ByKindHandler(_Handler):
    def _serve(self, body: bytes) -> None:
        if self.headers.get("Authorization") != f"Bearer {E2E_KEY}":
            self._reply(RECORDED["GET /v1/models none "])  # vLLM's real 401
            return
        if self.command != "POST" or self.path != "/v1/chat/completions":
            self.server.misses.append(f"{self.command} {self.path}")
            self._reply({"status": 404, "content_type": "application/json", "body": "{}"})
            return
        kind = kind_of(json.loads(body))
        self.server.seen.append(kind)
        self._reply(_recorded(kind))


LOCAL_URL = 'base_url="http://127.0.0.1:8000/v1"'


def _snippet(capsys: pytest.CaptureFixture[str], tmp_path: Path, target: str) -> str:
    code, _, err = run_cli(
        capsys, "render", "-H", "8xH200", "-t", target, "--out", str(tmp_path), "-q"
    )
    assert code == 0, err
    snippet = python_block((tmp_path / "README.md").read_text(encoding="utf-8"))
    assert LOCAL_URL in snippet
    return snippet


def _by_kind_server() -> FakeVllm:
    fake = FakeVllm("recorded-full.json", E2E_KEY)
    fake.httpd.RequestHandlerClass = _ByKindHandler
    return fake


@pytest.mark.parametrize("target", ["compose", "kubernetes", "helm"])
def test_readme_snippet_runs_against_real_replies(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    target: str,
) -> None:
    snippet = _snippet(capsys, tmp_path, target)
    with _by_kind_server() as fake:
        monkeypatch.setenv("VLLM_API_KEY", E2E_KEY)
        code = snippet.replace(LOCAL_URL, f'base_url="{fake.url}/v1"')
        exec(compile(code, "README", "exec"), {})
        seen, misses = list(fake.httpd.seen), fake.misses  # type: ignore[attr-defined]
    out = capsys.readouterr().out
    assert misses == []
    # One call of each kind, in the README's order.
    assert seen == ["chat", "stream", "tools", "json_schema", "thinking"], seen
    tools = json.loads(_recorded("tools")["body"])["choices"][0]["message"]["tool_calls"]
    assert f"{tools[0]['function']['name']} {json.loads(tools[0]['function']['arguments'])}" in out
    schema_reply = json.loads(_recorded("json_schema")["body"])["choices"][0]["message"]
    assert str(json.loads(schema_reply["content"])) in out


def test_snippet_without_the_key_is_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The fake answers a request without the key as vLLM did (401), so the test above really
    depends on the snippet sending VLLM_API_KEY."""
    import openai

    snippet = _snippet(capsys, tmp_path, "compose")
    with _by_kind_server() as fake:
        monkeypatch.setenv("VLLM_API_KEY", "not-the-key")
        code = snippet.replace(LOCAL_URL, f'base_url="{fake.url}/v1", max_retries=0')
        with pytest.raises(openai.AuthenticationError):
            exec(compile(code, "README", "exec"), {})
