"""The build's parts that hold less memory at a time (the semantic step a block at a time, the
store's typed columns) make what the whole-array way makes, against numpy references."""

import numpy as np
import pytest

import recsys
from benchmarks.synth import generate
from recsys.analysis import static_model
from recsys.analysis.analyzer import Analyzer
from recsys.build import semantic
from recsys.documents.article import MAX_VIEWS, Article
from recsys.index.columns import StoreBuilder


@pytest.fixture(scope="module")
def stories_index():
    """A default index of 400 stories-mode articles: enough for the common direction."""
    return recsys.RelatedIndex.build(list(generate(400, seed=3, mode="stories")))


def test_static_embeddings_and_projection_do_not_depend_on_the_term_block(stories_index):
    """Pooling 5,000 terms at a time gives the same bits as all at once, and both are the reference:
    each article's POOLED_TERMS strongest terms (ties: the lower term id), weighted, summed, less
    the common direction, made unit; the projection is the term vectors less that direction."""
    data = stories_index._view.data
    analyzer = data.config.analyzer
    whole = semantic.static(data.rows, data.vocabulary, analyzer, block=len(data.vocabulary) + 1)
    blocks = semantic.static(data.rows, data.vocabulary, analyzer, block=5000)
    assert len(data.vocabulary) > 3 * 5000
    assert np.array_equal(whole[0], blocks[0]) and np.allclose(whole[1], blocks[1], atol=1e-7)

    terms = static_model.term_vectors(static_model.load(), data.vocabulary, Analyzer(analyzer)).astype(np.float64)
    rows = data.rows
    raw = np.zeros((len(rows.indptr) - 1, terms.shape[1]))
    for i in range(len(raw)):
        a, b = rows.indptr[i], rows.indptr[i + 1]
        ids, weights = rows.row_terms(i), np.asarray(rows.data[a:b], dtype=np.float64)
        strongest = np.lexsort((ids, -weights))[:static_model.POOLED_TERMS]
        raw[i] = weights[strongest] @ terms[ids[strongest]]
    assert len(raw) >= semantic.CORPUS_DIRECTION_ARTICLES
    common = semantic._common_direction(raw.astype(np.float32)).astype(np.float64)
    expected = raw - np.outer(raw @ common, common)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert np.allclose(blocks[0], expected, atol=2e-5)
    assert np.allclose(blocks[1], terms - np.outer(terms @ common, common), atol=2e-5)


def test_feedback_in_place_moves_the_same_bits_as_into_a_new_array():
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(50, 8)).astype(np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    rows = rng.integers(-1, 50, size=(50, 6)).astype(np.int32)
    sims = rng.uniform(-0.2, 1.0, size=(50, 6)).astype(np.float32)
    before = embeddings.copy()
    new = semantic.feedback(embeddings, rows, sims, 4, 1.0)
    assert np.array_equal(embeddings, before)  # not moved: a new array
    moved = semantic.feedback(embeddings, rows, sims, 4, 1.0, in_place=True, block=7)
    assert moved is embeddings and np.array_equal(moved, new)
    first = before[0] + sum(max(s, 0) * before[r] for r, s in zip(rows[0, :4], sims[0, :4]) if r >= 0)
    assert np.allclose(moved[0], first / np.linalg.norm(first), atol=1e-6)
    assert not np.allclose(moved, before)


def test_blended_lists_do_not_depend_on_the_block(stories_index):
    data = stories_index._view.data

    def lists(block):
        return semantic.semantic_neighbours(data.neighbor_rows.copy(), data.neighbor_sims.copy(),
                                            data.embeddings.copy(), data.dense, data.config.semantic_weight,
                                            data.rows, data.rows.data, data.self_scores.copy(), len(data.vocabulary),
                                            block=block)  # copies: writable, as the build's

    whole, blocks = lists(10**6), lists(13)
    assert np.array_equal(whole[0], blocks[0]) and np.array_equal(whole[1], blocks[1])
    assert (whole[0][:, 0] >= 0).all()


def test_the_store_columns_keep_every_value():
    builder = StoreBuilder()
    articles = [Article.from_dict({"id": "a", "title": "t", "body": "b", "views": MAX_VIEWS, "tags": ["x", "y"],
                                   "section": "s", "author": "p", "published_at": "2026-01-02T03:04:05Z"}),
                Article.from_dict({"id": "b", "title": "t", "body": "é" * 3, "views": 0}),
                Article.from_dict({"id": "c", "title": "t", "body": "c", "tags": ["y"], "section": "s"})]
    for article in articles:
        builder.add(article)
    store = builder.finish()
    assert store.views.tolist() == [MAX_VIEWS, 0, 0] and store.views.dtype == np.int64
    assert store.published[0] == articles[0].published_at.timestamp() and np.isnan(store.published[1:]).all()
    assert store.tag_indptr.tolist() == [0, 2, 2, 3] and [store.tags[c] for c in store.tag_codes] == ["x", "y", "y"]
    assert store.section.tolist() == [0, -1, 0] and store.author.tolist() == [0, -1, -1]
    assert store.section.dtype == store.tag_codes.dtype == np.int32
    assert [store.body(r) for r in range(3)] == ["b", "ééé", "c"] and store.record(0, body=False)["views"] == MAX_VIEWS


def test_duplicate_groups_do_not_depend_on_the_block(stories_index):
    from recsys.build.neighbours import duplicate_groups

    data = stories_index._view.data
    threshold = float(np.quantile(data.neighbor_sims[:, 0], 0.5))  # half the articles have a close first neighbour
    whole = duplicate_groups(data.neighbor_rows, data.neighbor_sims, threshold)
    blocks = duplicate_groups(data.neighbor_rows, data.neighbor_sims, threshold, block=7)
    assert np.array_equal(whole, blocks) and 1 < len(np.unique(whole)) < len(whole)
    first = data.neighbor_rows[:, 0]
    close = data.neighbor_sims[:, 0] >= threshold
    assert (whole[close] == whole[first[close]]).all()
