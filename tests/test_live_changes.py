"""Upserts and deletes take effect at once, without a rebuild; compaction folds them in."""

import pytest

import recsys
from recsys import UnknownArticleError

from conftest import compiled_versions

PURE = dict(popularity_weight=0, freshness_weight=0)
NEW_STORY = {"id": "n-1", "title": "Kestrel Athletic sign a new striker before the title decider",
             "body": "Kestrel Athletic completed the signing of a striker to cover for Ferreira-Holt, "
                     "whose hamstring injury rules him out of the First Division title race run-in against "
                     "Port Hallam United.", "section": "sports", "tags": ["football"], "views": 10}


@pytest.fixture()
def index(sample_articles):
    return recsys.RelatedIndex.build(sample_articles, near_duplicate_threshold=1.1)  # twins listed


def test_an_added_article_is_listed_at_once(index):
    index.upsert(NEW_STORY)
    assert "n-1" in index and len(index) == 61 and index.pending_changes == 1
    assert "n-1" in [h.id for h in index.related("a-035", k=5, **PURE)]
    own = index.related("n-1", k=4, **PURE)
    assert {h.id for h in own} <= {"a-018", "a-026", "a-035", "a-051", "a-053"} and len(own) == 4
    assert index.more_like_this("new striker signing Kestrel", k=1)[0].id == "n-1"
    sports = index.related("a-035", k=5, section="sports")  # the title race thread, and the new story of it
    assert {h.id for h in sports} == {"n-1", "a-018", "a-026", "a-051", "a-053"}
    assert all(h.section == "sports" for h in sports)
    assert index.article("n-1").title == NEW_STORY["title"]


def test_lists_after_a_change_use_the_kernels_compiled_for_the_index(index):
    """The store's arrays stay read-only through upserts, and the added articles' weights are typed
    as the built ones (recsys._arrays), so listing, ranking and scoring after a change need no new
    compiled version of a kernel (a second or more each without numba's cache)."""
    def lists():
        hits = index.related("a-012", k=5, section="business")
        index.more_like_this("Kestrel Athletic striker signing", k=5, exclude=["a-012"])
        return hits

    lists()
    compiled = compiled_versions()
    index.upsert(NEW_STORY)
    index.delete("a-003")
    index.add_views({"a-012": 3})
    hits = lists()
    assert hits and "a-003" not in [h.id for h in hits]
    assert "n-1" in [h.id for h in index.more_like_this("Kestrel Athletic striker signing", k=5)]
    # one more entry point: the added articles scored as the build scores its candidates, typed alike
    assert compiled_versions() - compiled <= {("query_scores", ("int32[1d] ro", "float32[1d] ro", "int64[1d] ro",
                                                                "int32[1d] ro", "float32[1d] ro", "int64[1d]",
                                                                "float32[1d]"))}


def test_similarities_of_an_added_copy_match_the_original(sample_articles):
    index = recsys.RelatedIndex.build(sample_articles, near_duplicate_threshold=1.1, semantic_weight=0.0)
    original = next(a for a in sample_articles if a["id"] == "a-030")
    index.upsert({**original, "id": "copy-of-a-030"})
    built = {h.id: h.similarity for h in index.related("a-030", k=10, **PURE)}
    added = {h.id: h.similarity for h in index.related("copy-of-a-030", k=10, **PURE)}
    assert built["copy-of-a-030"] == pytest.approx(1.0, abs=1e-5)
    assert added["a-030"] == pytest.approx(1.0, abs=1e-5)
    common = (set(built) & set(added)) - {"a-030", "copy-of-a-030"}
    assert common and all(added[i] == pytest.approx(built[i], abs=1e-5) for i in common)


def test_a_replaced_article_uses_its_new_text(index):
    index.upsert({"id": "a-030", "title": "Marathon route changes", "body": "Eastbrook City Marathon runners "
                  "will start an hour earlier; the marathon course passes the harbour.", "section": "sports"})
    assert len(index) == 60 and index.article("a-030").section == "sports"
    assert index.article("a-030").views >= 1  # the larger of old and new counts
    assert "a-030" not in [h.id for h in index.related("a-028", k=10)]
    assert "a-030" in [h.id for h in index.related("a-040", k=5)]


def test_a_deleted_article_disappears(index):
    assert "a-012-u" in [h.id for h in index.related("a-012", k=3)]
    index.delete("a-012-u")
    assert "a-012-u" not in index and len(index) == 59 and "a-012-u" not in index.ids
    assert all("a-012-u" != h.id for i in ("a-012", "a-003", "a-007") for h in index.related(i, k=59))
    assert "a-012-u" not in [h.id for h in index.more_like_this("Northline Rail deal full services resume", k=10)]
    assert "a-012-u" not in [h.id for h in index.popular(k=60)]
    with pytest.raises(UnknownArticleError):
        index.related("a-012-u")
    with pytest.raises(UnknownArticleError):
        index.delete("a-012-u")


def test_compaction_equals_a_fresh_build(index, sample_articles, tmp_path):
    index.upsert(NEW_STORY)
    index.delete("a-001")
    compacted = index.compacted()
    fresh = recsys.RelatedIndex.build([a for a in sample_articles if a["id"] != "a-001"] + [NEW_STORY])
    assert compacted.pending_changes == 0 and compacted.ids == fresh.ids
    for article_id in ("a-035", "n-1", "a-004"):
        assert [(h.id, round(h.score, 9)) for h in compacted.related(article_id, now="2026-11-25")] == \
               [(h.id, round(h.score, 9)) for h in fresh.related(article_id, now="2026-11-25")]
    saved = recsys.RelatedIndex.load(index.save(tmp_path / "idx", compact=True))
    assert saved.pending_changes == 0 and "n-1" in saved and "a-001" not in saved


def test_replay_quarantines_entries_that_cannot_be_applied_and_applies_the_rest(index, tmp_path, caplog):
    import json
    import logging
    import sqlite3

    from recsys.server.changelog import ChangeLog

    db = tmp_path / "changes.sqlite3"
    log = ChangeLog(db)
    log.append_upsert(recsys.Article.from_dict(NEW_STORY))
    poison = [("p-1", "upsert", "{not json"),
              ("p-2", "upsert", json.dumps({**NEW_STORY, "id": "p-2", "url": "javascript:alert(1)"})),
              ("p-3", "upsert", json.dumps({**NEW_STORY, "id": "p-3", "views": 10**20})),
              ("p-4", "upsert", json.dumps({**NEW_STORY, "id": "someone-else"})),
              ("a-003", "rename", None)]  # an op this version does not know
    with sqlite3.connect(db) as raw:
        raw.execute("PRAGMA ignore_check_constraints = ON")  # as an older schema would have let in
        raw.executemany("INSERT INTO article_changes (article_id, op, record) VALUES (?, ?, ?)", poison)
    log.append_delete("a-002")
    with caplog.at_level(logging.ERROR, logger="recsys.changelog"):
        replayed = log.replay(index)
    assert replayed.last == 7 and replayed.quarantined == [2, 3, 4, 5, 6] and replayed.created == {"n-1"}
    assert "n-1" in index and "a-002" not in index and "a-003" in index and len(index) == 60
    assert not {"p-1", "p-2", "p-3", "p-4", "someone-else"} & set(index.ids)
    assert log.quarantined() == 5 and [seq for seq, *_ in log.entries()] == [1, 7]
    assert len([r for r in caplog.records if "dead_letters" in r.getMessage()]) == 5
    with sqlite3.connect(db) as raw:
        dead = raw.execute("SELECT seq, article_id, op, record, error, quarantined_at FROM dead_letters "
                           "ORDER BY seq").fetchall()
    assert [(seq, article_id, op, record) for seq, article_id, op, record, *_ in dead] == \
           [(seq, *entry) for seq, entry in zip(range(2, 7), poison)]
    assert "url" in dead[1][4] and "views" in dead[2][4] and "rename" in dead[4][4] and dead[0][5] > 0
    again = recsys.RelatedIndex.build([NEW_STORY, {"id": "x-1", "title": "Harbour", "body": "Harbour ferry"}])
    assert log.replay(again).quarantined == [] and log.quarantined() == 5  # once set aside, never retried
    log.close()


def test_reads_on_other_threads_go_on_during_changes_each_on_one_snapshot(sample_articles):
    """No lock: readers on several threads while a writer adds, replaces and deletes articles. Every
    read answers without error, lists only articles that exist at some moment, and a list's hits
    keep their fields after their article is deleted (they belong to the snapshot that listed them)."""
    import threading

    index = recsys.RelatedIndex.build(sample_articles)
    added = [{"id": f"n-{i}", "title": f"Harbour pilots strike, day {i}",
              "body": "Pilots at Marlow Bay harbour walked out over night shifts. " * 3, "section": "business"}
             for i in range(40)]
    ever = set(index.ids) | {a["id"] for a in added}
    errors, lists, stop = [], [], threading.Event()

    def read():
        while not stop.is_set():
            try:
                hits = index.related("a-001", k=10, section="business") + index.more_like_this("harbour pilots", k=5)
                lists.append([(h.id, h.title) for h in hits])
            except Exception as error:  # noqa: BLE001 - collected, the test fails below
                errors.append(error)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for thread in readers:
        thread.start()
    held = index.more_like_this("harbour pilots", k=5)
    for article in added:
        index.upsert(article)
        index.upsert({**article, "title": article["title"] + " (updated)"})
        if article["id"] != "n-0":
            index.delete(article["id"])
    stop.set()
    for thread in readers:
        thread.join()
    assert not errors, errors[:3]
    assert len(lists) > 20 and all(ids_titles for ids_titles in lists)
    assert {i for listed in lists for i, _ in listed} <= ever
    assert any(i.startswith("n-") for listed in lists for i, _ in listed)  # the readers saw changes
    assert index.pending_changes == 119 and "n-0" in index and "n-1" not in index
    index.delete(held[0].id)
    assert held[0].title and held[0].id not in index  # a hit reads its fields from its own snapshot


def test_a_read_during_a_change_sees_the_index_as_it_was_before(sample_articles, monkeypatch):
    """A writer paused halfway through an upsert (after the new article's vector, before its
    near-duplicate group): a read on another thread meanwhile answers, on the index as it was."""
    import threading

    import recsys.live

    index = recsys.RelatedIndex.build(sample_articles)
    now = "2026-11-25T00:00:00Z"
    before = [(h.id, h.score) for h in index.related("a-001", k=10, now=now)]
    halfway, go_on = threading.Event(), threading.Event()
    group_of = recsys.live._placed

    def paused(view, vector):
        halfway.set()
        assert go_on.wait(10)
        return group_of(view, vector)

    monkeypatch.setattr(recsys.live, "_placed", paused)
    copy = {**sample_articles[0], "id": "copy-of-a-001"}
    writer = threading.Thread(target=index.upsert, args=(copy,))
    writer.start()
    assert halfway.wait(10)
    seen = (len(index), "copy-of-a-001" in index, [(h.id, h.score) for h in index.related("a-001", k=10, now=now)])
    go_on.set()
    writer.join()
    assert seen == (60, False, before)
    assert "copy-of-a-001" in index and len(index) == 61
    assert index.similarity("a-001", "copy-of-a-001") > 0.99 and index.related("copy-of-a-001", k=3)
