"""Reference parity: our BM25 equals rank-bm25, our TF-IDF equals scikit-learn, neighbour lists equal brute force."""

from collections import Counter

import numpy as np
import pytest
from rank_bm25 import BM25Okapi
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer, TfidfVectorizer

import recsys
from recsys.query.filters import Filters
from recsys.query.search import _search_built, candidates
from recsys.analysis.analyzer import Analyzer, AnalyzerConfig
from recsys.build.kernels import REVERSE_PER_NEIGHBOUR
from recsys.weighting import bm25_weights, tfidf_query, tfidf_weights
from brute_force import assert_ranking, expected_rows

PLAIN = dict(stop_words=None, stemmer=None, field_weights={"body": 1.0}, popularity_weight=0.0, semantic_weight=0.0,
             freshness_weight=0.0)


def random_corpus(seed: int, n_docs: int = 60, vocab: int = 80) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    probabilities = 1.0 / np.arange(1, vocab + 1)
    probabilities /= probabilities.sum()
    return [[f"w{t}" for t in rng.choice(vocab, size=rng.integers(3, 40), p=probabilities)] for _ in range(n_docs)]


def count_matrix(docs: list[list[str]]):
    vectorizer = CountVectorizer(analyzer=lambda tokens: tokens)
    return vectorizer.fit_transform(docs).astype(np.float64).tocsr(), vectorizer


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k1, b, epsilon", [(1.5, 0.75, 0.25), (1.2, 0.3, 0.5), (2.0, 1.0, 0.0)])
def test_bm25_scores_equal_rank_bm25(seed, k1, b, epsilon):
    docs = random_corpus(seed)
    counts, vectorizer = count_matrix(docs)
    weights, _, _ = bm25_weights(counts, np.array([len(d) for d in docs], float), k1=k1, b=b, epsilon=epsilon)
    reference = BM25Okapi(docs, k1=k1, b=b, epsilon=epsilon)
    rng = np.random.default_rng(100 + seed)
    for _ in range(10):
        query = list(rng.choice(docs[rng.integers(len(docs))], size=5)) + ["unseen"]
        qtf = np.zeros(counts.shape[1])
        for token in query:
            if token in vectorizer.vocabulary_:
                qtf[vectorizer.vocabulary_[token]] += 1
        np.testing.assert_allclose(weights @ qtf, reference.get_scores(query), rtol=0, atol=1e-9)


def test_bm25_weights_in_blocks_and_in_place_equal_the_whole_matrix_at_once():
    docs = random_corpus(3)
    counts, _ = count_matrix(docs)
    doc_len = np.array([len(d) for d in docs], float)
    whole, idf, avgdl = bm25_weights(counts, doc_len, dtype=np.float32, block=counts.nnz)
    own = counts.astype(np.float32)
    blocked, blocked_idf, blocked_avgdl = bm25_weights(own, doc_len, dtype=np.float32, copy=False, block=7)
    assert np.shares_memory(blocked.data, own.data)  # the counts were replaced, not copied
    np.testing.assert_array_equal(blocked.toarray(), whole.toarray())
    np.testing.assert_array_equal(blocked_idf, idf)
    assert blocked_avgdl == avgdl
    kept = counts.copy()
    bm25_weights(counts, doc_len, block=7)  # copy=True: the counts stay as they were
    np.testing.assert_array_equal(counts.toarray(), kept.toarray())


def test_bm25_index_similarity_is_rank_bm25_score_normalised_by_self_score():
    docs = random_corpus(7, n_docs=40)
    index = recsys.RelatedIndex.build([{"id": str(i), "body": " ".join(d)} for i, d in enumerate(docs)],
                                      method="bm25", n_neighbors=39, max_query_terms=1000, **PLAIN)
    reference = BM25Okapi(docs)
    for i in (0, 5, 17):
        scores = reference.get_scores(docs[i])
        expected = {str(j): scores[j] / scores[i] for j in range(len(docs)) if j != i and scores[j] > 0}
        hits = index.related(str(i), k=39)
        assert {h.id for h in hits} == set(expected)
        for hit in hits:
            assert hit.similarity == pytest.approx(expected[hit.id], rel=1e-5)


@pytest.mark.parametrize("sublinear_tf", [False, True])
@pytest.mark.parametrize("stemmer", [None, "english"])
def test_tfidf_vectors_equal_scikit_learn(sample_articles, sublinear_tf, stemmer):
    analyzer = Analyzer(AnalyzerConfig(stemmer=stemmer))
    texts = [a["body"] for a in sample_articles]
    reference = TfidfVectorizer(analyzer=analyzer, sublinear_tf=sublinear_tf).fit(texts)
    expected = reference.transform(texts)
    counts = CountVectorizer(analyzer=analyzer).fit_transform(texts).astype(np.float64)
    ours, idf = tfidf_weights(counts, sublinear_tf=sublinear_tf)
    np.testing.assert_allclose(idf, reference.idf_, rtol=1e-12)
    np.testing.assert_allclose(ours.toarray(), expected.toarray(), rtol=0, atol=1e-12)
    for dtype in (np.float64, np.float32):  # a build weighs float32 counts in place, in blocks of rows
        transformer = TfidfTransformer(sublinear_tf=sublinear_tf).fit(counts.astype(dtype))
        fitted = transformer.transform(counts.astype(dtype))
        in_place, in_place_idf = tfidf_weights(counts.astype(dtype), sublinear_tf=sublinear_tf, copy=False, block=7)
        np.testing.assert_array_equal(in_place_idf, transformer.idf_.astype(np.float64))
        np.testing.assert_array_equal(in_place.toarray(), fitted.toarray())


@pytest.mark.parametrize("sublinear_tf", [False, True])
def test_tfidf_query_weights_equal_scikit_learn_on_the_same_tokens(sublinear_tf):
    docs = random_corpus(21)
    reference = TfidfVectorizer(analyzer=lambda tokens: tokens, sublinear_tf=sublinear_tf).fit(docs)
    vocabulary = reference.vocabulary_
    rng = np.random.default_rng(21)
    for size in (1, 2, 3, 8, 20, 40, 60, 60):  # drawn with replacement: repeated tokens, tf > 1
        query = list(rng.choice(docs[rng.integers(len(docs))], size=size)) + ["unseen"]
        counts = Counter(token for token in query if token in vocabulary)
        known = sorted(counts, key=vocabulary.get)
        terms = np.array([vocabulary[t] for t in known], dtype=np.int32)
        tf = np.array([counts[t] for t in known], dtype=np.float64)
        ours = np.zeros(len(vocabulary))
        ours[terms] = tfidf_query(terms, tf, reference.idf_, sublinear_tf=sublinear_tf)
        np.testing.assert_allclose(ours, reference.transform([query]).toarray()[0], rtol=0, atol=1e-12)
    nothing = np.zeros(0, dtype=np.int32)
    assert len(tfidf_query(nothing, np.zeros(0), reference.idf_, sublinear_tf=sublinear_tf)) == 0


@pytest.mark.parametrize("sublinear_tf", [False, True])
def test_a_draft_is_weighted_and_scored_as_scikit_learn_does(sublinear_tf):
    docs = random_corpus(22)
    reference = TfidfVectorizer(analyzer=lambda tokens: tokens, sublinear_tf=sublinear_tf)
    matrix = reference.fit_transform(docs)
    index = recsys.RelatedIndex.build([{"id": f"d{i}", "body": " ".join(d)} for i, d in enumerate(docs)],
                                      method="tfidf", sublinear_tf=sublinear_tf, max_query_terms=10_000,
                                      near_duplicate_threshold=None, **PLAIN)
    rng = np.random.default_rng(22)
    for _ in range(8):
        draft = list(rng.choice(docs[rng.integers(len(docs))], size=rng.integers(2, 30))) + ["unseen"]
        cosine = (matrix @ reference.transform([draft]).T).toarray().ravel()
        hits = index.more_like_this(" ".join(draft), k=10)
        rows = [int(h.id[1:]) for h in hits]
        assert_ranking(rows, expected_rows(cosine, -1, 10), cosine)  # -1: a draft has no row of its own
        np.testing.assert_allclose([h.similarity for h in hits], cosine[rows], rtol=1e-5)


def test_tfidf_index_similarity_is_scikit_learn_cosine(sample_articles):
    texts = [a["body"] for a in sample_articles]
    analyzer = Analyzer(AnalyzerConfig(stemmer="english"))
    matrix = TfidfVectorizer(analyzer=analyzer, sublinear_tf=True).fit_transform(texts)
    cosine = (matrix @ matrix.T).toarray()
    index = recsys.RelatedIndex.build([{"id": a["id"], "body": a["body"]} for a in sample_articles], semantic_weight=0.0,
                                      method="tfidf", sublinear_tf=True, stemmer="english",
                                      field_weights={"body": 1.0}, popularity_weight=0, freshness_weight=0)
    row = {a["id"]: i for i, a in enumerate(sample_articles)}
    for article_id in ("a-001", "a-012", "a-040"):
        for hit in index.related(article_id, k=20):
            assert hit.similarity == pytest.approx(cosine[row[article_id], row[hit.id]], abs=1e-6)


def brute_force_similarity(method: str, docs: list[list[str]]) -> np.ndarray:
    """All-pairs similarity straight from the references: sklearn cosine, or rank-bm25 / self score."""
    if method == "tfidf":
        matrix = TfidfVectorizer(analyzer=lambda d: d, sublinear_tf=True).fit_transform(docs)
        return (matrix @ matrix.T).toarray()
    reference = BM25Okapi(docs)
    scores = np.array([reference.get_scores(d) for d in docs])
    return scores / np.diag(scores)[:, None]


@pytest.mark.parametrize("method", ["tfidf", "bm25"])
def test_stored_neighbour_lists_are_the_exact_top_k_with_ties_in_index_order(method):
    docs = random_corpus(11, n_docs=80, vocab=300)
    docs += [docs[5]] * 11  # rows 80-90 copy row 5: twelve rows of one text, more than a list holds
    index = recsys.RelatedIndex.build([{"id": f"d{i}", "body": " ".join(d)} for i, d in enumerate(docs)],
                                      method=method, n_neighbors=10, max_query_terms=10_000,
                                      near_duplicate_threshold=None, **PLAIN)
    similarity = brute_force_similarity(method, docs)
    stored_rows, stored_sims = index._view.data.neighbor_rows, index._view.data.neighbor_sims
    ties_at_the_cut = 0
    for i in range(len(docs)):
        expected = expected_rows(similarity[i], i, 10)
        listed = [int(j) for j in stored_rows[i] if j >= 0]
        assert_ranking(listed, expected, similarity[i])  # the set and the order of the stored list
        np.testing.assert_allclose(stored_sims[i, :len(listed)], similarity[i, listed], rtol=1e-5)
        hits = index.related(f"d{i}", k=10)
        assert_ranking([int(h.id[1:]) for h in hits], expected, similarity[i])
        np.testing.assert_allclose([h.similarity for h in hits], similarity[i, expected], rtol=1e-5)
        left_out = np.setdiff1d(np.arange(len(docs)), expected + [i])
        ties_at_the_cut += bool(np.any(similarity[i, left_out] == similarity[i, expected[-1]]))
    assert ties_at_the_cut >= 12  # the copies' lists (at least) cut through a run of equal similarities


def test_refinement_finds_what_a_narrow_search_missed_and_keeps_every_similarity_exact():
    docs = random_corpus(12, n_docs=150, vocab=400)
    articles = [{"id": f"d{i}", "body": " ".join(d)} for i, d in enumerate(docs)]
    similarity = brute_force_similarity("tfidf", docs)
    np.fill_diagonal(similarity, -1)
    exact_top = [set(np.argsort(-similarity[i], kind="stable")[:10]) for i in range(len(docs))]

    def recall(index):
        found = 0
        for i in range(len(docs)):
            hits = index.related(f"d{i}", k=10)
            for hit in hits:  # every listed similarity is the exact one
                assert hit.similarity == pytest.approx(similarity[i, int(hit.id[1:])], rel=1e-5)
            found += len(exact_top[i] & {int(h.id[1:]) for h in hits})
        return found / (10 * len(docs))

    narrow = dict(method="tfidf", n_neighbors=10, n_candidates=10, max_query_terms=1, **PLAIN)
    without = recall(recsys.RelatedIndex.build(articles, refine_rounds=0, **narrow))
    refined = recall(recsys.RelatedIndex.build(articles, refine_rounds=3, **narrow))
    assert without < 0.9 and refined > without + 0.1


def test_refinement_rounds_that_skip_pairs_scored_before_find_what_rescoring_every_pair_finds():
    docs = random_corpus(14, n_docs=150, vocab=400)
    articles = [{"id": f"d{i}", "body": " ".join(d)} for i, d in enumerate(docs)]
    similarity = brute_force_similarity("tfidf", docs)
    narrow = dict(method="tfidf", n_neighbors=8, n_candidates=8, max_query_terms=1, refine_fan_out=4, **PLAIN)
    start = recsys.RelatedIndex.build(articles, refine_rounds=0, **narrow)._view.data.neighbor_rows
    rows = [[j for j in start[i] if j >= 0] for i in range(len(docs))]
    fresh = [set(r) for r in rows]  # what joined each list in the step before
    for rounds in range(1, 4):  # a plain NN-descent round: every reachable pair scored again ...
        reached = [set(rows[i]) | {j2 for j in rows[i][:4] for j2 in rows[j][:4]} - {i} for i in range(len(docs))]
        listing = [[] for _ in docs]  # ... reverse edges: the 4 most similar rows that newly list i ...
        for j in range(len(docs)):
            for i in fresh[j]:
                listing[i].append(j)
        offers = [sorted(listing[i], key=lambda j: (-similarity[j, i], j))[:4] for i in range(len(docs))]
        for i in range(len(docs)):  # ... and the first REVERSE_PER_NEIGHBOUR of those of its first 4 neighbours
            reached[i] |= set(offers[i]) | ({j2 for j in rows[i][:4] for j2 in offers[j][:REVERSE_PER_NEIGHBOUR]} - {i})
        previous_sets = [set(r) for r in rows]
        rows = [sorted((j for j in reached[i] if similarity[i, j] > 0), key=lambda j: (-similarity[i, j], j))[:8]
                for i in range(len(docs))]
        fresh = [set(rows[i]) - previous_sets[i] for i in range(len(docs))]
        built = recsys.RelatedIndex.build(articles, refine_rounds=rounds, **narrow)._view.data
        for i in range(len(docs)):
            listed = [j for j in built.neighbor_rows[i] if j >= 0]
            assert set(listed) == set(rows[i]), (rounds, i)
            np.testing.assert_allclose(built.neighbor_sims[i, :len(listed)], similarity[i, listed], rtol=1e-5)
        assert rounds == 1 or any(rows[i] != previous[i] for i in range(len(docs)))  # later rounds still work
        previous = rows


def test_refinement_stops_once_a_round_changes_fewer_than_a_thousandth_of_the_entries(monkeypatch):
    from recsys.build import neighbours

    docs = random_corpus(15, n_docs=1500, vocab=400)
    articles = [{"id": f"d{i}", "body": " ".join(d)} for i, d in enumerate(docs)]
    new_entries = []  # of each round, as the lists came out of it
    refine = neighbours.LocalLinker.refine

    def counted(self, *args):
        out = refine(self, *args)
        new_entries.append(int(out[2].sum()))
        return out

    monkeypatch.setattr(neighbours.LocalLinker, "refine", counted)
    narrow = dict(method="tfidf", n_neighbors=10, n_candidates=10, max_query_terms=1, refine_fan_out=4, **PLAIN)
    converged = recsys.RelatedIndex.build(articles, refine_rounds=100, **narrow)._view.data
    rounds, threshold = len(new_entries), neighbours.CONVERGED * 1500 * 10
    assert 2 < rounds < 100
    assert all(n >= threshold for n in new_entries[:-1]) and new_entries[-1] < threshold
    new_entries.clear()
    capped = recsys.RelatedIndex.build(articles, refine_rounds=rounds - 1, **narrow)._view.data
    assert len(new_entries) == rounds - 1
    assert not np.array_equal(capped.neighbor_rows, converged.neighbor_rows)  # the last round still changed them
    again = recsys.RelatedIndex.build(articles, refine_rounds=rounds, **narrow)._view.data
    np.testing.assert_array_equal(again.neighbor_rows, converged.neighbor_rows)
    np.testing.assert_array_equal(again.neighbor_sims, converged.neighbor_sims)


@pytest.mark.parametrize("n_neighbors, semantic_weight", [(8, 0.0), (3, 0.0), (8, 0.3)])
def test_a_live_search_adds_the_stored_neighbours_of_its_first_matches_and_scores_them_exactly(n_neighbors,
                                                                                                semantic_weight):
    docs = random_corpus(15, n_docs=150, vocab=400)
    articles = [{"id": f"d{i}", "body": " ".join(d)} for i, d in enumerate(docs)]
    similarity = brute_force_similarity("tfidf", docs)
    index = recsys.RelatedIndex.build(articles, method="tfidf", n_neighbors=n_neighbors, n_candidates=8,
                                      live_candidates=8, max_query_terms=1, refine_fan_out=4,
                                      **{**PLAIN, "semantic_weight": semantic_weight}, semantic_model="lsa",
                                      lsa_components=8,  # with 3 neighbours, lists are shorter than the fan-out
                                      dense_probes=10_000)  # every list probed: the dense candidates are exact
    view = index._view
    stored = view.data.neighbor_rows
    embeddings = np.asarray(index._view.data.embeddings, dtype=np.float64) if semantic_weight else None
    two_in_three = np.arange(len(docs)) % 3 != 0
    every_row = np.zeros(0, dtype=bool)
    true_ones_added = 0
    for i in range(len(docs)):
        vector = view.vector(i)
        mask = two_in_three if i % 2 else every_row  # a filter, or none
        rows, _, linked, linked_scores = _search_built(view, vector, view.built.article_terms, mask, i, 8)
        expected = {int(j) for s in rows[:4] for j in stored[s, :4] if j >= 0} - set(rows.tolist()) - {i}
        assert linked.tolist() == sorted(j for j in expected if not len(mask) or mask[j])
        np.testing.assert_allclose(linked_scores / vector.self_score, similarity[i, linked], rtol=1e-5, atol=1e-9)
        true_top = set(np.argsort(-np.where(np.arange(len(docs)) == i, -1, similarity[i]), kind="stable")[:8])
        true_ones_added += len(true_top & set(linked.tolist()))
        if semantic_weight:  # the embeddings' 8 closest rows join the linked ones, in one ascending run
            found, sims, _ = candidates(view, vector, Filters(), 4, i, view.built.article_terms)
            rows, _, linked, _ = _search_built(view, vector, view.built.article_terms, every_row, i, 8)
            cosines = embeddings @ embeddings[i]
            cosines[i] = -np.inf
            eighth = np.sort(cosines)[-8]  # the dense candidates: the 8 closest (ties either way), all positive
            surely, maybe = set(np.flatnonzero(cosines > eighth)), set(np.flatnonzero(cosines == eighth))
            assert found[:len(rows)].tolist() == rows.tolist()
            rest, searched = found[len(rows):].tolist(), set(linked.tolist()) - set(rows.tolist())
            assert rest == sorted(rest) and searched <= set(rest)
            assert (surely - set(rows.tolist())) <= set(rest) <= searched | surely | maybe
            assert all(cosines[j] > 0 for j in set(rest) - searched)
            blended = (1 - semantic_weight) * similarity[i, found] + semantic_weight * np.maximum(cosines[found], 0)
            np.testing.assert_allclose(sims, blended, rtol=1e-5, atol=1e-9)
    assert all(not buffers.acc.any() for buffers in view.built.scratch._free)  # the pooled marks are cleared
    assert true_ones_added > 0  # the stored lists give true neighbours the narrow probe missed


def test_a_probe_budget_smaller_than_the_postings_still_scores_exactly():
    docs = random_corpus(13, n_docs=120, vocab=300)
    articles = [{"id": f"d{i}", "body": " ".join(d)} for i, d in enumerate(docs)]
    similarity = brute_force_similarity("tfidf", docs)
    index = recsys.RelatedIndex.build(articles, n_neighbors=10, probe_budget=50, refine_rounds=0, **PLAIN)
    full = recsys.RelatedIndex.build(articles, n_neighbors=10, max_query_terms=10_000, **PLAIN)
    shorter = 0
    for i in range(len(docs)):
        hits = index.related(f"d{i}", k=10)
        shorter += [h.id for h in hits] != [h.id for h in full.related(f"d{i}", k=10)]
        for hit in hits:
            assert hit.similarity == pytest.approx(similarity[i, int(hit.id[1:])], rel=1e-5)
    assert shorter > 0  # the budget really cut the search short
