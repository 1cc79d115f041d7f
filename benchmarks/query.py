"""Build and query benchmark: build seconds, peak RSS, related() and more_like_this() latency, recall@10.

    python -m benchmarks.query --n 10000 100000 [--corpus flat|stories] [--queries 500] [--method tfidf]

Each N runs in its own process on the deterministic synthetic corpus (benchmarks.synth), written
to a JSONL file first by another process, so that "build s" is reading, validating, analysing, weighting and linking
that file, and peak RSS is that process's own ("semantic s" is the part of it the semantic
channel takes). Recall@10 compares related(id) with pure similarity against an exact brute-force
scoring of the same query vector over every article (the semantic channel blended in, when it
is on). ``--param semantic_weight=0`` measures the lexical channel alone.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np

from ._measure import latencies_ms, peak_rss_mb, print_table, run_child, timer, write_json


def measure(n: int, queries: int, method: str, seed: int, params: dict | None = None, corpus_mode: str = "flat",
            recall_sample: int = 1000) -> dict:
    import tempfile
    from pathlib import Path

    import recsys

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.jsonl"
        # written by another process, so that this one's peak RSS is the build's own
        subprocess.run([sys.executable, "-m", "benchmarks.synth", "--n", str(n), "--seed", str(seed), "--mode",
                        corpus_mode, "-o", str(corpus)], check=True)
        with timer() as build_time:
            index = recsys.RelatedIndex.build(corpus, method=method, **(params or {}))
    build_rss = peak_rss_mb()
    rng = np.random.default_rng(seed)
    ids = [index.ids[i] for i in rng.choice(len(index), size=max(queries, recall_sample), replace=False)]
    sections = [index.article(i).section for i in ids[:50]]
    index.related(ids[0])  # compile and warm up before timing
    related = latencies_ms(lambda i: index.related(i, k=10), ids[:queries])
    filtered = latencies_ms(lambda p: index.related(p[0], k=10, section=p[1], exclude=[p[0]]),
                            list(zip(ids[:queries], sections * (queries // 50 + 1))))
    drafts = [index.article(i).body[:1500] for i in ids[:200]]
    index.more_like_this(drafts[0])
    mlt = latencies_ms(lambda text: index.more_like_this(text, k=10), drafts)
    recall, ratio = recall_at_10(index, ids[:recall_sample])
    mlt_recall = mlt_recall_at_10(index, drafts)
    return {"n": n, "corpus": corpus_mode, "method": method, "build_s": build_time(), "build_rss_mb": build_rss,
            **{f"{phase}_s": seconds for phase, seconds in index.build_seconds.items()},
            **{f"{phase}_rss_mb": mb for phase, mb in index.build_peak_rss_mb.items()},
            "peak_rss_mb": peak_rss_mb(), "related_p50": related["p50"], "related_p99": related["p99"],
            "filtered_p50": filtered["p50"], "filtered_p99": filtered["p99"], "mlt_p50": mlt["p50"],
            "mlt_p99": mlt["p99"], "recall10": recall, "sim_ratio": ratio, "mlt_recall10": mlt_recall, "vocabulary": index.vocabulary_size}


def weight_matrix(index):
    """The index's document-term weights as one scipy CSR matrix (the term ids made once, as int32)."""
    import scipy.sparse as sp

    data = index._view.data
    indptr = data.rows.indptr.astype(np.int32)  # one index dtype, so scipy does not copy the term ids
    return sp.csr_matrix((data.rows.data, data.rows.term_ids(), indptr), shape=(len(index), len(data.vocabulary)))


def mlt_recall_at_10(index, drafts) -> float:
    """Share of the exact top 10 of each draft's query vector (brute force over every article, the
    semantic channel blended in as the index does) that more_like_this() lists, blend off."""
    from recsys.query.search import with_feedback

    view = index._view
    matrix = weight_matrix(index)
    found = 0
    for text in drafts:
        vector = with_feedback(view, view.built.vectorizer.draft(text, None, None), view.built.text_terms)
        q = np.zeros(matrix.shape[1])
        q[vector.terms] = vector.weights
        lexical = (matrix @ q) / vector.self_score if vector.self_score > 0 else np.zeros(matrix.shape[0])
        exact = set(np.argsort(-_blended(index, lexical, vector.embedding), kind="stable")[:10].tolist())
        got = {view.data.store.row_of[h.id]
               for h in index.more_like_this(text, k=10, popularity_weight=0, freshness_weight=0)}
        found += len(exact & got)
    return found / (10 * len(drafts))


def recall_at_10(index, ids, batch: int = 32) -> tuple[float, float]:
    """(recall@10, similarity ratio) of related() against the exact top 10 (the full query vector
    scored against every article, the semantic channel blended in as the index does): the share of
    the exact top 10 it lists, and the sum of the similarities it lists over the exact top 10's."""
    data = index._view.data
    matrix = weight_matrix(index)
    weights = data.rows.data if index.config.method == "tfidf" else data.query_tf
    found = total = 0
    ratios = []
    for start in range(0, len(ids), batch):
        rows = [data.store.row_of[i] for i in ids[start:start + batch]]
        queries = np.zeros((matrix.shape[1], len(rows)), np.float32)
        for c, row in enumerate(rows):
            lo, hi = data.rows.indptr[row], data.rows.indptr[row + 1]
            queries[data.rows.row_terms(row), c] = weights[lo:hi]
        lexical = np.asarray(matrix @ queries)
        for c, row in enumerate(rows):
            embedding = None if data.embeddings is None else np.asarray(data.embeddings[row], dtype=np.float64)
            scores = _blended(index, lexical[:, c] / data.self_scores[row], embedding)
            scores[row] = -np.inf
            exact = np.argsort(-scores, kind="stable")[:10]
            got = [data.store.row_of[h.id] for h in index.related(data.store.ids[row], k=10, popularity_weight=0,
                                                                  freshness_weight=0)]
            found += len(set(exact.tolist()) & set(got))
            total += 10
            ratios.append(scores[got].sum() / scores[exact].sum() if scores[exact].sum() > 0 else 1.0)
    return found / total, float(np.mean(ratios))


def _blended(index, lexical: np.ndarray, embedding) -> np.ndarray:
    """(1 - w) * lexical + w * max(cosine, 0) with every article's embedding; lexical alone without one."""
    embeddings = index._view.data.embeddings
    if embedding is None or embeddings is None:
        return lexical
    w = index.config.semantic_weight
    return (1 - w) * lexical + w * np.maximum(np.asarray(embeddings @ embedding.astype(np.float32)), 0.0)


COLUMNS = [("n", "N", ","), ("corpus", "corpus", ""), ("method", "method", ""), ("build_s", "build s", ".1f"),
           ("reading_s", "read+analyse s", ".1f"), ("neighbours_s", "neighbours s", ".1f"), ("semantic_s", "semantic s", ".1f"),
           ("reading_rss_mb", "peak RSS after reading MB", ".0f"),
           ("neighbours_rss_mb", "peak RSS after neighbours MB", ".0f"), ("build_rss_mb", "build peak RSS MB", ".0f"), ("related_p50", "related p50 ms", ".3f"),
           ("related_p99", "related p99 ms", ".3f"), ("filtered_p50", "filtered p50 ms", ".3f"),
           ("filtered_p99", "filtered p99 ms", ".3f"), ("mlt_p50", "mlt p50 ms", ".3f"),
           ("mlt_p99", "mlt p99 ms", ".3f"), ("recall10", "recall@10 vs exact", ".3f"),
           ("sim_ratio", "similarity ratio", ".4f"),
           ("mlt_recall10", "mlt recall@10 vs exact", ".3f")]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--method", default="tfidf", choices=["tfidf", "bm25"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corpus", default="flat", choices=["flat", "stories"],
                        help="the synthetic corpus's mode (benchmarks.synth)")
    parser.add_argument("--recall-sample", type=int, default=1000,
                        help="articles whose related() lists are checked against brute force")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=JSON",
                        help="a build parameter, e.g. --param refine_rounds=3 (repeatable)")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        params = {name: json.loads(value) for name, _, value in (p.partition("=") for p in args.param)}
        print(json.dumps(measure(args.n[0], args.queries, args.method, args.seed, params, args.corpus,
                                 args.recall_sample)))
        return
    rows = [run_child("benchmarks.query", ["--child", "--n", str(n), "--queries", str(args.queries),
                                           "--method", args.method, "--seed", str(args.seed),
                                           "--corpus", args.corpus, "--recall-sample", str(args.recall_sample),
                                           *(f"--param={p}" for p in args.param)]) for n in args.n]
    print_table(rows, COLUMNS)
    write_json(rows, args.json)


if __name__ == "__main__":
    main()
