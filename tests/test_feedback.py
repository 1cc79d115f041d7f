"""The feedback library: variants (parsing, refusals, assignment), the impression and click store
(checks, idempotency, roll-ups, retention) and the report's statistics, each against an answer worked
out apart from the code under test (scipy's own tests, brute-force counts over the raw rows)."""

import json
import random
import threading
import time
from collections import Counter
from datetime import datetime, timezone

import pytest
from scipy.stats import binomtest, chi2_contingency

from recsys.config import BlendConfig
from recsys.errors import FeedbackError, ParameterError, UnknownImpressionError, VariantError
from recsys.feedback import FeedbackStore, Variants, report, two_proportion_test, wilson_interval
from recsys.feedback.variants import bucket, tunable_parameters

NOW = time.time()


# ------------------------------------------------------------------ variants
def test_the_issues_example_is_refused_naming_the_variant_and_the_build_parameter():
    with pytest.raises(VariantError, match=r"variant 'semantic': semantic_weight is a build parameter"):
        Variants.parse('{"control": {}, "semantic": {"semantic_weight": 0.3}}')


@pytest.mark.parametrize("definition, message", [
    ("{not json", "variants: not JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"a": {}, "b": {}}', 'one variant must be named "control"'),
    ('{"control": {}, "x": {"colour": 1}}', "variant 'x': unknown parameter 'colour'"),
    ('{"control": {}, "x": {"method": "bm25"}}', "variant 'x': method is a build parameter"),
    ('{"control": {}, "x": {"stemmer": null}}', "variant 'x': stemmer is a build parameter"),
    ('{"control": {}, "x": {"popularity_weight": -1}}', "variant 'x': popularity_weight must be >= 0"),
    ('{"control": {}, "x": {"freshness_scale": "soon"}}', "variant 'x': freshness_scale: not a duration"),
    ('{"control": {}, "x": {"diversity": 2}}', "variant 'x': diversity must be a number from 0 to 1"),
    ('{"control": {"share": 1}, "x": {}}', "give every variant a share, or none"),
    ('{"control": {"share": 1}, "x": {"share": 0}}', "variant 'x': share must be a number > 0"),
    ('{"control": {}, "no spaces": {}}', "must be 1 to 40 letters"),
    ('{"control": {}, "x": 3}', "variant 'x': expected an object"),
])
def test_bad_variants_are_refused_with_a_clear_error(definition, message):
    with pytest.raises(VariantError, match=message.replace("(", r"\(")) as caught:
        Variants.parse(definition)
    assert isinstance(caught.value, ParameterError)


def test_variants_may_set_every_blend_parameter_and_diversity_only():
    blend = set(BlendConfig.__dataclass_fields__)
    assert set(tunable_parameters()) == blend | {"diversity"}


def test_shares_are_normalised_or_equal():
    equal = Variants.parse({"control": {}, "a": {"popularity_weight": 0}, "b": {"freshness_weight": 0.5}})
    assert [v["share"] for v in equal.public()] == pytest.approx([1 / 3] * 3)
    given = Variants.parse({"control": {"share": 3}, "a": {"share": 1, "diversity": 0.2}})
    assert [v["share"] for v in given.public()] == pytest.approx([0.75, 0.25])
    assert given["a"].overrides() == {"diversity": 0.2}
    assert Variants.parse(None).names == ["control"] and Variants.parse("").names == ["control"]
    with pytest.raises(VariantError, match="unknown variant 'z'"):
        given["z"]  # noqa: B018


def test_assignment_is_deterministic_and_follows_the_shares():
    variants = Variants.parse({"control": {"share": 0.7}, "a": {"share": 0.3}})
    rng = random.Random(5)
    keys = [f"{rng.getrandbits(128):032x}" for _ in range(20_000)]
    first = [variants.assign(key).name for key in keys]
    assert first == [variants.assign(key).name for key in keys]
    share = Counter(first)["a"] / len(keys)
    assert binomtest(Counter(first)["a"], len(keys), 0.3).pvalue > 1e-4, share
    points = [bucket(key) for key in keys]
    assert 0 <= min(points) and max(points) < 1
    # neighbouring keys land far apart (the finaliser), so sequential keys split by the shares too
    sequential = Counter(variants.assign(f"visitor-{n}").name for n in range(20_000))
    assert binomtest(sequential["a"], 20_000, 0.3).pvalue > 1e-4


# ------------------------------------------------------------------ the store
@pytest.fixture()
def store(tmp_path):
    store = FeedbackStore(tmp_path / "events.sqlite3")
    yield store
    store.close()


def raw_rows(store):
    """The raw tables, read with plain SQL."""
    db = store._db
    return (db.execute("SELECT id, article_id, variant, shown, ts FROM impressions ORDER BY seq").fetchall(),
            db.execute("SELECT impression_id, target_id, position, ts FROM clicks ORDER BY seq").fetchall())


def test_impressions_are_idempotent_and_an_id_cannot_be_reused(store):
    assert store.add_impression("imp-0000000000000001", "a", "control", ["b", "c"]) is True
    assert store.add_impression("imp-0000000000000001", "a", "control", ["b", "c"]) is False
    before = raw_rows(store)
    for other in [("x", "control", ["b", "c"]), ("a", "fresh", ["b", "c"]), ("a", "control", ["c", "b"])]:
        with pytest.raises(FeedbackError, match="impression_id: already used"):
            store.add_impression("imp-0000000000000001", *other)
    assert raw_rows(store) == before and len(before[0]) == 1


def test_a_click_must_match_what_the_impression_showed(store):
    store.add_impression("imp-1", "a", "control", ["b", "c", "d"])
    before = raw_rows(store)
    bad = [
        (UnknownImpressionError, ("imp-never", "a", "c", 2, "control"), "no impression"),
        (FeedbackError, ("imp-1", "a", "x", 2, "control"), "'x' was not shown at position 2"),
        (FeedbackError, ("imp-1", "a", "c", 1, "control"), "'c' was not shown at position 1"),
        (FeedbackError, ("imp-1", "a", "c", 4, "control"), "showed 3 articles, not 4"),
        (FeedbackError, ("imp-1", "a", "c", 0, "control"), "showed 3 articles, not 0"),
        (FeedbackError, ("imp-1", "z", "c", 2, "control"), "article_id"),
        (FeedbackError, ("imp-1", "a", "c", 2, "fresh"), "variant"),
    ]
    for error, args, message in bad:
        with pytest.raises(error, match=message):
            store.add_click(*args)
    assert raw_rows(store) == before
    assert store.add_click("imp-1", "a", "c", 2, "control") is True
    assert store.add_click("imp-1", "a", "c", 2, "control") is False  # a retry
    assert store.add_click("imp-1", "a", "d", 3, "control") is False  # a second click in the block
    assert [row[:3] for row in raw_rows(store)[1]] == [("imp-1", "c", 2)]


def test_a_click_can_carry_its_impression_atomically(store):
    assert store.add_click("imp-2", "a", "c", 2, "control", shown=["b", "c"]) is True
    assert store.add_impression("imp-2", "a", "control", ["b", "c"]) is False  # its own report, arriving late
    assert [row[:4] for row in raw_rows(store)[0]] == [("imp-2", "a", "control", '["b","c"]')]
    before = raw_rows(store)
    with pytest.raises(FeedbackError, match="already used for another"):
        store.add_click("imp-2", "a", "b", 1, "control", shown=["b", "d"])
    with pytest.raises(FeedbackError, match="was not shown at position 1"):  # nor its impression
        store.add_click("imp-3", "a", "x", 1, "control", shown=["b", "c"])
    assert raw_rows(store) == before


def fill(store, n, *, seed=0, days=3, variants=("control", "fresh"), click_rate=0.3):
    """``n`` random impressions over the last ``days`` days, a share of them clicked; returns them."""
    rng = random.Random(seed)
    made = []
    for i in range(n):
        ts = NOW - rng.random() * days * 86400
        article = f"a{rng.randrange(5)}"
        shown = rng.sample([f"t{j}" for j in range(8)], rng.randint(1, 5))
        variant = rng.choice(variants)
        store.add_impression(f"imp-{seed}-{i}", article, variant, shown, ts=ts)
        click = None
        if rng.random() < click_rate:
            position = rng.randint(1, len(shown))
            store.add_click(f"imp-{seed}-{i}", article, shown[position - 1], position, variant, ts=ts + 5)
            click = position
        made.append((ts, article, variant, shown, click))
    return made


def expected_rollups(made):
    """The three roll-ups, counted from the impressions made."""
    hourly, variants, targets = Counter(), Counter(), Counter()
    for ts, article, variant, shown, click in made:
        hour = int(ts // 3600)
        variants[(hour, variant, "impressions")] += 1
        variants[(hour, variant, "clicks")] += click is not None
        for position, target in enumerate(shown, start=1):
            hourly[(hour, article, variant, position, "impressions")] += 1
            hourly[(hour, article, variant, position, "clicks")] += click == position
            targets[(article, target, position, "impressions")] += 1
            targets[(article, target, position, "clicks")] += click == position
    return +hourly, +variants, +targets


def stored_rollups(store):
    db = store._db
    hourly, variants, targets = Counter(), Counter(), Counter()
    for hour, article, variant, position, impressions, clicks in db.execute("SELECT * FROM feedback_hourly"):
        hourly[(hour, article, variant, position, "impressions")] += impressions
        hourly[(hour, article, variant, position, "clicks")] += clicks
    for hour, variant, impressions, clicks in db.execute("SELECT * FROM feedback_variants_hourly"):
        variants[(hour, variant, "impressions")] += impressions
        variants[(hour, variant, "clicks")] += clicks
    for article, target, position, impressions, clicks in db.execute("SELECT * FROM feedback_targets"):
        targets[(article, target, position, "impressions")] += impressions
        targets[(article, target, position, "clicks")] += clicks
    return +hourly, +variants, +targets


def test_rollups_count_every_row_once_however_often_and_in_whatever_chunks(store):
    made = fill(store, 400)
    first = store.roll_up(chunk=37)
    assert (first.impressions, first.clicks) == (400, sum(m[4] is not None for m in made))
    assert stored_rollups(store) == expected_rollups(made)
    assert store.roll_up() == type(first)()  # nothing new: nothing counted
    more = fill(store, 150, seed=1)
    store.roll_up(chunk=1000)
    assert stored_rollups(store) == expected_rollups(made + more)


def test_a_click_waits_for_its_impression_to_be_rolled_up(store):
    made = fill(store, 60, click_rate=1.0)
    store.roll_up(chunk=10)  # in chunks of 10 impressions: clicks of later impressions wait
    hourly = stored_rollups(store)[0]
    assert all(hourly[(*key[:4], "clicks")] <= hourly[(*key[:4], "impressions")] for key in hourly)
    assert stored_rollups(store) == expected_rollups(made)


def test_rollups_from_several_threads_at_once_never_double_count(tmp_path):
    path = tmp_path / "events.sqlite3"
    writer = FeedbackStore(path)
    made = fill(writer, 300, seed=3)
    stores = [FeedbackStore(path) for _ in range(4)]
    threads = [threading.Thread(target=s.roll_up, kwargs={"chunk": 13}) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert stored_rollups(writer) == expected_rollups(made)
    for s in [writer, *stores]:
        s.close()


def test_retention_deletes_rolled_up_raw_rows_only_and_keeps_their_counts(tmp_path):
    store = FeedbackStore(tmp_path / "events.sqlite3", retention_days=10)
    made = fill(store, 300, days=20, click_rate=0.5)
    old = sum(ts < NOW - 10 * 86400 for ts, *_ in made)
    assert 0 < old < 300
    done = store.roll_up(now=NOW)
    assert done.impressions == 300 and done.deleted >= old
    impressions, clicks = raw_rows(store)
    assert len(impressions) == 300 - old and all(row[4] >= NOW - 10 * 86400 for row in impressions)
    assert all(row[3] >= NOW - 10 * 86400 for row in clicks)
    assert stored_rollups(store) == expected_rollups(made)  # the counts stay
    store.close()


# ------------------------------------------------------------------ the report
@pytest.mark.parametrize("clicks, trials", [(0, 10), (3, 10), (10, 10), (47, 1000), (1, 3), (500, 1000)])
def test_wilson_interval_matches_scipy(clicks, trials):
    expected = binomtest(clicks, trials).proportion_ci(0.95, method="wilson")
    assert wilson_interval(clicks, trials) == pytest.approx((expected.low, expected.high), abs=1e-12)
    assert wilson_interval(0, 0) is None


@pytest.mark.parametrize("c1, n1, c0, n0", [(30, 1000, 20, 1000), (5, 40, 15, 60), (100, 900, 180, 1100)])
def test_two_proportion_test_matches_the_chi_square_test(c1, n1, c0, n0):
    chi2, p_value, _, _ = chi2_contingency([[c1, n1 - c1], [c0, n0 - c0]], correction=False)
    test = two_proportion_test(c1, n1, c0, n0)
    assert test["p_value"] == pytest.approx(p_value, rel=1e-9)
    assert test["z"] ** 2 == pytest.approx(chi2, rel=1e-9)
    assert test["difference"] == pytest.approx(c1 / n1 - c0 / n0)


def test_report_counts_and_ranks_from_the_rollups(store):
    made = fill(store, 500, seed=7, days=2)
    store.roll_up()
    data = report(store, datetime.fromtimestamp(NOW - 3 * 86400, timezone.utc),
                  datetime.fromtimestamp(NOW + 3600, timezone.utc), variants=["control", "fresh", "unused"])
    rows = {row["variant"]: row for row in data["variants"]}
    assert list(rows) == ["control", "fresh", "unused"] and rows["unused"]["impressions"] == 0
    for name in ("control", "fresh"):
        mine = [m for m in made if m[2] == name]
        assert rows[name]["impressions"] == len(mine)
        assert rows[name]["clicks"] == sum(m[4] is not None for m in mine)
        for entry in rows[name]["by_position"]:
            shown = [m for m in mine if len(m[3]) >= entry["position"]]
            assert entry["impressions"] == len(shown)
            assert entry["clicks"] == sum(m[4] == entry["position"] for m in shown)
        over_time = [p for p in data["over_time"] if p["variant"] == name]
        assert sum(p["impressions"] for p in over_time) == len(mine)
    ctr = {name: rows[name]["clicks"] / rows[name]["impressions"] for name in ("control", "fresh")}
    assert data["ranking"] == sorted(ctr, key=lambda name: -ctr[name])
    assert rows["control"]["vs_control"] is None and rows["fresh"]["vs_control"]["p_value"] > 0
    narrow = report(store, datetime.fromtimestamp(NOW - 3600, timezone.utc),
                    datetime.fromtimestamp(NOW + 3600, timezone.utc))
    assert narrow["bucket"] == "hour"
    assert sum(r["impressions"] for r in narrow["variants"]) == sum(
        m[0] >= (NOW - 3600) // 3600 * 3600 for m in made)
    empty = report(store, datetime.fromtimestamp(NOW, timezone.utc), datetime.fromtimestamp(NOW - 86400, timezone.utc))
    assert empty["ranking"] == [] and empty["over_time"] == []
    assert json.dumps(data)  # JSON-ready
