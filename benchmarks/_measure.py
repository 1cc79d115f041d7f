"""Shared helpers for the benchmark scripts: a timer, peak RSS, percentiles, and a table printer."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from contextlib import contextmanager

import numpy as np


def peak_rss_mb(children: bool = False) -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KiB); with
    ``children``, the largest peak of its child processes that have ended and been waited for."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024


@contextmanager
def timer():
    """``with timer() as t: ...`` then ``t()`` gives the elapsed seconds."""
    start = time.perf_counter()
    end = None

    def elapsed() -> float:
        return (end if end is not None else time.perf_counter()) - start

    try:
        yield elapsed
    finally:
        end = time.perf_counter()


def latencies_ms(call, args) -> dict[str, float]:
    """p50 / p99 / mean in milliseconds of ``call(arg)`` over ``args``."""
    times = []
    for arg in args:
        start = time.perf_counter()
        call(arg)
        times.append((time.perf_counter() - start) * 1000)
    times = np.array(times)
    return {"p50": float(np.percentile(times, 50)), "p99": float(np.percentile(times, 99)),
            "mean": float(times.mean())}


def run_child(module: str, args: list[str]) -> dict:
    """Run ``python -m module args`` in a fresh process (own peak RSS) and parse its JSON stdout."""
    done = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_table(rows: list[dict], columns: list[tuple[str, str, str]]) -> None:
    """Print rows as a Markdown table; ``columns`` are (key, header, format spec)."""
    print("| " + " | ".join(h for _, h, _ in columns) + " |")
    print("|" + "|".join("---" for _ in columns) + "|")
    for row in rows:
        cells = [format(row[k], spec) if isinstance(row.get(k), (int, float)) else str(row.get(k, "–"))
                 for k, _, spec in columns]
        print("| " + " | ".join(cells) + " |")


def write_json(rows: list[dict], path: str | None) -> None:
    """Write ``rows`` to the file ``path`` as JSON (nothing when ``path`` is None)."""
    if path:
        with open(path, "w") as handle:
            json.dump(rows, handle, indent=2)
