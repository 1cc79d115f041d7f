"""The library face: related lists, filters, blending, more_like_this and parameter errors."""

import math
from datetime import datetime, timezone

import numpy as np
import pytest

import recsys
import recsys.query.lists
import recsys.query.rank
from recsys import ParameterError, UnknownArticleError
from brute_force import assert_ranking, expected_rows, similarities, story

NOW = "2026-11-25T00:00:00Z"
PURE = dict(popularity_weight=0, freshness_weight=0)


def test_related_never_returns_the_article_itself(sample_index):
    for article_id in sample_index.ids:
        hits = sample_index.related(article_id, k=20, now=NOW)
        assert article_id not in [h.id for h in hits]
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_related_finds_the_story_thread(sample_index):
    hits = sample_index.related("a-018", k=4, popularity_weight=0, freshness_weight=0)
    assert {h.id for h in hits} == {"a-026", "a-035", "a-051", "a-053"}  # the football title race thread


def test_hits_carry_the_articles_fields_and_metadata(sample_index):
    (hit,) = [h for h in sample_index.related("a-028", k=5, now=NOW) if h.id == "a-048"]
    assert hit.title.startswith("Calder Mutual breach") and hit.section == "technology"
    assert hit.url.startswith("https://") and hit.published_at.endswith("Z") and hit.views > 0
    assert hit.meta == {"paywalled": True} and isinstance(hit.score, float)


def test_unknown_id_raises_a_recsys_error_naming_it(sample_index):
    with pytest.raises(UnknownArticleError, match="unknown article id: 'no-such-id'") as info:
        sample_index.related("no-such-id")
    assert isinstance(info.value, recsys.RecsysError)


def test_ties_are_broken_by_index_order():
    body = "harbour ferry timetable changes announced"

    def build(order):
        return recsys.RelatedIndex.build([{"id": f"t{i}", "body": body} for i in order],
                                         near_duplicate_threshold=1.1, **PURE)

    index = build((3, 1, 2, 0))
    hits = index.related("t2", k=3)
    assert [h.id for h in hits] == ["t3", "t1", "t0"] and [h.similarity for h in hits] == pytest.approx([1.0] * 3)
    assert [h.id for h in index.related("t2", k=2)] == ["t3", "t1"]  # the cut keeps the first in index order
    assert [h.id for h in index.more_like_this(body, k=4)] == ["t3", "t1", "t2", "t0"]
    assert [h.id for h in build((0, 1, 2, 3)).related("t2", k=3)] == ["t0", "t1", "t3"]  # not id order: index order


def test_zero_blend_weights_give_pure_similarity(sample_index):
    cosine, ids = similarities(sample_index), sample_index.ids
    for article_id in ("a-001", "a-012", "a-028"):  # a-012 and a-028 have an update, one story with them
        row = ids.index(article_id)
        hits = sample_index.related(article_id, k=5, **PURE)
        rows = [ids.index(h.id) for h in hits]
        assert_ranking(rows, expected_rows(cosine[row], row, 5, ids=ids), cosine[row])
        assert len(hits) == 5 and all(h.score == h.similarity for h in hits)
        np.testing.assert_allclose([h.similarity for h in hits], cosine[row, rows], atol=1e-6)


def test_popularity_reorders_similar_articles():
    articles = [{"id": "q", "body": "vaccination drive measles clinic"},
                {"id": "quiet", "body": "vaccination drive measles clinic", "views": 1},
                {"id": "popular", "body": "vaccination drive measles clinic", "views": 90_000}]
    index = recsys.RelatedIndex.build(articles, freshness_weight=0, near_duplicate_threshold=1.1)
    assert [h.id for h in index.related("q", k=2, popularity_weight=0)] == ["quiet", "popular"]
    hits = index.related("q", k=2, popularity_weight=0.5)
    assert [h.id for h in hits] == ["popular", "quiet"]
    assert hits[0].popularity == pytest.approx(1.0)


@pytest.mark.parametrize("function", ["gauss", "exp", "linear"])
def test_freshness_decay_follows_elasticsearch_semantics(function):
    articles = [{"id": "q", "body": "budget vote", "published_at": "2026-11-01"},
                {"id": "in-offset", "body": "budget vote", "published_at": "2026-11-23"},
                {"id": "at-scale", "body": "budget vote", "published_at": "2026-11-05"}]
    index = recsys.RelatedIndex.build(articles, popularity_weight=0, freshness_weight=1.0, near_duplicate_threshold=1.1,
                                      freshness_function=function, freshness_offset="2d", freshness_scale="18d",
                                      freshness_decay=0.5)
    hits = {h.id: h for h in index.related("q", k=2, now="2026-11-25")}
    assert hits["in-offset"].freshness == pytest.approx(1.0)
    assert hits["at-scale"].freshness == pytest.approx(0.5)
    assert hits["in-offset"].score == pytest.approx(2 * hits["in-offset"].similarity)


@pytest.mark.parametrize("filters, check", [
    ({"section": "business"}, lambda a: a.section == "business"),
    ({"tags": ["rail strike"]}, lambda a: "rail strike" in a.tags),
    ({"author": "Priya Halvorsen"}, lambda a: a.author == "Priya Halvorsen"),
    ({"published_after": "2026-10-01", "published_before": "2026-10-31T23:59:59"},
     lambda a: datetime(2026, 10, 1, tzinfo=timezone.utc) <= a.published_at <= datetime(2026, 10, 31, 23, 59, 59, tzinfo=timezone.utc)),
])
def test_filters_restrict_every_hit(sample_index, filters, check):
    cosine, ids = similarities(sample_index), sample_index.ids
    allowed = {row for row, article_id in enumerate(ids) if check(sample_index.article(article_id))}
    for article_id in ("a-001", "a-012", "a-028", "a-044"):
        row = ids.index(article_id)
        expected = expected_rows(cosine[row], row, 10, ids=ids, allowed=allowed.__contains__)
        hits = sample_index.related(article_id, k=10, **filters, **PURE)
        assert hits and all(check(sample_index.article(h.id)) for h in hits)
        assert_ranking([ids.index(h.id) for h in hits], expected, cosine[row])


def test_filters_fall_back_to_live_scoring_beyond_the_stored_list(sample_articles):
    exhaustive = {"n_candidates": 60, "live_candidates": 60, "max_query_terms": 10_000,  # every posting of every query term
                  "semantic_weight": 0.0}
    index = recsys.RelatedIndex.build(sample_articles, n_neighbors=2, **exhaustive)
    full = recsys.RelatedIndex.build(sample_articles, n_neighbors=59, **exhaustive)
    for section in ("business", "health", "sports"):
        fast = index.related("a-001", k=5, section=section, now=NOW)
        exact = full.related("a-001", k=5, section=section, now=NOW)
        assert [h.id for h in fast] == [h.id for h in exact] and len(fast) > 0
        assert [h.score for h in fast] == pytest.approx([h.score for h in exact])


def test_exclude_removes_ids(sample_index):
    first = [h.id for h in sample_index.related("a-012", k=3, now=NOW)]
    hits = sample_index.related("a-012", k=3, exclude=first[:2], now=NOW)
    assert not set(first[:2]) & {h.id for h in hits} and hits[0].id == first[2]


def test_more_like_this_finds_the_story_of_a_draft(sample_index):
    draft = "Northline Rail drivers and the union met again over pay; the strike may end."
    hits = sample_index.more_like_this(draft, k=3, now=NOW)
    assert sorted(story(h.id) for h in hits) == ["a-003", "a-007", "a-012"]  # the rail strike, one hit per story
    assert sample_index.more_like_this("zzzz qqqq", k=3) == []


@pytest.mark.parametrize("method", ["tfidf", "bm25"])
def test_more_like_this_of_an_article_text_ranks_that_article_first(sample_articles, method):
    index = recsys.RelatedIndex.build(sample_articles, method=method, field_weights={"title": 2, "body": 1})
    article = sample_articles[30]
    hits = index.more_like_this(article["body"], title=article["title"], k=3, popularity_weight=0, freshness_weight=0)
    assert hits[0].id == article["id"] and hits[0].similarity == pytest.approx(1.0, abs=5e-3)  # feedback moves
    lexical = recsys.RelatedIndex.build(sample_articles, method=method, field_weights={"title": 2, "body": 1},
                                        semantic_weight=0.0)  # the draft's embedding a little: lexically exact
    hits = lexical.more_like_this(article["body"], title=article["title"], k=3, popularity_weight=0, freshness_weight=0)
    assert hits[0].id == article["id"] and hits[0].similarity == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("call, message", [
    (lambda i: i.related("a-001", k=0), "k must be an integer >= 1"),
    (lambda i: i.related("a-001", popularity_weight=-1), "popularity_weight must be >= 0"),
    (lambda i: i.related("a-001", wobble=1), "unknown parameter"),
    (lambda i: i.related("a-001", published_after="last week"), "published_after: not an ISO 8601 date"),
    (lambda i: i.related("a-001", freshness_scale="soon"), "freshness_scale: not a duration"),
    (lambda i: i.more_like_this(None), "text must be a string"),
])
def test_bad_query_parameters_raise_parameter_errors(sample_index, call, message):
    with pytest.raises(ParameterError, match=message):
        call(sample_index)


@pytest.mark.parametrize("params, message", [
    ({"method": "lsi"}, "method must be one of"),
    ({"k1": -1}, "k1 must be >= 0"),
    ({"b": 2}, "b must be between 0.0 and 1.0"),
    ({"stemmer": "klingon"}, "stemmer: unknown language"),
    ({"colour": "red"}, r"unknown parameter\(s\) \['colour'\]"),
    ({"field_weights": {"tags": 1}}, "title or body must have a weight"),
    ({"field_weights": {"body": 1, "section": 0.2}},
     r"field_weights\['section'\] must be 0 or >= 1/e \(about 0.368\) when sublinear_tf is on, got 0.2"),
])
def test_bad_build_parameters_raise_parameter_errors(sample_articles, params, message):
    with pytest.raises(ParameterError, match=message):
        recsys.RelatedIndex.build(sample_articles, **params)


def test_sublinear_tf_weights_stay_non_negative_at_the_smallest_field_weight(sample_articles):
    at_bound = {"title": 2, "body": 1, "section": math.exp(-1)}
    index = recsys.RelatedIndex.build(sample_articles, field_weights=at_bound, min_term_freq=2)
    assert len(index._view.data.rows.data) > 0 and index._view.data.rows.data.min() >= 0
    draft = index._view.built.vectorizer.text([("lone words", 1.0), ("harbour", math.exp(-1))])
    assert len(draft.doc_weights) > 0 and draft.doc_weights.min() >= 0
    assert index.related("a-001", k=3) and index.more_like_this("rail rail strike strike pay", k=3)
    for params in ({"sublinear_tf": False}, {"method": "bm25"}):  # no logarithm: any weight >= 0 is fine
        small = recsys.RelatedIndex.build(sample_articles, field_weights={"body": 1, "section": 0.2}, **params)
        assert small._view.data.rows.data.min() >= 0


def test_field_weights_make_the_title_count(sample_articles):
    arts = [{"id": "q", "title": "lighthouse", "body": "harbour news today"},
            {"id": "title-match", "title": "lighthouse keepers", "body": "coastal report"},
            {"id": "body-match", "title": "coastal report", "body": "lighthouse keepers"}]
    heavy = recsys.RelatedIndex.build(arts, field_weights={"title": 5, "body": 1}, stop_words=None,
                                      popularity_weight=0, freshness_weight=0)
    assert heavy.related("q", k=1)[0].id == "title-match"


@pytest.mark.parametrize("method", ["tfidf", "bm25"])
def test_build_is_deterministic(sample_articles, method):
    """The same articles in another order make the same index: the same lists with the same
    similarities, but that articles of equal similarity (BM25 has some) follow the index order."""
    def stored_list(index, article_id):
        row = index.ids.index(article_id)
        rows = index._view.data.neighbor_rows[row]
        return [index.ids[j] for j in rows if j >= 0], index._view.data.neighbor_sims[row][rows >= 0]

    a = recsys.RelatedIndex.build(sample_articles, method=method)
    shuffled = [sample_articles[p] for p in np.random.default_rng(0).permutation(len(sample_articles))]
    for articles in (shuffled, sample_articles[::-1]):
        b = recsys.RelatedIndex.build(articles, method=method)
        assert b.ids == [x["id"] for x in articles] != a.ids  # the rows really are in another order
        assert dict(zip(b._view.data.vocabulary, b._view.data.idf)) == pytest.approx(dict(zip(a._view.data.vocabulary, a._view.data.idf)))
        for article_id in a.ids:
            (ids_a, sims_a), (ids_b, sims_b) = stored_list(a, article_id), stored_list(b, article_id)
            np.testing.assert_allclose(sims_b, sims_a, rtol=1e-6)
            for position, (x, y) in enumerate(zip(ids_a, ids_b)):
                if x != y:  # a tie, in the other index order
                    assert a.similarity(article_id, y) == pytest.approx(sims_a[position], rel=1e-6), (article_id, y)
            hits_a, hits_b = a.related(article_id, now=NOW), b.related(article_id, now=NOW)
            assert [h.score for h in hits_b] == pytest.approx([h.score for h in hits_a], rel=1e-6)
            for x, y in zip(hits_a, hits_b):
                if x.id != y.id:  # a tie, in the other index order
                    every = {h.id: h.score for h in a.related(article_id, k=len(a) - 1, now=NOW)}
                    assert every[y.id] == pytest.approx(x.score, rel=1e-6), (article_id, y.id)


def test_parallel_tokenising_builds_the_same_index(sample_articles, monkeypatch):
    from recsys.analysis.counting import CountBuilder

    monkeypatch.setattr(CountBuilder, "BATCH", 7)  # several batches from 60 articles
    serial = recsys.RelatedIndex.build(sample_articles, n_jobs=1)
    parallel = recsys.RelatedIndex.build(sample_articles, n_jobs=2)
    for name in ("indptr", "low", "high", "high_ptr", "data"):
        np.testing.assert_array_equal(getattr(serial._view.data.rows, name), getattr(parallel._view.data.rows, name))
    assert serial._view.data.vocabulary == parallel._view.data.vocabulary
    np.testing.assert_array_equal(serial._view.data.neighbor_rows, parallel._view.data.neighbor_rows)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_the_count_matrix_holds_each_articles_weighted_term_counts(sample_articles, n_jobs, monkeypatch):
    """The raw counts folded in place into term counts: each row is the article's field-weighted
    term counts as a query makes them (weighted_terms), its length their weighted token total."""
    from recsys.analysis.analyzer import Analyzer
    from recsys.analysis.counting import CountBuilder, article_texts, weighted_terms
    from recsys.documents.readers import iter_input, validate_rows

    monkeypatch.setattr(CountBuilder, "BATCH", 7)
    config = recsys.IndexConfig()
    analyzer = Analyzer(config.analyzer)
    articles = list(validate_rows(iter_input(sample_articles), source=None, on_error="raise", on_skip=None))
    with CountBuilder(analyzer, config.field_weights, n_jobs) as counts:
        for article in articles:
            counts.add(article)
        tf, doc_len, vocabulary = counts.finish()
    assert vocabulary == sorted(vocabulary) and tf.shape == (len(articles), len(vocabulary))
    assert tf.has_canonical_format and tf.data.dtype == np.float32 and (tf.data > 0).all()
    for row, article in enumerate(articles):
        expected, length = weighted_terms(article_texts(article, config.field_weights), analyzer)
        start, end = tf.indptr[row], tf.indptr[row + 1]
        got = dict(zip((vocabulary[t] for t in tf.indices[start:end]), tf.data[start:end].tolist()))
        assert got.keys() == expected.keys()
        np.testing.assert_allclose([got[t] for t in expected], list(expected.values()), rtol=1e-6)
        assert doc_len[row] == pytest.approx(length)


@pytest.mark.parametrize("analyzer_config", [{}, {"stemmer": None, "stop_words": None}, {"char_ngrams": (3, 4)}])
def test_a_query_counts_the_terms_weighted_terms_counts_one_lookup_per_token(analyzer_config, monkeypatch):
    """weighted_term_ids (what a query counts, over the vocabulary, remembering each token's term)
    gives weighted_terms' counts and length, with the terms outside the vocabulary left out; also
    after its memory of tokens fills up and starts afresh."""
    from recsys.analysis.analyzer import Analyzer, AnalyzerConfig
    from recsys.analysis.counting import TermIds, weighted_term_ids, weighted_terms

    monkeypatch.setattr(TermIds, "MAX_TOKENS", 40)
    analyzer = Analyzer(AnalyzerConfig(**analyzer_config))
    rng = np.random.default_rng(0)
    words = ["Running", "runs", "run", "the", "Café", "cafe", "harbour", "harbours", "of", "ministers",
             "minister", "élection", "elections", "budget", "a", "lighthouse", "keepers", "zeta"]
    vocabulary = sorted({t for w in words[::2] for t in analyzer(w)})
    ids = TermIds(analyzer, {term: i for i, term in enumerate(vocabulary)})
    for _ in range(60):
        texts = [(" ".join(rng.choice(words, size=rng.integers(0, 30))), float(w))
                 for w in rng.choice([1.0, 0.3, 2.5, 0.0], size=rng.integers(1, 4))]
        terms, tf, length = weighted_term_ids(texts, ids)
        counts, expected_length = weighted_terms(texts, analyzer)
        expected = {vocabulary.index(t): n for t, n in counts.items() if t in vocabulary}
        assert terms.dtype == np.int32 and terms.tolist() == sorted(expected)
        assert tf.tolist() == [expected[t] for t in sorted(expected)]
        assert length == expected_length
    assert 0 < len(ids) <= 40


def test_min_term_freq_and_min_doc_freq_rule_query_terms_out():
    articles = [{"id": "q", "body": "lighthouse lighthouse harbour"},
                {"id": "shares-twice-used-term", "body": "lighthouse keepers"},
                {"id": "shares-once-used-term", "body": "harbour pilots"}]
    plain = recsys.RelatedIndex.build(articles, stemmer=None, popularity_weight=0, freshness_weight=0, semantic_weight=0.0)
    assert {h.id for h in plain.related("q")} == {"shares-twice-used-term", "shares-once-used-term"}
    strict = recsys.RelatedIndex.build(articles, stemmer=None, min_term_freq=2, popularity_weight=0, semantic_weight=0.0,
                                       freshness_weight=0)
    assert [h.id for h in strict.related("q")] == ["shares-twice-used-term"]
    assert {h.id for h in strict.more_like_this("harbour harbour lighthouse")} == {"q", "shares-once-used-term"}
    common = recsys.RelatedIndex.build(articles + [{"id": "x", "body": "lighthouse"}], stemmer=None,
                                       min_doc_freq=4, popularity_weight=0, freshness_weight=0, semantic_weight=0.0)
    assert common.related("q") == []


def test_field_roles_signal_and_filter_are_independent(sample_articles):
    # "ignore the category as a signal but don't exclude its posts"
    pair = [{"id": "x", "title": "alpha storm", "section": "weather"},
            {"id": "y", "title": "beta match", "section": "weather"}, {"id": "z", "title": "alpha vote"}]
    assert {h.id for h in recsys.RelatedIndex.build(pair).related("x", k=2)} == {"y", "z"}  # section: a signal
    quiet = recsys.RelatedIndex.build(pair, field_weights={"title": 2, "body": 1}, semantic_weight=0.0)
    assert [h.id for h in quiet.related("x", k=2)] == ["z"]  # not a signal any more
    assert [h.id for h in quiet.related("x", k=2, section="weather", fallback=True)] == ["y"]  # still a filter
    no_signal = recsys.RelatedIndex.build(sample_articles, field_weights={"title": 2, "body": 1, "tags": 1},
                                          popularity_weight=0, freshness_weight=0)
    mixed = {h.section for h in no_signal.related("a-001", k=8)}
    assert len(mixed) > 1  # other sections still listed
    only = no_signal.related("a-001", k=8, section="business")
    assert only and {h.section for h in only} == {"business"}  # and the field still filters
    # a metadata field can be a signal without being a filter
    tagged = [{**a, "desk": "night desk " + a["section"]} for a in sample_articles]
    with_desk = recsys.RelatedIndex.build(tagged, field_weights={"title": 2, "body": 1, "desk": 1})
    assert "desk" in with_desk._view.data.vocabulary


def test_odd_arguments_get_recsys_errors_or_sensible_answers(sample_index, sample_articles, tmp_path):
    assert sample_index.related("a-001", now="")  # empty means now
    assert sample_index.related("a-001", tags=[1]) == []  # no article has the tag "1"
    with pytest.raises(ParameterError, match="view counts"):
        sample_index.add_views({"a-001": -5})
    with pytest.raises(ParameterError, match="n_iter"):
        recsys.tune(sample_articles, {"a-001": {"a-002": 1}}, search="random", n_iter=0)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ParameterError, match="not a directory"):
        sample_index.save(tmp_path / "file")


def test_live_searches_in_parallel_threads_answer_as_they_do_one_at_a_time():
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(5)
    words = np.array([f"w{i}" for i in range(3000)])
    weights = 1.0 / np.arange(1, 3001)

    def text():  # words of one of 30 topics, Zipf-weighted, and common ones
        topic = rng.integers(30)
        own = rng.choice(100, size=rng.integers(20, 120), p=weights[:100] / weights[:100].sum()) + 100 * topic
        return " ".join(words[np.concatenate([own, rng.choice(3000, size=40, p=weights / weights.sum())])])

    sections = ["world", "sports", "business"]
    index = recsys.RelatedIndex.build([{"id": f"a{i}", "body": text(), "section": sections[i % 3]} for i in range(3000)],
                                      n_neighbors=20)
    drafts = [text() for _ in range(120)]

    def answers(i):
        mlt = index.more_like_this(drafts[i], k=10, now=NOW)
        filtered = index.related(index.ids[i * 7], k=10, section=sections[i % 3], now=NOW)
        return [(h.id, h.score) for h in mlt], [(h.id, h.score) for h in filtered]

    alone = [answers(i) for i in range(len(drafts))]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(answers, range(len(drafts))))
    assert together == alone
    assert all(mlt and filtered for mlt, filtered in alone)
    assert len(index._view.built.scratch._free) <= 8  # buffers are lent per search, not made per thread


def no_live_scoring(monkeypatch):
    """Make every path but the stored list fail: live search, scoring of added articles, fallback padding."""
    def fail(*args, **kwargs):
        raise AssertionError("left the stored list")
    for module, name in ((recsys.query.lists, "candidates"), (recsys.query.lists, "appended_candidates"),
                         (recsys.query.rank, "_fallback")):
        monkeypatch.setattr(module, name, fail)


def test_served_from_stored_list_says_when_related_needs_no_live_scoring(sample_articles, monkeypatch):
    index = recsys.RelatedIndex.build(sample_articles, semantic_weight=0.0)
    hits = {(i, k): index.related(i, k=k, now=NOW) for i in index.ids for k in (1, 5, 10, 30, 48, 49, 59)}
    cheap = {key: index.served_from_stored_list(*key) for key in hits}
    assert cheap[("a-001", 5)] and cheap[("a-001", 48)] and not cheap[("a-001", 49)]  # it shows 48 stories
    assert 0 < sum(cheap.values()) < len(cheap)
    no_live_scoring(monkeypatch)
    for (article_id, k), cheap_path in cheap.items():
        if cheap_path:  # the same hits, from the stored list alone, fallback or not
            assert len(hits[article_id, k]) == k
            assert index.related(article_id, k=k, now=NOW) == hits[article_id, k]
            assert index.related(article_id, k=k, now=NOW, fallback=True) == hits[article_id, k]
    with pytest.raises(AssertionError, match="left the stored list"):
        index.related("a-001", k=49)
    with pytest.raises(UnknownArticleError, match="no-such-id"):
        index.served_from_stored_list("no-such-id", 5)
    with pytest.raises(ParameterError, match="k must be an integer >= 1"):
        index.served_from_stored_list("a-001", 0)


def test_served_from_stored_list_is_false_for_added_articles_and_short_lists(sample_articles):
    index = recsys.RelatedIndex.build(sample_articles, min_similarity=0.05, semantic_weight=0.0)
    assert index.served_from_stored_list("a-001", 17) and not index.served_from_stored_list("a-001", 18)
    index.set_editorial("a-012", pins=["a-001", "a-002", "a-003"])
    assert index.served_from_stored_list("a-012", 3) and index.served_from_stored_list("a-012", 5)
    assert not index.served_from_stored_list("a-012", 9)  # 3 pins and 5 stored stories
    index.delete("a-002")
    assert index.served_from_stored_list("a-001", 5)
    index.upsert({"id": "n-1", "title": "Carrow Valley heatwave breaks another record", "body": "Heat."})
    assert "n-1" in [h.id for h in index.related("a-001", k=5, now=NOW)]  # added articles are scored too
    assert not index.served_from_stored_list("n-1", 1) and not index.served_from_stored_list("a-001", 1)
