"""The demo's webhook receiver: a real local HTTP server that verifies every signature.

It is what an operator's receiver should do (see docs/alerts.md): check the HMAC of
``"<timestamp>.<body>"`` and the timestamp's age before trusting the body, and dedupe on
``Idempotency-Key``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from pipeline.notify.signing import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify,
)


@dataclass
class ReceivedAlerts:
    alerts: list[dict[str, Any]] = field(default_factory=list)  # verified, deduped
    rejected: int = 0  # bad or missing signature
    duplicates: int = 0
    keys: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> tuple[list[dict[str, Any]], int, int]:
        with self.lock:
            return list(self.alerts), self.rejected, self.duplicates


class SignedWebhookReceiver:
    def __init__(self, secret: str, host: str = "127.0.0.1") -> None:
        self.secret = secret
        self.received = ReceivedAlerts()
        handler = _handler_for(self)
        self.server = ThreadingHTTPServer((host, 0), handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, daemon=True, name="demo-webhook"
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/megawatch"

    def start(self) -> SignedWebhookReceiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def accept(self, headers: Any, body: bytes) -> int:
        """Verify and record one request; the HTTP status to answer."""
        ok = verify(
            self.secret,
            headers.get(TIMESTAMP_HEADER),
            headers.get(SIGNATURE_HEADER),
            body,
            now=time.time(),
        )
        got = self.received
        with got.lock:
            if not ok:
                got.rejected += 1
                return 401
            keys = [k.strip() for k in (headers.get(IDEMPOTENCY_HEADER) or "").split(",")]
            fresh = [k for k in keys if k and k not in got.keys]
            if keys and not fresh:
                got.duplicates += 1
                return 200
            got.keys.update(fresh)
            for alert in orjson.loads(body).get("alerts", []):
                got.alerts.append(alert)
        return 200


def _handler_for(receiver: SignedWebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            try:
                status = receiver.accept(self.headers, body)
            except ValueError:
                status = 400
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

    return Handler
