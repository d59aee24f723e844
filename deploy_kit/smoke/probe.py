"""Plain HTTP the openai client does not make: /health, /metrics, /version, key-less calls."""

from __future__ import annotations

import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from deploy_kit.errors import EnvironmentMissing, InputError

# /metrics of a vLLM 0.32 CPU server is ~60 KB; a GPU server with many engines a few hundred KB.
# Reading at most this much bounds a misbehaving endpoint (estimate, 40x the larger case).
MAX_BODY_BYTES = 8 * 1024 * 1024


class Unreachable(EnvironmentMissing):
    """Nothing answers at the URL (refused, no route, DNS, or no answer in time): exit 4."""


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: str
    content_type: str = ""


def normalise_url(url: str) -> str:
    """'http://host:8000/v1/' -> 'http://host:8000': the checks add /health, /v1/... themselves."""
    parsed = urllib.parse.urlsplit(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InputError(
            f"URL {url!r} is not an http(s) URL",
            hint="pass the endpoint's base URL, e.g. http://127.0.0.1:8000",
        )
    if parsed.username or parsed.password:
        raise InputError(
            "the URL carries credentials; pass the key with --api-key-env VAR instead",
        )
    path = parsed.path.rstrip("/")
    path = path.removesuffix("/v1")
    return urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, path, "", ""))


def get(base: str, path: str, key: str | None, timeout_s: float) -> HttpAnswer:
    """GET base+path; HTTP errors come back as answers, a dead endpoint raises Unreachable."""
    headers = {"Accept": "*/*"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(base + path, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            raw = resp.read(MAX_BODY_BYTES)
            return HttpAnswer(
                resp.status, raw.decode("utf-8", "replace"), resp.headers.get_content_type()
            )
    except urllib.error.HTTPError as exc:
        raw = exc.read(MAX_BODY_BYTES) if exc.fp is not None else b""
        return HttpAnswer(exc.code, raw.decode("utf-8", "replace"), exc.headers.get_content_type())
    except urllib.error.URLError as exc:
        raise Unreachable(
            f"cannot reach {base}{path}: {describe(exc.reason)}",
            hint="check the URL and that the server is up (`deploy-kit status`, `docker ps`)",
        ) from None
    except TimeoutError:
        raise Unreachable(
            f"{base}{path} did not answer within {timeout_s:g} s",
            hint="raise --timeout if the server is busy, or check that it is up",
        ) from None
    except (ConnectionError, OSError) as exc:
        raise Unreachable(f"cannot reach {base}{path}: {describe(exc)}") from None


def describe(reason: object) -> str:
    """A short reason for a network failure, without a traceback."""
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused (nothing listens on that port)"
    if isinstance(reason, socket.gaierror):
        return f"host name not found ({reason.strerror})"
    if isinstance(reason, TimeoutError | socket.timeout):
        return "no answer in time"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__
