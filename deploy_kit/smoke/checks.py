"""The protocol checks: each asks the endpoint one thing the guide promises and says pass, fail
or skip with the reason. Requests go through the official `openai` client (imported lazily)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from deploy_kit.planner.rules import THINK_MAX_CONTEXT
from deploy_kit.smoke import probe
from deploy_kit.smoke.results import CheckResult, Status

# Thinking levels as the V4 chat template reads them from chat_template_kwargs (facts section 2;
# vLLM 0.32 vllm/tokenizers/deepseek_v4.py: thinking is ON when neither `thinking` nor
# `enable_thinking` is given, so the non-thinking requests must say so).
NON_THINKING: Final[dict[str, Any]] = {"thinking": False}
THINKING: Final[dict[str, Any]] = {"thinking": True, "reasoning_effort": "high"}
THINK_MAX: Final[dict[str, Any]] = {"thinking": True, "reasoning_effort": "max"}

# Output bounds: enough for a short answer or one tool call, small enough that a check on a
# loaded server stays within seconds (estimates; every check is also bounded by --timeout).
SHORT_TOKENS: Final = 32
TOOL_TOKENS: Final = 256
JSON_TOKENS: Final = 128
THINK_TOKENS: Final = 64

TOOL_NAME: Final = "get_weather"
# Bounded schemas (enums, integer ranges, no free strings) so even a random-weight model under
# guided decoding terminates; a real model fills them in a few tokens.
WEATHER_PARAMS: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "enum": ["Paris", "London", "Tokyo"]},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city", "unit"],
    "additionalProperties": False,
}
WEATHER_TOOL: Final[dict[str, Any]] = {
    "type": "function",
    "function": {
        "name": TOOL_NAME,
        "description": "Current weather in a city.",
        "parameters": WEATHER_PARAMS,
        "strict": True,
    },
}
ANSWER_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "ok": {"type": "boolean"},
        "city": {"type": "string", "enum": ["Paris", "London", "Tokyo"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
    },
    "required": ["ok", "city", "days"],
    "additionalProperties": False,
}
TOOL_PROMPT: Final = "What is the weather in Paris in celsius? Use the get_weather tool."
KV_USAGE_SERIES: Final = ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")  # v1, v0 names
# Server messages are cut to this many characters in a reason (one readable line).
REASON_CHARS: Final = 300


@dataclass
class Session:
    """What every check shares: the endpoint, the client, and what earlier checks learned."""

    base: str
    key: str | None
    timeout_s: float
    client: Any
    model: str | None = None
    served_max_len: int | None = None
    expected_max_len: int | None = None
    stop_reason: str | None = None  # set when later API checks cannot run (bad key, no model)
    notes: dict[str, Any] = field(default_factory=dict)


def make_client(base: str, key: str | None, timeout_s: float) -> Any:
    """The official client, no retries (a check must say what one request got)."""
    import openai

    return openai.OpenAI(
        base_url=f"{base}/v1",
        # The client refuses an empty key; a placeholder is sent when none is configured.
        api_key=key if key is not None else "no-key-configured",
        timeout=timeout_s,
        max_retries=0,
    )


def result(
    name: str,
    status: Status,
    reason: str,
    *,
    required: bool = True,
    detail: dict[str, Any] | None = None,
    **facts: Any,
) -> CheckResult:
    return CheckResult(
        name=name,
        status=status,
        reason=reason,
        required=required,
        detail={**(detail or {}), **facts},
    )


def server_message(exc: Any) -> str:
    """The server's own words from an openai APIStatusError (vLLM: {"error": {"message"}})."""
    body = getattr(exc, "body", None)
    text = ""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            text = str(inner.get("message") or inner.get("detail") or json.dumps(inner))
        else:
            text = str(inner)
        text = text if text != "{}" else ""
        if not text and "detail" in body:
            text = str(body["detail"])
    elif isinstance(body, str):
        text = body
    text = " ".join((text or str(getattr(exc, "message", "")) or type(exc).__name__).split())
    return text[:REASON_CHARS]


def describe_error(exc: Exception, timeout_s: float) -> str:
    import openai

    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {server_message(exc)}"
    if isinstance(exc, openai.APITimeoutError):
        return f"no answer within {timeout_s:g} s (--timeout)"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        return f"connection failed: {probe.describe(cause) if cause else exc}"
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:REASON_CHARS]}"


def guarded(name: str, s: Session, fn: Callable[[Session], CheckResult]) -> CheckResult:
    """Run one check; an API error becomes its fail reason, and the time is recorded."""
    import openai

    start = time.monotonic()
    # auth and metrics need neither a valid key nor a served model: they always run.
    if s.stop_reason is not None and name not in ("auth", "metrics"):
        out = result(name, "skip", f"not run: {s.stop_reason}")
    else:
        try:
            out = fn(s)
        except (openai.OpenAIError, ValueError) as exc:
            out = result(name, "fail", describe_error(exc, s.timeout_s))
        except (IndexError, KeyError, AttributeError, TypeError) as exc:
            # A 200 whose body lacks what the OpenAI schema promises (no choices, no message).
            out = result(name, "fail", f"malformed reply ({type(exc).__name__}: {exc})")
    return out.model_copy(update={"seconds": round(time.monotonic() - start, 3)})


def extra(obj: Any, name: str) -> Any:
    """A field the OpenAI schema lacks but vLLM sends (reasoning, max_model_len)."""
    value = getattr(obj, name, None)
    if value is None:
        value = (getattr(obj, "model_extra", None) or {}).get(name)
    return value


def reasoning_of(message: Any) -> str:
    """vLLM >= 0.10 names it `reasoning`; older servers `reasoning_content`."""
    value = extra(message, "reasoning") or extra(message, "reasoning_content")
    return value if isinstance(value, str) else ""


def chat(s: Session, max_tokens: int, kwargs: dict[str, Any] | None = None, **body: Any) -> Any:
    messages = body.pop("messages", [{"role": "user", "content": "Say OK."}])
    extra_body = {"chat_template_kwargs": kwargs if kwargs is not None else NON_THINKING}
    return s.client.chat.completions.create(
        model=s.model, messages=messages, max_tokens=max_tokens, temperature=0,
        extra_body=extra_body, **body,
    )  # fmt: skip


# --- endpoint ------------------------------------------------------------------------------------


def check_health(s: Session) -> CheckResult:
    answer = probe.get(s.base, "/health", None, s.timeout_s)
    if answer.status == 200:
        return result("health", "pass", "/health answered 200")
    return result("health", "fail", f"/health answered {answer.status}: {answer.body[:200]!r}")


def check_models(s: Session, expected: str | None) -> CheckResult:
    import openai

    try:
        listed = list(s.client.models.list())
    except openai.AuthenticationError as exc:
        if s.key is None:
            s.stop_reason = "the server requires an API key and none was given"
            return result(
                "models",
                "fail",
                f"HTTP 401: {server_message(exc)}: the server requires an API key; pass "
                "--api-key-env VAR",
            )
        s.stop_reason = "the API key was rejected (see models)"
        return result("models", "fail", "HTTP 401: the server rejected the API key (not shown)")
    ids = [m.id for m in listed]
    lens = {m.id: extra(m, "max_model_len") for m in listed}
    want = expected or (ids[0] if ids else None)
    if want is None:
        s.stop_reason = "the server lists no model"
        return result("models", "fail", "/v1/models lists no model")
    if want not in ids:
        s.stop_reason = f"{want} is not served (see models)"
        return result(
            "models",
            "fail",
            f"/v1/models lists {', '.join(ids)}; expected {want}",
            served=ids,
        )
    s.model = want
    max_len = lens.get(want)
    s.served_max_len = max_len if isinstance(max_len, int) else None
    how = "the rendered name" if expected else "the first listed"
    detail: dict[str, Any] = {"served": ids, "max_model_len": s.served_max_len}
    if s.expected_max_len and s.served_max_len and s.served_max_len != s.expected_max_len:
        return result(
            "models",
            "fail",
            f"serves {want} with max_model_len {s.served_max_len}, the plan renders "
            f"{s.expected_max_len}",
            detail=detail,
        )
    return result("models", "pass", f"serves {want} ({how})", detail=detail)


def check_auth(s: Session) -> CheckResult:
    answer = probe.get(s.base, "/v1/models", None, s.timeout_s)
    if s.key is not None:
        if answer.status == 401:
            return result("auth", "pass", "a request without the key gets 401")
        return result(
            "auth",
            "fail",
            f"a request without the key got {answer.status}, not 401: the server does not check "
            "keys (start it with --api-key / VLLM_API_KEY)",
        )
    if answer.status == 401:
        return result(
            "auth", "fail", "the server wants an API key and none was given (--api-key-env VAR)"
        )
    return result(
        "auth",
        "skip",
        "no API key given, and the server answers without one: anyone who reaches it can use it",
    )


# --- chat and streaming ---------------------------------------------------------------------------


def check_chat(s: Session) -> CheckResult:
    reply = chat(s, SHORT_TOKENS)
    choice = reply.choices[0]
    text = choice.message.content or ""
    usage = reply.usage
    detail = {
        "finish_reason": choice.finish_reason,
        "completion_tokens": usage and usage.completion_tokens,
    }
    if not text and not reasoning_of(choice.message):
        return result("chat", "fail", "the reply has no content", detail=detail)
    if usage is None or not usage.completion_tokens:
        return result("chat", "fail", "the reply has no usage (completion_tokens)", detail=detail)
    return result(
        "chat",
        "pass",
        f"{usage.completion_tokens} token(s), finish_reason {choice.finish_reason}",
        detail=detail,
    )


def check_stream(s: Session) -> CheckResult:
    stream = chat(s, SHORT_TOKENS, stream=True, stream_options={"include_usage": True})
    deltas = chunks = 0
    finish: str | None = None
    usage: Any = None
    try:
        for chunk in stream:
            chunks += 1
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                if choice.delta is not None and (
                    choice.delta.content or reasoning_of(choice.delta)
                ):
                    deltas += 1
                if choice.finish_reason:
                    finish = choice.finish_reason
    finally:
        stream.close()
    detail = {"chunks": chunks, "deltas": deltas, "finish_reason": finish}
    missing = []
    if deltas == 0:
        missing.append("no content deltas")
    if finish is None:
        missing.append("no finish_reason")
    if usage is None or not usage.completion_tokens:
        missing.append("no usage chunk (stream_options.include_usage)")
    if missing:
        return result("stream", "fail", "SSE stream: " + ", ".join(missing), detail=detail)
    return result(
        "stream",
        "pass",
        f"{deltas} SSE delta(s), finish_reason {finish}, usage {usage.completion_tokens} token(s)",
        detail=detail,
    )


# --- tools ---------------------------------------------------------------------------------------


def _validate(instance: Any, schema: dict[str, Any]) -> str | None:
    """None when `instance` matches `schema`, else the first violation (jsonschema, lazy)."""
    import jsonschema

    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(instance)
    )
    return None if error is None else error.message[:REASON_CHARS]


def _judge_calls(calls: list[Any]) -> str | None:
    """None when every call names the tool with arguments that parse and match its schema."""
    for call in calls:
        fn = call.function
        if fn.name != TOOL_NAME:
            return f"called {fn.name!r}, not {TOOL_NAME}"
        try:
            args = json.loads(fn.arguments or "")
        except json.JSONDecodeError as exc:
            return f"arguments are not JSON ({exc.msg}): {fn.arguments[:80]!r}"
        problem = _validate(args, WEATHER_PARAMS)
        if problem:
            return f"arguments do not match the schema: {problem}"
    return None


def _tool_check(s: Session, name: str, tool_choice: Any) -> CheckResult:
    reply = chat(
        s,
        TOOL_TOKENS,
        messages=[{"role": "user", "content": TOOL_PROMPT}],
        tools=[WEATHER_TOOL],
        tool_choice=tool_choice,
    )
    choice = reply.choices[0]
    calls = list(choice.message.tool_calls or [])
    detail = {"finish_reason": choice.finish_reason, "tool_calls": len(calls)}
    cut = f" (cut at max_tokens={TOOL_TOKENS})" if choice.finish_reason == "length" else ""
    if not calls:
        if tool_choice == "auto":
            # With auto the model may answer in text; the server accepted tools and parsed.
            return result(
                name,
                "pass",
                f"accepted; the model answered in text without a call{cut}",
                detail=detail,
            )
        return result(name, "fail", f"no tool call in the reply{cut}", detail=detail)
    problem = _judge_calls(calls)
    if problem:
        return result(name, "fail", problem, detail=detail)
    return result(
        name,
        "pass",
        f"{len(calls)} {TOOL_NAME} call(s) with schema-valid arguments, finish_reason "
        f"{choice.finish_reason}",
        detail=detail,
    )


def check_tools_auto(s: Session) -> CheckResult:
    return _tool_check(s, "tools.auto", "auto")


def check_tools_required(s: Session) -> CheckResult:
    return _tool_check(s, "tools.required", "required")


def check_tools_named(s: Session) -> CheckResult:
    return _tool_check(s, "tools.named", {"type": "function", "function": {"name": TOOL_NAME}})


def check_tools_legacy(s: Session) -> CheckResult:
    """The guide's legacy `functions`/`function_call` form: report what the server does."""
    import openai

    name = "tools.legacy"
    try:
        reply = chat(
            s,
            TOOL_TOKENS,
            messages=[{"role": "user", "content": TOOL_PROMPT}],
            functions=[WEATHER_TOOL["function"]],
            function_call={"name": TOOL_NAME},
        )
    except openai.BadRequestError as exc:
        return result(
            name, "skip", f"rejected (HTTP 400: {server_message(exc)}); use tools", required=False
        )
    message = reply.choices[0].message
    if message.function_call is not None:
        return result(name, "pass", "answered with a legacy function_call", required=False)
    if message.tool_calls:
        return result(
            name, "pass", "accepted; answered with tool_calls instead of function_call",
            required=False,
        )  # fmt: skip
    return result(
        name,
        "skip",
        "accepted but ignored: no function_call or tool_calls in the reply; use tools and "
        "tool_choice",
        required=False,
    )


# --- JSON mode -----------------------------------------------------------------------------------


def _json_check(s: Session, name: str, response_format: dict[str, Any], schema: Any) -> CheckResult:
    reply = chat(
        s,
        JSON_TOKENS,
        messages=[
            {
                "role": "user",
                "content": "Reply with a JSON object: ok true, city Paris, days 3.",
            }
        ],
        response_format=response_format,
    )
    choice = reply.choices[0]
    text = choice.message.content or ""
    detail = {"finish_reason": choice.finish_reason, "chars": len(text)}
    if choice.finish_reason == "length":
        return result(
            name,
            "skip",
            f"inconclusive: cut at max_tokens={JSON_TOKENS} (finish_reason length) before the "
            "JSON closed; not judged as invalid JSON",
            detail=detail,
        )
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return result(
            name, "fail", f"content is not JSON ({exc.msg}): {text[:80]!r}", detail=detail
        )
    if not isinstance(value, dict):
        return result(
            name, "fail", f"content is JSON but not an object: {text[:80]!r}", detail=detail
        )
    if schema is not None:
        problem = _validate(value, schema)
        if problem:
            return result(name, "fail", f"JSON does not match the schema: {problem}", detail=detail)
        return result(name, "pass", "content parses and matches the schema", detail=detail)
    return result(name, "pass", "content parses as a JSON object", detail=detail)


def check_json_object(s: Session) -> CheckResult:
    return _json_check(s, "json.object", {"type": "json_object"}, None)


def check_json_schema(s: Session) -> CheckResult:
    fmt = {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": ANSWER_SCHEMA, "strict": True},
    }
    return _json_check(s, "json.schema", fmt, ANSWER_SCHEMA)


# --- thinking ------------------------------------------------------------------------------------


def _think_check(s: Session, name: str, kwargs: dict[str, Any]) -> CheckResult:
    reply = chat(s, THINK_TOKENS, kwargs)
    choice = reply.choices[0]
    content = choice.message.content or ""
    reasoning = reasoning_of(choice.message)
    detail = {
        "finish_reason": choice.finish_reason,
        "content_chars": len(content),
        "reasoning_chars": len(reasoning),
    }
    tags = "<think>" in content or "</think>" in content
    if not kwargs.get("thinking"):
        if reasoning:
            return result(
                name, "fail", "reasoning returned although thinking was off", detail=detail
            )
        if not content:
            return result(name, "fail", "no content in non-thinking mode", detail=detail)
        return result(name, "pass", "content only, no reasoning", detail=detail)
    if tags:
        return result(
            name,
            "fail",
            "think tags in the content: the reasoning was not separated (--reasoning-parser?)",
            detail=detail,
        )
    if not reasoning:
        return result(
            name,
            "fail",
            "no reasoning field in thinking mode: is the server's --reasoning-parser set?",
            detail=detail,
        )
    return result(
        name, "pass", f"reasoning separated ({len(reasoning)} chars) from content", detail=detail
    )


def check_thinking_off(s: Session) -> CheckResult:
    return _think_check(s, "thinking.off", NON_THINKING)


def check_thinking_on(s: Session) -> CheckResult:
    return _think_check(s, "thinking.on", THINKING)


def check_thinking_max(s: Session) -> CheckResult:
    max_len = s.served_max_len or s.expected_max_len
    if max_len is not None and max_len < THINK_MAX_CONTEXT:
        return result(
            "thinking.max",
            "skip",
            f"Think Max needs max_model_len >= {THINK_MAX_CONTEXT}; the server serves {max_len}",
        )
    return _think_check(s, "thinking.max", THINK_MAX)


# --- metrics and embeddings ----------------------------------------------------------------------


def check_metrics(s: Session) -> CheckResult:
    answer = probe.get(s.base, "/metrics", s.key, s.timeout_s)
    if answer.status != 200:
        return result("metrics", "fail", f"/metrics answered {answer.status}")
    lines = [ln for ln in answer.body.splitlines() if ln.startswith("vllm:")]
    kv = [ln for ln in lines if ln.startswith(KV_USAGE_SERIES)]
    detail = {"vllm_samples": len(lines)}
    if not lines:
        return result("metrics", "fail", "/metrics has no vllm: series", detail=detail)
    if not kv:
        return result(
            "metrics",
            "fail",
            f"{len(lines)} vllm: samples but no KV cache usage series",
            detail=detail,
        )
    value = kv[0].rsplit(" ", 1)[-1]
    return result(
        "metrics",
        "pass",
        f"{len(lines)} vllm: samples; {kv[0].split('{')[0].split(' ')[0]} = {value}",
        detail=detail,
    )


def check_embeddings(s: Session, required: bool) -> CheckResult:
    import openai

    status: Status = "fail" if required else "skip"
    why = "" if required else " (counted as a failure only with --require embeddings)"
    try:
        reply = s.client.embeddings.create(model=s.model, input="hello")
    except (openai.NotFoundError, openai.BadRequestError) as exc:
        return result(
            "embeddings",
            status,
            f"not served (HTTP {exc.status_code}: {server_message(exc)}): a V4 vLLM server "
            f"serves no embeddings{why}",
            required=required,
        )
    vectors = len(reply.data)
    if vectors and reply.data[0].embedding:
        return result(
            "embeddings", "pass", f"served: {len(reply.data[0].embedding)} dimensions",
            required=required,
        )  # fmt: skip
    return result("embeddings", status, "answered with no vector" + why, required=required)
