"""The synthetic corpus generator (benchmarks/synth.py): flat mode unchanged, stories mode's events."""

import hashlib
import json
from collections import Counter, defaultdict
from datetime import datetime

import numpy as np
import pytest

import recsys
from benchmarks import synth
from benchmarks.synth import EVENT_MAX, event_entities, generate, write_jsonl

# sha256 of the JSON lines of generate(300) (seed 0, flat), computed with the code before stories
# mode was added: flat mode must stay byte-identical.
FLAT_300_SHA256 = "bc5aa143213060f76a8c946f0c7de613ce64732ec5625f331e0f0024cf15aca6"
N_STORIES = 3_000


def _digest(articles) -> str:
    h = hashlib.sha256()
    for art in articles:
        h.update((synth._json_line(art) + "\n").encode("ascii"))
    return h.hexdigest()


@pytest.fixture(scope="module")
def stories() -> list[dict]:
    """One whole chunk, so every event that starts and ends inside it is complete."""
    return list(generate(N_STORIES, mode="stories", chunk_size=N_STORIES))


@pytest.fixture(scope="module")
def members(stories) -> dict[int, list[dict]]:
    by_event = defaultdict(list)
    for art in stories:
        by_event[art["event"]].append(art)
    return by_event


def test_flat_mode_is_unchanged():
    assert _digest(generate(300)) == FLAT_300_SHA256
    assert _digest(generate(300, mode="flat")) == FLAT_300_SHA256


def test_json_line_is_compact_json(stories):
    for art in stories[:50] + list(generate(20)):
        assert json.loads(synth._json_line(art)) == art
        assert synth._json_line(art) == json.dumps(art, separators=(",", ":"))


def test_stories_are_deterministic_and_prefix_stable_across_chunks():
    small = list(generate(1_000, mode="stories", chunk_size=400))
    large = list(generate(1_300, mode="stories", chunk_size=400))
    assert small == large[:1_000]
    assert _digest(small) == _digest(generate(1_000, mode="stories", chunk_size=400))
    chunk_of = defaultdict(set)
    for i, art in enumerate(large):
        chunk_of[art["event"]].add(i // 400)
    assert any(len(chunks) > 1 for chunks in chunk_of.values())   # some events span a chunk boundary


def test_write_jsonl_and_cli(tmp_path):
    path = tmp_path / "stories.jsonl"
    size = write_jsonl(120, str(path), mode="stories")
    lines = path.read_bytes().splitlines()
    assert size == path.stat().st_size and len(lines) == 120
    assert [json.loads(line) for line in lines] == list(generate(120, mode="stories"))
    cli_path = tmp_path / "cli.jsonl"
    assert synth.main(["--n", "120", "--mode", "stories", "-o", str(cli_path)]) == 0
    assert cli_path.read_bytes() == path.read_bytes()
    with pytest.raises(ValueError, match="mode"):
        list(generate(10, mode="sagas"))


def test_event_sizes_are_heavy_tailed_between_1_and_50(members):
    sizes = np.concatenate([synth._event_sizes(0, b) for b in range(8)])
    assert sizes.min() == 1 and sizes.max() == EVENT_MAX
    assert 4.5 < sizes.mean() < 8
    counts = np.bincount(sizes, minlength=EVENT_MAX + 1)[1:]
    assert np.all(np.diff(counts[:10]) < 0)                  # decreasing ...
    assert 0.03 < np.mean(sizes >= 20) < 0.15                 # ... with a heavy tail
    generated = np.array([len(arts) for arts in members.values()])
    assert generated.min() >= 1 and generated.max() <= EVENT_MAX
    assert np.mean(generated >= 10) > 0.05


def test_every_article_names_its_event(stories, members):
    vocabulary = synth._vocabulary(0, 40, 120_000)
    names_of = {event: event_entities(event) for event in members}
    for event, names in names_of.items():
        assert synth.ENTITIES[0] <= len(names) <= synth.ENTITIES[1]
        assert not {name.lower() for name in names} & vocabulary
    all_names = [name for names in names_of.values() for name in names]
    assert len(set(all_names)) == len(all_names)               # no two entities share a name
    mentions = []
    for art in stories:
        words = Counter((art["title"] + " " + art["body"]).split())
        names = names_of[art["event"]]
        assert words[names[0]] >= 1                            # the main entity, always
        mentions.append(sum(words[name] for name in names))
    assert 5 <= np.median(mentions) <= 25                      # a few mentions of each
    assert np.mean([names_of[a["event"]][0] in a["title"].split() for a in stories]) > 0.7
    # the rare names' document frequency is about their event's size
    df = Counter(w for art in stories for w in set((art["title"] + " " + art["body"]).split()))
    for event, arts in members.items():
        assert all(df[name] <= len(arts) for name in names_of[event])
    big = [event for event, arts in members.items() if len(arts) >= 5]
    used = [df[name] > 0 for event in big for name in names_of[event]]
    assert np.mean(used) > 0.95


def test_events_spread_over_days_and_weeks(members):
    spans = []
    for arts in members.values():
        if len(arts) >= 5:
            days = sorted(datetime.fromisoformat(a["published_at"][:-1]).timestamp() / 86_400 for a in arts)
            spans.append(days[-1] - days[0])
            assert all(a["topic"] == arts[0]["topic"] and a["section"] == arts[0]["section"] for a in arts)
    assert 3 < np.median(spans) < 60
    assert np.percentile(spans, 90) < 200


def test_near_duplicates_are_updates_of_their_event(stories):
    by_title = defaultdict(list)
    for art in stories:
        by_title[art["body"][:200]].append(art)
    copies = [arts for arts in by_title.values() if len(arts) > 1]
    assert 0.003 * N_STORIES < sum(len(a) - 1 for a in copies) < 0.03 * N_STORIES
    assert all(len({a["event"] for a in arts}) == 1 for arts in copies)


def test_same_event_articles_are_nearest(stories, members):
    index = recsys.RelatedIndex.build(stories, semantic_weight=0)
    event_of = {a["id"]: a["event"] for a in stories}
    majority = []
    for art in stories:
        if len(members[art["event"]]) >= 6:
            hits = index.related(art["id"], k=5, popularity_weight=0, freshness_weight=0)
            majority.append(sum(event_of[h.id] == art["event"] for h in hits) >= 3)
    assert len(majority) > 1_000
    assert np.mean(majority) > 0.99
