"""An http(s):// store that fails: one line naming the server, never the password.

No ClickHouse server runs on these machines, so a real local HTTP server plays a failing
one: it answers every request with ClickHouse's authentication error and, like a verbose
proxy might, echoes the credentials it was sent.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipeline.errors import StoreError
from pipeline.settings import load_settings
from pipeline.store import open_store

pytestmark = pytest.mark.integration


class EchoingAuthFailure(BaseHTTPRequestHandler):
    def _fail(self) -> None:
        auth = self.headers.get("Authorization", "")
        sent = base64.b64decode(auth.removeprefix("Basic ")).decode() if auth else ""
        body = (
            f"Code: 516. DB::Exception: {sent}: Authentication failed: password is "
            "incorrect. (AUTHENTICATION_FAILED) (version 24.3.1.1)"
        ).encode()
        self.send_response(403)
        self.send_header("X-ClickHouse-Exception-Code", "516")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _fail

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def failing_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoingAuthFailure)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("in_url", [True, False])
def test_server_error_is_one_line_without_the_password(failing_server: str, in_url: bool) -> None:
    if in_url:
        settings = load_settings(clickhouse_dsn=f"http://mw:hunter2@{failing_server}/mw")
    else:
        settings = load_settings(
            clickhouse_dsn=f"http://mw@{failing_server}/mw", clickhouse_password="hunter2"
        )
    with pytest.raises(StoreError) as caught:
        open_store(settings)
    message = str(caught.value)
    assert message.startswith("cannot connect to ClickHouse at http://mw")
    assert failing_server in message and "MEGAWATCH_CLICKHOUSE_DSN" in message
    assert "Authentication failed" in message  # the server's reason is passed on...
    assert "mw:***: Authentication failed" in message  # ...with the echoed password masked
    assert "hunter2" not in message and "\n" not in message
