"""The compiled candidate search (recsys.index.kernels) against numpy references: which rows it
keeps of those it touched, its candidates when it visits every posting, and its exact scores."""

import numpy as np
import pytest
import scipy.sparse as sp

from recsys._arrays import make_read_only
from recsys.index import kernels
from recsys.index.rows import Rows

# An index's arrays and a query's terms and weights reach the kernels read-only (recsys._arrays), so
# the tests mark theirs read-only too: numba compiles a version for each kind of array, and the
# tests check the one the library runs.


@pytest.mark.parametrize("seed", range(6))
def test_the_best_touched_rows_are_the_highest_sums_ties_to_the_earliest_touched(seed):
    rng = np.random.default_rng(seed)
    n_rows, n_touched, n = 5_000, int(rng.integers(60, 3_000)), 50
    touched = rng.choice(n_rows, size=n_touched + 1, replace=False).astype(np.int32)
    acc = np.zeros(n_rows, np.float32)
    acc[touched[:n_touched]] = rng.integers(1, 40, size=n_touched).astype(np.float32) / 8  # many ties
    expected = touched[np.lexsort((np.arange(n_touched), -acc[touched[:n_touched]]))[:n]]

    best = kernels._collect_best(touched, n_touched, acc, n)

    assert sorted(best.tolist()) == sorted(expected.tolist())
    assert not acc.any()  # the sums are zeroed for the next search


@pytest.mark.parametrize("seed", range(3))
def test_a_search_that_visits_every_posting_returns_the_exact_top_rows(seed):
    rng = np.random.default_rng(seed)
    n_rows, n_terms, n = 3_000, 400, 40
    weights = sp.random(n_rows, n_terms, density=0.03, format="csr", dtype=np.float32, random_state=seed)
    weights.data[:] = rng.integers(1, 60, size=weights.nnz) / 16  # exact in float32: sums have no rounding ties
    rows = Rows.of(weights)
    columns = sp.csc_matrix(weights)
    for t in range(n_terms):  # impact order: each column's postings largest first
        a, b = columns.indptr[t], columns.indptr[t + 1]
        order = np.argsort(-columns.data[a:b], kind="stable")
        columns.indices[a:b], columns.data[a:b] = columns.indices[a:b][order], columns.data[a:b][order]
    q_terms = np.sort(rng.choice(n_terms, size=60, replace=False)).astype(np.int32)
    q_weights = (rng.integers(1, 8, size=60) / 4).astype(np.float32)
    exact = weights[:, q_terms] @ q_weights.astype(np.float64)
    skip = int(np.argmax(exact))
    term_max, column_starts = columns.max(axis=0).toarray().ravel(), columns.indptr.astype(np.int64)
    make_read_only(q_terms, q_weights, term_max, column_starts, columns.indices, columns.data)
    rows.read_only()

    found, scores = kernels.search_one(
        q_terms, q_weights, np.ones(n_terms, bool), term_max, 60,
        np.iinfo(np.int64).max, column_starts, columns.indices, columns.data,
        rows.indptr, rows.terms, rows.data, np.zeros(0, bool), skip, n,
        np.zeros(n_rows, np.float32), np.empty(n_rows + 1, np.int32), np.zeros(n_terms, np.float32))

    others = np.delete(np.arange(n_rows), skip)
    best = others[np.lexsort((others, -exact[others]))]
    np.testing.assert_allclose(scores, exact[found])
    assert skip not in found.tolist()
    assert np.all(np.diff(scores) <= 0)
    np.testing.assert_allclose(np.sort(scores)[::-1], exact[best[:n]])


@pytest.mark.parametrize("n_targets", [0, 1, 3, 4, 5, 9, 200])
def test_exact_scores_of_any_number_of_rows_of_any_lengths(n_targets):
    rng = np.random.default_rng(n_targets)
    n_rows, n_terms = 500, 1200
    weights = sp.random(n_rows, n_terms, density=0.02, format="lil", dtype=np.float32, random_state=n_targets)
    weights[rng.choice(n_rows, 20)] = 0  # empty rows among them
    weights[rng.choice(n_rows, 30)] = rng.random((30, n_terms), dtype=np.float32)  # and rows longer than a prefetch
    weights = weights.tocsr()
    weights.eliminate_zeros()
    rows = Rows.of(weights)
    q_terms = np.sort(rng.choice(n_terms, size=40, replace=False)).astype(np.int32)
    q_weights = rng.random(40).astype(np.float32)
    targets = rng.choice(n_rows, size=n_targets).astype(np.int64)  # repeats too
    qdense = np.zeros(n_terms, np.float32)
    make_read_only(q_terms, q_weights)
    rows.read_only()

    got = kernels.query_scores(q_terms, q_weights, rows.indptr, rows.terms, rows.data, targets, qdense)

    expected = weights[targets][:, q_terms].astype(np.float64) @ q_weights.astype(np.float64)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)
    assert not qdense.any()


def _unit(vectors):
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


@pytest.mark.parametrize("seed", range(6))
def test_the_dense_candidates_join_the_lexical_ones_with_blended_similarities(seed):
    """semantic_kernels.joined against the numpy steps it stands for: the n closest of the dense
    index's rows by exact cosine (positive only; not -1, not the skipped row), those not among the
    search's rows scored lexically and merged into its linked rows by row, then every row's
    similarity blended."""
    from recsys.query import semantic_kernels

    rng = np.random.default_rng(seed)
    n_rows, n_terms, dims, n = 2_000, 300, 16, 30
    weights = sp.random(n_rows, n_terms, density=0.05, format="csr", dtype=np.float32, random_state=seed)
    rows_data = Rows.of(weights)
    embeddings = _unit(rng.standard_normal((n_rows, dims))).astype(np.float32)
    embedding = _unit(rng.standard_normal(dims))
    q_terms = np.sort(rng.choice(n_terms, size=40, replace=False)).astype(np.int32)
    q_weights = rng.random(40).astype(np.float32)
    picked = rng.choice(n_rows, size=400, replace=False)
    best, linked = picked[:50].astype(np.int32), np.sort(picked[50:150]).astype(np.int32)
    best_scores, linked_scores = rng.random(50), rng.random(100)
    skip_row = int(picked[150])
    # the index's rows: some of the search's, the skipped row, padding, the rest unseen
    found = np.concatenate([picked[20:50], picked[100:300], [-1, -1]]).astype(np.int64)
    rng.shuffle(found)
    self_score = 0.0 if seed == 0 else float(rng.random() + 0.5)
    weight = 0.3
    qdense, marks = np.zeros(n_terms, np.float32), np.zeros(n_rows, np.float32)
    make_read_only(embeddings, q_terms, q_weights)
    rows_data.read_only()

    got_rows, got_sims = semantic_kernels.joined(best, best_scores, linked, linked_scores, found, skip_row, n,
                                                 embeddings, embedding, weight, self_score, q_terms, q_weights,
                                                 rows_data.indptr, rows_data.terms, rows_data.data, qdense, marks)

    valid = found[(found >= 0) & (found != skip_row)]
    cos = embeddings[valid].astype(np.float64) @ embedding
    closest = valid[np.argsort(-cos, kind="stable")[:n]]
    closest = np.sort(closest[embeddings[closest].astype(np.float64) @ embedding > 0])
    new = np.array([r for r in closest if r not in set(best) | set(linked)], dtype=np.int64)
    assert len(new) and len(new) < len(closest)  # the case covers both
    new_scores = weights[new][:, q_terms].astype(np.float64) @ q_weights.astype(np.float64)
    more = np.concatenate([linked, new])
    order = np.argsort(more, kind="stable")
    expected_rows = np.concatenate([best, more[order]])
    scores = np.concatenate([best_scores, np.concatenate([linked_scores, new_scores])[order]])
    lexical = scores / self_score if self_score > 0 else np.zeros(len(scores))
    expected_sims = (1 - weight) * lexical + weight * np.maximum(embeddings[expected_rows].astype(np.float64)
                                                                  @ embedding, 0.0)
    np.testing.assert_array_equal(got_rows, expected_rows)
    np.testing.assert_allclose(got_sims, expected_sims, rtol=1e-6, atol=1e-12)
    assert not qdense.any() and not marks.any()  # scratch returned zeroed
