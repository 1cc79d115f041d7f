"""Tuning: grid or random search over build and blend parameters, scored by cross-validation on judgments."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import KFold, ParameterGrid

from .._checks import check_int
from ..documents.article import Article
from ..documents.readers import iter_input, read_articles, validate_rows
from ..errors import ParameterError
from .metrics import load_gains, ndcg_at_k

DEFAULT_GRID: dict[str, list] = {
    "method": ["tfidf", "bm25"],
    "sublinear_tf": [True, False],
    "stemmer": ["english", None],
    "k1": [1.2, 1.5, 2.0],
    "b": [0.5, 0.75, 0.9],
    "field_weights": [{"title": 2, "body": 1, "tags": 1, "section": 0.5}, {"title": 1, "body": 1},
                      {"title": 3, "body": 1, "tags": 2}],
    "popularity_weight": [0.0, 0.1],
    "freshness_weight": [0.0, 0.1],
}


def tune(articles: Iterable[Mapping[str, Any] | Article] | str | Path, judgments, *,
         grid: Mapping[str, list] | None = None, search: str = "grid", n_iter: int = 20, folds: int = 3,
         k: int = 10, seed: int = 0, format: str | None = None) -> dict[str, Any]:
    """Find the parameters whose related lists score the best mean nDCG@k on the judgments.

    Each candidate parameter set is built once; the judged queries are split into ``folds``, and the
    reported ``cv_ndcg`` is the mean, over folds, of the held-out score of the set chosen on the other
    folds (so it is not inflated by the choice). ``best`` is the set chosen on all queries; pass it to
    ``RelatedIndex.build(**best)`` or save it for ``recsys build --config``.
    """
    from ..related_index import RelatedIndex

    if search not in ("grid", "random"):
        raise ParameterError(f"search must be 'grid' or 'random', got {search!r}")
    check_int("n_iter", n_iter)
    check_int("folds", folds, low=2)
    corpus = list(read_articles(articles) if isinstance(articles, (str, Path))
                  else validate_rows(iter_input(articles), source=None))
    gains = load_gains(judgments, format)
    candidates = _candidates(dict(grid or DEFAULT_GRID), search, n_iter, seed)
    scored = []
    for params in candidates:
        index = RelatedIndex.build(corpus, n_jobs=1, **params)
        queries = sorted(q for q in gains if q in index)
        if len(queries) < folds:
            raise ParameterError(f"only {len(queries)} judged articles are in the corpus; need >= {folds} folds")
        scored.append((params, {q: ndcg_at_k([h.id for h in index.related(q, k=k)], gains[q], q, k) for q in queries}))
    queries = sorted(scored[0][1])
    held_out = []
    for train_rows, test_rows in KFold(folds, shuffle=True, random_state=seed).split(queries):
        train, test = [queries[r] for r in train_rows], [queries[r] for r in test_rows]
        best = max(range(len(scored)), key=lambda i: (_mean(scored[i][1], train), -i))
        held_out.append(_mean(scored[best][1], test))
    ranking = sorted(range(len(scored)), key=lambda i: (-_mean(scored[i][1], queries), i))
    results = [{"params": scored[i][0], f"ndcg@{k}": _mean(scored[i][1], queries)} for i in ranking]
    return {"best": scored[ranking[0]][0], f"ndcg@{k}": results[0][f"ndcg@{k}"],
            f"cv_ndcg@{k}": float(np.mean(held_out)), "folds": folds, "candidates": len(scored),
            "results": results}


def _candidates(grid: dict[str, list], search: str, n_iter: int, seed: int) -> list[dict]:
    for name, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ParameterError(f"grid: {name} must map to a non-empty list of values")
    combos = [_drop_unused(c) for c in ParameterGrid(grid)]
    unique = list({repr(sorted(c.items())): c for c in combos}.values())
    if search == "random" and n_iter < len(unique):  # sampled after dropping equivalent sets, which
        unique = random.Random(seed).sample(unique, n_iter)  # ParameterSampler would draw twice
    return unique


def _drop_unused(params: dict) -> dict:
    """BM25 parameters mean nothing to TF-IDF and sublinear tf nothing to BM25: drop them, so that
    equivalent sets are built once."""
    method = params.get("method", "tfidf")
    unused = ("k1", "b", "epsilon") if method == "tfidf" else ("sublinear_tf",)
    return {name: value for name, value in params.items() if name not in unused}


def _mean(per_query: Mapping[str, float], queries: Iterable[str]) -> float:
    values = [per_query[q] for q in queries]
    return float(np.mean(values)) if values else 0.0
