"""Languages: stop words and stemming for English, German, French and Spanish, per corpus or per
article, and character n-grams for languages written without spaces."""

import pytest

import recsys
from recsys.text import Analyzer, AnalyzerConfig

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
    assert "die" not in index._data.vocabulary and "strassenbahn" in index._data.vocabulary
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
