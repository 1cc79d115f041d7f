"""The build's candidate search at a fixed cost per article (a probe budget far below the postings
of an article's terms), then reverse edges and neighbour-of-neighbour refinement: checked against
brute force on small synthetic corpora of both modes (benchmarks.synth), built locally and on Dask."""

from pathlib import Path

import numpy as np
import pytest

from benchmarks.query import weight_matrix
from benchmarks.synth import write_jsonl
from brute_force import similarities
from recsys import RelatedIndex
from recsys._arrays import read_only
from recsys.build.columns import impact_columns
from recsys.build import kernels
from recsys.build.kernels import impact_order, reverse_offers
from recsys.build.neighbours import LinkInputs, processing_order, refine_block, search_block
from recsys.build.pipeline import PROBE_PREFIX
from recsys.index.data import Postings, probe_budget, usable_terms
from recsys.index.rows import Rows
from recsys.index.kernels import strongest_terms
from recsys.weighting import query_weights

N = 2000
BUDGET = 300  # postings per article's search: a few per cent of its terms' postings at this size


@pytest.fixture(scope="module", params=["flat", "stories"])
def corpus(request, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp(request.param) / "corpus.jsonl"
    write_jsonl(N, str(path), seed=3, mode=request.param)
    return path


def against_brute_force(index: RelatedIndex, k: int = 10) -> tuple[float, float]:
    """(recall@k, similarity ratio) of the stored lists against the exact top k of every article;
    asserts on the way that every stored similarity is the exact one."""
    exact_all = similarities(index)
    data = index._view.data
    found, ratios = 0, []
    for row in range(len(index)):
        scores = exact_all[row].copy()
        scores[row] = -np.inf
        exact = np.argsort(-scores, kind="stable")[:k]
        listed = data.neighbor_rows[row, :k]
        listed = listed[listed >= 0]
        np.testing.assert_allclose(data.neighbor_sims[row, :len(listed)], scores[listed], rtol=1e-4, atol=1e-6)
        found += len(set(exact.tolist()) & set(listed.tolist()))
        ratios.append(scores[listed].sum() / scores[exact].sum())
    return found / (k * len(index)), float(np.mean(ratios))


@pytest.fixture(scope="module")
def budgeted(corpus) -> RelatedIndex:
    """The lexical build (static channel off) under the small budget."""
    return RelatedIndex.build(corpus, probe_budget=BUDGET, semantic_weight=0)


def test_a_budgeted_build_finds_the_exact_lists(corpus, budgeted):
    search_only = RelatedIndex.build(corpus, probe_budget=BUDGET, semantic_weight=0, refine_rounds=0)
    recall, ratio = against_brute_force(budgeted)
    recall_search, _ = against_brute_force(search_only)
    assert recall >= 0.97 and ratio >= 0.998, (recall, ratio)
    assert recall_search < recall  # the budget really cut the search short, and refinement made it up


def test_the_default_build_with_the_static_channel_finds_the_exact_blended_lists(corpus):
    index = RelatedIndex.build(corpus, probe_budget=BUDGET)
    assert index.config.semantic_weight > 0
    recall, ratio = against_brute_force(index)
    assert recall >= 0.97 and ratio >= 0.998, (recall, ratio)


def test_the_dask_build_is_the_local_build_on_both_corpora(corpus, budgeted):
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        distributed = RelatedIndex.build_on_dask(corpus, client, partition_bytes=corpus.stat().st_size // 5,
                                                 probe_budget=BUDGET, semantic_weight=0)
    a, b = budgeted._view.data, distributed._view.data
    assert np.array_equal(b.neighbor_rows, a.neighbor_rows)
    np.testing.assert_allclose(b.neighbor_sims, a.neighbor_sims, rtol=0, atol=1e-6)


def prefix_columns(matrix, prefix: int | None, cap: int | None = None) -> Postings:
    """scipy's columns (impact order, the first ``cap`` of each) of ``matrix``'s rows cut to their
    ``prefix`` strongest entries, ties included: what the build's probe reads."""
    kept = matrix.copy()
    for i in range(kept.shape[0]):
        row = kept.data[kept.indptr[i]:kept.indptr[i + 1]]
        if prefix is not None and len(row) > prefix:
            row[row < np.sort(row)[::-1][prefix - 1]] = 0
    kept.eliminate_zeros()
    columns = Postings.of(kept.tocsc())
    impact_order(columns.indptr, columns.indices, columns.data)
    if cap is None:
        return columns
    lengths = np.minimum(np.diff(columns.indptr), cap)
    take = np.concatenate([np.arange(a, a + n) for a, n in zip(columns.indptr[:-1], lengths)] + [np.zeros(0, int)])
    return Postings(np.concatenate([[0], np.cumsum(lengths)]), columns.indices[take], columns.data[take])


def probe_inputs(index: RelatedIndex) -> LinkInputs:
    """What the build's neighbour kernels read for ``index``, its probe's columns made by scipy
    (prefix_columns of the rows cut to the probe's prefix, uncapped)."""
    data, config = index._view.data, index.config
    queries = read_only(query_weights(config, data.rows.data, data.query_tf, data.rows.term_ids(), data.df))
    usable = usable_terms(data.df, len(index), config, max(2, config.min_doc_freq))
    probed = prefix_columns(weight_matrix(index), max(config.max_query_terms, PROBE_PREFIX)).read_only()
    return LinkInputs(queries, usable, data.term_max, data.rows, probed, len(data.vocabulary))


def test_the_probe_finds_an_article_by_its_strongest_terms_in_capped_columns(corpus):
    """The build searches columns cut to each article's strongest terms (as many as a query
    searches with, at least PROBE_PREFIX) and to one more than its budget (the index keeps them
    whole): its lists are those of the same search over scipy's columns of the cut rows, uncapped."""
    index = RelatedIndex.build(corpus, probe_budget=BUDGET, semantic_weight=0, refine_rounds=0)
    data, config = index._view.data, index.config
    assert np.diff(data.columns.indptr).max() > 3 * BUDGET  # columns the probe read capped
    prefix = max(config.max_query_terms, PROBE_PREFIX)
    assert np.median(np.diff(data.rows.indptr)) > 2 * prefix  # rows the probe read cut
    np.testing.assert_array_equal(data.term_max, weight_matrix(index).max(axis=0).toarray().ravel())
    inputs = probe_inputs(index)
    rows, sims, self_scores = search_block(inputs, config, 0, len(index))
    assert np.array_equal(rows, data.neighbor_rows)
    assert np.array_equal(sims, data.neighbor_sims) and np.array_equal(self_scores, data.self_scores)


def test_articles_go_grouped_by_their_lead_term_and_their_lists_do_not_depend_on_the_order(corpus):
    """The build searches and refines articles grouped by the term through which each can add most to
    a score (strongest_terms' first), for the cache's sake: any order of a block's rows gives the
    same lists, similarities and self scores."""
    index = RelatedIndex.build(corpus, probe_budget=BUDGET, semantic_weight=0, refine_rounds=0)
    data, config = index._view.data, index.config
    inputs = probe_inputs(index)
    queries, usable, probed, rows = inputs.article_queries, inputs.usable, inputs.columns, data.rows
    lead = kernels.lead_terms(queries, usable, data.term_max, rows.indptr, rows.terms, 0, len(index))
    for i in range(len(index)):
        a, b = rows.indptr[i], rows.indptr[i + 1]
        first = strongest_terms(rows.row_terms(i), queries[a:b], usable, data.term_max, 1)
        assert lead[i] == (rows.row_terms(i)[first[0]] if len(first) else -1)
    first, last = 100, 1500
    order = processing_order(inputs, first, last)
    assert sorted(order.tolist()) == list(range(first, last)) and np.all(np.diff(lead[order]) >= 0)
    assert len(np.unique(lead[first:last])) < 0.9 * (last - first)  # articles do share lead terms
    shuffled = np.random.default_rng(0).permutation(np.arange(first, last))
    args = (queries, usable, data.term_max, config.max_query_terms, probe_budget(config), probed.indptr,
            probed.indices, probed.data, rows.indptr, rows.terms, rows.data, config.n_candidates,
            config.n_neighbors, first, last)
    searched = search_block(inputs, config, first, last)
    for got, want in zip(kernels.all_neighbours(*args, order=shuffled), searched):
        assert np.array_equal(got, want)
    self_scores = data.self_scores.copy()  # writable, as the build's
    lists = data.neighbor_rows.copy(), data.neighbor_sims.copy(), data.neighbor_rows >= 0
    refined = refine_block(inputs, config, self_scores, *lists, first, last)
    reordered = kernels.refine(queries, rows.indptr, rows.terms, rows.data, len(data.vocabulary), self_scores,
                               *lists, first, last, config.refine_fan_out, config.n_neighbors, order=shuffled)
    for got, want in zip(reordered, refined):
        assert np.array_equal(got, want)


@pytest.mark.parametrize("cap,prefix", [(None, None), (1, None), (4, None), (1000, None), (None, 3), (4, 5)])
def test_impact_columns_are_scipys_columns_in_impact_order_cut_to_the_cap(cap, prefix, tmp_path, monkeypatch):
    """Made a few columns at a time: the whole columns (memory-mapped from temporary files that
    leave nothing behind) as scipy's tocsc sorted by impact, each column's largest weight, and the
    probe's columns: those of the rows cut to their ``prefix`` strongest entries, cut to ``cap``."""
    import tempfile

    import scipy.sparse as sp

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    matrix = sp.random(400, 120, density=0.08, format="csr", random_state=5, dtype=np.float32)
    matrix.data = np.round(matrix.data * 4) + 1  # ties, broken by row
    expected = prefix_columns(matrix, None)
    df = np.diff(expected.indptr)
    columns = impact_columns(Rows.of(matrix), df, cap, prefix, block=37)
    assert list(tmp_path.iterdir()) == [] and isinstance(columns.full.indices.base, np.memmap)
    for got, want in zip(vars(columns.full).values(), vars(expected).values()):
        assert np.array_equal(got, want)
    np.testing.assert_array_equal(columns.term_max, matrix.max(axis=0).toarray().ravel())
    probe = prefix_columns(matrix, prefix, cap)
    cut = prefix is not None or (cap is not None and cap < df.max())
    assert (probe.indptr[-1] < expected.indptr[-1]) == cut
    for got, want in zip(vars(columns.probe).values(), vars(probe).values()):
        assert np.array_equal(got, want)


@pytest.mark.parametrize("block", [1, 2, 1 << 18])
def test_reverse_offers_give_each_row_the_rows_that_newly_list_it(block):
    nb_rows = np.array([[1, 2], [2, -1], [1, 0], [1, 2]], np.int32)
    nb_sims = np.array([[0.9, 0.5], [0.7, 0.0], [0.8, 0.4], [0.6, 0.3]], np.float32)
    fresh = np.array([[True, True], [True, False], [True, False], [True, True]])
    indptr, rows = reverse_offers(nb_rows, nb_sims, fresh, cap=2, block=block)
    offered = {i: rows[indptr[i]:indptr[i + 1]].tolist() for i in range(4)}
    # row 1 is listed fresh by 0 (0.9), 2 (0.8) and 3 (0.6): the two most similar; row 0 by 2, but not fresh
    assert offered == {0: [], 1: [0, 2], 2: [1, 0], 3: []}


def test_renumber_columns_moves_each_entry_to_its_new_column_and_sorts_each_row_again():
    import scipy.sparse as sp

    matrix = sp.random(300, 90, density=0.1, format="csr", random_state=7, dtype=np.float32)
    new_id = np.random.default_rng(7).permutation(90).astype(np.int32)
    expected = sp.csr_matrix((matrix.data.copy(), new_id[matrix.indices], matrix.indptr.copy()), shape=matrix.shape)
    expected.sort_indices()
    assert not np.array_equal(expected.indices, new_id[matrix.indices])  # the rows do need sorting again
    kernels.renumber_columns(matrix.indptr, matrix.indices, matrix.data, new_id, n_threads=2)
    np.testing.assert_array_equal(matrix.indices, expected.indices)
    np.testing.assert_array_equal(matrix.data, expected.data)


def test_a_build_numbers_its_terms_by_document_frequency_with_the_same_weights(corpus):
    """Most frequent first, ties alphabetical; each row's entries ascending; and every article has
    the weights, term by term, that the counts in alphabetical order weigh to (its norm summed in
    another order: equal to float32's precision)."""
    from recsys.analysis.analyzer import Analyzer
    from recsys.analysis.counting import CountBuilder
    from recsys.config import IndexConfig
    from recsys.documents.readers import read_articles
    from recsys.weighting import weigh

    index = RelatedIndex.build(corpus, semantic_weight=0, n_neighbors=5)
    data = index._view.data
    assert (np.diff(data.df) <= 0).all() and data.df[0] > data.df[-1]
    for value in np.unique(data.df):
        tied = [data.vocabulary[t] for t in np.flatnonzero(data.df == value)]
        assert tied == sorted(tied)
    rows = data.rows
    np.testing.assert_array_equal(np.bincount(rows.term_ids(), minlength=len(data.df)), data.df)
    config = IndexConfig()
    with CountBuilder(Analyzer(config.analyzer), config.field_weights) as counts:
        for article in read_articles(corpus):
            counts.add(article)
        tf, doc_len, alphabetical = counts.finish()
    assert alphabetical == sorted(alphabetical) and sorted(data.vocabulary) == alphabetical
    weights = weigh(config, tf, doc_len)[0]
    for row in range(0, len(index), 97):
        lo, hi = rows.indptr[row], rows.indptr[row + 1]
        assert (np.diff(rows.row_terms(row)) > 0).all()
        ours = dict(zip((data.vocabulary[t] for t in rows.row_terms(row)), rows.data[lo:hi].tolist()))
        start, end = weights.indptr[row], weights.indptr[row + 1]
        reference = dict(zip((alphabetical[t] for t in weights.indices[start:end]), weights.data[start:end].tolist()))
        assert ours.keys() == reference.keys()
        np.testing.assert_allclose([ours[t] for t in reference], list(reference.values()), rtol=1e-6)
