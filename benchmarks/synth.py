"""Deterministic synthetic news corpus for speed benchmarks (10k / 100k / 1M articles).

Two modes share one world (vocabulary, topics, sections, authors): ``flat`` (the default), where
articles are bags of words with no structure but their topic, so an article's true top 10 is a
near-tie among thousands of same-topic articles (a stress test); and ``stories``, where every
article reports on an event, as news does, and its nearest articles are its event's others.

Model (both modes)
------------------
* Vocabulary: ``vocab_size`` made-up, lowercase, alphabetic, pronounceable words built
  from syllables; word ``r`` has global (background) probability proportional to
  ``1 / (r + 2.7) ** 1.05`` (Zipf-Mandelbrot), and frequent words are shorter.
* ``n_topics`` topics, each owning 2,000-5,000 words drawn from outside the 150 most
  frequent words (weighted towards the more common ones, so topics overlap a little),
  with its own Zipf distribution (exponent 1.0) over them. Topics have unequal
  popularity and each belongs to one of 8 sections.
* ~300 authors, each writing mostly about 2-4 favourite topics.
* ``views`` is heavy-tailed (Lomax/Pareto, alpha 1.1); bodies have 200-800 tokens (uniform),
  titles 6-12 distinct words.
* ``topic`` (int) is the ground-truth main topic, an extra metadata field.

Flat mode
---------
* An article takes 35-60 % of its body tokens from its main topic, 10-20 % from a
  secondary topic (60 % of articles) and the rest from the background distribution.
  Titles are drawn mostly from the head of the main topic (its 80 most frequent words).
  Tags are 2-4 of the topic's 15 keywords (its most frequent words).
* ``published_at`` is uniform over the two years before 2026-11-01 (UTC) with a
  day/night cycle.
* ~1 % of articles are near-duplicates of an earlier article from the same chunk
  (same body with 1-4 token edits, a one-word title change, published 10 min to
  2 days later).

Stories mode
------------
* Events: sizes 1-50 from a truncated power law (``P(s) ~ s ** -1.5``, mean ~5.5 articles; 60 %
  of articles are in events of 11 or more). An event has one topic (so one section), a first
  report on a day uniform over the two years, and a lead reporter who writes half its articles.
* Each event has 3-8 entity names (people, places, organisations: capitalised 2-3 syllable
  words such as "Brisotand", outside the vocabulary, distinct between events up to ~3M
  articles, stable under English stemming), so each name's document frequency is about its
  event's size. Articles name them in 1-3 % of their body tokens plus one sure mention of the
  main entity (about 12 mentions in all, the main entity ~1 / H(k) of them for k entities) and
  in about 90 % of titles; 60 % of articles tag the main entity.
* Each event has emphasis words (its sub-topic): a window of 6-10 words of its topic (ranks
  10-1,000) per 4 members. An article draws 20-50 % of its body tokens from one window of its
  event's emphasis list (where the window starts is the article's facet of the event; it also
  rotates which secondary entities the article names most), 3-12 % from its topic, 10-20 % from
  a secondary topic (60 % of articles), the rest from the background. Titles: entity names
  (30 % of draws, mostly the main one), emphasis words (30 %), the topic's head (10 %),
  the background's head (30 %). Tags: the main entity, the event's first emphasis word, topic
  keywords.
* ``published_at``: the first report on the event's first day; follow-ups a delay later drawn
  from a mixture of exponentials (means 1, 7 and 30 days, weights 0.5 / 0.35 / 0.15: a
  decreasing rate over days and weeks), with the same day/night cycle.
* ~1 % of articles are near-duplicates: updates of the previous article of their event in the
  chunk, edited as in flat mode.
* ``event`` (int) is the ground-truth event id, an extra metadata field; ``event_entities``
  gives its entity names. Calibrated against real news text by ``benchmarks.calibrate``.

Determinism
-----------
Everything is a function of ``(seed, n_topics, vocab_size)`` and the article index:
articles are produced in fixed chunks of ``CHUNK_SIZE`` whose random streams are seeded
from ``(seed, chunk_index, stream)``, so ``generate(n)`` is a prefix of ``generate(m)``
for ``n < m`` and repeated runs give byte-identical files. (Across CPUs or numpy versions
a rare token may differ if the floating-point ``log``/``pow`` used to build the
distributions rounds differently.) In stories mode, events are numbered globally and laid
end to end over the article slots (event ``e`` holds ``size_e`` consecutive slots); a chunk's
articles are a seeded permutation of its slots, and an event's attributes (size, topic, day,
names, emphasis words) come from blocks of 4,096 events seeded from ``(seed, block)``, so they
depend only on ``(seed, event id)``; events can span two chunks, and memory holds one chunk and
the one or two blocks of events it overlaps.

Usage::

    python -m benchmarks.synth --n 100000 [--seed 0] [--mode stories] -o corpus.jsonl  # "-o -": stdout
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import replace as dataclass_replace
from datetime import datetime, timezone
from functools import lru_cache

import numpy as np

__all__ = ["CHUNK_SIZE", "MODES", "SECTIONS", "event_entities", "generate", "main", "write_jsonl"]

CHUNK_SIZE = 10_000
MODES = ("flat", "stories")
SECTIONS = ("world", "politics", "business", "technology", "science", "sports", "culture", "health")
END_TS = int(datetime(2026, 11, 1, tzinfo=timezone.utc).timestamp())
START_TS = int(datetime(2024, 11, 1, tzinfo=timezone.utc).timestamp())
N_DAYS = (END_TS - START_TS) // 86_400  # 730
URL_PREFIX = "https://news.example.com"

BODY_MIN, BODY_MAX = 200, 800
TITLE_MIN, TITLE_MAX = 6, 12
N_AUTHORS = 300
N_KEYWORDS = 15
BACKGROUND_EXPONENT = 1.05
BACKGROUND_SHIFT = 2.7
TOPIC_EXPONENT = 1.0
TOPIC_SHIFT = 1.0
TOPIC_MIN_RANK = 150            # topics never own the 150 most frequent (function-like) words
TOPIC_SIZE = (2_000, 5_000)
MAIN_SHARE = (0.35, 0.60)
SECONDARY_SHARE = (0.10, 0.20)
SECONDARY_PROB = 0.6
TITLE_TOPIC_PROB = 0.8
TITLE_EXTRA = 4                 # spare title draws, so titles rarely repeat a word
TITLE_TOPIC_HEAD = 80           # title words come from the topic's 80 most frequent words ...
TITLE_BACKGROUND_HEAD = 300     # ... or the 300 most frequent background words
AUTHOR_ON_TOPIC_PROB = 0.85
DUP_PROB = 0.01
DUP_WINDOW = 2_000              # a near-duplicate copies one of the previous 2,000 articles
VIEWS_ALPHA, VIEWS_SCALE, VIEWS_MAX = 1.1, 40.0, 50_000_000
HOUR_WEIGHTS = np.array([1.0, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.5, 3.5, 4.0, 4.0, 3.8,
                         3.5, 3.5, 3.6, 3.6, 3.4, 3.2, 3.0, 2.8, 2.5, 2.2, 1.8, 1.4])

# (piece, weight) inventories for syllables = onset + vowel + coda.
_ONSETS = [("", 6), ("b", 3), ("c", 2), ("d", 3), ("f", 2), ("g", 2), ("h", 2), ("j", 1),
           ("k", 2), ("l", 3), ("m", 3), ("n", 3), ("p", 3), ("r", 3), ("s", 4), ("t", 4),
           ("v", 2), ("w", 2), ("y", 1), ("z", 1), ("br", 1), ("cr", 1), ("dr", 1), ("fr", 1),
           ("gr", 1), ("pr", 1), ("tr", 1), ("bl", 1), ("cl", 1), ("fl", 1), ("gl", 1), ("pl", 1),
           ("sl", 1), ("st", 1), ("sp", 1), ("sk", 1), ("sn", 1), ("ch", 1), ("sh", 1), ("th", 1),
           ("qu", 1), ("wh", 1)]
_VOWELS = [("a", 6), ("e", 6), ("i", 5), ("o", 5), ("u", 3), ("ai", 1), ("ea", 1), ("ee", 1),
           ("ie", 1), ("oo", 1), ("ou", 1), ("au", 1), ("oa", 1)]
_CODAS = [("", 16), ("n", 3), ("r", 3), ("s", 2), ("l", 2), ("t", 2), ("m", 2), ("nd", 1),
          ("st", 1), ("rt", 1), ("ck", 1), ("ng", 1), ("x", 1), ("sh", 1), ("th", 1), ("rn", 1),
          ("lt", 1), ("mp", 1), ("k", 1), ("d", 1)]


# --------------------------------------------------------------------------- world model

@dataclass(frozen=True)
class _World:
    words: np.ndarray          # object array of str, index = global frequency rank
    cat_cdf: np.ndarray        # float64; topic t's cumulative probs in (t, t+1], background = n_topics
    cat_words: np.ndarray      # object array of str aligned with cat_cdf
    head_mass: np.ndarray      # per pseudo-topic: probability mass of its title head
    pt_off: np.ndarray         # per pseudo-topic: offset of its block in the cat_* arrays
    pt_size: np.ndarray        # per pseudo-topic: block size
    al_prob: np.ndarray        # alias tables (Walker/Vose) aligned with cat_cdf ...
    al_alias: np.ndarray       # ... alias entries are global indices into cat_*
    cat_bytes: np.ndarray      # uint8: every cat word followed by a space ...
    cat_off: np.ndarray        # int32 offset of each cat word in cat_bytes ...
    cat_len: np.ndarray        # int32 length of each cat word plus its space
    topic_cdf: np.ndarray      # cumulative topic popularity
    topic_section: np.ndarray  # int, index into SECTIONS
    keywords: np.ndarray       # object array (n_topics, N_KEYWORDS) of str
    authors: np.ndarray        # object array of author names
    topic_authors: np.ndarray  # concatenated author ids per topic
    ta_start: np.ndarray
    ta_count: np.ndarray
    n_topics: int


def _rng(*key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(k) for k in key])))


def _zipf_cdf(k: int, exponent: float, shift: float) -> np.ndarray:
    w = 1.0 / (np.arange(1, k + 1, dtype=np.float64) + shift) ** exponent
    c = np.cumsum(w)
    c /= c[-1]
    c[-1] = 1.0
    return c


def _alias_table(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vose's alias method: O(1) sampling from the discrete distribution ``p``."""
    k = len(p)
    scaled = (p * (k / p.sum())).tolist()
    prob = [1.0] * k
    alias = list(range(k))
    small = [i for i, q in enumerate(scaled) if q < 1.0]
    large = [i for i, q in enumerate(scaled) if q >= 1.0]
    while small and large:
        s, g = small.pop(), large.pop()
        prob[s] = scaled[s]
        alias[s] = g
        scaled[g] = (scaled[g] + scaled[s]) - 1.0
        (small if scaled[g] < 1.0 else large).append(g)
    return np.array(prob), np.array(alias, dtype=np.int64)


def _syllables(initial: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """All onset+vowel+coda combinations and their cumulative weights (non-initial
    syllables always start with a consonant, so vowels never pile up)."""
    pieces, weights = [], []
    for o, wo in (_ONSETS if initial else _ONSETS[1:]):
        for v, wv in _VOWELS:
            for c, wc in _CODAS:
                pieces.append(o + v + c)
                weights.append(wo * wv * wc)
    # The same string can arise twice (e.g. "s"+"t" vs "st"); merge so strings are unique.
    merged: dict[str, float] = {}
    for p, w in zip(pieces, weights):
        merged[p] = merged.get(p, 0.0) + w
    syl = np.array(list(merged.keys()), dtype=object)
    cdf = np.cumsum(np.fromiter(merged.values(), dtype=np.float64, count=len(merged)))
    return syl, cdf / cdf[-1]


def _make_words(rng: np.random.Generator, n: int, syllable_counts, exclude=()) -> list[str]:
    """``n`` unique pronounceable words; ``syllable_counts(ranks, rng)`` gives lengths per slot."""
    tables = [_syllables(True), _syllables(False)]
    out: list[str] = []
    seen = set(exclude)
    while len(out) < n:
        need = n - len(out)
        m = need + need // 4 + 16
        counts = syllable_counts(np.arange(len(out), len(out) + m), rng)
        cand = np.full(m, "", dtype=object)
        for j in range(int(counts.max())):
            syl, cdf = tables[min(j, 1)]
            pick = np.searchsorted(cdf, rng.random(m), side="right")
            cand = np.where(counts > j, cand + syl[np.minimum(pick, len(syl) - 1)], cand)
        for w in cand.tolist():
            if len(w) >= 2 and w not in seen:
                seen.add(w)
                out.append(w)
                if len(out) == n:
                    break
    return out


def _vocab_syllables(ranks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    u = rng.random(len(ranks))
    one = np.where(ranks < 300, 0.8, np.where(ranks < 5_000, 0.3, 0.0))
    two = one + np.where(ranks < 300, 0.2, np.where(ranks < 5_000, 0.6, 0.60))
    three = two + np.where(ranks < 5_000, 1.0 - two, 0.34)
    return 1 + (u >= one) + (u >= two) + (u >= three)


def _name_syllables(ranks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(2, 4, len(ranks))


@lru_cache(maxsize=4)
def _world(seed: int, n_topics: int, vocab_size: int) -> _World:
    rng = _rng(seed, 0, 1)
    words = np.array(_make_words(rng, vocab_size, _vocab_syllables), dtype=object)

    # Topic vocabularies: Gumbel top-k without replacement, weighted towards common words.
    pool = np.arange(TOPIC_MIN_RANK, vocab_size)
    log_w = -0.5 * np.log1p(pool.astype(np.float64))
    lo, hi = TOPIC_SIZE
    hi = min(hi, len(pool) // 2)
    lo = min(lo, hi)
    cdfs, members, head_mass, keywords = [], [], [], []
    for t in range(n_topics):
        k = int(rng.integers(lo, hi + 1))
        keys = log_w + rng.gumbel(size=len(pool))
        chosen = pool[np.argpartition(-keys, k - 1)[:k]]
        chosen = rng.permutation(np.sort(chosen))    # random within-topic rank order
        cdf = _zipf_cdf(k, TOPIC_EXPONENT, TOPIC_SHIFT)
        cdfs.append(cdf + t)
        cdfs[-1][-1] = t + 1.0
        members.append(chosen)
        head_mass.append(cdf[min(TITLE_TOPIC_HEAD, k) - 1])
        keywords.append(words[chosen[:N_KEYWORDS]])
    bg = _zipf_cdf(vocab_size, BACKGROUND_EXPONENT, BACKGROUND_SHIFT)
    cdfs.append(bg + n_topics)
    cdfs[-1][-1] = n_topics + 1.0
    members.append(np.arange(vocab_size))
    head_mass.append(bg[min(TITLE_BACKGROUND_HEAD, vocab_size) - 1])
    pt_size = np.array([len(c) for c in cdfs], dtype=np.int64)
    pt_off = np.concatenate([[0], np.cumsum(pt_size)[:-1]]).astype(np.int64)
    al_prob, al_alias = [], []
    for c, off in zip(cdfs, pt_off):
        pr, al = _alias_table(np.diff(c, prepend=np.floor(c[0])))
        al_prob.append(pr)
        al_alias.append(al + off)

    pop = 1.0 / (np.arange(n_topics) + 4.0) ** 0.8
    pop = rng.permutation(pop)
    topic_cdf = np.cumsum(pop) / pop.sum()
    topic_cdf[-1] = 1.0
    topic_section = rng.permutation(np.arange(n_topics) % len(SECTIONS))

    # Authors: names from the same syllables (capitalised), 2-4 favourite topics each,
    # and every topic has at least one author.
    parts = _make_words(rng, 2 * N_AUTHORS, _name_syllables, exclude=set(words.tolist()))
    authors = np.array([f"{a.capitalize()} {b.capitalize()}"
                        for a, b in zip(parts[:N_AUTHORS], parts[N_AUTHORS:])], dtype=object)
    first = rng.permutation(np.arange(N_AUTHORS) % n_topics)
    by_topic: list[list[int]] = [[] for _ in range(n_topics)]
    for a in range(N_AUTHORS):
        favs = {int(first[a])}
        n_fav = int(rng.integers(2, 5))
        while len(favs) < min(n_fav, n_topics):
            favs.add(int(np.searchsorted(topic_cdf, rng.random(), side="right")))
        for t in sorted(favs):
            by_topic[t].append(a)
    for t in range(n_topics):                 # only possible when n_topics > N_AUTHORS
        if not by_topic[t]:
            by_topic[t].append(t % N_AUTHORS)
    ta_count = np.array([len(b) for b in by_topic], dtype=np.int64)
    ta_start = np.concatenate([[0], np.cumsum(ta_count)[:-1]]).astype(np.int64)

    cat_words = words[np.concatenate(members)]
    encoded = [w.encode("ascii") + b" " for w in cat_words.tolist()]
    cat_len = np.array([len(b) for b in encoded], dtype=np.int32)
    return _World(
        words=words,
        cat_cdf=np.concatenate(cdfs),
        cat_words=cat_words,
        head_mass=np.array(head_mass),
        pt_off=pt_off,
        pt_size=pt_size,
        al_prob=np.concatenate(al_prob),
        al_alias=np.concatenate(al_alias),
        cat_bytes=np.frombuffer(b"".join(encoded), dtype=np.uint8),
        cat_off=(np.cumsum(cat_len) - cat_len).astype(np.int32),
        cat_len=cat_len,
        topic_cdf=topic_cdf,
        topic_section=topic_section,
        keywords=np.array(keywords, dtype=object) if n_topics else np.empty((0, N_KEYWORDS), object),
        authors=authors,
        topic_authors=np.array([a for b in by_topic for a in b], dtype=np.int64),
        ta_start=ta_start,
        ta_count=ta_count,
        n_topics=n_topics,
    )


# --------------------------------------------------------------------------- articles

_SUB_BLOCK = 512      # articles per vectorised token batch (~256k tokens, cache-friendly)
_SAFE = 1.0 - 1e-12   # keeps pseudo_topic + u strictly below pseudo_topic + 1 after rounding


def _draw_tokens(world: _World, pseudo_topic: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Map (pseudo-topic, uniform) pairs to cat indices with the alias tables (one uniform
    gives both the slot, from its integer part, and the coin, from its fraction)."""
    size = world.pt_size[pseudo_topic]
    x = u * size
    j = x.astype(np.int64)
    np.minimum(j, size - 1, out=j)
    x -= j                                # fractional part: the alias coin
    j += world.pt_off[pseudo_topic]
    return np.where(x < world.al_prob[j], j, world.al_alias[j])


def _join_words(world: _World, idx: np.ndarray, lengths: np.ndarray,
                table: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> list[str]:
    """Space-join consecutive runs of ``lengths`` tokens (cat indices ``idx``) into strings,
    gathering bytes with numpy instead of touching one Python object per token. ``table`` is
    a (bytes, offsets, lengths) word table extending the cat words (default: the cat words)."""
    cat_bytes, cat_off, cat_len = table if table is not None else (world.cat_bytes, world.cat_off,
                                                                   world.cat_len)
    lens = cat_len[idx]
    ends = np.cumsum(lens)
    src = cat_off[idx]
    step = np.ones(int(ends[-1]), dtype=np.int32)
    jump = np.empty_like(src)
    jump[0] = src[0]
    jump[1:] = src[1:] - (src[:-1] + lens[:-1] - 1)
    step[ends - lens] = jump
    np.cumsum(step, out=step)
    buf = cat_bytes[step].tobytes()
    out, start = [], 0
    for end in ends[np.cumsum(lengths) - 1].tolist():
        out.append(buf[start:end - 1].decode("ascii"))
        start = end
    return out


def _draw_head(world: _World, pseudo_topic: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Like _draw_tokens, restricted to each pseudo-topic's head (inverse CDF): cat indices."""
    x = u * _SAFE
    x *= world.head_mass[pseudo_topic]
    x += pseudo_topic
    return np.searchsorted(world.cat_cdf, x, side="right")


def _draw_head_tokens(world: _World, pseudo_topic: np.ndarray, u: np.ndarray) -> list[str]:
    """_draw_head's words."""
    return world.cat_words[_draw_head(world, pseudo_topic, u)].tolist()


def _edit_body(rng: np.random.Generator, toks: list[str], world: _World) -> list[str]:
    toks = list(toks)
    for _ in range(int(rng.integers(1, 5))):
        op = int(rng.integers(0, 3))
        pos = int(rng.integers(0, len(toks)))
        word = world.words[int(rng.integers(0, min(3_000, len(world.words))))]
        if op == 1 and len(toks) < BODY_MAX:
            toks.insert(pos, word)
        elif op == 2 and len(toks) > BODY_MIN:
            del toks[pos]
        else:
            toks[pos] = word
    return toks


def _edit_title(rng: np.random.Generator, toks: list[str], world: _World) -> list[str]:
    toks = [toks[0].lower()] + toks[1:]
    word = world.words[int(rng.integers(0, TITLE_BACKGROUND_HEAD))]
    op = int(rng.integers(0, 3))
    if op == 1 and len(toks) < TITLE_MAX:
        toks.insert(int(rng.integers(0, len(toks) + 1)), word)
    elif op == 2 and len(toks) > TITLE_MIN:
        del toks[int(rng.integers(0, len(toks)))]
    else:
        toks[int(rng.integers(0, len(toks)))] = word
    toks[0] = toks[0].capitalize()
    return toks


def _texts(world: _World, m: int, is_dup, src, keep, saved: dict, bodies: list[str], title_toks: list[str],
           t_end: list[int], tlen: list[int], dup_rng: np.random.Generator) -> Iterator[tuple[str, list[str]]]:
    """(body, title tokens) of a chunk's first ``m`` articles: drawn (the title from its run of
    ``title_toks``, its first ``tlen`` distinct words), or, for a near-duplicate, its source's
    edited; ``saved`` holds the sources' tokens and gains those of the articles in ``keep``."""
    t0 = 0
    for i in range(m):
        t1 = t_end[i]
        if is_dup[i]:
            sb, st = saved[int(src[i])]
            btoks = _edit_body(dup_rng, sb, world)
            ttoks = _edit_title(dup_rng, st, world)
            body = " ".join(btoks)
            if i in keep:
                saved[i] = (btoks, ttoks)
        else:
            body = bodies[i]
            draw = title_toks[t0:t1]
            ttoks = list(dict.fromkeys(draw))
            ttoks = ttoks[:tlen[i]] if len(ttoks) >= tlen[i] else draw[:tlen[i]]
            ttoks[0] = ttoks[0].capitalize()
            if i in keep:
                saved[i] = (saved[i][0], ttoks)
        t0 = t1
        yield body, ttoks


def _record(num: str, ttoks: list[str], body: str, pub: str, section: str, tags: list[str], author: str,
            views: int, topic: int) -> dict:
    """One article's JSON object."""
    slug = "-".join(ttoks[:6]).lower()
    return {
        "id": f"s-{num}",
        "title": " ".join(ttoks),
        "body": body,
        "url": f"{URL_PREFIX}/{section}/{pub[0:4]}/{pub[5:7]}/{pub[8:10]}/{slug}-{num}",
        "section": section,
        "tags": tags,
        "author": author,
        "published_at": pub,
        "views": views,
        "topic": topic,
    }


def _chunk(world: _World, seed: int, ci: int, m: int, id_width: int,
           chunk_size: int = CHUNK_SIZE) -> Iterator[dict]:
    """Flat mode: articles ``ci * chunk_size`` ... ``+ m - 1``. Per-article draws are always made
    for a full chunk and token draws come from their own streams, so truncation keeps prefixes."""
    C, T = chunk_size, world.n_topics
    r = _rng(seed, 1, ci, 1)
    topic = np.searchsorted(world.topic_cdf, r.random(C), side="right")
    sec_topic = (topic + 1 + r.integers(0, max(T - 1, 1), C)) % T
    f_main = r.uniform(*MAIN_SHARE, C)
    f_sec = np.where(r.random(C) < SECONDARY_PROB, r.uniform(*SECONDARY_SHARE, C), 0.0)
    blen = r.integers(BODY_MIN, BODY_MAX + 1, C)
    tlen = r.integers(TITLE_MIN, TITLE_MAX + 1, C)
    n_tags = r.integers(2, 5, C)
    tag_pick = np.argsort(r.random((C, N_KEYWORDS)), axis=1)[:, :4]
    on_topic = r.random(C) < AUTHOR_ON_TOPIC_PROB
    au = r.random(C)
    any_author = r.integers(0, N_AUTHORS, C)
    views = np.minimum(np.floor(r.pareto(VIEWS_ALPHA, C) * VIEWS_SCALE), VIEWS_MAX).astype(np.int64)
    hour = r.choice(24, C, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    ts = START_TS + r.integers(0, N_DAYS, C) * 86_400 + hour * 3_600 + r.integers(0, 3_600, C)
    is_dup = r.random(C) < DUP_PROB
    dup_back = r.integers(1, DUP_WINDOW + 1, C)
    dup_delta = r.integers(600, 2 * 86_400 + 1, C)
    dup_same_author = r.random(C) < 0.7

    # truncate to the m articles actually emitted
    (topic, sec_topic, f_main, f_sec, blen, tlen, n_tags, tag_pick, on_topic, au, any_author,
     views, ts, is_dup, dup_back, dup_delta, dup_same_author) = (
        a[:m] for a in (topic, sec_topic, f_main, f_sec, blen, tlen, n_tags, tag_pick, on_topic,
                        au, any_author, views, ts, is_dup, dup_back, dup_delta, dup_same_author))
    author = np.where(on_topic,
                      world.topic_authors[world.ta_start[topic]
                                          + (au * world.ta_count[topic]).astype(np.int64)],
                      any_author)

    # near-duplicates: copy an earlier article of this chunk (in order, so chains work)
    is_dup[0] = False
    src = np.where(is_dup, np.arange(m) - np.minimum(dup_back, np.arange(m)), -1)
    for i in np.flatnonzero(is_dup):
        s = src[i]
        topic[i] = topic[s]
        n_tags[i] = n_tags[s]
        tag_pick[i] = tag_pick[s]
        if dup_same_author[i]:
            author[i] = author[s]
        ts[i] = ts[s] + dup_delta[i] if ts[s] + dup_delta[i] < END_TS else ts[s] + (END_TS - ts[s]) // 2

    # body tokens, in sub-blocks that stay in cache: one uniform picks the component
    # (main topic / secondary topic / background), another the word within it
    keep = set(src[is_dup].tolist())
    keep_plain = sorted(i for i in keep if not is_dup[i])
    saved: dict[int, tuple[list[str], list[str]]] = {}
    bodies: list[str] = []
    u_rng, v_rng = _rng(seed, 1, ci, 2), _rng(seed, 1, ci, 3)
    for a0 in range(0, m, _SUB_BLOCK):
        a1 = min(a0 + _SUB_BLOCK, m)
        bl = blen[a0:a1]
        n_tok = int(bl.sum())
        art = np.repeat(np.arange(a0, a1), bl)
        u = u_rng.random(n_tok)
        fm = f_main[art]
        pseudo = np.where(u < fm, topic[art], np.where(u < fm + f_sec[art], sec_topic[art], T))
        idx = _draw_tokens(world, pseudo, v_rng.random(n_tok))
        bodies += _join_words(world, idx, bl)
        starts = np.cumsum(bl) - bl
        for i in keep_plain:
            if a0 <= i < a1:
                b = int(starts[i - a0])
                saved[i] = (world.cat_words[idx[b:b + int(bl[i - a0])]].tolist(), [])

    # titles: TITLE_EXTRA spare draws per title so repeated words can be dropped
    tdraw = tlen + TITLE_EXTRA
    n_ttok = int(tdraw.sum())
    tart = np.repeat(np.arange(m), tdraw)
    tpseudo = np.where(_rng(seed, 1, ci, 4).random(n_ttok) < TITLE_TOPIC_PROB, topic[tart], T)
    title_toks = _draw_head_tokens(world, tpseudo, _rng(seed, 1, ci, 5).random(n_ttok))
    t_end = np.cumsum(tdraw).tolist()
    tlen_l = tlen.tolist()

    published = np.char.add(np.datetime_as_string(ts.astype("datetime64[s]"), unit="s"), "Z").tolist()
    sections = np.array(SECTIONS, dtype=object)[world.topic_section[topic]].tolist()
    author_names = world.authors[author].tolist()
    kw = world.keywords[topic[:, None], tag_pick].tolist()
    n_tags_l, topic_l, views_l = n_tags.tolist(), topic.tolist(), views.tolist()

    texts = _texts(world, m, is_dup, src, keep, saved, bodies, title_toks, t_end, tlen_l, _rng(seed, 1, ci, 6))
    for i, (body, ttoks) in enumerate(texts):
        yield _record(f"{ci * C + i + 1:0{id_width}d}", ttoks, body, published[i], sections[i],
                      kw[i][:n_tags_l[i]], author_names[i], views_l[i], topic_l[i])


# --------------------------------------------------------------------------- stories mode

EVENT_MAX = 50
EVENT_EXPONENT = 1.5            # P(event size = s) ~ s ** -1.5 for s = 1 ... 50 (mean ~5.5)
EVENT_BLOCK = 4_096             # events whose attributes come from one random stream
ENTITIES = (3, 8)               # rare entity names per event
ENTITY_SALIENCE = 1.0           # entity j (0 = the main one) is mentioned ~ 1 / (j + 1) ** 1.0 ...
TITLE_SALIENCE = 2.0            # ... and named in titles ~ 1 / (j + 1) ** 2.0
ENTITY_SHARE = (0.01, 0.03)     # share of body tokens that name an entity (plus one sure mention)
EMPHASIS_WORDS = (6, 10)        # event-specific common words an article draws from (its window) ...
EMPHASIS_MEMBERS = 4            # ... out of one window's worth per 4 members (big events have facets)
EMPHASIS_RANKS = (10, 1_000)    # drawn log-uniformly from these (within-topic) ranks of the topic
EMPHASIS_SHARE = (0.20, 0.50)   # share of body tokens from the article's emphasis window
STORY_MAIN_SHARE = (0.03, 0.12)  # main-topic share (the event's own words carry most of the topic)
TITLE_ENTITY_PROB = 0.30        # title draws: an entity, an emphasis word, a topic head word,
TITLE_EMPHASIS_PROB = 0.30      # or (the rest) a background head word
TITLE_STORY_TOPIC_PROB = 0.10
TAG_ENTITY_PROB = 0.6           # the first tag is the main entity's name, then the event's first
                                # emphasis word, then topic keywords
EVENT_AUTHOR_PROB = 0.5         # the article is by the event's lead reporter
DELAY_WEIGHTS = np.array([0.5, 0.35, 0.15])     # follow-up delay: a mixture of exponentials with
DELAY_MEAN_DAYS = np.array([1.0, 7.0, 30.0])    # these means (a rate that decreases with time)
STORY_DUP_PROB = 0.012          # per article with an earlier member of its event in its chunk

# Entity names: consonant onsets + vowels, then a last syllable whose vowel and coda no English
# suffix rule touches (so a Snowball stemmer leaves the name whole), e.g. "Brisotand".
_NAME_ONSETS = np.array([o for o, _ in _ONSETS if o and o != "qu"], dtype=object)
_NAME_VOWELS = np.array([v for v, _ in _VOWELS], dtype=object)
_NAME_LAST_VOWELS = np.array(["a", "o", "u", "ai", "au", "oa", "oo"], dtype=object)
_NAME_CODAS = np.array(["n", "t", "m", "k", "nd", "rt", "ck", "x", "sh", "th", "rn", "mp"], dtype=object)
_NAME_MULTIPLIER = 1_000_003    # a prime that divides none of the name-space sizes


@dataclass(frozen=True)
class _Events:
    """Attributes of consecutive events (one block, or the window a chunk needs)."""
    ids: np.ndarray             # global event ids
    start: np.ndarray           # first slot (block: relative to the block's first slot)
    size: np.ndarray            # members
    topic: np.ndarray
    day: np.ndarray             # day of the first report, 0 ... N_DAYS - 1
    author: np.ndarray          # lead reporter (author id)
    n_entities: np.ndarray
    names: np.ndarray           # object (events, ENTITIES[1]): capitalised names, the first n_entities used
    window: np.ndarray          # emphasis words per article
    n_emphasis: np.ndarray      # the event's emphasis words: window * ceil(size / EMPHASIS_MEMBERS)
    emphasis: np.ndarray        # int (events, _EMPHASIS_MAX): cat indices, the first n_emphasis used

    def take(self, sel) -> _Events:
        return _Events(**{f: getattr(self, f)[sel] for f in self.__dataclass_fields__})


_EMPHASIS_MAX = EMPHASIS_WORDS[1] * -(-EVENT_MAX // EMPHASIS_MEMBERS)


@lru_cache(maxsize=1)
def _size_cdf() -> np.ndarray:
    return _zipf_cdf(EVENT_MAX, EVENT_EXPONENT, 0.0)


def _event_sizes(seed: int, block: int) -> np.ndarray:
    """Sizes of the events of ``block`` (1 ... EVENT_MAX, truncated power law)."""
    u = _rng(seed, 3, block, 1).random(EVENT_BLOCK)
    return np.searchsorted(_size_cdf(), u, side="right").astype(np.int64) + 1


def _salience_cdf(exponent: float) -> np.ndarray:
    """Row k: cumulative probabilities of naming each of an event's first k entities
    (~ 1 / (j + 1) ** exponent), padded with 1.0."""
    k_max = ENTITIES[1]
    w = 1.0 / np.arange(1, k_max + 1, dtype=np.float64) ** exponent
    table = np.ones((k_max + 1, k_max))
    for k in range(1, k_max + 1):
        table[k, :k] = np.cumsum(w[:k]) / w[:k].sum()
        table[k, k - 1] = 1.0
    return table


_BODY_SALIENCE = _salience_cdf(ENTITY_SALIENCE)
_TITLE_SALIENCE = _salience_cdf(TITLE_SALIENCE)


def _syllable_strings(p: np.ndarray, n_syllables: int) -> np.ndarray:
    """Mixed-radix digits of ``p`` spelled as ``n_syllables - 1`` onset+vowel syllables and a
    last onset+vowel+coda syllable; distinct ``p`` (below the space size) give distinct names."""
    n_o, n_v = len(_NAME_ONSETS), len(_NAME_VOWELS)
    p = p.copy()
    out = _NAME_ONSETS[p % n_o]
    p //= n_o
    for _ in range(n_syllables - 1):
        out = out + _NAME_VOWELS[p % n_v]
        p //= n_v
        out = out + _NAME_ONSETS[p % n_o]
        p //= n_o
    out = out + _NAME_LAST_VOWELS[p % len(_NAME_LAST_VOWELS)]
    p //= len(_NAME_LAST_VOWELS)
    return out + _NAME_CODAS[p % len(_NAME_CODAS)]


def _name_space(n_syllables: int) -> int:
    return ((len(_NAME_ONSETS) * len(_NAME_VOWELS)) ** (n_syllables - 1)
            * len(_NAME_ONSETS) * len(_NAME_LAST_VOWELS) * len(_NAME_CODAS))


@lru_cache(maxsize=4)
def _vocabulary(seed: int, n_topics: int, vocab_size: int) -> frozenset:
    return frozenset(_world(seed, n_topics, vocab_size).words.tolist())


def _entity_names(seed: int, entity: np.ndarray, vocabulary: frozenset) -> np.ndarray:
    """Capitalised names of global entity ids: 2 syllables for 2 ids in 5, else 3, each an
    affine permutation (seeded) of its name space, so names differ for the first ~540,000
    events (~3M articles); a name that is a vocabulary word takes a 4-syllable form instead."""
    q, r = np.divmod(entity.astype(np.int64), 5)
    two = r < 2
    names = np.empty(len(entity), dtype=object)
    for n_syl, sel, idx in ((2, two, 2 * q + r), (3, ~two, 3 * q + r - 2)):
        space = _name_space(n_syl)
        p = (_NAME_MULTIPLIER * (idx[sel] % space) + seed * 7_919 + 12_345) % space
        names[sel] = _syllable_strings(p, n_syl)
    clash = np.flatnonzero([w in vocabulary for w in names.tolist()])
    if len(clash):
        space = _name_space(4)
        names[clash] = _syllable_strings((_NAME_MULTIPLIER * entity[clash] + seed) % space, 4)
    return np.array([w.capitalize() for w in names.tolist()], dtype=object)


def _event_block(world: _World, seed: int, block: int, vocabulary: frozenset) -> _Events:
    """The events of ``block``: everything is a function of (seed, event id)."""
    k = EVENT_BLOCK
    ids = block * k + np.arange(k, dtype=np.int64)
    size = _event_sizes(seed, block)
    r = _rng(seed, 3, block, 2)
    topic = np.searchsorted(world.topic_cdf, r.random(k), side="right")
    day = r.integers(0, N_DAYS, k)
    author = world.topic_authors[world.ta_start[topic]
                                 + (r.random(k) * world.ta_count[topic]).astype(np.int64)]
    n_entities = r.integers(ENTITIES[0], ENTITIES[1] + 1, k)
    window = r.integers(EMPHASIS_WORDS[0], EMPHASIS_WORDS[1] + 1, k)
    n_emphasis = window * -(-size // EMPHASIS_MEMBERS)
    lo, hi = np.log(EMPHASIS_RANKS[0]), np.log(EMPHASIS_RANKS[1])
    rank = np.exp(r.uniform(lo, hi, (k, _EMPHASIS_MAX))).astype(np.int64)
    np.minimum(rank, world.pt_size[topic][:, None] - 1, out=rank)
    emphasis = world.pt_off[topic][:, None] + rank
    entity = (ids[:, None] * ENTITIES[1] + np.arange(ENTITIES[1])).ravel()
    names = _entity_names(seed, entity, vocabulary).reshape(k, ENTITIES[1])
    return _Events(ids=ids, start=np.cumsum(size) - size, size=size, topic=topic, day=day,
                   author=author, n_entities=n_entities, names=names, window=window, n_emphasis=n_emphasis,
                   emphasis=emphasis)


class _EventTape:
    """All events laid end to end over the article slots (event e holds ``size_e`` consecutive
    slots); a chunk's articles are a permutation of its slots. Only the blocks of events the
    current chunk overlaps are kept, and one int per block seen."""

    def __init__(self, world: _World, seed: int, vocabulary: frozenset) -> None:
        self.world, self.seed, self.vocabulary = world, seed, vocabulary
        self.block_start = [0]                # first slot of each block seen, then the next one
        self.blocks: dict[int, _Events] = {}

    def window(self, lo: int, hi: int) -> _Events:
        """The events that hold any of the slots ``lo`` ... ``hi - 1``, with global ``start``."""
        while self.block_start[-1] < hi:
            b = len(self.block_start) - 1
            self.block_start.append(self.block_start[-1] + int(_event_sizes(self.seed, b).sum()))
        b0 = int(np.searchsorted(self.block_start, lo, side="right")) - 1
        b1 = int(np.searchsorted(self.block_start, hi - 1, side="right")) - 1
        for b in [b for b in self.blocks if b < b0]:
            del self.blocks[b]
        parts = []
        for b in range(b0, b1 + 1):
            if b not in self.blocks:
                self.blocks[b] = _event_block(self.world, self.seed, b, self.vocabulary)
            ev = self.blocks[b]
            parts.append(dataclass_replace(ev, start=ev.start + self.block_start[b]))
        ev = _Events(**{f: np.concatenate([getattr(p, f) for p in parts])
                        for f in _Events.__dataclass_fields__})
        return ev.take((ev.start < hi) & (ev.start + ev.size > lo))


def event_entities(event: int, seed: int = 0, *, n_topics: int = 40,
                   vocab_size: int = 120_000) -> list[str]:
    """The entity names of stories-mode event ``event`` (main entity first), as they appear in
    its articles' titles and bodies (the ground truth behind the ``event`` field)."""
    block, j = divmod(int(event), EVENT_BLOCK)
    ev = _cached_event_block(int(seed), int(n_topics), int(vocab_size), block)
    return ev.names[j, :ev.n_entities[j]].tolist()


@lru_cache(maxsize=4)
def _cached_event_block(seed: int, n_topics: int, vocab_size: int, block: int) -> _Events:
    world = _world(seed, n_topics, vocab_size)
    return _event_block(world, seed, block, _vocabulary(seed, n_topics, vocab_size))


def _extended_table(world: _World, extra: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """_join_words' table of the cat words followed by the words ``extra``."""
    encoded = [w.encode("ascii") + b" " for w in extra.tolist()]
    ext_len = np.array([len(b) for b in encoded], dtype=np.int32)
    ext_off = np.cumsum(ext_len) - ext_len + len(world.cat_bytes)
    return (np.concatenate([world.cat_bytes, np.frombuffer(b"".join(encoded), dtype=np.uint8)]),
            np.concatenate([world.cat_off, ext_off.astype(np.int32)]),
            np.concatenate([world.cat_len, ext_len]))


def _entity_tokens(art: np.ndarray, v: np.ndarray, salience: np.ndarray, e: np.ndarray,
                   n_ent: np.ndarray, turn: np.ndarray, n_cat: int) -> np.ndarray:
    """Table indices of entity mentions by articles ``art`` (uniforms ``v``): the salience rank,
    with the secondary entities rotated by the article's ``turn`` (each article has its own
    favourite secondary entities); entity k of window event x is word n_cat + x * E + k."""
    k = (v[:, None] >= salience[n_ent[art]]).sum(axis=1)
    k = np.where(k > 0, 1 + (k - 1 + turn[art]) % np.maximum(n_ent[art] - 1, 1), 0)
    return n_cat + e[art] * ENTITIES[1] + k


def _emphasis_tokens(ev: _Events, art: np.ndarray, v: np.ndarray, e: np.ndarray, n_emph: np.ndarray,
                     turn: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Cat indices of emphasis words by articles ``art``: uniform over the article's window of
    ``width`` of its event's emphasis words (circular, from its ``turn``)."""
    k = (turn[art] + (v * width[art]).astype(np.int64)) % n_emph[art]
    return ev.emphasis[e[art], k]


def _story_chunk(world: _World, seed: int, ci: int, m: int, id_width: int, chunk_size: int,
                 tape: _EventTape) -> Iterator[dict]:
    """Stories mode: articles ``ci * chunk_size`` ... ``+ m - 1``, each a member of the event
    that holds its slot. As in _chunk, per-article draws are made for the full chunk."""
    C, T, E = chunk_size, world.n_topics, ENTITIES[1]
    r = _rng(seed, 2, ci, 1)
    slot = ci * C + r.permutation(C)
    ev = tape.window(ci * C, (ci + 1) * C)
    e = np.searchsorted(ev.start, slot, side="right") - 1      # the article's event (window row)
    rank = slot - ev.start[e]                                  # 0: the first report
    topic = ev.topic[e]
    sec_topic = (topic + 1 + r.integers(0, max(T - 1, 1), C)) % T
    f_ent = r.uniform(*ENTITY_SHARE, C)
    f_emph = r.uniform(*EMPHASIS_SHARE, C)
    f_main = r.uniform(*STORY_MAIN_SHARE, C)
    f_sec = np.where(r.random(C) < SECONDARY_PROB, r.uniform(*SECONDARY_SHARE, C), 0.0)
    blen = r.integers(BODY_MIN, BODY_MAX + 1, C)
    tlen = r.integers(TITLE_MIN, TITLE_MAX + 1, C)
    n_tags = r.integers(2, 5, C)
    tag_pick = np.argsort(r.random((C, N_KEYWORDS)), axis=1)[:, :4]
    tag_entity = r.random(C) < TAG_ENTITY_PROB
    by_lead = r.random(C) < EVENT_AUTHOR_PROB
    on_topic = r.random(C) < AUTHOR_ON_TOPIC_PROB
    au = r.random(C)
    any_author = r.integers(0, N_AUTHORS, C)
    views = np.minimum(np.floor(r.pareto(VIEWS_ALPHA, C) * VIEWS_SCALE), VIEWS_MAX).astype(np.int64)
    hour = r.choice(24, C, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    second = r.integers(0, 3_600, C)
    delay = r.exponential(1.0, C) * DELAY_MEAN_DAYS[r.choice(len(DELAY_WEIGHTS), C, p=DELAY_WEIGHTS)]
    main_pos = r.random(C)
    turn = r.random(C)            # the article's facet of its event: emphasis window, entities
    is_dup = r.random(C) < STORY_DUP_PROB
    dup_delta = r.integers(600, 2 * 86_400 + 1, C)
    dup_same_author = r.random(C) < 0.7

    (e, rank, topic, sec_topic, f_ent, f_emph, f_main, f_sec, blen, tlen, n_tags, tag_pick,
     tag_entity, by_lead, on_topic, au, any_author, views, hour, second, delay, main_pos, turn,
     is_dup, dup_delta, dup_same_author) = (
        a[:m] for a in (e, rank, topic, sec_topic, f_ent, f_emph, f_main, f_sec, blen, tlen, n_tags,
                        tag_pick, tag_entity, by_lead, on_topic, au, any_author, views, hour, second,
                        delay, main_pos, turn, is_dup, dup_delta, dup_same_author))
    n_ent, n_emph, emph_width = ev.n_entities[e], ev.n_emphasis[e], ev.window[e]
    ent_turn = (turn * (n_ent - 1)).astype(np.int64)       # its favourite secondary entity ...
    emph_turn = (turn * n_emph).astype(np.int64)           # ... and the start of its window
    author = np.where(by_lead, ev.author[e],
                      np.where(on_topic, world.topic_authors[world.ta_start[topic] + (
                          au * world.ta_count[topic]).astype(np.int64)], any_author))
    day = ev.day[e]
    offset = np.where(rank == 0, 0, delay.astype(np.int64)) % (N_DAYS - day)   # late ones wrap
    ts = START_TS + (day + offset) * 86_400 + hour * 3_600 + second

    # near-duplicates: an update of the previous article of the same event in this chunk
    order = np.lexsort((np.arange(m), e))
    prev = np.full(m, -1, dtype=np.int64)
    same = e[order[1:]] == e[order[:-1]]
    prev[order[1:][same]] = order[:-1][same]
    is_dup &= prev >= 0
    src = np.where(is_dup, prev, -1)
    for i in np.flatnonzero(is_dup):
        s = src[i]
        n_tags[i], tag_pick[i], tag_entity[i] = n_tags[s], tag_pick[s], tag_entity[s]
        if dup_same_author[i]:
            author[i] = author[s]
        ts[i] = ts[s] + dup_delta[i] if ts[s] + dup_delta[i] < END_TS else ts[s] + (END_TS - ts[s]) // 2

    # body tokens: an entity name, an emphasis word, or as in flat mode (main topic / secondary
    # topic / background); entity k of window event x is word n_cat + x * E + k of the table
    n_cat = len(world.cat_words)
    ent_words = ev.names.ravel()
    table = _extended_table(world, ent_words)
    words = np.concatenate([world.cat_words, ent_words])
    keep = set(src[is_dup].tolist())
    keep_plain = sorted(i for i in keep if not is_dup[i])
    saved: dict[int, tuple[list[str], list[str]]] = {}
    bodies: list[str] = []
    u_rng, v_rng = _rng(seed, 2, ci, 2), _rng(seed, 2, ci, 3)
    for a0 in range(0, m, _SUB_BLOCK):
        a1 = min(a0 + _SUB_BLOCK, m)
        bl = blen[a0:a1]
        n_tok = int(bl.sum())
        art = np.repeat(np.arange(a0, a1), bl)
        u, v = u_rng.random(n_tok), v_rng.random(n_tok)
        c_ent = f_ent[art]
        c_emph = c_ent + f_emph[art]
        c_main = c_emph + f_main[art]
        pseudo = np.where(u < c_main, topic[art], np.where(u < c_main + f_sec[art], sec_topic[art], T))
        idx = _draw_tokens(world, pseudo, v)
        ent = np.flatnonzero(u < c_ent)
        idx[ent] = _entity_tokens(art[ent], v[ent], _BODY_SALIENCE, e, n_ent, ent_turn, n_cat)
        emp = np.flatnonzero((u >= c_ent) & (u < c_emph))
        idx[emp] = _emphasis_tokens(ev, art[emp], v[emp], e, n_emph, emph_turn, emph_width)
        starts = np.cumsum(bl) - bl
        idx[starts + (main_pos[a0:a1] * bl).astype(np.int64)] = n_cat + e[a0:a1] * E   # one sure mention
        bodies += _join_words(world, idx, bl, table)
        for i in keep_plain:
            if a0 <= i < a1:
                b = int(starts[i - a0])
                saved[i] = (words[idx[b:b + int(bl[i - a0])]].tolist(), [])

    # titles: entity names (mostly the main one), emphasis words, topic and background heads
    tdraw = tlen + TITLE_EXTRA
    n_ttok = int(tdraw.sum())
    tart = np.repeat(np.arange(m), tdraw)
    tu, tv = _rng(seed, 2, ci, 4).random(n_ttok), _rng(seed, 2, ci, 5).random(n_ttok)
    c_ent, c_emph = TITLE_ENTITY_PROB, TITLE_ENTITY_PROB + TITLE_EMPHASIS_PROB
    tidx = _draw_head(world, np.where(tu < c_emph + TITLE_STORY_TOPIC_PROB, topic[tart], T), tv)
    ent = np.flatnonzero(tu < c_ent)
    tidx[ent] = _entity_tokens(tart[ent], tv[ent], _TITLE_SALIENCE, e, n_ent, ent_turn, n_cat)
    emp = np.flatnonzero((tu >= c_ent) & (tu < c_emph))
    tidx[emp] = _emphasis_tokens(ev, tart[emp], tv[emp], e, n_emph, emph_turn, emph_width)
    title_toks = words[tidx].tolist()
    t_end = np.cumsum(tdraw).tolist()
    tlen_l = tlen.tolist()

    published = np.char.add(np.datetime_as_string(ts.astype("datetime64[s]"), unit="s"), "Z").tolist()
    sections = np.array(SECTIONS, dtype=object)[world.topic_section[topic]].tolist()
    author_names = world.authors[author].tolist()
    kw = world.keywords[topic[:, None], tag_pick].tolist()
    main_tag = np.char.lower(ev.names[e, 0].astype(str)).tolist()
    event_tag = world.cat_words[ev.emphasis[e, 0]].tolist()
    n_tags_l, topic_l, views_l = n_tags.tolist(), topic.tolist(), views.tolist()
    tag_entity_l, event_l = tag_entity.tolist(), ev.ids[e].tolist()

    texts = _texts(world, m, is_dup, src, keep, saved, bodies, title_toks, t_end, tlen_l, _rng(seed, 2, ci, 6))
    for i, (body, ttoks) in enumerate(texts):
        tags = ([main_tag[i]] if tag_entity_l[i] else []) + [event_tag[i]] + kw[i]
        yield {**_record(f"{ci * C + i + 1:0{id_width}d}", ttoks, body, published[i], sections[i],
                         list(dict.fromkeys(tags))[:n_tags_l[i]], author_names[i], views_l[i], topic_l[i]),
               "event": event_l[i]}


def generate(n: int, seed: int = 0, *, mode: str = "flat", n_topics: int = 40,
             vocab_size: int = 120_000, chunk_size: int = CHUNK_SIZE) -> Iterator[dict]:
    """Yield ``n`` synthetic articles (dicts), deterministically for ``(n, seed)``.

    ``mode`` is "flat" (topics only) or "stories" (every article a member of an event; adds
    the ``event`` field). Articles are built a chunk of ``chunk_size`` at a time; only one chunk
    is in memory. Another ``chunk_size`` gives another corpus (it is a parameter for tests).
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if n_topics < 2:
        raise ValueError(f"n_topics must be >= 2, got {n_topics}")
    if vocab_size < 2 * TOPIC_MIN_RANK + 2 * N_KEYWORDS:
        raise ValueError(f"vocab_size too small: {vocab_size}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if n == 0:
        return
    seed, n_topics, vocab_size, chunk_size = int(seed), int(n_topics), int(vocab_size), int(chunk_size)
    world = _world(seed, n_topics, vocab_size)
    tape = _EventTape(world, seed, _vocabulary(seed, n_topics, vocab_size)) if mode == "stories" else None
    id_width = max(7, len(str(n)))
    for ci in range((n + chunk_size - 1) // chunk_size):
        m = min(chunk_size, n - ci * chunk_size)
        if tape is None:
            yield from _chunk(world, seed, ci, m, id_width, chunk_size)
        else:
            yield from _story_chunk(world, seed, ci, m, id_width, chunk_size, tape)


def _json_line(a: dict) -> str:
    """``json.dumps(a, separators=(",", ":"))`` for generated articles, whose strings never
    need escaping (letters, digits, spaces, ``-:/.``); about 5x faster than the encoder."""
    tags = '","'.join(a["tags"])
    return (f'{{"id":"{a["id"]}","title":"{a["title"]}","body":"{a["body"]}","url":"{a["url"]}",'
            f'"section":"{a["section"]}","tags":["{tags}"],"author":"{a["author"]}",'
            f'"published_at":"{a["published_at"]}","views":{a["views"]},"topic":{a["topic"]}'
            + (f',"event":{a["event"]}}}' if "event" in a else "}"))


def write_jsonl(n: int, path: str, seed: int = 0, *, mode: str = "flat", **kwargs) -> int:
    """Stream ``generate(n, seed, mode=mode, **kwargs)`` as JSON Lines (compact separators,
    ASCII) to ``path`` ("-" = stdout), a block of articles at a time. Returns the number of
    bytes written."""
    if path == "-":
        out, close = getattr(sys.stdout, "buffer", None), False
        if out is None:                       # a text-only stdout replacement (e.g. in tests)
            out = sys.stdout
    else:
        out, close = open(path, "wb"), True
    binary = out is not sys.stdout
    written = 0
    buf: list[str] = []

    def flush_block() -> None:
        nonlocal written
        block = "\n".join(buf) + "\n"
        out.write(block.encode("ascii") if binary else block)
        written += len(block)                 # ASCII: characters == bytes
        buf.clear()

    try:
        for art in generate(n, seed, mode=mode, **kwargs):
            buf.append(_json_line(art))
            if len(buf) == 1_000:
                flush_block()
        if buf:
            flush_block()
        out.flush()
    finally:
        if close:
            out.close()
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.synth", description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, required=True, help="number of articles")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mode", choices=MODES, default="flat",
                   help="flat: topics only (the stress test); stories: articles grouped in events")
    p.add_argument("--n-topics", type=int, default=40)
    p.add_argument("--vocab-size", type=int, default=120_000)
    p.add_argument("-o", "--output", required=True, help='JSONL output path ("-" = stdout)')
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    size = write_jsonl(a.n, a.output, seed=a.seed, mode=a.mode, n_topics=a.n_topics,
                       vocab_size=a.vocab_size)
    secs = time.perf_counter() - t0
    print(f"synth: {a.n} {a.mode} articles, {secs:.1f} s, {size / 1e6:.1f} MB -> {a.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
