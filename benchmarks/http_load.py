"""HTTP load on the read routes, each beside the framework's own trivial route (GET /health).

    python -m benchmarks.http_load INDEX_DIR [--workers 2] [--connections 32] [--seconds 20]
        [--routes health,related,section,draft,popular] [--profile DIR]

Starts `recsys serve INDEX_DIR --workers N` on 127.0.0.1 and drives one route after another with
wrk (Debian's package `wrk`), all against the same server, and prints a table with each route's
requests/s, its ratio to GET /health's in the same run, and its latency percentiles:

- ``health``: GET /health, the baseline (always run first);
- ``related``: GET /v1/articles/{id}/related?k=10 over random ids (the stored lists);
- ``section``: the same with a random section filter, which the stored list often cannot satisfy,
  so most requests run a live search in the thread pool;
- ``draft``: POST /v1/related with the first 60 words of random articles' bodies;
- ``popular``: GET /v1/popular?k=10.

Without wrk, an asyncio httpx client is used (itself CPU-bound, so it understates the server).
The load generator shares the machine's cores with the server.

``--profile DIR`` samples the workers with py-spy (``pip install py-spy``) during each route's run
and writes DIR/ROUTE.txt: the frames that take the largest shares of the samples, inclusive and
self, plus the raw collapsed stacks (DIR/ROUTE.folded), which flame-graph tools read.
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
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import numpy as np

ROUTES = ("health", "related", "section", "draft", "popular")
LUA = """
local requests = {%s}
math.randomseed(42)
request = function()
  local r = requests[math.random(#requests)]
  if r[2] == nil then
    return wrk.format("GET", r[1])
  end
  return wrk.format("POST", r[1], {["Content-Type"] = "application/json"}, r[2])
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %%d %%f %%f %%f %%d %%d\\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
"""
IDLE_FRAMES = ("select (selectors.py)", "run_forever (asyncio/base_events.py)", "_worker (concurrent/futures/thread.py)",
               "wait (threading.py)")


def start_server(index_dir: Path, workers: int, port: int, workdir: Path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "recsys", "serve", str(index_dir), "--port", str(port),
                                "--workers", str(workers), "--events-db", str(workdir / "events.sqlite3")],
                               start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                _wait_until_idle(process.pid, deadline)  # /ready answers once one worker is up
                return process
        except httpx.TransportError:
            time.sleep(0.3)
    os.killpg(process.pid, signal.SIGKILL)
    raise RuntimeError(f"server did not start: {process.stderr.read().decode()}")


def _wait_until_idle(pid: int, deadline: float) -> None:
    """Wait until the server's processes use under a tenth of a core (every worker has loaded)."""
    tick = os.sysconf("SC_CLK_TCK")
    used = _cpu_ticks(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = _cpu_ticks(pid)
        if now - used < 0.05 * tick:
            return
        used = now


def _cpu_ticks(pid: int) -> int:
    """User and system CPU ticks of ``pid`` and its descendants (Linux /proc)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def route_requests(index_dir: Path, route: str, n: int = 5000) -> list[tuple[str, str | None]]:
    """(path, JSON body or None) pairs for ``route``, over random articles."""
    rng = random.Random(0)
    ids = json.loads((index_dir / "articles_ids.json").read_text())
    sections = json.loads((index_dir / "articles_sections.json").read_text()) or [""]
    sample = rng.sample(ids, min(n, len(ids)))
    if route == "health":
        return [("/health", None)]
    if route == "popular":
        return [("/v1/popular?k=10", None)]
    if route == "draft":
        return [("/v1/related", json.dumps({"text": text, "k": 10})) for text in _draft_texts(index_dir, sample[:500])]
    extra = (lambda: f"&section={quote(rng.choice(sections))}") if route == "section" else (lambda: "")
    return [(f"/v1/articles/{quote(article_id)}/related?k=10{extra()}", None) for article_id in sample]


def _draft_texts(index_dir: Path, ids: list[str], words: int = 60) -> list[str]:
    from recsys import RelatedIndex

    index = RelatedIndex.load(index_dir)
    return [" ".join(index.article(article_id).body.split()[:words]) for article_id in ids]


def with_wrk(port: int, requests: list, connections: int, seconds: int, workdir: Path) -> dict:
    script = workdir / "load.lua"
    script.write_text(LUA % ",".join("{%s}" % ",".join(json.dumps(part) for part in r if part is not None)
                                     for r in requests))
    done = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(script),
                           f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True)
    line = next(l for l in done.stdout.splitlines() if l.startswith("RESULT"))
    count, duration, p50, p99, errors, non_2xx = line.split()[1:]
    return {"client": "wrk", "requests": int(count), "rps": int(count) / float(duration),
            "p50_ms": float(p50), "p99_ms": float(p99), "errors": int(errors) + int(non_2xx)}


def with_httpx(port: int, requests: list, connections: int, seconds: int) -> dict:
    import httpx

    async def run() -> tuple[list[float], int]:
        latencies: list[float] = []
        errors = 0
        stop = time.monotonic() + seconds
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                                     limits=httpx.Limits(max_connections=connections)) as client:
            async def worker() -> None:
                nonlocal errors
                while time.monotonic() < stop:
                    path, body = random.choice(requests)
                    started = time.perf_counter()
                    reply = await (client.get(path) if body is None else
                                   client.post(path, content=body, headers={"Content-Type": "application/json"}))
                    latencies.append((time.perf_counter() - started) * 1000)
                    errors += reply.status_code != 200
            await asyncio.gather(*(worker() for _ in range(connections)))
        return latencies, errors

    latencies, errors = asyncio.run(run())
    return {"client": "httpx", "requests": len(latencies), "rps": len(latencies) / seconds,
            "p50_ms": float(np.percentile(latencies, 50)), "p99_ms": float(np.percentile(latencies, 99)),
            "errors": errors}


def start_profile(server: subprocess.Popen, seconds: int, out: Path) -> subprocess.Popen:
    """py-spy sampling the server's workers (its child processes) for ``seconds``, into ``out``."""
    return subprocess.Popen(["py-spy", "record", "--pid", str(server.pid), "--subprocesses", "--nonblocking",
                             "--format", "raw", "--rate", "250", "--duration", str(seconds), "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def profile_summary(folded: Path, top: int = 25) -> str:
    """The frames with the largest shares of the busy samples (idle waits left out): inclusive and self."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [_frame_name(f) for f in stack.split(";") if f.strip()]
        frames = [f for f in frames if not f.startswith("process ")]
        if not frames or any(f in IDLE_FRAMES for f in frames[-2:]):
            continue
        n = int(count)
        total += n
        own[frames[-1]] += n
        for name in set(frames):
            inclusive[name] += n
    lines = [f"busy samples: {total}", "", "| inclusive | frame |", "|---|---|"]
    lines += [f"| {n / total:.1%} | `{name}` |" for name, n in inclusive.most_common(top)]
    lines += ["", "| self | frame |", "|---|---|"]
    lines += [f"| {n / total:.1%} | `{name}` |" for name, n in own.most_common(top)]
    return "\n".join(lines) + "\n"


def _frame_name(frame: str) -> str:
    """'function (path/to/module.py:12)' -> 'function (package/module.py)'."""
    function, _, where = frame.strip().partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    return f"{function} ({'/'.join(parts[-2:])})" if parts else function


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index_dir", type=Path)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--routes", default="health,related,draft,popular",
                        help=f"comma-separated, of {', '.join(ROUTES)} (health always runs, first)")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="sample the workers with py-spy into DIR")
    args = parser.parse_args(argv)
    routes = ["health"] + [r for r in dict.fromkeys(args.routes.split(",")) if r and r != "health"]
    unknown = set(routes) - set(ROUTES)
    if unknown:
        parser.error(f"unknown route(s): {', '.join(sorted(unknown))}")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(args.index_dir, args.workers, port, Path(tmp))
        try:
            for route in routes:
                requests = route_requests(args.index_dir, route)
                for path, body in requests[:50]:  # warm up: first requests compile, fill caches
                    _warm(port, path, body)
                profiler = None
                if args.profile:
                    args.profile.mkdir(parents=True, exist_ok=True)
                    profiler = start_profile(server, max(1, args.seconds - 1), args.profile / f"{route}.folded")
                if shutil.which("wrk"):
                    results[route] = with_wrk(port, requests, args.connections, args.seconds, Path(tmp))
                else:
                    results[route] = with_httpx(port, requests, args.connections, args.seconds)
                if profiler is not None:
                    profiler.wait(timeout=60)
                    (args.profile / f"{route}.txt").write_text(profile_summary(args.profile / f"{route}.folded"))
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    n = len(json.loads((args.index_dir / "articles_ids.json").read_text()))
    baseline = results["health"]["rps"]
    print("| articles | route | workers | connections | client | requests/s | vs /health | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for route, r in results.items():
        print(f"| {n:,} | {route} | {args.workers} | {args.connections} | {r['client']} | {r['rps']:,.0f} | "
              f"{r['rps'] / baseline:.2f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} |")


def _warm(port: int, path: str, body: str | None) -> None:
    import httpx

    url = f"http://127.0.0.1:{port}{path}"
    reply = httpx.get(url) if body is None else httpx.post(url, content=body,
                                                           headers={"Content-Type": "application/json"})
    if reply.status_code != 200:
        raise RuntimeError(f"{path} answered {reply.status_code}: {reply.text[:200]}")


if __name__ == "__main__":
    main()
