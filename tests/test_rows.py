"""The rows' term ids in 16 bits where they fit (recsys.index.rows): every id reads back, exact scores
read the ids past 16 bits, and an index of more than 65,536 terms lists, saves and loads as exactly."""

import json

import numpy as np
import pytest
import scipy.sparse as sp

import recsys
from brute_force import stored_cosines
from recsys._arrays import make_read_only
from recsys.index import kernels
from recsys.index.rows import LOW_TERMS, Rows, largest_term

N_TERMS = 3 * LOW_TERMS


def random_rows(seed: int, n_rows: int = 300) -> sp.csr_matrix:
    """Rows of every length (empty ones, long ones), with terms below and above 65,536."""
    rng = np.random.default_rng(seed)
    lengths = rng.choice([0, 1, 5, 40, 300, 2000], size=n_rows)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    ids = np.concatenate([np.sort(rng.choice(N_TERMS, size=n, replace=False)) for n in lengths]).astype(np.int32)
    weights = rng.integers(1, 60, size=len(ids)) / 16  # exact in float32: sums have no rounding ties
    return sp.csr_matrix((weights.astype(np.float32), ids, indptr), shape=(n_rows, N_TERMS))


def test_every_term_id_reads_back_from_its_two_halves():
    matrix = random_rows(0)
    rows = Rows.of(matrix)
    assert rows.low.dtype == np.uint16 and rows.high.dtype == np.uint16
    assert len(rows.high) == np.count_nonzero(matrix.indices >= LOW_TERMS) > 0
    np.testing.assert_array_equal(rows.term_ids(), matrix.indices)
    for row in range(matrix.shape[0]):
        np.testing.assert_array_equal(rows.row_terms(row), matrix.indices[matrix.indptr[row]:matrix.indptr[row + 1]])
    assert (rows.to_csr(N_TERMS) != matrix).nnz == 0
    assert largest_term(rows.indptr, rows.terms) == matrix.indices.max()
    assert rows.low.nbytes + rows.high.nbytes + rows.high_ptr.nbytes < matrix.indices.nbytes


def test_rows_whose_terms_are_out_of_order_are_sorted_first():
    matrix = random_rows(1)
    shuffled = matrix.copy()
    rng = np.random.default_rng(1)
    for row in range(shuffled.shape[0]):
        a, b = shuffled.indptr[row], shuffled.indptr[row + 1]
        order = rng.permutation(b - a)
        shuffled.indices[a:b], shuffled.data[a:b] = shuffled.indices[a:b][order], shuffled.data[a:b][order]
    shuffled.has_sorted_indices = False
    rows = Rows.of(shuffled)
    np.testing.assert_array_equal(rows.term_ids(), matrix.indices)
    np.testing.assert_array_equal(rows.data, matrix.data)


def test_a_matrix_taken_comes_back_from_the_temporary_file_a_block_at_a_time(tmp_path, monkeypatch):
    """Rows.taken (the build's) spills the term ids and reads them back in blocks: the same rows as
    Rows.of, the matrix left empty, nothing left in the temporary directory."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    matrix = random_rows(2)
    expected = Rows.of(matrix)
    taken = matrix.copy()
    rows = Rows.taken(taken, block=1000)
    for name in ("indptr", "low", "high", "high_ptr", "data"):
        np.testing.assert_array_equal(getattr(rows, name), getattr(expected, name))
    assert taken.nnz == 0 and taken.shape == matrix.shape and not taken.indptr.any()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("n_targets", [1, 4, 7, 300])
def test_exact_scores_read_the_terms_past_16_bits(n_targets):
    rng = np.random.default_rng(n_targets)
    matrix = random_rows(n_targets)
    rows = Rows.of(matrix).read_only()
    q_terms = np.sort(rng.choice(np.unique(matrix.indices), size=400, replace=False)).astype(np.int32)
    assert (q_terms >= LOW_TERMS).sum() > 100
    q_weights = (rng.integers(1, 8, size=400) / 4).astype(np.float32)
    targets = rng.choice(matrix.shape[0], size=n_targets).astype(np.int64)
    qdense = np.zeros(N_TERMS, np.float32)
    make_read_only(q_terms, q_weights)

    got = kernels.query_scores(q_terms, q_weights, rows.indptr, rows.terms, rows.data, targets, qdense)

    expected = matrix[targets][:, q_terms].astype(np.float64) @ q_weights.astype(np.float64)
    np.testing.assert_array_equal(got, expected)  # sums of multiples of 1/64: exact either way
    assert not qdense.any()


def _word(rng) -> str:
    return "".join(rng.choice(list("bcdfghjklmnpqrstvwxz"), size=9))


@pytest.fixture(scope="module")
def wide_corpus(tmp_path_factory):
    """Articles in pairs: each pair shares 70 words of its own (70,000 words in two articles each), each
    article has 40 more of its own and a few words of one of ten topics. More than 65,536 terms are
    shared by two articles, so the terms past 16 bits count in the similarities."""
    rng = np.random.default_rng(7)
    topics = [[_word(rng) for _ in range(30)] for _ in range(10)]
    path = tmp_path_factory.mktemp("wide") / "articles.jsonl"
    with open(path, "w") as out:
        for pair in range(1000):
            shared = [_word(rng) for _ in range(70)]
            for side in range(2):
                words = shared + [_word(rng) for _ in range(40)] + list(rng.choice(topics[pair % 10], size=8))
                rng.shuffle(words)
                out.write(json.dumps({"id": f"p{pair:04d}-{side}", "title": shared[0], "body": " ".join(words),
                                      "url": f"https://example.org/{pair}/{side}"}) + "\n")
    return path


def test_an_index_of_more_than_65536_terms_lists_the_exact_neighbours_and_reads_back_alike(wide_corpus, tmp_path):
    index = recsys.RelatedIndex.build(wide_corpus, semantic_weight=0)
    data = index._view.data
    ids = data.rows.term_ids()
    assert len(data.vocabulary) > 2 * LOW_TERMS and len(data.rows.high) > 0
    assert (data.df[LOW_TERMS:] >= 2).sum() > 1000  # terms past 16 bits that two articles share
    exact = stored_cosines(index)
    np.fill_diagonal(exact, -np.inf)
    for row in range(0, len(index), 7):
        listed = data.neighbor_rows[row][data.neighbor_rows[row] >= 0]
        assert listed[0] == row ^ 1 and exact[row, row ^ 1] > 2 * np.sort(exact[row])[-2]  # its pair, by far
        np.testing.assert_allclose(data.neighbor_sims[row, :len(listed)], exact[row, listed], rtol=1e-5)

    path = index.save(tmp_path / "wide")
    assert np.load(path / "rows_low.npy").dtype == np.uint16 and not (path / "rows_indices.npy").exists()
    loaded = recsys.RelatedIndex.load(path)
    np.testing.assert_array_equal(loaded._view.data.rows.term_ids(), ids)
    text = " ".join(data.vocabulary[t] for t in ids[data.rows.indptr[4]:data.rows.indptr[5]])
    for served in (index, loaded):
        assert [h.id for h in served.related("p0002-0", k=1)] == ["p0002-1"]
        hits = served.more_like_this(text, k=2)
        assert [h.id for h in hits] == ["p0002-0", "p0002-1"]
    assert ([(h.id, h.score) for h in loaded.more_like_this(text, k=10)]
            == [(h.id, h.score) for h in index.more_like_this(text, k=10)])
