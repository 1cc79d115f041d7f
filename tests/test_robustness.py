"""Live changes are all or nothing: an upsert, delete or add_views that fails leaves the index as it was."""

import numpy as np
import pytest

import recsys
import recsys.live
from recsys import ParameterError, UnknownArticleError
from recsys.index.columns import ArticleStore
from recsys.documents.article import MAX_VIEWS, Article

NOW = "2026-11-25T00:00:00Z"
QUERIED = ("a-001", "a-012", "a-035", "n-1", "a-003")
STORY = {"id": "n-1", "title": "Kestrel Athletic sign a new striker before the title decider",
         "body": "Kestrel Athletic completed the signing of a striker to cover for Ferreira-Holt, whose hamstring "
                 "injury rules him out of the First Division title race run-in.", "section": "sports",
         "tags": ["football"], "views": 10}
NEWCOMER = {"id": "n-2", "title": "Harbour pilots strike over new night shifts", "body": "Pilots at Marlow Bay "
            "harbour walked out over night shifts.", "section": "brand-new-section", "tags": ["brand-new-tag"],
            "author": "A New Author", "views": 5}


class Boom(Exception):
    pass


@pytest.fixture()
def index(sample_articles):
    """An index with an added article and a replaced one, so that every internal array has live changes."""
    index = recsys.RelatedIndex.build(sample_articles)
    index.upsert(STORY)
    index.upsert({**sample_articles[2], "title": sample_articles[2]["title"] + " (updated)"})  # a-003 replaced
    index.add_views({"a-001": 7})
    return index


def state(index):
    """Everything an upsert changes: counts, ids, the lengths and contents of the internal arrays, lists."""
    view = index._view
    store = view.store
    arrays = {"groups": view.groups, "has_twin": view.has_twin, "deleted": view.deleted,
              "event_views": view.event_views, "appended_rows": view.appended_rows,
              **{name: getattr(store, name) for name in ArticleStore.ARRAYS if name not in ("records", "bodies")}}
    return {"len": len(index), "ids": index.ids, "store_ids": list(store.ids), "row_of": dict(store.row_of),
            "pending": index.pending_changes, "n_deleted": view.n_deleted, "appended": sorted(view.appended),
            "max_views": view.max_views, "editorial": dict(view.editorial), "names": (list(store.sections), list(store.authors), list(store.tags)),
            "arrays": {name: np.array(array) for name, array in arrays.items()},
            "lists": {i: [(h.id, round(h.score, 9)) for h in index.related(i, k=8, now=NOW)] for i in QUERIED}}


def assert_unchanged(index, before):
    after = state(index)
    assert before["len"] >= 60 and len(before["lists"]["n-1"]) == 8  # the snapshot is not vacuous
    assert all(len(array) == len(before["store_ids"]) for name, array in before["arrays"].items()
               if name not in ("offsets", "body_offsets", "tag_indptr", "tag_codes", "appended_rows"))
    for name, array in before["arrays"].items():  # same length, same values (NaN dates included)
        np.testing.assert_array_equal(after["arrays"].pop(name), array, err_msg=name, strict=True)
    assert {**after, "arrays": None} == {**before, "arrays": None}
    index.upsert(NEWCOMER)  # and the index still takes changes
    assert "n-2" in index and len(index) == before["len"] + 1 and index.pending_changes == before["pending"] + 1
    assert index.related("n-2", k=3, now=NOW) and index.article("n-2").section == "brand-new-section"
    assert "n-2" in [h.id for h in index.related("a-001", k=3, section="brand-new-section", now=NOW)]


def fail(*args, **kwargs):
    raise Boom("failed on purpose")


@pytest.mark.parametrize("upserted", [NEWCOMER, STORY, {**STORY, "id": "a-005"}], ids=["new", "added", "built"])
@pytest.mark.parametrize("step", [
    (Article, "to_dict"),                # the store's new record
    (recsys.live, "twins"),              # the near-duplicate marks of the grown groups
    (recsys.live, "_placed"),            # the new article's near-duplicate group and feedback
    (ArticleStore, "with_row"),          # the store's new columns
    (recsys.live, "added_rows"),         # the weights of the articles added since the build
], ids=lambda step: step[1])
def test_an_upsert_that_fails_at_any_step_leaves_no_trace(index, monkeypatch, upserted, step):
    before = state(index)
    monkeypatch.setattr(*step, fail)
    with pytest.raises(Boom):
        index.upsert(upserted)
    monkeypatch.undo()
    assert_unchanged(index, before)


def test_views_too_large_for_the_store_are_refused_before_anything_changes(index):
    before = state(index)
    for views in (MAX_VIEWS + 1, 10**30, -1):
        with pytest.raises(ParameterError, match=rf"views of 'n-2' must be an integer from 0 to {MAX_VIEWS}"):
            index.upsert(Article(id="n-2", title="Huge", body="harbour pilots", views=views))
    assert_unchanged(index, before)


def test_a_store_is_never_changed_by_adding_a_row(index):
    store = index._view.store
    before = (list(store.ids), dict(store.row_of), list(store.sections), list(store.tags),
              [len(getattr(store, name)) for name in ArticleStore.ARRAYS])
    with pytest.raises(OverflowError):
        store.with_row(Article(id="n-9", body="text", section="brand-new-section", tags=("brand-new-tag",),
                               views=10**30))
    grown = store.with_row(Article(id="n-9", body="text", section="brand-new-section", tags=("brand-new-tag",)))
    assert (list(store.ids), dict(store.row_of), list(store.sections), list(store.tags),
            [len(getattr(store, name)) for name in ArticleStore.ARRAYS]) == before
    assert "brand-new-section" not in store.sections and "n-9" not in store.row_of
    row = grown.row_of["n-9"]
    assert row == len(before[0]) and grown.ids[-1] == "n-9" and grown.sections[-1] == "brand-new-section"
    assert grown.tag_codes[grown.tag_indptr[row]:].tolist() == [grown.codes["tag"].find("brand-new-tag")]
    assert grown.record(row)["body"] == "text" and grown.record(0) == store.record(0)


@pytest.mark.parametrize("bad", [MAX_VIEWS + 1, 2**63, -1, 2.0, True, "5"])
def test_add_views_checks_every_count_before_adding_any(index, bad):
    before = state(index)
    with pytest.raises(ParameterError, match=rf"view counts must be integers from 0 to {MAX_VIEWS}, got .* 'a-004'"):
        index.add_views({"a-002": 3, "a-004": bad})
    assert_unchanged(index, before)


def test_add_views_refuses_a_count_that_would_overflow_int64(index):
    own = index.article("a-001").views
    room = (2**63 - 1 - own) // MAX_VIEWS
    assert room > 1000
    for _ in range(room):
        index.add_views({"a-001": MAX_VIEWS})
    before = state(index)
    assert index.article("a-001").views == own + room * MAX_VIEWS
    with pytest.raises(ParameterError, match=rf"view counts: {MAX_VIEWS} more views of 'a-001' would exceed"):
        index.add_views({"a-002": 3, "a-001": MAX_VIEWS})
    assert_unchanged(index, before)
    assert index.add_views({"a-002": 3, "a-001": 2**63 - 1 - own - room * MAX_VIEWS}) > 3
    assert index.article("a-001").views == 2**63 - 1 and index.related("a-001", k=3, now=NOW)


def test_a_failed_delete_leaves_no_trace(index):
    index.delete("a-010")
    before = state(index)
    for article_id in ("no-such-id", "a-010", None):
        with pytest.raises(UnknownArticleError):
            index.delete(article_id)
    assert_unchanged(index, before)
    index.delete("n-2")
    assert "n-2" not in index and len(index) == 60 and "n-2" not in [h.id for h in index.related("a-001", k=60)]
