"""Calibration of the synthetic corpora against real news text: neighbour similarities and term dfs.

    python -m benchmarks.calibrate [--n 20000] [--seed 0] [--queries 5000] [--cache-dir DIR]

For (a) the bundled sample (``recsys/data/sample_articles.jsonl``), (b) LP50 (50 rated ABC news
articles, indexed with its 300 background articles as benchmarks.lp50 does), (c) the flat and (d)
the stories synthetic corpora of ``--n`` articles, it builds a recsys index (lexical channel only,
``semantic_weight=0``) and reports:

* the p10 / p50 / p90 over the articles of the similarity of the top-1 neighbour and of the 10th
  neighbour (``related(id, k=10, popularity_weight=0, freshness_weight=0)``, ``Hit.similarity``;
  ``related()`` leaves out near-duplicate copies, so the top 1 is the nearest distinct article);
* the document-frequency distribution of the index's terms (analysed: stemmed, stop words out):
  the share of terms with df = 1, 2-9, 10-99, 100-999 and >= 1000, and df as a fraction of N at
  p50 / p90 / p99 among the terms with df >= 2.

For the stories corpus it also reports how many of each article's top 10 share its event and its
topic (ground truth from the ``event`` and ``topic`` fields). Since the df distribution depends on
N, a second table gives it at the real corpora's sizes: for random subsets of 60 and 350 articles
of each synthetic corpus. Use an ``--n`` that is a multiple of ``benchmarks.synth.CHUNK_SIZE``:
a partial chunk holds a random part of its events' articles.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

K = 10
DF_BINS = ((1, 1), (2, 9), (10, 99), (100, 999), (1000, None))


@dataclass
class Calibration:
    """One corpus's figures (see the module docstring)."""
    name: str
    n: int                              # articles in the index
    queried: int                        # articles whose neighbours were measured
    top1: tuple[float, float, float]    # p10, p50, p90
    top10: tuple[float, float, float]
    df_shares: tuple[float, ...]        # aligned with DF_BINS
    df_fraction: tuple[float, float, float]   # df / N at p50, p90, p99 (terms with df >= 2)
    terms: int
    extra: dict = field(default_factory=dict)


def _percentiles(values: np.ndarray) -> tuple[float, float, float]:
    values = values[~np.isnan(values)]
    if not len(values):
        return (float("nan"),) * 3
    return tuple(float(v) for v in np.percentile(values, [10, 50, 90]))


def neighbour_similarities(index, ids: Iterable[str], **filters) -> tuple[np.ndarray, np.ndarray, list]:
    """Top-1 and 10th-neighbour similarities of each id (NaN when fewer hits), and the hit ids."""
    top1, top10, lists = [], [], []
    for article_id in ids:
        hits = index.related(article_id, k=K, popularity_weight=0, freshness_weight=0, **filters)
        sims = [float(h.similarity) for h in hits]
        top1.append(sims[0] if sims else np.nan)
        top10.append(sims[K - 1] if len(sims) >= K else np.nan)
        lists.append([h.id for h in hits])
    return np.array(top1), np.array(top10), lists


def df_distribution(df: np.ndarray, n: int) -> tuple[tuple[float, ...], tuple[float, float, float]]:
    """Share of terms per DF_BINS, and the p50 / p90 / p99 of df / n among terms with df >= 2."""
    df = np.asarray(df)
    df = df[df > 0]
    shares = tuple(float(np.mean((df >= lo) & (df <= (hi if hi is not None else np.inf))))
                   for lo, hi in DF_BINS)
    common = df[df >= 2]
    fraction = (tuple(float(v) for v in np.percentile(common / n, [50, 90, 99]))
                if len(common) else (float("nan"),) * 3)
    return shares, fraction


def calibrate_index(name: str, index, ids: list[str], **filters) -> tuple[Calibration, list]:
    """The figures of one built index, measuring the neighbours of ``ids``."""
    top1, top10, lists = neighbour_similarities(index, ids, **filters)
    df = index._view.data.df
    shares, fraction = df_distribution(df, len(index))
    cal = Calibration(name, len(index), len(ids), _percentiles(top1), _percentiles(top10), shares,
                      fraction, int(np.count_nonzero(df)))
    return cal, lists


def calibrate_sample() -> Calibration:
    import recsys
    from recsys.cli import sample_corpus_path

    index = recsys.RelatedIndex.build(str(sample_corpus_path()), semantic_weight=0)
    return calibrate_index("bundled sample", index, list(index.ids))[0]


def calibrate_lp50(cache_dir=None) -> Calibration:
    """LP50's 50 rated articles, indexed with the 300 background articles (as benchmarks.lp50
    does); neighbours are restricted to the 50 (section "lp50"), df is over all 350."""
    from benchmarks.lp50 import load_lp50, recsys_index

    docs, background, _ = load_lp50(cache_dir)
    index = recsys_index(docs, background, "tfidf", semantic_weight=0)
    cal = calibrate_index("LP50", index, [f"lp-{i}" for i in range(len(docs))], section="lp50")[0]
    cal.n = len(docs)
    cal.extra["indexed"] = len(index)
    return cal


def calibrate_synthetic(n: int, mode: str, seed: int = 0, queries: int | None = None,
                        df_sizes: Iterable[int] = ()) -> Calibration:
    """The synthetic corpus of ``n`` articles in ``mode``; neighbours of ``queries`` random
    articles (all when None). For stories, also the same-event and same-topic shares of the top 10;
    for each of ``df_sizes``, the df distribution of that many random articles of the corpus."""
    import recsys
    from benchmarks.synth import generate

    articles = list(generate(n, seed, mode=mode))
    truth = {art["id"]: (art["topic"], art.get("event", -1)) for art in articles}
    t0 = time.perf_counter()
    index = recsys.RelatedIndex.build(articles, semantic_weight=0)
    build_s = time.perf_counter() - t0
    ids = list(index.ids)
    if queries is not None and queries < len(ids):
        pick = np.random.default_rng(seed).choice(len(ids), queries, replace=False)
        ids = [ids[i] for i in np.sort(pick)]
    cal, lists = calibrate_index(f"synthetic {mode}", index, ids)
    cal.extra["build_s"] = build_s
    if mode == "stories":
        cal.extra.update(_event_shares(ids, lists, truth))
    rng = np.random.default_rng(seed)
    for size in df_sizes:
        subset = [articles[i] for i in np.sort(rng.choice(n, min(size, n), replace=False))]
        df = recsys.RelatedIndex.build(subset, semantic_weight=0)._view.data.df
        cal.extra.setdefault("df_at", {})[len(subset)] = (*df_distribution(df, len(subset)),
                                                         int(np.count_nonzero(df)))
    return cal


def _event_shares(ids: list[str], lists: list, truth: dict) -> dict:
    """Mean share of the top 10 in the same event / the same topic, and the share of top-1s in
    the same event; among articles whose event has other members, and among all."""
    sizes: dict[int, int] = {}
    for _, event in truth.values():
        sizes[event] = sizes.get(event, 0) + 1
    same_event, same_topic, first_event, multi = [], [], [], []
    for article_id, hits in zip(ids, lists):
        topic, event = truth[article_id]
        if not hits:
            continue
        same_event.append(np.mean([truth[h][1] == event for h in hits]))
        same_topic.append(np.mean([truth[h][0] == topic for h in hits]))
        first_event.append(truth[hits[0]][1] == event)
        multi.append(sizes[event] > 1)
    multi_a = np.array(multi)
    first = np.array(first_event)[multi_a]
    return {"top10_same_event": float(np.mean(same_event)),
            "top10_same_topic": float(np.mean(same_topic)),
            "top1_same_event_multi": float(np.mean(first)) if len(first) else float("nan"),
            "mean_event_size": float(np.mean(list(sizes.values())))}


def _df_cells(shares, fraction) -> str:
    return (" ".join(f"| {100 * s:.1f} %" for s in shares)
            + f" | {' / '.join(f'{v:.2g}' for v in fraction)} |")


def format_df_table(rows: list[Calibration]) -> str:
    """The df distributions at equal N: each real corpus next to random subsets of that many
    synthetic articles (terms with df >= 100 cannot occur below 100 articles)."""
    head = ("| corpus | N | terms | df=1 | df 2-9 | df 10-99 | df 100-999 | df >= 1000 "
            "| df/N p50 / p90 / p99 (df >= 2) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for c in rows:
        if "df_at" in c.extra:
            continue
        n = c.extra.get("indexed", c.n)
        lines.append(f"| {c.name} | {n:,} | {c.terms:,} " + _df_cells(c.df_shares, c.df_fraction))
        for s in rows:
            if n in s.extra.get("df_at", {}):
                shares, fraction, terms = s.extra["df_at"][n]
                lines.append(f"| {s.name}, {n:,} random articles | {n:,} | {terms:,} "
                             + _df_cells(shares, fraction))
    return "\n".join(lines)


def format_table(rows: list[Calibration]) -> str:
    """A markdown table of the calibrations, with its notes."""
    head = ("| corpus | N | top-1 sim p10 / p50 / p90 | 10th sim p10 / p50 / p90 | terms | df=1 | df 2-9 "
            "| df 10-99 | df 100-999 | df >= 1000 | df/N p50 / p90 / p99 (df >= 2) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for c in rows:
        n = f"{c.n:,}" + (f" (+{c.extra['indexed'] - c.n} bg)" if "indexed" in c.extra else "")
        lines.append(
            f"| {c.name} | {n} | {' / '.join(f'{v:.3f}' for v in c.top1)} "
            f"| {' / '.join(f'{v:.3f}' for v in c.top10)} | {c.terms:,} "
            + _df_cells(c.df_shares, c.df_fraction))
    notes = ["Similarities are recsys's lexical similarity (tfidf defaults, semantic_weight=0, blend "
             + "off); related() leaves out near-duplicate copies."]
    if any(c.name == "LP50" for c in rows):
        notes.append("LP50 has 50 rated articles: its 10th neighbour is the 10th of the 49 others (its "
                     "neighbours are restricted to them); its df counts the 300 background articles too.")
    if any(c.name == "bundled sample" for c in rows):
        notes.append("The bundled sample has 60 articles: its 10th neighbour is the 10th of 59.")
    for c in rows:
        if c.queried < c.n and c.name != "LP50":
            notes.append(f"{c.name}: neighbours of {c.queried:,} random articles.")
        if "top10_same_event" in c.extra:
            e = c.extra
            notes.append(f"{c.name}: mean event size {e['mean_event_size']:.2f}; share of the top 10 "
                         f"in the article's event {e['top10_same_event']:.3f}, in its topic "
                         f"{e['top10_same_topic']:.3f}; top 1 in the same event (articles whose "
                         f"event has other members) {e['top1_same_event_multi']:.3f}.")
    return "\n".join(lines) + "\n\n" + "\n".join(f"* {note}" for note in notes)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.calibrate", description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=20_000, help="articles in each synthetic corpus")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--queries", type=int, default=5_000,
                   help="synthetic articles whose neighbours are measured (0 = all)")
    p.add_argument("--cache-dir", default=None, help="LP50 cache directory (see benchmarks.lp50)")
    p.add_argument("--corpora", default="sample,lp50,flat,stories",
                   help="comma-separated subset of sample, lp50, flat, stories")
    a = p.parse_args(argv)
    wanted = [c.strip() for c in a.corpora.split(",") if c.strip()]
    unknown = set(wanted) - {"sample", "lp50", "flat", "stories"}
    if unknown:
        p.error(f"unknown corpora: {', '.join(sorted(unknown))}")
    queries = a.queries or None
    rows: list[Calibration] = []
    real = [name for name in wanted if name in ("sample", "lp50")]
    for name in real + [name for name in wanted if name not in real]:   # the real sizes first
        t0 = time.perf_counter()
        if name == "sample":
            rows.append(calibrate_sample())
        elif name == "lp50":
            rows.append(calibrate_lp50(a.cache_dir))
        else:
            sizes = [c.extra.get("indexed", c.n) for c in rows[:len(real)]]
            rows.append(calibrate_synthetic(a.n, name, a.seed, queries, df_sizes=sizes))
        print(f"calibrate: {name} done in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    print(format_table(rows))
    if real and len(rows) > len(real):
        print("\nThe df distribution at the real corpora's sizes "
              "(random articles of the synthetic corpora):\n")
        print(format_df_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
