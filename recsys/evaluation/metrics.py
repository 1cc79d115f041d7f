"""Evaluating an index against human judgments: graded pairwise ratings, qrels, or a click log.

Metrics: nDCG@k with graded gains, recall@k, MRR, P@k, Pearson and Spearman (pairwise ratings),
and catalogue coverage (the share of articles that appear in some article's top k).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import pearsonr, spearmanr

from ..errors import InputError, ParameterError

FORMATS = ("pairwise", "qrels", "clicks", "events")
SQLITE_HEADER = b"SQLite format 3\x00"


def evaluate(index, judgments: str | Path | Mapping[str, Mapping[str, float]], *, k: int = 10,
             format: str | None = None, coverage_sample: int = 5000, **query: Any) -> dict[str, Any]:
    """Score ``index`` against judgments; returns a dict of metrics.

    ``judgments`` is a file (pairwise JSON ``{"ids": [...], "ratings": [[...]]}``, qrels JSONL
    ``{"id": ..., "related": [ids] | {id: grade}}``, a click log JSONL ``{"id": ...,
    "impressions": [ids in shown order], "clicks": [ids]}``, or the service's own events file, whose
    widget impressions and clicks are the click log), or already-read graded relevance
    ``{query id: {article id: gain}}``. ``query`` passes options to ``index.related``.
    """
    ratings = None
    if not isinstance(judgments, Mapping) and (format or _guess_format(Path(judgments))) == "pairwise":
        ids, ratings = read_pairwise(Path(judgments))
    gains = load_gains(judgments, format)
    gains = {q: g for q, g in gains.items() if q in index}
    if not gains:
        raise InputError("no judged article is in the index", source=str(judgments) if not isinstance(judgments, Mapping) else None)
    lists = {q: [h.id for h in index.related(q, k=k, **query)] for q in gains}
    result: dict[str, Any] = {"queries": len(gains), "k": k, **ranking_metrics(lists, gains, k),
                              "coverage": coverage(index, k, coverage_sample, **query)}
    if ratings is not None:
        known = [i for i, a in enumerate(ids) if a in index]
        ids, ratings = [ids[i] for i in known], ratings[np.ix_(known, known)]
        predicted = np.array([[index.similarity(a, b) if a != b else 1.0 for b in ids] for a in ids])
        predicted = (predicted + predicted.T) / 2
        upper = np.triu_indices(len(ids), 1)
        result["pearson"] = float(pearsonr(ratings[upper], predicted[upper])[0])
        result["spearman"] = float(spearmanr(ratings[upper], predicted[upper])[0])
    return result


def load_gains(judgments: str | Path | Mapping[str, Mapping[str, float]],
               format: str | None = None) -> dict[str, dict[str, float]]:
    """{query id: {article id: gain}} from a judgments file of any of the three formats, or a mapping."""
    if isinstance(judgments, Mapping):
        return {str(q): {str(i): float(g) for i, g in graded.items()} for q, graded in judgments.items()}
    path = Path(judgments)
    format = format or _guess_format(path)
    if format == "pairwise":
        return pairwise_gains(*read_pairwise(path))
    if format == "qrels":
        return read_qrels(path)
    if format == "clicks":
        return click_gains(path)
    if format == "events":
        return event_gains(path)
    raise ParameterError(f"format must be one of {FORMATS}, got {format!r}")


def ranking_metrics(lists: Mapping[str, list[str]], gains: Mapping[str, Mapping[str, float]], k: int) -> dict:
    """Mean nDCG@k (graded), recall@k, MRR and P@k over the queries (an item is relevant if its gain > 0)."""
    ndcg, recall, rr, precision = [], [], [], []
    for query, ranked in lists.items():
        judged = gains[query]
        relevant = {i for i, g in judged.items() if g > 0 and i != query}
        ranked = ranked[:k]
        if relevant:
            ndcg.append(ndcg_at_k(ranked, judged, query, k))
        hits = [rank for rank, i in enumerate(ranked) if i in relevant]
        if relevant:
            recall.append(len(hits) / min(len(relevant), k))
            rr.append(1.0 / (hits[0] + 1) if hits else 0.0)
            precision.append(len(hits) / k)
    mean = lambda values: float(np.mean(values)) if values else float("nan")  # noqa: E731
    return {f"ndcg@{k}": mean(ndcg), f"recall@{k}": mean(recall), "mrr": mean(rr), f"p@{k}": mean(precision)}


def ndcg_at_k(ranked: list[str], judged: Mapping[str, float], query: str, k: int) -> float:
    """nDCG@k of one list with graded gains (log2 discount; the ideal from the judged gains)."""
    dcg = sum(judged.get(i, 0.0) / math.log2(rank + 2) for rank, i in enumerate(ranked[:k]))
    ideal = sorted((g for i, g in judged.items() if i != query and g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(rank + 2) for rank, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def coverage(index, k: int, sample: int = 5000, **query: Any) -> float:
    """Share of all articles that appear in some article's top k. Every list is looked at, or an
    even sample of ``sample`` lists in a larger index (which can only undercount)."""
    ids = index.ids
    queried = ids[:: max(1, len(ids) // sample)]
    listed = {h.id for i in queried for h in index.related(i, k=k, **query)}
    return len(listed) / len(ids)


def read_pairwise(path: Path) -> tuple[list[str], np.ndarray]:
    """A square matrix of ratings over a list of ids; only the upper triangle need be filled (the
    matrix is symmetrised from it)."""
    data = _read_json(path)
    ids, ratings = data.get("ids"), data.get("ratings")
    if not isinstance(ids, list) or not isinstance(ratings, list):
        raise InputError('expected {"ids": [...], "ratings": [[...]]}', source=path.name)
    if len(ids) < 2:
        raise InputError("pairwise ratings need at least 2 ids", source=path.name, field="ids")
    try:
        matrix = np.asarray(ratings, dtype=float)
    except (TypeError, ValueError):
        raise InputError("ratings must be a square matrix of numbers", source=path.name, field="ratings") from None
    if matrix.shape != (len(ids), len(ids)):
        raise InputError(f"ratings must be {len(ids)}x{len(ids)}, got {matrix.shape}", source=path.name,
                         field="ratings")
    upper = np.triu(matrix, 1)
    return [str(i) for i in ids], upper + upper.T + np.diag(np.diag(matrix))


def pairwise_gains(ids: list[str], ratings: np.ndarray) -> dict[str, dict[str, float]]:
    """Gains rescaled so the lowest rating gains 0 and the highest 1 (LP50: (h - 0.2) / 0.8)."""
    upper = ratings[np.triu_indices(len(ids), 1)]
    low, high = float(upper.min()), float(upper.max())
    scale = (high - low) or 1.0
    return {a: {b: (ratings[i, j] - low) / scale for j, b in enumerate(ids) if j != i} for i, a in enumerate(ids)}


def read_qrels(path: Path) -> dict[str, dict[str, float]]:
    """{query id: {article id: grade}} from JSONL lines {"id": ..., "related": [ids] or {id: grade}}."""
    gains: dict[str, dict[str, float]] = {}
    for line_no, row in _jsonl(path):
        related = row.get("related")
        if "id" not in row or not isinstance(related, (list, dict)):
            raise InputError('expected {"id": ..., "related": [ids] or {id: grade}}', source=path.name, line=line_no)
        graded = related if isinstance(related, dict) else {i: 1.0 for i in related}
        try:
            gains[str(row["id"])] = {str(i): float(g) for i, g in graded.items()}
        except (TypeError, ValueError):
            raise InputError("grades must be numbers", source=path.name, line=line_no, field="related") from None
    return gains


def click_gains(path: Path, eta: float = 1.0) -> dict[str, dict[str, float]]:
    """Position-debiased click-through rates as gains: clicks / sum of examination propensities
    (1 / position ** eta) over the impressions, per (article, listed article)."""
    clicks: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    exposure: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for line_no, row in _jsonl(path):
        shown, clicked = row.get("impressions"), row.get("clicks", [])
        if "id" not in row or not isinstance(shown, list) or not isinstance(clicked, list):
            raise InputError('expected {"id": ..., "impressions": [ids], "clicks": [ids]}', source=path.name,
                             line=line_no)
        query = str(row["id"])
        for position, item in enumerate(shown, start=1):
            exposure[query][str(item)] += 1.0 / position ** eta
        for item in clicked:
            clicks[query][str(item)] += 1.0
    return _debiased(exposure, clicks)


def event_gains(path: Path, eta: float = 1.0) -> dict[str, dict[str, float]]:
    """``click_gains`` of the service's own click log: the widget's impressions and clicks in its
    events file (``recsys serve --events-db``), read from their roll-ups (new raw rows are rolled
    up first, as the service does; raw rows past the retention are gone, their counts are not)."""
    from ..feedback import FeedbackStore

    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", source=str(path))
    store = FeedbackStore(path)
    try:
        store.roll_up()
        clicks: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        exposure: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for article_id, target_id, position, impressions, clicked in store.targets():
            exposure[article_id][target_id] += impressions / position ** eta
            clicks[article_id][target_id] += clicked
    finally:
        store.close()
    if not exposure:
        raise InputError("no widget impressions in the events file", source=path.name)
    return _debiased(exposure, clicks)


def _debiased(exposure: Mapping[str, Mapping[str, float]],
              clicks: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    return {q: {i: min(1.0, clicks.get(q, {}).get(i, 0.0) / e) for i, e in items.items() if e > 0}
            for q, items in exposure.items()}


def _guess_format(path: Path) -> str:
    if path.suffix.lower() == ".json":
        return "pairwise"
    try:
        with path.open("rb") as file:
            if file.read(len(SQLITE_HEADER)) == SQLITE_HEADER:
                return "events"
    except FileNotFoundError:
        raise InputError("no such file", source=str(path)) from None
    for _, row in _jsonl(path):
        return "clicks" if "impressions" in row else "qrels"
    raise InputError("no judgments in the file", source=path.name)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no such file", source=str(path)) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not valid JSON: {exc}", source=path.name) from None
    if not isinstance(data, dict):
        raise InputError("expected a JSON object", source=path.name)
    return data


def _jsonl(path: Path):
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError("no such file", source=str(path)) from None
    except UnicodeDecodeError:
        raise InputError("not valid UTF-8", source=path.name) from None
    for line_no, text in enumerate(lines, start=1):
        if text.strip():
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InputError(f"invalid JSON: {exc.msg}", source=path.name, line=line_no) from None
            if not isinstance(row, dict):
                raise InputError("expected a JSON object", source=path.name, line=line_no)
            yield line_no, row
