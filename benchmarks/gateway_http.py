"""Why aiohttp serves the gateway: the HTTP framework's own cost per remote_write request.

Each server answers ``POST /api/v1/write`` by reading the body and returning 204, in a
process of its own; a client process sends ``--requests`` bodies of ``--body-kib`` KiB
(a remote_write request of 2,000 samples is 30-60 KiB snappy-compressed) over
``--connections`` keep-alive connections. The figure per server is its CPU time per
request, to set against the gateway's own work per request (benchmarks/gateway.py:
~7 us per sample, ~14 ms for 2,000 samples). Candidates: aiohttp (already installed:
Faust's web server), uvicorn+starlette (and uvicorn's raw ASGI app), when installed.

    python benchmarks/gateway_http.py     # JSON in benchmarks/results/gateway_http.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from bench_output import add_smoke, result_path, smallest, write_json
from cpu_usage import process_seconds

from pipeline.broker.process import free_port

SERVERS = {
    "aiohttp": """
        from aiohttp import web
        async def write(request):
            await request.read()
            return web.Response(status=204)
        app = web.Application(client_max_size=1 << 24)
        app.router.add_post("/api/v1/write", write)
        web.run_app(app, host="127.0.0.1", port=PORT, access_log=None, print=None)
    """,
    "uvicorn+starlette": """
        import uvicorn
        from starlette.applications import Starlette
        from starlette.responses import Response
        from starlette.routing import Route
        async def write(request):
            await request.body()
            return Response(status_code=204)
        app = Starlette(routes=[Route("/api/v1/write", write, methods=["POST"])])
        uvicorn.run(app, host="127.0.0.1", port=PORT, log_level="warning", access_log=False)
    """,
    "uvicorn (raw ASGI)": """
        import uvicorn
        async def app(scope, receive, send):
            if scope["type"] != "http":
                return
            more = True
            while more:
                message = await receive()
                more = message.get("more_body", False)
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
        uvicorn.run(app, host="127.0.0.1", port=PORT, log_level="warning", access_log=False)
    """,
}


def measure(name: str, code: str, args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    script = textwrap.dedent(code).replace("PORT", str(port))
    server = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=0.5)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        body = bytes(range(256)) * (args.body_kib * 4)
        url = f"http://127.0.0.1:{port}/api/v1/write"
        per = args.requests // args.connections

        def client() -> None:
            with httpx.Client() as http:
                for _ in range(per):
                    assert http.post(url, content=body).status_code == 204

        cpu0, started = process_seconds(server.pid), time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(args.connections)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds, cpu = time.perf_counter() - started, process_seconds(server.pid) - cpu0
        n = per * args.connections
        return {
            "requests": n,
            "server_cpu_us_per_request": round(cpu / n * 1e6),
            "requests_per_s_wall": round(n / seconds),
        }
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--body-kib", type=int, default=48)
    parser.add_argument("--out", type=Path, default=result_path("gateway_http.json"))
    add_smoke(parser)
    args = smallest(parser.parse_args(), requests=40, connections=2, body_kib=4)
    out: dict[str, Any] = {"args": vars(args)}
    for name, code in SERVERS.items():
        if (
            "uvicorn" in code
            and subprocess.run(
                [sys.executable, "-c", "import uvicorn, starlette"], capture_output=True
            ).returncode
        ):
            out[name] = "not installed"
            continue
        out[name] = measure(name, code, args)
    write_json(args.out, out)
    print(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
