"""Compiled parts of a list's score (numba): popularity, freshness and their blend with similarity,
one pass over the candidates instead of a dozen array operations (a stored list has about 50)."""

from __future__ import annotations

import numpy as np
from numba import njit

from ..config import DECAY_FUNCTIONS


GAUSS, EXP = DECAY_FUNCTIONS.index("gauss"), DECAY_FUNCTIONS.index("exp")  # codes of DECAY_FUNCTIONS


@njit(cache=True, nogil=True)
def _popularity(views, top):
    """log(1 + views) / ``top`` (log(1 + the largest view count); 0 when that is 0)."""
    return np.log1p(views) / top if top > 0.0 else 0.0


@njit(cache=True, nogil=True)
def _freshness(published, now, code, scale, offset, decay):
    """Elasticsearch-style decay on the age |now - published| beyond ``offset``; 0 for an unknown date."""
    if np.isnan(published):
        return 0.0
    distance = max(abs(now - published) - offset, 0.0)
    if code == GAUSS:
        value = np.exp(distance ** 2 * np.log(decay) / scale ** 2)
    elif code == EXP:
        value = np.exp(distance * np.log(decay) / scale)
    else:
        span = scale / (1.0 - decay)
        value = max((span - distance) / span, 0.0)
    return 0.0 if np.isnan(value) else value


@njit(cache=True, nogil=True)
def popularity(views, max_views):
    """Popularity in [0, 1] of each view count (see _popularity)."""
    top = np.log1p(max_views) if max_views > 0.0 else 0.0
    out = np.empty(views.shape[0])
    for i in range(views.shape[0]):
        out[i] = _popularity(views[i], top)
    return out


@njit(cache=True, nogil=True)
def freshness(published, now, code, scale, offset, decay):
    """Freshness in [0, 1] of each publication time (see _freshness)."""
    out = np.empty(published.shape[0])
    for i in range(published.shape[0]):
        out[i] = _freshness(published[i], now, code, scale, offset, decay)
    return out


@njit(cache=True, nogil=True)
def ranked(rows, sims, min_similarity, own_views, added_views, published, max_views, popularity_weight,
           freshness_weight, now, code, scale, offset, decay, groups, has_twin, own_group, n):
    """The n best of the candidate ``rows`` (similarities ``sims``) more similar than
    ``min_similarity``, by score = similarity * (1 + popularity_weight * popularity + freshness_weight
    * freshness) (a part whose weight is 0 is 0), descending, then by row: from each near-duplicate
    group (story) its best member only, and none of group ``own_group`` (-1: none). ``has_twin``
    marks the rows whose group has other members. Returns their (rows, scores, similarities,
    popularity, freshness, views), best first."""
    m = 0
    kept = np.empty(rows.shape[0], np.int64)
    for c in range(rows.shape[0]):
        if sims[c] > min_similarity:
            kept[m] = c
            m += 1
    kept = kept[:m]
    scores, pop, fresh = np.empty(m), np.zeros(m), np.zeros(m)
    views = np.empty(m, np.int64)
    top = np.log1p(max_views) if max_views > 0.0 else 0.0
    for i in range(m):
        row = rows[kept[i]]
        views[i] = own_views[row] + added_views[row]
        if popularity_weight != 0.0:
            pop[i] = _popularity(views[i], top)
        if freshness_weight != 0.0:
            fresh[i] = _freshness(published[row], now, code, scale, offset, decay)
        scores[i] = sims[kept[i]] * (1.0 + popularity_weight * pop[i] + freshness_weight * fresh[i])
    best = _one_per_story(rows[kept], scores, groups, has_twin, own_group, n)
    return rows[kept][best], scores[best], sims[kept][best], pop[best], fresh[best], views[best]


@njit(cache=True, nogil=True)
def _one_per_story(rows, scores, groups, has_twin, own_group, n):
    """Positions of the n best (score descending, then row ascending), one per story (see ranked)."""
    by_row = np.argsort(rows, kind="mergesort")
    order = by_row[np.argsort(-scores[by_row], kind="mergesort")]
    picked = np.empty(min(n, order.shape[0]), np.int64)
    taken = np.empty(order.shape[0], groups.dtype)  # the stories of the twins picked
    n_picked = n_taken = 0
    for position in order:
        if n_picked == picked.shape[0]:
            break
        row = rows[position]
        if has_twin[row]:
            group = groups[row]
            if group == own_group or group in taken[:n_taken]:
                continue
            taken[n_taken] = group
            n_taken += 1
        picked[n_picked] = position
        n_picked += 1
    return picked[:n_picked]


@njit(cache=True, nogil=True)
def stored_neighbours(listed, listed_sims, allowed, deleted, min_similarity, groups, has_twin, row):
    """The entries of a stored list (``listed``: rows, -1 past its end; ``listed_sims``) that are
    allowed (``allowed``: a mask over the list, or empty: all), not ``deleted`` (a mask over rows, or
    empty: none) and more similar than ``min_similarity``: (rows, similarities, how many stories
    they show: near-duplicates and the story of ``row`` count once, or not at all)."""
    n = 0
    while n < listed.shape[0] and listed[n] >= 0:
        n += 1
    rows = np.empty(n, np.int64)
    sims = np.empty(n, np.float64)
    m = 0
    for c in range(n):
        j = listed[c]
        if listed_sims[c] > min_similarity and (allowed.shape[0] == 0 or allowed[c]) and \
                (deleted.shape[0] == 0 or not deleted[j]):
            rows[m] = j
            sims[m] = listed_sims[c]
            m += 1
    own = groups[row] if has_twin[row] else -1
    taken = np.empty(m, groups.dtype)  # the stories of the twins counted
    shown = n_taken = 0
    for c in range(m):
        j = rows[c]
        if has_twin[j]:
            if groups[j] == own or groups[j] in taken[:n_taken]:
                continue
            taken[n_taken] = groups[j]
            n_taken += 1
        shown += 1
    return rows[:m], sims[:m], shown
