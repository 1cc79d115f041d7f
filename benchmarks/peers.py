"""Peer comparison: recsys against rank-bm25, bm25s, scikit-learn TF-IDF and tantivy on one task.

    pip install -e '.[dev,bench]'
    python -m benchmarks.peers --n 100000 [--peers sklearn,bm25s,tantivy,recsys,rank-bm25]
                               [--queries 500] [--slow-queries 3] [--seed 0] [--json rows.json]

The task: "the top 10 articles related to article i, which is already indexed". The parent writes
the deterministic synthetic corpus of benchmarks.synth (``--n`` articles, ``--seed``) once to a
temporary JSONL file and draws ``--queries`` random article rows (plus one more for an untimed
warm-up query), the same for every peer. Each peer then runs in its own process (so its peak RSS
is its own) and:

* builds: "build s" is reading and parsing the JSONL file and everything the peer needs before
  its first query (tokenising, weighting, indexing, precomputing);
* answers one untimed warm-up query (JIT compilation, caches: bm25s's numba backend compiles
  for several seconds here; the footnotes give each peer's), then times each query, one at a
  time, single-threaded;
* reports the peak RSS of its process after build and queries ("peak RSS MB"; recsys tokenises in
  worker processes, whose largest peak is given below the table);
* reports its top 10 for each query; recall is computed afterwards, outside the timed processes.

The peers (each article's text is its title and body):

rank-bm25    ``BM25Okapi`` (k1 1.5, b 0.75) over the tokens of scikit-learn's analyzer (lower case,
             words of 2+ characters, English stop words dropped); the query is the article's
             tokens (repeats included), the scores of all articles are sorted, the article itself
             dropped. A query scores every article in Python (18-28 s at 100k here), so only the first
             ``--slow-queries`` (default 3) queries are timed, and its recall is over those only.
bm25s        ``bm25s.tokenize`` (English stop words, PyStemmer's English stemmer) and
             ``bm25s.BM25(backend="numba")`` (method "lucene", k1 1.5, b 0.75; 3x faster queries
             than the numpy backend at 10k); the query is the article's token ids (kept from
             indexing), ``retrieve(k=11)``, the article itself dropped.
sklearn      ``TfidfVectorizer(sublinear_tf=True, stop_words="english")`` (L2-normalised rows)
             and an exact sparse dot product: scores = X[i] . X^T (X^T kept as CSR, so only the
             postings of i's terms are read), ``argpartition`` for the top 11, itself dropped.
tantivy      an index in a temporary directory with fields id (raw, for the lookup), title and
             body (tokenizer "en_stem", term frequencies, stored: MoreLikeThis re-reads the stored
             document) and row (i64 fast field), written by ``index.writer(heap_size=256 MB,
             num_threads=1)`` (one indexing thread; merges run in tantivy's own background
             threads), committed and merged before the first query. A query finds the article's
             DocAddress by a term query on id (timed), runs ``Query.more_like_this_query(address,
             min_doc_frequency=5, min_term_frequency=2, max_query_terms=25, boost_factor=1.0,
             stop_words=scikit-learn's English list)`` (Lucene's MoreLikeThis defaults: the
             article's 25 terms of highest tf x idf among those seen twice in it and in 5+
             articles, each a BM25 term query boosted by its tf-idf share), ``limit=11``, reads the
             row fast field of the hits and drops the article itself.
recsys       ``recsys.RelatedIndex.build(path)`` with the default configuration (TF-IDF, blend,
             near-duplicate grouping, 50 precomputed neighbours per article), then
             ``index.related(id, k=10)``. "recsys, filtered" adds a section filter (a random
             section, so mostly the live path that scores every article of that section) and an
             exclude, as benchmarks.query does.

recall@10 is the share of an exact top 10 that a peer lists, averaged over the queries:

* for rank-bm25, bm25s, sklearn and tantivy, against the exact top 10 by cosine of scikit-learn's
  TF-IDF vectors above (the sklearn child computes it, untimed, after its peak RSS is taken; the
  parent compares). So sklearn's own recall is 1.0 up to ties, and the BM25 peers and tantivy lose
  recall both to their different weighting and, for tantivy, to its 25-term query;
* for recsys, against the exact cosine over recsys's own weight vectors (brute force over its
  matrix, ``benchmarks.query.recall_at_10``, related() with popularity_weight=0 and
  freshness_weight=0), because recsys tokenises, stems, weights fields and groups near-duplicates
  differently: what it measures is how well its candidate search finds its own exact top 10.

"p50 / recsys p50" divides each peer's p50 by recsys's unfiltered p50 of the same run.

Fairness notes: recsys's build uses every core (tokenising worker processes, one per core, and
numba threads for the neighbour search); the other builds run on one thread (tantivy merges
segments in background threads). recsys precomputes every article's list at build time, so its
query is a lookup plus the blend; the others search at query time. recsys's numba kernels are
cached on disk: the first build after installing or editing recsys also compiles them (about 10 s
and 130 MB more at 10k), so run twice after a change. rank-bm25 keeps a Python dict
per article (5.2 GB peak at 100k), so it would need ~50 GB at 1M: leave it out (``--peers``) there.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from ._measure import latencies_ms, peak_rss_mb, print_table, run_child, timer, write_json

PEERS = ("rank-bm25", "bm25s", "sklearn", "tantivy", "recsys")
# Lucene's MoreLikeThis defaults (also tantivy-py's), stated; plus stop_words = scikit-learn's list
TANTIVY_MLT = {"min_doc_frequency": 5, "max_doc_frequency": None, "min_term_frequency": 2,
               "max_query_terms": 25, "min_word_length": None, "max_word_length": None,
               "boost_factor": 1.0}
TANTIVY_WRITER = {"heap_size": 256_000_000, "num_threads": 1}


# --------------------------------------------------------------------------- shared by the peers
def read_articles(corpus: str) -> tuple[list[str], list[dict]]:
    """Article ids and articles of the JSONL file, in file order."""
    with open(corpus, encoding="utf-8") as handle:
        articles = [json.loads(line) for line in handle]
    return [a["id"] for a in articles], articles


def text_of(article: dict) -> str:
    return f"{article['title']}\n{article['body']}"


def top_rows(scores: np.ndarray, row: int, k: int = 10) -> list[int]:
    """The k best rows by score, best first, never ``row`` itself (argpartition of k + 1)."""
    best = np.argpartition(-scores, k)[:k + 1]
    best = best[np.argsort(-scores[best], kind="stable")]
    return [int(r) for r in best if r != row][:k]


# --------------------------------------------------------------------------- one function per peer
# Each builds from the corpus path and returns (ids, query) where query(row) -> top 10 ids; what
# the child needs after timing hangs on the query function (query.matrix, query.index, ...).

def build_rank_bm25(corpus: str):
    from rank_bm25 import BM25Okapi
    from sklearn.feature_extraction.text import TfidfVectorizer

    ids, articles = read_articles(corpus)
    analyze = TfidfVectorizer(stop_words="english").build_analyzer()
    bm25 = BM25Okapi([analyze(text_of(a)) for a in articles])
    del articles

    def query(row: int) -> list[str]:
        tokens = [t for t, count in bm25.doc_freqs[row].items() for _ in range(count)]
        return [ids[r] for r in top_rows(bm25.get_scores(tokens), row)]
    return ids, query


def build_bm25s(corpus: str):
    import bm25s
    import Stemmer

    ids, articles = read_articles(corpus)
    tokens = bm25s.tokenize([text_of(a) for a in articles], stopwords="en",
                            stemmer=Stemmer.Stemmer("english"), show_progress=False)
    del articles
    retriever = bm25s.BM25(backend="numba")
    retriever.index(tokens, show_progress=False)
    doc_tokens = tokens.ids

    def query(row: int) -> list[str]:
        docs, _ = retriever.retrieve([doc_tokens[row]], k=11, show_progress=False)
        return [ids[r] for r in docs[0].tolist() if r != row][:10]
    return ids, query


def build_sklearn(corpus: str):
    from sklearn.feature_extraction.text import TfidfVectorizer

    ids, articles = read_articles(corpus)
    matrix = TfidfVectorizer(sublinear_tf=True, stop_words="english").fit_transform(
        [text_of(a) for a in articles]).tocsr()
    del articles
    by_term = matrix.T.tocsr()  # postings: term -> articles

    def query(row: int) -> list[str]:
        scores = (matrix[row] @ by_term).toarray().ravel()
        return [ids[r] for r in top_rows(scores, row)]
    query.matrix = matrix
    return ids, query


def exact_tfidf_top10(matrix, rows: list[int], ids: list[str]) -> list[list[str]]:
    """Exact cosine top 10 of each row (itself left out, ties by row order), by a full sort."""
    by_term = matrix.T.tocsr()
    exact = []
    for row in rows:
        scores = (matrix[row] @ by_term).toarray().ravel()
        scores[row] = -np.inf
        exact.append([ids[r] for r in np.argsort(-scores, kind="stable")[:10].tolist()])
    return exact


def build_tantivy(corpus: str):
    import tantivy
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    directory = tempfile.TemporaryDirectory()  # removed with the query function
    ids, articles = read_articles(corpus)
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", tokenizer_name="raw", index_option="basic")
    for field in ("title", "body"):
        builder.add_text_field(field, stored=True, tokenizer_name="en_stem", index_option="freq")
    builder.add_integer_field("row", fast=True)
    schema = builder.build()
    index = tantivy.Index(schema, path=directory.name)
    writer = index.writer(**TANTIVY_WRITER)
    for row, a in enumerate(articles):
        writer.add_document(tantivy.Document(id=a["id"], title=a["title"], body=a["body"], row=row))
    del articles
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    searcher = index.searcher()
    stop_words = sorted(ENGLISH_STOP_WORDS)

    def query(row: int) -> list[str]:
        address = searcher.search(tantivy.Query.term_query(schema, "id", ids[row]), limit=1,
                                  count=False).hits[0][1]
        mlt = tantivy.Query.more_like_this_query(address, stop_words=stop_words, **TANTIVY_MLT)
        hits = searcher.search(mlt, limit=11, count=False).hits
        rows = searcher.fast_field_values("row", [a for _, a in hits])
        return [ids[r] for r in rows if r != row][:10]
    query.segments, query.directory = searcher.num_segments, directory
    return ids, query


def build_recsys(corpus: str):
    import recsys

    index = recsys.RelatedIndex.build(corpus)
    ids = list(index.ids)

    def query(row: int) -> list[str]:  # timed with every hit's fields, as the HTTP route reads them
        return [hit["id"] for hit in (h.to_dict(body=False) for h in index.related(ids[row], k=10))]
    query.index = index
    return ids, query


# --------------------------------------------------------------------------- the child process
def measure(peer: str, corpus: str, rows: list[int], slow_queries: int) -> dict:
    """Build one peer, time its queries; ``rows[-1]`` is the warm-up query."""
    warm, rows = rows[-1], rows[:-1]
    if peer == "rank-bm25":
        rows = rows[:slow_queries]
    with timer() as build_time:
        ids, query = BUILDERS[peer](corpus)
    with timer() as first_query:
        query(warm)
    top10: list[list[str]] = []
    times = latencies_ms(lambda row: top10.append(query(row)), rows)
    result = {"peer": peer, "n": len(ids), "build_s": build_time(), "peak_rss_mb": peak_rss_mb(),
              "p50": times["p50"], "p99": times["p99"], "queries": len(rows),
              "first_query_s": first_query(), "top10": top10,
              "workers_rss_mb": peak_rss_mb(children=True)}
    if peer == "sklearn":
        result["exact"] = exact_tfidf_top10(query.matrix, rows, ids)
    elif peer == "tantivy":
        result["segments"] = query.segments
    elif peer == "recsys":
        result.update(recsys_extras(query.index, [ids[r] for r in rows], ids))
    return result


def recsys_extras(index, query_ids: list[str], ids: list[str]) -> dict:
    """Latency of the filtered variant (after the plain one, on the same warm index), and recall
    against the exact cosine of recsys's own vectors (after the peak RSS was taken)."""
    from .query import recall_at_10

    rng = np.random.default_rng(len(ids))
    sections = [index.article(ids[r]).section for r in rng.choice(len(ids), size=len(query_ids))]
    timed = set(query_ids)
    for row, section in zip(rng.choice(len(ids), size=3), sections):  # warm-up, untimed, on other ids
        if ids[row] not in timed:
            index.related(ids[row], k=10, section=section, exclude=[ids[row]])
    filtered = latencies_ms(lambda p: index.related(p[0], k=10, section=p[1], exclude=[p[0]]),
                            list(zip(query_ids, sections)))
    recall10, similarity_ratio = recall_at_10(index, query_ids)
    return {"filtered_p50": filtered["p50"], "filtered_p99": filtered["p99"], "recall10": recall10,
            "similarity_ratio": similarity_ratio, "build_seconds": index.build_seconds,
            "build_peak_rss_mb": index.build_peak_rss_mb}


BUILDERS = {"rank-bm25": build_rank_bm25, "bm25s": build_bm25s, "sklearn": build_sklearn,
            "tantivy": build_tantivy, "recsys": build_recsys}


# --------------------------------------------------------------------------- the parent
def recall(found: list[list[str]], exact: list[list[str]]) -> float:
    return float(np.mean([len(set(f) & set(e)) / len(e) for f, e in zip(found, exact)]))


def run_peers(args, corpus: str, rows_file: str) -> list[dict]:
    """Run the chosen peers (sklearn first: it also gives the exact TF-IDF top 10)."""
    chosen = [p for p in PEERS if p in args.peers]
    needs_truth = any(p in chosen for p in ("rank-bm25", "bm25s", "tantivy"))
    first = ["sklearn"] if "sklearn" in chosen or needs_truth else []
    order = first + [p for p in chosen if p != "sklearn"]
    results = {}
    for peer in order:
        print(f"peers: {peer} ...", file=sys.stderr, flush=True)
        results[peer] = run_child("benchmarks.peers", ["--child", peer, "--corpus", corpus, "--rows",
                                                       rows_file, "--slow-queries", str(args.slow_queries)])
    exact = results["sklearn"].pop("exact") if "sklearn" in results else None
    for peer, row in results.items():
        found = row.pop("top10")
        if peer != "recsys" and exact is not None:
            row["recall10"] = recall(found, exact[:len(found)])
        elif peer == "recsys" and exact is not None:
            row["overlap10_sklearn"] = recall(found, exact)  # JSON only: how far from plain TF-IDF
    rows = [results[p] for p in PEERS if p in chosen]
    if "recsys" in results:
        rows += [filtered_row(results["recsys"])]
        for row in rows:
            row["ratio"] = row["p50"] / results["recsys"]["p50"]
    return rows


def filtered_row(recsys_row: dict) -> dict:
    return {"peer": "recsys, filtered", "n": recsys_row["n"], "p50": recsys_row.pop("filtered_p50"),
            "p99": recsys_row.pop("filtered_p99"), "queries": recsys_row["queries"]}


COLUMNS = [("peer", "peer", ""), ("n", "N", ","), ("build_s", "build s", ".1f"),
           ("peak_rss_mb", "peak RSS MB", ".0f"), ("p50", "p50 ms", ".3f"), ("p99", "p99 ms", ".3f"),
           ("recall10", "recall@10", ".3f"), ("ratio", "p50 / recsys p50", ".2f"), ("note", "note", "")]


def footnotes(rows: list[dict]) -> list[str]:
    notes = ["recall@10: recsys against the exact cosine of its own vectors; the others against "
             "the exact cosine top 10 of scikit-learn's TfidfVectorizer(sublinear_tf=True, "
             "stop_words='english')."]
    if any(r["peer"] == "tantivy" for r in rows):
        notes.append(f"tantivy: writer {TANTIVY_WRITER}, more_like_this_query({TANTIVY_MLT}, "
                     "stop_words=scikit-learn's English list), limit 11.")
    warm = ", ".join(f"{r['peer']} {r['first_query_s']:.2f}" for r in rows if "first_query_s" in r)
    notes.append(f"first (untimed warm-up) query, s: {warm}.")
    for row in rows:
        if row["peer"] == "recsys" and row.get("workers_rss_mb"):
            notes.append(f"recsys: peak RSS of its largest tokenising worker process "
                         f"{row['workers_rss_mb']:.0f} MB (forked: counts pages shared with the "
                         "parent; not in the column).")
        if row["peer"] == "recsys" and row.get("build_seconds"):
            phases = ", ".join(f"{phase} {s:.1f} s" for phase, s in row["build_seconds"].items())
            memory = ", ".join(f"{phase} {mb:.0f} MB" for phase, mb in row["build_peak_rss_mb"].items()
                               if mb is not None)
            notes.append(f"recsys build phases: {phases}; peak RSS at the end of: {memory}.")
    return notes


def add_notes(rows: list[dict]) -> None:
    for row in rows:
        if row["peer"] == "rank-bm25":
            row["note"] = f"{row['queries']} queries timed (--slow-queries); recall over those"
        elif row["peer"] == "recsys":
            row["note"] = f"blend on; recall vs its own exact cosine (similarity ratio {row['similarity_ratio']:.4f})"
        elif row["peer"] == "recsys, filtered":
            row["note"] = "random section + exclude, same index"
        elif row["peer"] == "tantivy":
            row["note"] = f"{row.get('segments')} segment(s)"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="number of articles")
    parser.add_argument("--peers", default=",".join(PEERS),
                        help=f"comma-separated subset of {','.join(PEERS)}")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--slow-queries", type=int, default=3, help="queries timed for rank-bm25")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--child", choices=PEERS, help=argparse.SUPPRESS)
    parser.add_argument("--corpus", help=argparse.SUPPRESS)
    parser.add_argument("--rows", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        rows = json.loads(Path(args.rows).read_text())
        print(json.dumps(measure(args.child, args.corpus, rows, args.slow_queries)))
        return
    args.peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = set(args.peers) - set(PEERS)
    if unknown or args.queries < 1 or args.n < args.queries + 12:
        parser.error(f"unknown peers {sorted(unknown)}" if unknown else "need --n >= --queries + 12 >= 13")
    from benchmarks.synth import write_jsonl

    with tempfile.TemporaryDirectory() as tmp:
        corpus, rows_file = os.path.join(tmp, "corpus.jsonl"), os.path.join(tmp, "rows.json")
        write_jsonl(args.n, corpus, seed=args.seed)
        query_rows = np.random.default_rng(args.seed).choice(args.n, size=args.queries + 1, replace=False)
        Path(rows_file).write_text(json.dumps(query_rows.tolist()))
        rows = run_peers(args, corpus, rows_file)
    add_notes(rows)
    print_table(rows, COLUMNS)
    print()
    for note in footnotes(rows):
        print(f"* {note}")
    write_json(rows, args.json)


if __name__ == "__main__":
    main()
