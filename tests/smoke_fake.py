"""A fake vLLM endpoint for the smoke tests, replaying responses recorded from a real server.

The recordings (tests/fixtures/smoke/recorded-*.json) are written by `make e2e`, which puts a
recording proxy (`RecordingProxy`, below) between `deploy-kit smoke` and a real vLLM CPU server.
A request is matched by method, path, whether it carried the right key, no key or a wrong one,
and its JSON body (keys sorted), so a change in what smoke sends shows up as a miss.
Binds 127.0.0.1 only.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures" / "smoke"
# The e2e servers' key (loopback only) and a wrong one: the recordings hold neither, only
# whether a request carried the right key, a wrong one or none.
E2E_KEY = "e2e-" + "k" * 28
WRONG_KEY = "e2e-wrong-" + "w" * 22
SERVED = "tiny-chat"


def auth_class(header: str | None, key: str | None) -> str:
    """none / good / bad: the recordings never hold the key itself."""
    if not header:
        return "none"
    return "good" if key is not None and header == f"Bearer {key}" else "bad"


def canonical(body: bytes) -> str:
    if not body:
        return ""
    try:
        return json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
    except ValueError:
        return body.decode("utf-8", "replace")


def request_key(method: str, path: str, auth: str, body: bytes) -> str:
    return f"{method} {path} {auth} {canonical(body)}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client closing its keep-alive connection is normal; anything else is printed.
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: Any
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        self._serve(b"")

    def do_POST(self) -> None:
        self._serve(self._body())

    def _serve(self, body: bytes) -> None:
        auth = auth_class(self.headers.get("Authorization"), self.server.key)
        key = request_key(self.command, self.path, auth, body)
        self.server.seen.append(key)
        entry = self.server.responses.get(key)
        if entry is None:
            self.server.misses.append(key)
            entry = {
                "status": 500,
                "content_type": "application/json",
                "body": json.dumps({"error": {"message": f"fake server: not recorded: {key}"}}),
            }
        self._reply(entry)

    def _reply(self, entry: dict[str, Any]) -> None:
        data = entry["body"].encode()
        stream = entry["content_type"] == "text/event-stream"
        self.send_response(entry["status"])
        self.send_header("Content-Type", entry["content_type"])
        if not stream:
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in entry["body"].split("\n\n"):
            if not event:
                continue
            time.sleep(self.server.event_delay_s)
            piece = (event + "\n\n").encode()
            self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")


class FakeVllm:
    """Serve one recording on 127.0.0.1 in a thread; `url` is its base URL."""

    def __init__(self, recording: str, key: str | None, event_delay_s: float = 0.0) -> None:
        data = json.loads((FIXTURES / recording).read_text(encoding="utf-8"))
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.responses = data["responses"]  # type: ignore[attr-defined]
        self.httpd.key = key  # type: ignore[attr-defined]
        self.httpd.seen = []  # type: ignore[attr-defined]
        self.httpd.misses = []  # type: ignore[attr-defined]
        self.httpd.event_delay_s = event_delay_s  # type: ignore[attr-defined]
        self.meta = data.get("meta", {})
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def misses(self) -> list[str]:
        return list(self.httpd.misses)  # type: ignore[attr-defined]

    def __enter__(self) -> FakeVllm:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# --- recording (used by scripts/e2e/run_e2e.py against a real server) ----------------------------


class _ProxyHandler(_Handler):
    def _serve(self, body: bytes) -> None:
        auth = auth_class(self.headers.get("Authorization"), self.server.key)
        key = request_key(self.command, self.path, auth, body)
        headers = {
            k: v
            for k, v in self.headers.items()
            if k.lower() in ("authorization", "content-type", "accept")
        }
        req = urllib.request.Request(
            self.server.upstream + self.path,
            data=body or None,
            headers=headers,
            method=self.command,
        )
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                status, ctype, raw = resp.status, resp.headers.get_content_type(), resp.read()
        except urllib.error.HTTPError as exc:
            status, ctype, raw = exc.code, exc.headers.get_content_type(), exc.read()
        entry = {"status": status, "content_type": ctype, "body": raw.decode("utf-8", "replace")}
        with self.server.lock:
            self.server.responses.setdefault(key, entry)
        self._reply(entry)


class RecordingProxy(FakeVllm):
    """Forward to a real server and keep the first response to each distinct request."""

    def __init__(self, upstream: str, key: str | None) -> None:
        self.httpd = _Server(("127.0.0.1", 0), _ProxyHandler)
        self.httpd.upstream = upstream  # type: ignore[attr-defined]
        self.httpd.key = key  # type: ignore[attr-defined]
        self.httpd.responses = {}  # type: ignore[attr-defined]
        self.httpd.lock = threading.Lock()  # type: ignore[attr-defined]
        self.httpd.event_delay_s = 0.0  # type: ignore[attr-defined]
        self.httpd.seen = []  # type: ignore[attr-defined]
        self.httpd.misses = []  # type: ignore[attr-defined]
        self.meta: dict[str, Any] = {}
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def save(self, path: Path, meta: dict[str, Any]) -> None:
        data = {"meta": meta, "responses": dict(sorted(self.httpd.responses.items()))}  # type: ignore[attr-defined]
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
