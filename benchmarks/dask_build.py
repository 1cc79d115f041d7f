"""Dask build benchmark: a build on a local Dask cluster, its time and each process's peak RSS.

    python -m benchmarks.dask_build --n 100000 1000000 [--corpus stories|flat] [--workers 2]

Each N runs in its own process, the client, on the deterministic synthetic corpus
(benchmarks.synth), written to a JSONL file first by another process. The client starts a
LocalCluster of ``--workers`` worker processes (one thread each; its scheduler runs in the
client's process, so the client's peak includes it), builds with ``RelatedIndex.build_on_dask``
and then asks each worker for its own peak RSS. The issue's target is the client's peak at 1M.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from ._measure import peak_rss_mb, print_table, run_child, timer, write_json


def measure(n: int, corpus_mode: str, n_workers: int, seed: int) -> dict:
    import tempfile
    from pathlib import Path

    from distributed import Client, LocalCluster

    import recsys

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.jsonl"
        subprocess.run([sys.executable, "-m", "benchmarks.synth", "--n", str(n), "--seed", str(seed), "--mode",
                        corpus_mode, "-o", str(corpus)], check=True)
        with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
                Client(cluster) as client:
            with timer() as build_time:
                index = recsys.RelatedIndex.build_on_dask(corpus, client)
            workers = sorted(client.run(peak_rss_mb).values())  # each worker's own
    return {"n": n, "corpus": corpus_mode, "workers": n_workers, "build_s": build_time(),
            **{f"{phase}_s": seconds for phase, seconds in index.build_seconds.items()},
            **{f"client_{phase}_rss_mb": mb for phase, mb in index.build_peak_rss_mb.items()},
            "client_rss_mb": peak_rss_mb(), "worker_rss_mb": workers, "articles": len(index)}


COLUMNS = [("n", "N", ","), ("corpus", "corpus", ""), ("workers", "workers", "d"), ("build_s", "build s", ".1f"),
           ("reading_s", "read+analyse s", ".1f"), ("neighbours_s", "neighbours s", ".1f"),
           ("semantic_s", "semantic s", ".1f"), ("client_rss_mb", "client peak RSS MB", ".0f"),
           ("client_reading_rss_mb", "client peak after reading MB", ".0f"),
           ("client_neighbours_rss_mb", "client peak after neighbours MB", ".0f"),
           ("worker_rss", "worker peak RSS MB", "")]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[100_000])
    parser.add_argument("--corpus", default="stories", choices=["flat", "stories"],
                        help="the synthetic corpus's mode (benchmarks.synth)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.n[0], args.corpus, args.workers, args.seed)))
        return
    rows = [run_child("benchmarks.dask_build", ["--child", "--n", str(n), "--corpus", args.corpus,
                                                "--workers", str(args.workers), "--seed", str(args.seed)])
            for n in args.n]
    for row in rows:
        row["worker_rss"] = " / ".join(f"{mb:,.0f}" for mb in row["worker_rss_mb"])
    print_table(rows, COLUMNS)
    write_json(rows, args.json)


if __name__ == "__main__":
    main()
