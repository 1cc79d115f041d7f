"""HTTP load on GET /v1/articles/{id}/related: requests/s and latency percentiles.

    python -m benchmarks.http_load INDEX_DIR [--workers 2] [--connections 32] [--seconds 20] [--query plain]

``--query plain`` asks for each article's list (the stored list, answered on the event loop);
``--query section`` adds a random section filter, which the stored list often cannot satisfy, so
most requests run a live search in the thread pool.

Starts `recsys serve INDEX_DIR --workers N` on 127.0.0.1 and drives it with wrk (Debian's package
`wrk`) over random article ids; without wrk, an asyncio httpx client is used (itself CPU-bound, so
it understates the server). The load generator shares the machine's cores with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np

LUA = """
local paths = {%s}
math.randomseed(42)
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %%d %%f %%f %%f %%d\\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def start_server(index_dir: Path, workers: int, port: int, workdir: Path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "recsys", "serve", str(index_dir), "--port", str(port),
                                "--workers", str(workers), "--events-db", str(workdir / "events.sqlite3")],
                               start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.3)
    os.killpg(process.pid, signal.SIGKILL)
    raise RuntimeError(f"server did not start: {process.stderr.read().decode()}")


def request_paths(index_dir: Path, query: str, n: int = 5000) -> list[str]:
    """Request paths over random article ids (and random sections, for ``query="section"``)."""
    rng = random.Random(0)
    ids = json.loads((index_dir / "articles_ids.json").read_text())
    sections = json.loads((index_dir / "articles_sections.json").read_text()) or [""]
    paths = []
    for article_id in rng.sample(ids, min(n, len(ids))):
        extra = f"&section={quote(rng.choice(sections))}" if query == "section" else ""
        paths.append(f"/v1/articles/{quote(article_id)}/related?k=10{extra}")
    return paths


def with_wrk(port: int, paths: list[str], connections: int, seconds: int, workdir: Path) -> dict:
    script = workdir / "related.lua"
    script.write_text(LUA % ",".join(json.dumps(p) for p in paths))
    done = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(script),
                           f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True)
    line = next(l for l in done.stdout.splitlines() if l.startswith("RESULT"))
    requests, duration, p50, p99, errors = line.split()[1:]
    return {"client": "wrk", "requests": int(requests), "rps": int(requests) / float(duration),
            "p50_ms": float(p50), "p99_ms": float(p99), "errors": int(errors)}


def with_httpx(port: int, paths: list[str], connections: int, seconds: int) -> dict:
    import httpx

    async def run() -> list[float]:
        latencies: list[float] = []
        errors = 0
        stop = time.monotonic() + seconds
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                                     limits=httpx.Limits(max_connections=connections)) as client:
            async def worker() -> None:
                nonlocal errors
                while time.monotonic() < stop:
                    started = time.perf_counter()
                    reply = await client.get(random.choice(paths))
                    latencies.append((time.perf_counter() - started) * 1000)
                    errors += reply.status_code != 200
            await asyncio.gather(*(worker() for _ in range(connections)))
        return latencies, errors

    latencies, errors = asyncio.run(run())
    return {"client": "httpx", "requests": len(latencies), "rps": len(latencies) / seconds,
            "p50_ms": float(np.percentile(latencies, 50)), "p99_ms": float(np.percentile(latencies, 99)),
            "errors": errors}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index_dir", type=Path)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--query", choices=["plain", "section"], default="plain")
    args = parser.parse_args(argv)
    paths = request_paths(args.index_dir, args.query)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(args.index_dir, args.workers, port, Path(tmp))
        try:
            if shutil.which("wrk"):
                result = with_wrk(port, paths, args.connections, args.seconds, Path(tmp))
            else:
                result = with_httpx(port, paths, args.connections, args.seconds)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    n = len(json.loads((args.index_dir / "articles_ids.json").read_text()))
    print("| articles | query | workers | connections | client | requests/s | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {n:,} | {args.query} | {args.workers} | {args.connections} | {result['client']} | {result['rps']:,.0f} | "
          f"{result['p50_ms']:.2f} | {result['p99_ms']:.2f} | {result['errors']} |")


if __name__ == "__main__":
    main()
