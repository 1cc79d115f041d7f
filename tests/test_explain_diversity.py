"""Explanations of a hit's score, and MMR diversity, in the library and over HTTP."""

import numpy as np
import pytest

import recsys
from recsys.query.rank import _cosines
from recsys import ParameterError
from recsys.analysis.analyzer import Analyzer, AnalyzerConfig

PURE = dict(popularity_weight=0, freshness_weight=0)
STORY_A = "Harbour ferry operators announce a strike over pay; the ferry timetable is suspended"
ARTICLES = [
    {"id": "q", "body": "Harbour ferry operators strike over pay and the ferry timetable is suspended; "
                        "the council also debates the lighthouse museum"},
    {"id": "a1", "body": STORY_A},
    {"id": "a2", "body": STORY_A + " today"},
    {"id": "a3", "body": STORY_A + " tonight"},
    {"id": "b", "body": "The council debates funding for the new lighthouse museum"},
    {"id": "z", "body": "Unrelated football score report"},
]


def test_explain_gives_the_parts_and_the_shared_terms(sample_index):
    hits = sample_index.related("a-028", k=3, explain=True, now="2026-11-25")
    analyzer = Analyzer(AnalyzerConfig(stemmer="english"))
    source = sample_index.article("a-028")
    source_terms = set(analyzer(" ".join([source.title, source.body, *source.tags, source.section])))
    for hit in hits:
        parts = hit.explanation
        w = sample_index.config.semantic_weight
        blended = (1 - w) * parts["similarity"]["lexical"] + w * parts["similarity"]["semantic"]
        assert blended == pytest.approx(hit.similarity, abs=1e-6) and parts["popularity"] == hit.popularity
        assert parts["freshness"] == hit.freshness and parts["penalty"] == 0.0
        contributions = [t["contribution"] for t in parts["terms"]]
        assert 0 < len(contributions) <= 5 and contributions == sorted(contributions, reverse=True)
        assert sum(contributions) <= parts["similarity"]["lexical"] + 1e-6
        article = sample_index.article(hit.id)
        target_terms = set(analyzer(" ".join([article.title, article.body, *article.tags, article.section])))
        assert all(t["term"] in source_terms & target_terms for t in parts["terms"])
    assert "calder" in [t["term"] for t in hits[0].explanation["terms"]]
    assert sample_index.related("a-028", k=3)[0].explanation is None


def test_explain_for_a_draft(sample_index):
    (hit,) = sample_index.more_like_this("Calder Mutual data breach", k=1, explain=True)
    assert {t["term"] for t in hit.explanation["terms"]} <= {"calder", "mutual", "data", "breach"}


def test_diversity_trades_a_near_copy_for_another_story():
    index = recsys.RelatedIndex.build(ARTICLES, stemmer=None, near_duplicate_threshold=1.1, semantic_weight=0.0,
                                      **PURE)
    plain = [h.id for h in index.related("q", k=2)]
    assert plain == ["a1", "a2"]
    diverse = index.related("q", k=3, diversity=0.5, explain=True)
    assert [h.id for h in diverse] == ["a1", "b", "a2"]
    assert [h.explanation["penalty"] > 0 for h in diverse] == [False, False, True]  # a2 repeats a1
    assert [h.id for h in index.related("q", k=2, diversity=0.0)] == plain


def test_diversity_lowers_the_redundancy_of_real_lists(sample_index):
    def redundancy(hits):
        ids = [h.id for h in hits]
        cos = _cosines(sample_index._view, np.array([sample_index._view.store.row_of[i] for i in ids]))
        return cos[np.triu_indices(len(ids), 1)].max()

    for article_id in ("a-012", "a-028", "a-023", "a-032"):
        plain = sample_index.related(article_id, k=4, **PURE)
        diverse = sample_index.related(article_id, k=4, diversity=0.6, **PURE)
        assert redundancy(diverse) <= redundancy(plain) + 1e-9


@pytest.mark.parametrize("value", [-0.1, 1.5, "a lot", True])
def test_diversity_must_be_between_0_and_1(sample_index, value):
    with pytest.raises(ParameterError, match="diversity must be a number between 0 and 1"):
        sample_index.related("a-001", diversity=value)
