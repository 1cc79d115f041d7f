"""The build's candidate search at a fixed cost per article (a probe budget far below the postings
of an article's terms), then reverse edges and neighbour-of-neighbour refinement: checked against
brute force on small synthetic corpora of both modes (benchmarks.synth), built locally and on Dask."""

from pathlib import Path

import numpy as np
import pytest

from benchmarks.synth import write_jsonl
from brute_force import similarities
from recsys import RelatedIndex
from recsys.build.kernels import reverse_offers

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


def test_reverse_offers_give_each_row_the_rows_that_newly_list_it():
    nb_rows = np.array([[1, 2], [2, -1], [1, 0], [1, 2]], np.int32)
    nb_sims = np.array([[0.9, 0.5], [0.7, 0.0], [0.8, 0.4], [0.6, 0.3]], np.float32)
    fresh = np.array([[True, True], [True, False], [True, False], [True, True]])
    indptr, rows = reverse_offers(nb_rows, nb_sims, fresh, cap=2)
    offered = {i: rows[indptr[i]:indptr[i + 1]].tolist() for i in range(4)}
    # row 1 is listed fresh by 0 (0.9), 2 (0.8) and 3 (0.6): the two most similar; row 0 by 2, but not fresh
    assert offered == {0: [], 1: [0, 2], 2: [1, 0], 3: []}
