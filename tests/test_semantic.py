"""The LSA semantic channel: similarity = (1 - w) * lexical + w * LSA cosine, off by default (the MiniLM
model: test_minilm.py)."""

import json
from dataclasses import replace

import numpy as np
import pytest

import recsys
from recsys.query.filters import Filters
from recsys.query.search import candidates
from brute_force import assert_ranking, embedding_cosines, expected_rows, stored_cosines

PURE = dict(popularity_weight=0, freshness_weight=0)


@pytest.fixture(scope="module")
def lexical(sample_articles):
    return recsys.RelatedIndex.build(sample_articles, near_duplicate_threshold=None, semantic_weight=0.0, **PURE)


@pytest.fixture(scope="module")
def mixed(sample_articles):
    return recsys.RelatedIndex.build(sample_articles, semantic_model="lsa", semantic_weight=0.4, lsa_components=8,
                                     near_duplicate_threshold=None, **PURE)


def test_similarity_blends_the_lsa_cosine(lexical, mixed):
    embeddings = mixed._view.data.embeddings
    assert embeddings.shape == (60, 8)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    row = mixed._view.data.store.row_of
    lexical_cosine, semantic = stored_cosines(mixed), embedding_cosines(mixed)
    assert float(embeddings[row["a-023"]] @ embeddings[row["a-033"]]) < 0  # counted as 0
    for a, b in [("a-001", "a-006"), ("a-012", "a-003"), ("a-020", "a-040"), ("a-023", "a-033")]:
        expected = 0.6 * lexical_cosine[row[a], row[b]] + 0.4 * semantic[row[a], row[b]]
        assert mixed.similarity(a, b) == pytest.approx(expected, abs=1e-5)
        assert lexical.similarity(a, b) == pytest.approx(lexical_cosine[row[a], row[b]], abs=1e-5)


def test_stored_lists_are_blended_and_sorted(mixed):
    blended, ids = 0.6 * stored_cosines(mixed) + 0.4 * embedding_cosines(mixed), mixed.ids
    for article_id in ("a-001", "a-028", "a-044"):
        row = ids.index(article_id)
        hits = mixed.related(article_id, k=10)
        rows = [ids.index(h.id) for h in hits]
        assert_ranking(rows, expected_rows(blended[row], row, 10), blended[row])  # the exact top 10
        np.testing.assert_allclose([h.similarity for h in hits], blended[row, rows], atol=1e-5)
        assert [h.score for h in hits] == [h.similarity for h in hits]


def test_weight_0_turns_it_off_and_an_lsa_index_survives_save_and_load(lexical, mixed, tmp_path):
    assert lexical._view.data.embeddings is None
    assert not (lexical.save(tmp_path / "plain") / "lsa_embeddings.npy").exists()
    loaded = recsys.RelatedIndex.load(mixed.save(tmp_path / "mixed"))
    assert [(h.id, round(h.score, 6)) for h in loaded.related("a-001")] == \
           [(h.id, round(h.score, 6)) for h in mixed.related("a-001")]


def test_an_lsa_index_written_before_semantic_model_existed_still_loads(mixed, tmp_path):
    path = mixed.save(tmp_path / "old")
    manifest = json.loads((path / "manifest.json").read_text())
    assert {"lsa_embeddings.npy", "lsa_components.npy"} <= set(manifest["files"])
    del manifest["config"]["semantic_model"]
    (path / "manifest.json").write_text(json.dumps(manifest))
    loaded = recsys.RelatedIndex.load(path)
    assert loaded.config.semantic_model == "lsa"
    np.testing.assert_array_equal(loaded._view.data.embeddings, mixed._view.data.embeddings)
    assert [h.id for h in loaded.related("a-001")] == [h.id for h in mixed.related("a-001")]


def test_a_text_with_no_shared_term_is_found_through_its_embedding(mixed):
    article = mixed.article("a-012")
    view = mixed._view
    vector = view.built.vectorizer.text([(article.body, 1.0)])
    blind = replace(vector, terms=vector.terms[:0], weights=vector.weights[:0], doc_weights=vector.doc_weights[:0],
                    self_score=0.0)
    rows, sims, _ = candidates(view, blind, Filters(), 5, -1, view.built.text_terms)
    assert len(rows) and mixed._view.data.store.row_of["a-012"] in rows[np.argsort(-sims)[:3]]


def test_drafts_and_upserts_are_projected(sample_articles):
    index = recsys.RelatedIndex.build(sample_articles, semantic_model="lsa", semantic_weight=0.4, lsa_components=8, **PURE)
    draft = index.more_like_this("Kestrel Athletic striker injury before the title decider", k=3)
    assert len(draft) == 3 and {h.id for h in draft} <= {"a-018", "a-026", "a-035", "a-051", "a-053"}
    index.upsert({"id": "n-1", "title": "Kestrel Athletic title race", "body": "Kestrel Athletic striker news."})
    assert index.related("n-1", k=1)[0].id in {"a-018", "a-026", "a-035", "a-051", "a-053"}


def test_bad_weights_are_refused(sample_articles):
    with pytest.raises(recsys.ParameterError, match="semantic_weight"):
        recsys.RelatedIndex.build(sample_articles, semantic_weight=1.5)
