"""Waiting for the local server: /health then /v1/models, progress lines, and what to print."""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Literal

from deploy_kit.errors import EnvironmentMissing
from deploy_kit.spec import Plan

# Plain (non-TTY) progress: one line per this many seconds keeps CI logs readable.
PLAIN_PROGRESS_EVERY_S: Final = 30.0


class NotReady(EnvironmentMissing):
    """The server did not answer /health and /v1/models in time, or its containers stopped."""

    def __init__(self, message: str, *, hint: str | None = None, phase: str = "health") -> None:
        super().__init__(message, hint=hint)
        self.phase = phase


@dataclass(frozen=True)
class WaitProgress:
    """One tick of the wait: which endpoint, how long so far, against the estimate."""

    phase: Literal["health", "models"]
    elapsed_s: float
    expected_s: float
    timeout_s: float
    last_error: str | None = None


@dataclass(frozen=True)
class ReadyResult:
    base_url: str
    elapsed_s: float
    models: tuple[str, ...] = field(default_factory=tuple)


def wait_ready(
    base_url: str,
    timeout_s: float,
    expected_load_s: float,
    poll_s: float = 5.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    on_progress: Callable[[WaitProgress], None] | None = None,
    *,
    api_key: str | None = None,
    stopped: Callable[[], str | None] | None = None,
    request_timeout_s: float = 5.0,
) -> ReadyResult:
    """Poll /health until 200, then /v1/models until it lists a model; NotReady on timeout.

    `stopped` is asked every poll and ends the wait early when the containers have exited.
    The API key goes into the Authorization header only; it is never part of a message.
    """
    start = clock()
    phase: Literal["health", "models"] = "health"
    last_error: str | None = None
    base = base_url.rstrip("/")
    while True:
        elapsed = clock() - start
        try:
            path = "/health" if phase == "health" else "/v1/models"
            status, body = _get(base + path, api_key, request_timeout_s)
            if status == 200 and phase == "health":
                phase, last_error = "models", None
                continue
            if status == 200:
                models = _model_ids(body)
                if models:
                    return ReadyResult(base, clock() - start, models)
                last_error = "/v1/models lists no model yet"
            elif status in (401, 403):
                raise NotReady(
                    f"{base}/v1/models refused the API key (HTTP {status})",
                    hint="export VLLM_API_KEY with the key in the bundle's compose/.env",
                    phase=phase,
                )
            else:
                last_error = f"{path} answered HTTP {status}"
        except (OSError, ValueError) as exc:
            last_error = _describe(exc)
        if on_progress is not None:
            on_progress(WaitProgress(phase, elapsed, expected_load_s, timeout_s, last_error))
        if stopped is not None:
            reason = stopped()
            if reason:
                raise NotReady(
                    f"the server stopped before it was ready: {reason}",
                    hint="read the log lines above; fix the cause and run `deploy-kit up` again",
                    phase=phase,
                )
        remaining = timeout_s - (clock() - start)
        if remaining <= 0:
            detail = f" (last: {last_error})" if last_error else ""
            raise NotReady(
                f"{base}/{'health' if phase == 'health' else 'v1/models'} not ready after "
                f"{duration(clock() - start)}{detail}",
                hint="the containers keep running: follow them with the logs command above, "
                "or raise --timeout (estimated load time "
                f"{duration(expected_load_s)})",
                phase=phase,
            )
        sleep(min(poll_s, remaining))


def duration(seconds: float) -> str:
    seconds = max(0, math.floor(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def progress_line(p: WaitProgress) -> str:
    """The plain (non-TTY) progress line."""
    what = "/health" if p.phase == "health" else "/v1/models"
    tail = f" - {p.last_error}" if p.last_error else ""
    return (
        f"waiting for {what}: {duration(p.elapsed_s)} elapsed, load estimated "
        f"~{duration(p.expected_s)}, timeout {duration(p.timeout_s)}{tail}"
    )


def endpoint(publish_address: str, port: int) -> str:
    """The URL to poll and print: an all-interfaces publish is reached on loopback."""
    host = "127.0.0.1" if publish_address in ("0.0.0.0", "") else publish_address
    host = "[::1]" if host == "::" else (f"[{host}]" if ":" in host else host)
    return f"http://{host}:{port}"


def usage_examples(base_url: str, model: str, key_env: str | None) -> str:
    """Ready-to-paste curl and OpenAI-client snippets; the key is referenced, never shown."""
    auth = f' \\\n  -H "Authorization: Bearer ${key_env}"' if key_env else ""
    py_key = f'os.environ["{key_env}"]' if key_env else '"EMPTY"'
    body = json.dumps(
        {"model": model, "messages": [{"role": "user", "content": "Hello!"}], "max_tokens": 64}
    )
    return "\n".join(
        [
            f"curl {base_url}/v1/chat/completions{auth} \\",
            '  -H "Content-Type: application/json" \\',
            f"  -d '{body}'",
            "",
            "import os",
            "from openai import OpenAI",
            f'client = OpenAI(base_url="{base_url}/v1", api_key={py_key})',
            "reply = client.chat.completions.create(",
            f'    model="{model}", messages=[{{"role": "user", "content": "Hello!"}}]',
            ")",
            "print(reply.choices[0].message.content)",
        ]
    )


def timeout_for(plan: Plan) -> int:
    """Default --timeout: the rendered healthcheck window, so `up` never gives up first."""
    from deploy_kit.renderer.context import PROBE_SAFETY_FACTOR
    from deploy_kit.vllm import argv as vllm

    return max(PROBE_SAFETY_FACTOR * plan.load_time_s, vllm.engine_ready_timeout(plan.load_time_s))


# Never route the loopback endpoint through an HTTP(S)_PROXY from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get(url: str, api_key: str | None, timeout: float) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    if api_key:
        request.add_header("Authorization", f"Bearer {api_key}")
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return int(response.status), response.read(1 << 20)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code), b""


def _describe(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    text = str(reason if reason is not None else exc) or type(exc).__name__
    return text.splitlines()[0][:200]


def _model_ids(body: bytes) -> tuple[str, ...]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return ()
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return ()
    return tuple(str(i["id"]) for i in items if isinstance(i, dict) and i.get("id"))
