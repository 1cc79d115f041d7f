"""Fallback: a list that would be short is padded with popular, recent articles of the same section."""

from datetime import datetime

import pytest

import recsys
from brute_force import story

NOW = "2026-11-25T00:00:00Z"


@pytest.fixture(scope="module")
def lexical_index(sample_articles):
    """The sample on the lexical channel alone: padding is for lists short of related articles, which
    the semantic channel (the default) rarely leaves on a corpus this small."""
    return recsys.RelatedIndex.build(sample_articles, semantic_weight=0.0)


def test_a_short_list_is_padded_and_marked(lexical_index, sample_articles):
    plain = lexical_index.related("a-036", k=6, min_similarity=0.2, now=NOW)
    assert 0 < len(plain) < 6
    padded = lexical_index.related("a-036", k=6, min_similarity=0.2, fallback=True, now=NOW)
    assert [h.id for h in padded[: len(plain)]] == [h.id for h in plain]
    extra = padded[len(plain):]
    assert len(padded) == 6 and all(h.reason == "fallback" and h.score == 0.0 for h in extra)
    assert all(h.reason == "related" for h in plain)
    section = lexical_index.article("a-036").section
    assert all(h.section == section for h in extra)
    ids = [h.id for h in padded]
    assert len(set(ids)) == len(ids) and "a-036" not in ids and len(extra) >= 2
    # Views decayed by age, whatever the decay: an article at least as viewed and as recent as another
    # (more of one or the other) comes before it, and is listed if that one is.
    raw = {a["id"]: (a["views"], datetime.fromisoformat(a["published_at"])) for a in sample_articles}

    def beats(x, y):
        return raw[x] != raw[y] and raw[x][0] >= raw[y][0] and raw[x][1] >= raw[y][1]

    left_out = [a["id"] for a in sample_articles if a["section"] == section and a["id"] not in ids + ["a-036"]]
    for position, hit in enumerate(extra):
        later = [h.id for h in extra[position + 1:]] + left_out
        assert not [other for other in later if beats(other, hit.id)], hit.id


def test_the_padding_is_ordered_by_views_decayed_by_age():
    # By hand, with the default decay ("exp", scale 30 days, decay 0.5: freshness 0.5 ** (age / 30 d))
    # and the key (1 + ln(1 + views)) * freshness; popularity is log(1 + views) / log(1 + 99,999), the
    # most viewed article being the sports one:
    #   article         views  published   age   freshness  1 + ln(1 + views)        key     popularity
    #   month-mid          99  2026-10-26   30d  0.5         1 + ln 100   = 5.6052   2.8026  2/5 = 0.4
    #   fresh-quiet         1  2026-11-25    0   1           1 + ln 2     = 1.6931   1.6931  0.30103/5 = 0.0602
    #   two-months-mid     99  2026-09-26   60d  0.25        5.6052                  1.4013  0.4
    #   three-months-top 9999  2026-08-27   90d  0.125       1 + ln 10^4 = 10.2103   1.2763  4/5 = 0.8
    #   fresh-none          0  2026-11-25    0   1           1                       1.0     0
    #   four-months-top  9999  2026-07-28  120d  0.0625      10.2103                 0.6381  0.8
    # Plain views would put the 9,999-view articles first, plain freshness the new ones, views times
    # freshness three-months-top (1,250) first.
    rows = [("month-mid", 99, "2026-10-26"), ("fresh-quiet", 1, "2026-11-25"), ("two-months-mid", 99, "2026-09-26"),
            ("three-months-top", 9999, "2026-08-27"), ("fresh-none", 0, "2026-11-25"),
            ("four-months-top", 9999, "2026-07-28")]
    articles = [{"id": "odd", "title": "Xylophone zebra quartz", "section": "culture", "published_at": NOW}]
    titles = ["Opera premiere", "Sculpture auction", "Poetry festival", "Ballet tour", "Jazz album", "Film retrospective"]
    articles += [{"id": name, "title": title, "section": "culture", "views": views,  # six different stories
                  "published_at": f"{day}T00:00:00Z"} for (name, views, day), title in zip(reversed(rows), titles)]
    articles += [{"id": "match", "title": "Football match", "section": "sports", "views": 99_999, "published_at": NOW}]
    index = recsys.RelatedIndex.build(articles, field_weights={"title": 2, "body": 1}, semantic_weight=0.0)
    assert index.related("odd", k=6, now=NOW) == []
    hits = index.related("odd", k=6, fallback=True, now=NOW)
    assert [h.id for h in hits] == [name for name, _, _ in rows]
    assert [h.freshness for h in hits] == pytest.approx([0.5, 1, 0.25, 0.125, 1, 0.0625])
    assert [h.popularity for h in hits] == pytest.approx([0.4, 0.0602, 0.4, 0.8, 0, 0.8], abs=1e-4)
    assert {h.reason for h in hits} == {"fallback"} and {h.score for h in hits} == {0.0}
    assert [h.id for h in index.related("odd", k=3, fallback=True, now=NOW)] == ["month-mid", "fresh-quiet",
                                                                                "two-months-mid"]


def test_fallback_respects_filters_and_the_twin_rule(lexical_index):
    # Nothing is 0.99 similar: every hit pads, from the business stories of Ingrid Okonkwo but a-012's
    # own (its update a-012-u), and from Tomasz Reyes-Whitaker's politics stories, not his world ones.
    hits = lexical_index.related("a-012", k=10, fallback=True, author="Ingrid Okonkwo", now=NOW,
                                min_similarity=0.99)
    assert hits and all(h.author == "Ingrid Okonkwo" and h.reason == "fallback" for h in hits)
    assert {story(h.id) for h in hits} == {"a-003", "a-009", "a-010", "a-019", "a-023"}
    hits = lexical_index.related("a-044", k=10, fallback=True, author="Tomasz Reyes-Whitaker", now=NOW,
                                min_similarity=0.99)
    assert sorted(h.id for h in hits) == ["a-031", "a-039", "a-046"]


def test_the_padding_shows_one_article_per_story(lexical_index, sample_articles):
    # a-012 and a-019 are business stories; the section holds 9 other stories (some with an update),
    # so a list of 10 can show 9 articles, one per story (it showed a-023 and a-023-u both).
    business = {story(a["id"]) for a in sample_articles if a["section"] == "business"}
    for article_id, min_similarity in (("a-012", 0.99), ("a-019", 0.3)):
        stories = [story(h.id) for h in lexical_index.related(article_id, k=10, fallback=True, now=NOW,
                                                              min_similarity=min_similarity)]
        assert len(business) == 10 and sorted(stories) == sorted(business - {story(article_id)}), stories


def test_an_article_with_nothing_related_still_gets_a_list():
    articles = [{"id": "odd", "title": "Xylophone zebra quartz", "section": "culture"}] + [
        {"id": f"c{i}", "title": title, "section": "culture", "views": i * 10}  # five different stories
        for i, title in enumerate(["Opera premiere", "Sculpture auction", "Poetry festival", "Ballet tour",
                                   "Jazz album"])] + [{"id": "s1", "title": "Football match", "section": "sports", "views": 10_000}]
    index = recsys.RelatedIndex.build(articles, field_weights={"title": 2, "body": 1}, semantic_weight=0.0)
    assert index.related("odd", k=3) == []
    hits = index.related("odd", k=3, fallback=True)
    assert [h.id for h in hits] == ["c4", "c3", "c2"] and {h.reason for h in hits} == {"fallback"}
    draft = index.more_like_this("nothing in common", k=2, fallback=True, section="sports")
    assert [h.id for h in draft] == ["s1"]
