"""Languages: stop words and stemming for English, German, French and Spanish, per corpus or per
article, and character n-grams for languages written without spaces."""

import pytest

import recsys
from recsys.analysis.analyzer import Analyzer, AnalyzerConfig

PURE = dict(popularity_weight=0, freshness_weight=0)


@pytest.mark.parametrize("language, text, expected", [
    ("german", "Die Bürger haben über die neuen Straßenbahnen abgestimmt", ["burg", "neu", "strassenbahn", "abgestimmt"]),
    ("french", "Les habitants de la ville ont voté pour les nouveaux tramways", ["habit", "vill", "vot", "nouveau", "tramway"]),
    ("spanish", "Los vecinos de la ciudad votaron por los nuevos tranvías", ["vecin", "ciud", "vot", "nuev", "tranvi"]),
])
def test_stop_words_and_stemming_per_language(language, text, expected):
    assert Analyzer(AnalyzerConfig(stop_words=language, stemmer=language))(text) == expected


def test_a_corpus_in_german():
    articles = [{"id": "q", "title": "Die Straßenbahnen der Stadt fahren wieder"},
                {"id": "tram", "title": "Neue Straßenbahn für die Stadt"},
                {"id": "other", "title": "Der Haushalt der Stadt und die Steuern"}]
    index = recsys.RelatedIndex.build(articles, stop_words="german", stemmer="german", **PURE)
    assert index.related("q", k=1)[0].id == "tram"


def test_articles_in_another_language_use_its_analyzer():
    articles = [{"id": "en", "title": "The city votes on new trams", "language": "en"},
                {"id": "de-1", "title": "Die Stadt stimmt über neue Straßenbahnen ab", "language": "de"},
                {"id": "de-2", "title": "Neue Straßenbahn: die Stadt hat abgestimmt", "language": "de"},
                {"id": "de-3", "title": "Die Steuern der Stadt steigen", "language": "de"}]
    index = recsys.RelatedIndex.build(articles, **PURE)
    assert index.related("de-1", k=1)[0].id == "de-2"  # "die" is a German stop word here
    assert "die" not in index._view.data.vocabulary and "strassenbahn" in index._view.data.vocabulary
    assert index.more_like_this("Straßenbahnen", k=1, language="de")[0].id in ("de-1", "de-2")
    with pytest.raises(recsys.ParameterError, match="language: unknown"):
        index.more_like_this("x", language="klingon")


def test_character_ngrams_for_text_without_spaces():
    articles = [{"id": "q", "title": "東京の天気は晴れ"}, {"id": "same", "title": "東京の天気予報"},
                {"id": "other", "title": "大阪の経済ニュース"}]
    index = recsys.RelatedIndex.build(articles, char_ngrams=(2, 3), stop_words=None, stemmer=None, **PURE)
    assert index.related("q", k=1)[0].id == "same"
    with pytest.raises(recsys.ParameterError, match="char_ngrams"):
        recsys.RelatedIndex.build(articles, char_ngrams=(3, 2))


def _multilingual_articles(n=40):
    """Articles in German, English (the corpus's language) and French that share spellings: "die"
    is a German stop word, an English term and French "di"; "kinder" and "strassen" stem differently."""
    texts = {"de": "Die Kinder spielen auf den Strassen, die Kinder lachen",
             "en": "Kinder die on the strassen, says the kinder report",
             "fr": "Les kinder de la ville et les strassen die"}
    langs = ["de", "en", None, "fr"]
    return [{"id": f"a{i}", "title": f"{texts[langs[i % 4] or 'en']} {i}", "body": f"story number {i}",
             **({"lang": langs[i % 4]} if langs[i % 4] else {})}
            for i in range(n)]


def _count(articles, n_jobs):
    from recsys.analysis.counting import CountBuilder
    from recsys.config import IndexConfig
    from recsys.documents.article import Article

    config = IndexConfig()
    with CountBuilder(Analyzer(config.analyzer), config.field_weights, n_jobs, "lang") as counts:
        for row in articles:
            counts.add(Article.from_dict(row))
        return counts.finish()


def _terms_of_row(tf, vocabulary, row):
    return {vocabulary[j]: float(v) for j, v in zip(tf.indices[tf.indptr[row]:tf.indptr[row + 1]],
                                                     tf.data[tf.indptr[row]:tf.indptr[row + 1]])}


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_a_spelling_in_two_languages_is_two_raw_tokens(n_jobs, monkeypatch):
    import numpy as np

    from recsys.analysis.counting import CountBuilder

    monkeypatch.setattr(CountBuilder, "BATCH", 3)  # several batches in the workers, and a partial one
    articles = _multilingual_articles(41)
    tf, doc_len, vocabulary = _count(articles, n_jobs)
    assert {"die", "kinder", "kind", "strassen", "strass"} <= set(vocabulary)
    german, english, french = ({term: n / 2 for term, n in _terms_of_row(tf, vocabulary, row).items()}
                               for row in (0, 1, 3))  # in titles, of weight 2
    assert "die" not in german and german["kind"] == 2 and "kinder" not in german
    assert german["strass"] == 1 and "strassen" not in german
    assert english["die"] == 1 and english["kinder"] == 2 and english["strassen"] == 1
    assert "kind" not in english and "strass" not in english
    assert _terms_of_row(tf, vocabulary, 2) == _terms_of_row(tf, vocabulary, 1)  # no language: the corpus's
    assert "les" not in french and french["kind"] == 1 and french["strassen"] == 1  # French stemming
    assert french["di"] == 1 and "die" not in french
    serial_tf, serial_len, serial_vocabulary = _count(articles, 1)
    assert vocabulary == serial_vocabulary
    for name in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(tf, name), getattr(serial_tf, name))
    np.testing.assert_array_equal(doc_len, serial_len)


def test_languages_build_the_same_index_with_worker_processes(monkeypatch):
    import numpy as np

    from recsys.analysis.counting import CountBuilder

    monkeypatch.setattr(CountBuilder, "BATCH", 5)
    articles = _multilingual_articles(63)
    serial = recsys.RelatedIndex.build(articles, language_field="lang", n_jobs=1, **PURE)
    parallel = recsys.RelatedIndex.build(articles, language_field="lang", n_jobs=2, **PURE)
    assert serial._view.data.vocabulary == parallel._view.data.vocabulary
    assert {"die", "kinder", "kind", "strassen", "strass"} <= set(serial._view.data.vocabulary)
    for name in ("indptr", "low", "high", "high_ptr", "data"):
        np.testing.assert_array_equal(getattr(serial._view.data.rows, name), getattr(parallel._view.data.rows, name))
    np.testing.assert_array_equal(serial._view.data.neighbor_rows, parallel._view.data.neighbor_rows)
