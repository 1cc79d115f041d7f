"""The compiled ranking of a list's candidates against the array code it replaced (kept here as the
reference): the same scores, the same picks, ties and near-duplicate stories included."""

import numpy as np
import pytest

from recsys._arrays import make_read_only
from recsys.config import BlendConfig
from recsys.query import list_kernels
from recsys.query.scoring import decay


def reference(rows, sims, min_similarity, own_views, added_views, published, max_views, blend, now, groups,
              has_twin, own_group, n):
    keep = sims > min_similarity
    rows, sims = rows[keep], sims[keep]
    views = own_views[rows] + added_views[rows]
    pop = np.log1p(views) / np.log1p(max_views) if blend.popularity_weight and max_views > 0 else np.zeros(len(rows))
    fresh = np.zeros(len(rows))
    if blend.freshness_weight:
        _, scale, offset, rate = decay(blend)
        distance = np.maximum(np.abs(now - published[rows]) - offset, 0.0)
        if blend.freshness_function == "gauss":
            fresh = np.exp(distance ** 2 * np.log(rate) / scale ** 2)
        elif blend.freshness_function == "exp":
            fresh = np.exp(distance * np.log(rate) / scale)
        else:
            span = scale / (1.0 - rate)
            fresh = np.maximum((span - distance) / span, 0.0)
        fresh[np.isnan(fresh)] = 0.0
    scores = sims * (1.0 + blend.popularity_weight * pop + blend.freshness_weight * fresh)
    order = np.lexsort((rows, -scores))
    first = order[np.unique(groups[rows][order], return_index=True)[1]]
    keep = np.zeros(len(rows), dtype=bool)
    keep[first] = True
    keep[~has_twin[rows]] = True
    keep &= groups[rows] != own_group
    positions = np.flatnonzero(keep)
    best = positions[np.lexsort((rows[positions], -scores[positions]))][:n]
    return rows[best], scores[best], sims[best], pop[best], fresh[best], views[best]


@pytest.mark.parametrize("function", ["gauss", "exp", "linear"])
@pytest.mark.parametrize("seed", range(4))
def test_ranked_equals_the_array_code(function, seed):
    rng = np.random.default_rng(seed)
    n_rows = 500
    groups = rng.integers(0, 350, n_rows).astype(np.int32)  # many stories of one, some of several
    has_twin = np.bincount(groups)[groups] > 1
    own_views, added_views = rng.integers(0, 10_000, n_rows), rng.integers(0, 50, n_rows)
    published = rng.uniform(1.6e9, 1.8e9, n_rows)
    published[rng.random(n_rows) < 0.1] = np.nan  # unknown dates
    rows = rng.choice(n_rows, 80, replace=False).astype(np.int64)
    sims = np.round(rng.random(80), 2)  # ties
    blend = BlendConfig(popularity_weight=float(rng.choice([0.0, 0.3])), freshness_weight=0.2,
                        freshness_function=function, freshness_scale="30d")
    twins = rows[has_twin[rows]]
    own_group = int(groups[twins[0]]) if seed % 2 else -1  # a queried article with twins: its story is left out
    args = (rows, sims, 0.05, own_views, added_views, published, float((own_views + added_views).max()))
    make_read_only(groups, own_views, published)  # the index's, as the library passes them
    for n in (1, 10, 200):
        got = list_kernels.ranked(*args, blend.popularity_weight, blend.freshness_weight, 1.75e9, *decay(blend),
                                  groups, has_twin, own_group, n)
        want = reference(*args, blend, 1.75e9, groups, has_twin, own_group, n)
        for a, b in zip(got, want):
            if np.issubdtype(np.asarray(b).dtype, np.floating):  # exp and log1p: numpy's SIMD ones may differ
                np.testing.assert_allclose(a, b, rtol=1e-13, atol=0)  # from the C library's by an ulp
            else:
                np.testing.assert_array_equal(a, b)


def test_stored_neighbours_stop_at_the_padding_and_count_stories():
    groups = np.array([0, 1, 1, 2, 3, 3, 4], dtype=np.int32)
    has_twin = np.bincount(groups)[groups] > 1
    listed = np.array([2, 1, 4, 5, 3, 6, -1, -1], dtype=np.int32)
    sims = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.0, 0.0, 0.0], dtype=np.float32)
    make_read_only(groups, listed, sims)  # an index's arrays, as the library passes them
    deleted = np.zeros(7, dtype=bool)
    deleted[3] = True
    nothing = np.zeros(0, dtype=bool)
    rows, kept, shown = list_kernels.stored_neighbours(listed, sims, nothing, deleted, 0.0, groups, has_twin, 0)
    assert rows.tolist() == [2, 1, 4, 5] and kept.dtype == np.float64 and shown == 2  # stories 1 and 3
    allowed = np.array([True, False, True, True, True, True])
    rows, _, shown = list_kernels.stored_neighbours(listed, sims, allowed, nothing, 0.0, groups, has_twin, 2)
    assert rows.tolist() == [2, 4, 5, 3] and shown == 2  # its own story (1) counts not at all
