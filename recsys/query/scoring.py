"""The parts of a score: freshness and popularity, the top k, maximal marginal relevance, shared terms."""

from __future__ import annotations

import numpy as np

from ..config import DECAY_FUNCTIONS, BlendConfig, duration_seconds
from . import list_kernels


def freshness(published: np.ndarray, now: float, blend: BlendConfig) -> np.ndarray:
    """Decay in [0, 1] on article age (Elasticsearch decay functions); unknown dates score 0."""
    return list_kernels.freshness(np.asarray(published, dtype=np.float64), now, *decay(blend))


def decay(blend: BlendConfig) -> tuple[int, float, float, float]:
    """The freshness decay's parameters as the kernels take them: (function code, scale and offset
    in seconds, decay)."""
    return (DECAY_FUNCTIONS.index(blend.freshness_function),
            duration_seconds(blend.freshness_scale, "freshness_scale"),
            duration_seconds(blend.freshness_offset, "freshness_offset"), float(blend.freshness_decay))


def popularity(views: np.ndarray, max_views: float) -> np.ndarray:
    """log(1 + views) / log(1 + max views), in [0, 1]."""
    return list_kernels.popularity(np.asarray(views, dtype=np.float64), float(max_views))


def top_k(scores: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k best scores, best first; equal scores keep ascending row order."""
    if len(scores) > max(4 * k, 256):  # only then does a partial sort first pay off
        cut = np.argpartition(-scores, k - 1)[:k]
        threshold = scores[cut].min()
        candidates = np.flatnonzero(scores >= threshold)
    else:
        candidates = np.arange(len(scores))
    order = np.lexsort((rows[candidates], -scores[candidates]))
    return candidates[order[:k]]


def mmr_order(scores: np.ndarray, similarity: np.ndarray, k: int, diversity: float) -> tuple[np.ndarray, np.ndarray]:
    """Maximal marginal relevance: pick k items one by one, each maximising
    (1 - diversity) * score - diversity * (its largest similarity to an item already picked).

    ``similarity`` is the items' pairwise similarity matrix. Returns (positions in pick order, the
    penalty each paid). Ties go to the earlier position (callers pass items best first).
    """
    chosen: list[int] = []
    penalties: list[float] = []
    closest = np.zeros(len(scores))
    available = np.ones(len(scores), dtype=bool)
    for _ in range(min(k, len(scores))):
        value = np.where(available, (1.0 - diversity) * scores - diversity * closest, -np.inf)
        pick = int(np.argmax(value))
        chosen.append(pick)
        penalties.append(float(diversity * closest[pick]))
        available[pick] = False
        closest = np.maximum(closest, similarity[pick])
    return np.array(chosen, dtype=np.int64), np.array(penalties)


def shared_terms(query_terms: np.ndarray, query_weights: np.ndarray, terms: np.ndarray, weights: np.ndarray,
                 self_score: float, vocabulary: list[str], n: int = 5) -> list[dict]:
    """The terms an article shares with a query, with each one's share of the similarity, largest first."""
    common, in_query, in_article = np.intersect1d(query_terms, terms, assume_unique=True, return_indices=True)
    contributions = query_weights[in_query] * weights[in_article] / (self_score or 1.0)
    order = np.argsort(-contributions, kind="stable")[:n]
    return [{"term": vocabulary[int(common[i])], "contribution": float(contributions[i])} for i in order]
