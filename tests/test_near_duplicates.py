"""Near-duplicate collapse: an updated or syndicated copy is never listed twice, nor under its twin."""

import pytest

import recsys

PAIRS = [("a-012", "a-012-u"), ("a-023", "a-023-u"), ("a-028", "a-028-u"), ("a-032", "a-032-u")]


def test_no_top_5_holds_both_copies_or_the_twin(sample_index):
    for article_id in sample_index.ids:
        ids = {h.id for h in sample_index.related(article_id, k=5, now="2026-11-25")}
        for original, update in PAIRS:
            assert not {original, update} <= ids
            if article_id in (original, update):
                assert not {original, update} & ids
    drafted = {h.id for h in sample_index.more_like_this("Calder Mutual bank data breach customers", k=5)}
    assert not {"a-028", "a-028-u"} <= drafted


def test_the_best_scored_copy_is_the_one_listed(sample_index):
    hits = sample_index.related("a-030", k=5, now="2026-11-25")
    listed = [h.id for h in hits if h.id in ("a-028", "a-028-u")]
    assert len(listed) == 1
    both = recsys.RelatedIndex.build([sample_index.article(i) for i in sample_index.ids],
                                     near_duplicate_threshold=1.1)
    scores = {h.id: h.score for h in both.related("a-030", k=10, now="2026-11-25")}
    assert listed[0] == max(("a-028", "a-028-u"), key=scores.get)


def test_the_threshold_is_configurable(sample_articles):
    off = recsys.RelatedIndex.build(sample_articles, near_duplicate_threshold=1.1)
    assert "a-012-u" in [h.id for h in off.related("a-012", k=3)]
    strict = recsys.RelatedIndex.build(sample_articles, near_duplicate_threshold=0.3)
    assert "a-003" not in [h.id for h in strict.related("a-012", k=10)]  # now counted as the same story


def test_an_upserted_copy_joins_its_originals_group(sample_articles):
    index = recsys.RelatedIndex.build(sample_articles)
    original = next(a for a in sample_articles if a["id"] == "a-030")
    index.upsert({**original, "id": "a-030-syndicated", "title": "Syndicated: " + original["title"]})
    ids = [h.id for h in index.related("a-028", k=10)]
    assert len({"a-030", "a-030-syndicated"} & set(ids)) == 1
    assert not {"a-030"} & {h.id for h in index.related("a-030-syndicated", k=10)}


def test_negative_threshold_is_refused(sample_articles):
    with pytest.raises(recsys.ParameterError, match="near_duplicate_threshold"):
        recsys.RelatedIndex.build(sample_articles, near_duplicate_threshold=-1)
