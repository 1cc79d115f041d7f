"""A load-free simulation of readers: does the click-through report tell a good related list from a
deliberately worse one, and does its interval cover the true click-through rate?

The corpus is the synthetic stories corpus, whose ``event`` field says which articles tell the same
story (the ground truth of relatedness). A simulated reader opens an article whose story has other
articles, gets the widget's variant from a random visitor key, and is shown the variant's list by the
real service (in-process, on a real SQLite file). The reader looks at position p with probability
1/p and clicks what it looks at with a probability set by the truth: 0.6 for an article of the same
story, 0.1 for one of the same topic, 0.02 otherwise; the first click ends the visit (a block counts
one click). The impression and the click go through the widget's routes.

Two variants: ``control`` (the defaults) and ``popular``, deliberately worse: popularity only, as far
as a query-time variant can go (popularity_weight 1000, no freshness). The blend multiplies
similarity by the boosts, so its list is still drawn from the article's stored candidates, ranked
by similarity times popularity; on this corpus it shows about 2.6 articles of the same story in its
5 where control shows about 3.5 (the true CTRs differ by about 9 points, about 4 standard errors at
1,600 visits).
"""

import inspect
import random
from collections import Counter

import pytest

import recsys
from benchmarks.synth import generate
from recsys.feedback.variants import Variants

if "mode" not in inspect.signature(generate).parameters:  # CI fails on a skip: it must not stay one
    pytestmark = pytest.mark.skip(reason="needs the stories corpus of benchmarks/synth.py (mode='stories')")

ADMIN = "admin-token-0123456789"
VARIANTS = {"control": {}, "popular": {"popularity_weight": 1000.0, "freshness_weight": 0.0}}
ATTRACTION = {"event": 0.6, "topic": 0.1, "other": 0.02}
VISITS = 1600
K = 5
SEED = 12


def examined(position: int) -> float:
    return 1.0 / position


def attraction(source: dict, target: dict) -> float:
    if source["event"] == target["event"]:
        return ATTRACTION["event"]
    return ATTRACTION["topic"] if source["topic"] == target["topic"] else ATTRACTION["other"]


@pytest.fixture(scope="module")
def corpus():
    return {a["id"]: a for a in generate(1500, seed=3, mode="stories")}


@pytest.fixture(scope="module")
def index_dir(corpus, tmp_path_factory):
    return recsys.RelatedIndex.build(corpus.values()).save(tmp_path_factory.mktemp("stories") / "news")


def test_the_report_ranks_the_variants_and_covers_the_true_ctr(corpus, index_dir, start_app, tmp_path):
    client = start_app(index=index_dir, events_db=tmp_path / "events.sqlite3", admin_token=ADMIN,
                       widget_clicks=True, widget_rate=1_000_000, variants=VARIANTS)
    origin = {"Origin": "http://testserver"}
    variants = Variants.parse(VARIANTS)
    sizes = Counter(a["event"] for a in corpus.values())
    sources = sorted(i for i, a in corpus.items() if sizes[a["event"]] >= 3)
    assert len(sources) > 100
    rng = random.Random(SEED)
    expected = Counter()  # variant -> summed true click probability of its impressions
    for visit in range(VISITS):
        variant = variants.assign(f"{rng.getrandbits(128):032x}").name  # the widget's assignment
        source = rng.choice(sources)
        body = client.get(f"/v1/articles/{source}/related", params={"k": K, "variant": variant}).json()
        assert body["variant"] == variant
        shown = [hit["id"] for hit in body["results"]]
        impression_id = f"sim-{visit:016d}"
        reply = client.post("/v1/widget/impressions", headers=origin, json={
            "impression_id": impression_id, "article_id": source, "ids": shown, "variant": variant})
        assert reply.json()["accepted"] == 1
        missed = 1.0
        for position, target in enumerate(shown, start=1):
            missed *= 1 - examined(position) * attraction(corpus[source], corpus[target])
        expected[variant] += 1 - missed
        for position, target in enumerate(shown, start=1):
            if rng.random() < examined(position) * attraction(corpus[source], corpus[target]):
                reply = client.post("/v1/widget/clicks", headers=origin, json={
                    "impression_id": impression_id, "article_id": source, "target_id": target,
                    "position": position, "variant": variant})
                assert reply.json()["accepted"] == 1
                break

    stats = client.get("/v1/stats", headers={"Authorization": f"Bearer {ADMIN}"}).json()
    rows = {row["variant"]: row for row in stats["variants"]}
    assert sum(row["impressions"] for row in rows.values()) == VISITS
    true_ctr = {name: expected[name] / rows[name]["impressions"] for name in VARIANTS}
    print(f"\ntrue CTR {true_ctr}; report " + ", ".join(
        f"{n}: {r['ctr']:.4f} [{r['ctr_low']:.4f}, {r['ctr_high']:.4f}]" for n, r in rows.items()))
    assert true_ctr["control"] > true_ctr["popular"]  # the simulation's premise: popularity alone is worse
    assert stats["ranking"] == sorted(VARIANTS, key=lambda name: -true_ctr[name])
    for name, row in rows.items():
        assert row["ctr_low"] <= true_ctr[name] <= row["ctr_high"], (name, true_ctr[name], row)
    assert rows["popular"]["vs_control"]["difference"] < 0 and rows["popular"]["vs_control"]["p_value"] < 0.05
    first, last = rows["control"]["by_position"][0], rows["control"]["by_position"][-1]
    assert first["position"] == 1 and first["ctr"] > last["ctr"]  # readers look at the top first
