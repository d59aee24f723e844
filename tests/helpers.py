"""Helpers shared by several test modules: the CLI runner, a fake vLLM server, manifest walks."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from deploy_kit.cli.main import main
from deploy_kit.inventory import parse_nvidia_smi_csv
from deploy_kit.local import up as local

SMI = Path(__file__).parent / "fixtures" / "smi"


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`deploy-kit ARGS` in-process: (exit code, stdout, stderr)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def nvidia_probe(*names: str) -> local.GpuProbe:
    """What probing would find on a machine whose nvidia-smi printed these fixture files."""
    obs = []
    for name in names:
        obs += parse_nvidia_smi_csv((SMI / name).read_text())
    return local.GpuProbe(tuple(obs))


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The only manifest of `kind`; fails the test when there are none or several."""
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def walk(node: Any) -> Iterator[Any]:
    """Every value in a decoded YAML/JSON document, the document itself first."""
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


class FakeVllm:
    """A loopback vLLM: /health answers 503 until `healthy_after` seconds have passed (never when
    None); /v1/models lists `models`, refusing a request without `key` when one is set."""

    def __init__(
        self,
        healthy_after: float | None,
        models: Sequence[str] = ("deepseek-v4-flash",),
        key: str | None = None,
    ) -> None:
        self.healthy_after = healthy_after
        self.models = list(models)
        self.key = key
        self.seen: list[tuple[str, str | None]] = []
        self.started = time.monotonic()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.seen.append((self.path, self.headers.get("Authorization")))
                ready = owner.healthy_after is not None and (
                    time.monotonic() - owner.started >= owner.healthy_after
                )
                if self.path == "/health":
                    self._send(200 if ready else 503, b"")
                elif self.path == "/v1/models":
                    if owner.key and self.headers.get("Authorization") != f"Bearer {owner.key}":
                        self._send(401, b'{"error": "Unauthorized"}')
                        return
                    data = [{"id": m, "object": "model"} for m in owner.models]
                    self._send(200, json.dumps({"object": "list", "data": data}).encode())
                else:
                    self._send(404, b"")

            def _send(self, code: int, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeVllm:
        self.started = time.monotonic()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def python_block(readme: str) -> str:
    """The first ```python block of a README (the client snippet bundles carry)."""
    start = readme.index("```python\n") + len("```python\n")
    return readme[start : readme.index("```", start)]
