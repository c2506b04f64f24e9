"""The store server: one process owns the chDB directory and speaks ClickHouse's HTTP.

chDB admits one process per data directory. So one process (this one) opens it, and
every megawatch process - workers, the notifier, the CLI - connects with clickhouse-
connect's HTTP client exactly as to a ClickHouse server: the production client path is
the one that runs everywhere. It serves the subset of the HTTP interface that
clickhouse-connect uses: ``POST /`` (or ``GET``) with the SQL in the body and/or the
``query`` parameter, ``param_<name>`` query parameters, ``database``, settings as URL
parameters, ``INSERT ... FORMAT <fmt>`` with the data in the body, and ``GET /ping``.

Safety: it listens on 127.0.0.1 only; every request must carry the data dir's token as
the HTTP Basic password (:mod:`pipeline.store.server_files`, mode 0600), compared in
constant time; a request with an ``Origin`` header (every browser ``fetch``/form POST
sends one, clickhouse-connect never does) or a foreign ``Host`` (DNS rebinding) is
refused, so no web page can drive it.

Lifetime: started on demand by :func:`pipeline.store.owner.connect_info` (or in the
foreground by ``megawatch store serve``); clients name their pid in
``X-Megawatch-Client-Pid``, and a server started on demand exits once no client process
is alive and no request came for ``MEGAWATCH_STORE_IDLE_EXIT_S``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import hmac
import json
import logging
import os
import re
import signal
import sys
import time
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiohttp import web

from pipeline.errors import MegawatchError
from pipeline.store import server_files as files
from pipeline.store.engine import Engine, EngineError, Result

log = logging.getLogger(__name__)

#: URL parameters that steer the transport, not the query: never ClickHouse settings.
TRANSPORT_PARAMS = frozenset(
    {
        "query",
        "database",
        "default_format",
        "user",
        "password",
        "session_id",
        "session_timeout",
        "session_check",
        "query_id",
        "quota_key",
        "compress",
        "decompress",
        "wait_end_of_query",
        "client_protocol_version",
        "role",
        "buffer_size",
        "send_progress_in_http_headers",
        "http_headers_progress_interval_ms",
        "enable_http_compression",
        "cancel_http_readonly_queries_on_client_close",
    }
)
_INSERT_PARAM = re.compile(r"^\s*(INSERT\s+INTO\s.+?)\s+FORMAT\s+(\w+)\s*$", re.I | re.S)
_INSERT_BODY = re.compile(rb"^\s*(INSERT\s+INTO\s[^\n]+?)\s+FORMAT\s+(\w+)[ \t]*\r?\n", re.I)
_TRAILING_FORMAT = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*$", re.I)
_MAX_BODY = 512 * 1024 * 1024
_AUTH_FAILED = 516  # ClickHouse's AUTHENTICATION_FAILED


class StoreServer:
    """The HTTP front of one :class:`Engine`."""

    def __init__(self, engine: Engine, token: str, idle_exit_s: float) -> None:
        self.engine = engine
        self.token = token.encode()
        self.idle_exit_s = idle_exit_s
        self.instance = uuid.uuid4().hex
        self.port = 0
        self.timezone = engine.timezone()
        self.clients: set[int] = set()
        self.last_request = time.monotonic()
        self.in_flight = 0
        self.executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="store")

    def app(self) -> web.Application:
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_get("/ping", self.ping)
        app.router.add_route("*", "/", self.handle)
        return app

    # --- requests ------------------------------------------------------------------
    async def ping(self, request: web.Request) -> web.Response:
        refusal = self._refusal(request, need_auth=False)
        if refusal is not None:
            return refusal
        return web.Response(text="Ok.\n", headers={"X-Megawatch-Store-Instance": self.instance})

    async def handle(self, request: web.Request) -> web.StreamResponse:
        refusal = self._refusal(request, need_auth=True)
        if refusal is not None:
            return refusal
        self._note_client(request)
        self.in_flight += 1
        try:
            body = await request.read() if request.can_read_body else b""
            call = self._plan(request, _decoded(body, request.headers.get("Content-Encoding")))
            loop = asyncio.get_running_loop()
            result, fmt = await loop.run_in_executor(self.executor, call)
        except EngineError as exc:
            return _error(500, exc.code, str(exc))
        except _BadRequest as exc:
            return _error(400, 0, str(exc))
        finally:
            self.in_flight -= 1
            self.last_request = time.monotonic()
        return web.Response(body=result.body, headers=self._headers(request, result, fmt))

    def _plan(self, request: web.Request, body: bytes) -> Any:
        """The engine call for this request (run in a thread) and its output format."""
        params = request.query
        database = params.get("database") or None
        binds = {k[6:]: v for k, v in params.items() if k.startswith("param_")}
        settings = {
            k: v
            for k, v in params.items()
            if k not in TRANSPORT_PARAMS and not k.startswith("param_")
        }
        query = params.get("query", "")
        insert = _INSERT_PARAM.match(query) if query else None
        if insert is None and not query:
            embedded = _INSERT_BODY.match(body[:65536])
            if embedded is not None:
                statement, fmt = embedded.group(1).decode(), embedded.group(2).decode()
                data = body[embedded.end() :]
                return lambda: (self.engine.insert(statement, fmt, data, settings, database), fmt)
        if insert is not None:
            statement, fmt = insert.group(1), insert.group(2)
            return lambda: (self.engine.insert(statement, fmt, body, settings, database), fmt)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _BadRequest("the query is not valid UTF-8") from exc
        sql = f"{query}\n{text}" if query and text else (query or text)
        if not sql.strip():
            raise _BadRequest("empty query")
        named = _TRAILING_FORMAT.search(sql)
        fmt = named.group(1) if named else params.get("default_format", "TabSeparated")
        return lambda: (self.engine.query(sql, fmt, binds, settings, database), fmt)

    def _refusal(self, request: web.Request, *, need_auth: bool) -> web.Response | None:
        if "Origin" in request.headers:
            return _error(403, _AUTH_FAILED, "cross-origin requests are refused")
        if request.host not in (f"{files.HOST}:{self.port}", f"localhost:{self.port}"):
            return _error(403, _AUTH_FAILED, "unexpected Host header")
        if need_auth and not self._authorized(request.headers.get("Authorization", "")):
            return _error(401, _AUTH_FAILED, "authentication failed: missing or wrong store token")
        return None

    def _authorized(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme != "Basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).partition(b":")
        except (binascii.Error, ValueError):
            return False
        user_ok = hmac.compare_digest(user, files.USER.encode())
        return hmac.compare_digest(password, self.token) and user_ok

    def _note_client(self, request: web.Request) -> None:
        pid = request.headers.get("X-Megawatch-Client-Pid", "")
        if pid.isdigit():
            self.clients.add(int(pid))

    def _headers(self, request: web.Request, result: Result, fmt: str) -> dict[str, str]:
        summary = {"read_rows": str(result.rows), "written_rows": str(result.rows)}
        return {
            "X-ClickHouse-Format": fmt,
            "X-ClickHouse-Timezone": self.timezone,
            "X-ClickHouse-Query-Id": request.query.get("query_id", ""),
            "X-ClickHouse-Summary": json.dumps(summary),
            "Content-Type": "application/octet-stream",
        }

    # --- lifetime ------------------------------------------------------------------
    def idle(self) -> bool:
        """True when a server started on demand may stop: no live client, no request."""
        if self.idle_exit_s <= 0 or self.in_flight:
            return False
        self.clients = {pid for pid in self.clients if files.pid_alive(pid)}
        quiet = time.monotonic() - self.last_request
        return not self.clients and quiet >= self.idle_exit_s


class _BadRequest(Exception):
    pass


def _decoded(body: bytes, encoding: str | None) -> bytes:
    """The request body without its ``Content-Encoding`` (the server is started with
    aiohttp's own decompression off, so every encoding is undone here, once):
    clickhouse-connect compresses inserts with lz4, zstd or gzip when asked to."""
    encoding = (encoding or "identity").strip().lower()
    try:
        if encoding == "identity":
            return body
        if encoding in ("gzip", "deflate"):
            bits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
            return zlib.decompress(body, bits)
        if encoding == "lz4":
            import lz4.frame

            return bytes(lz4.frame.decompress(body))
        if encoding == "zstd":
            import zstandard

            return bytes(zstandard.ZstdDecompressor().decompressobj().decompress(body))
    except Exception as exc:  # zlib.error, RuntimeError (lz4), ZstdError: bad bytes
        raise _BadRequest(f"the {encoding} request body does not decompress: {exc}") from exc
    raise _BadRequest(
        f"Content-Encoding {encoding} is not supported by the store server "
        "(identity, gzip, deflate, lz4, zstd are)"
    )


def _error(status: int, code: int, message: str) -> web.Response:
    text = message if message.startswith("Code:") else f"Code: {code}. DB::Exception: {message}"
    return web.Response(
        status=status, text=text + "\n", headers={"X-ClickHouse-Exception-Code": str(code)}
    )


async def serve(path: Path, port: int = 0, idle_exit_s: float = 0.0) -> None:
    """Own the chDB directory ``path`` and serve it until SIGTERM/SIGINT (or idle)."""
    files.ensure_data_dir(path)
    token = files.read_or_create_token(path)
    engine = Engine(path)
    server = StoreServer(engine, token, idle_exit_s)
    # auto_decompress off: _decoded undoes every Content-Encoding itself, once (aiohttp
    # would gunzip first and the body would then be decoded twice).
    runner = web.AppRunner(
        server.app(), access_log=None, handle_signals=False, auto_decompress=False
    )
    await runner.setup()
    site = web.TCPSite(runner, files.HOST, port, reuse_address=True)
    await site.start()
    server.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    info = files.ServerInfo(port=server.port, pid=os.getpid(), instance=server.instance)
    files.write_discovery(path, info)
    log.info("store server for %s listening on %s (pid %s)", path, info.url, info.pid)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            except TimeoutError:
                if server.idle():
                    log.info("store server for %s: no clients left, stopping", path)
                    break
    finally:
        files.remove_discovery(path, os.getpid())
        await runner.cleanup()
        server.executor.shutdown(wait=True)
        engine.close()


def main(argv: list[str] | None = None) -> int:
    """``python -m pipeline.store.server PATH``: what the on-demand start runs."""
    parser = argparse.ArgumentParser(prog="python -m pipeline.store.server")
    parser.add_argument("path", type=Path)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--idle-exit-s", type=float, default=0.0)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        asyncio.run(serve(args.path, args.port, args.idle_exit_s))
    except MegawatchError as exc:
        print(f"megawatch store server: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
