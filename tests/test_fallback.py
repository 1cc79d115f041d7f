"""Fallback: a list that would be short is padded with popular, recent articles of the same section."""

import math

import recsys

NOW = "2026-11-25T00:00:00Z"


def test_a_short_list_is_padded_and_marked(sample_index):
    plain = sample_index.related("a-036", k=6, min_similarity=0.2, now=NOW)
    assert 0 < len(plain) < 6
    padded = sample_index.related("a-036", k=6, min_similarity=0.2, fallback=True, now=NOW)
    assert [h.id for h in padded[: len(plain)]] == [h.id for h in plain]
    extra = padded[len(plain):]
    assert len(padded) == 6 and all(h.reason == "fallback" and h.score == 0.0 for h in extra)
    assert all(h.reason == "related" for h in plain)
    section = sample_index.article("a-036").section
    assert all(h.section == section for h in extra)
    ids = [h.id for h in padded]
    assert len(set(ids)) == len(ids) and "a-036" not in ids
    keys = [(math.log1p(h.views) + 1) * (h.freshness + 1e-6) for h in extra]  # views decayed by age
    assert len(extra) >= 2 and keys == sorted(keys, reverse=True)


def test_fallback_respects_filters_and_the_twin_rule(sample_index):
    hits = sample_index.related("a-012", k=10, fallback=True, author="Priya Calloway", now=NOW,
                                min_similarity=0.99)
    assert all(h.author == "Priya Calloway" for h in hits)
    assert all(h.id not in ("a-012", "a-012-u") for h in hits)


def test_an_article_with_nothing_related_still_gets_a_list():
    articles = [{"id": "odd", "title": "Xylophone zebra quartz", "section": "culture"}] + [
        {"id": f"c{i}", "title": f"Culture story {i} about theatre", "section": "culture", "views": i * 10}
        for i in range(5)] + [{"id": "s1", "title": "Football match", "section": "sports", "views": 10_000}]
    index = recsys.RelatedIndex.build(articles, field_weights={"title": 2, "body": 1})
    assert index.related("odd", k=3) == []
    hits = index.related("odd", k=3, fallback=True)
    assert [h.id for h in hits] == ["c4", "c3", "c2"] and {h.reason for h in hits} == {"fallback"}
    draft = index.more_like_this("nothing in common", k=2, fallback=True, section="sports")
    assert [h.id for h in draft] == ["s1"]
