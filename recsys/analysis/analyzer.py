"""Analyzers: turn text into the list of index terms."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from functools import lru_cache

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from .stopwords import FRENCH, GERMAN, SPANISH
from ..errors import ParameterError

STEM_CACHE_SIZE = 1 << 17  # words whose stems are kept; a bound, so that drafts of new words cannot grow it

_TOKEN = re.compile(r"\w\w+")
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_STOP_WORD_LISTS = {"english": ENGLISH_STOP_WORDS, "german": GERMAN, "french": FRENCH, "spanish": SPANISH}
LANGUAGE_CODES = {"en": "english", "de": "german", "fr": "french", "es": "spanish"}


def fold_accents(text: str) -> str:
    """Return ``text`` with diacritics removed ('café' -> 'cafe'); ASCII text is returned as is."""
    if text.isascii():
        return text
    return unicodedata.normalize("NFC", _COMBINING.sub("", unicodedata.normalize("NFKD", text)))


@dataclass(frozen=True)
class AnalyzerConfig:
    """How text becomes terms.

    ``stop_words`` is a language name ("english", "german", "french", "spanish"), a list of words,
    or None; ``stemmer`` is a Snowball language name ("english", "german", ...) or None.
    ``char_ngrams`` = (low, high) makes the terms character n-grams of each word instead (for
    languages written without spaces); stop words and stemming then do not apply.
    """

    stop_words: str | tuple[str, ...] | None = "english"
    stemmer: str | None = None
    fold_accents: bool = True
    min_token_length: int = 2
    char_ngrams: tuple[int, int] | None = None

    def to_dict(self) -> dict:
        data = asdict(self)
        for name in ("stop_words", "char_ngrams"):
            if isinstance(data[name], tuple):
                data[name] = list(data[name])
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "AnalyzerConfig":
        data = dict(data)
        for name in ("stop_words", "char_ngrams"):
            if isinstance(data.get(name), list):
                data[name] = tuple(data[name])
        return cls(**data)

    def for_language(self, language: str) -> "AnalyzerConfig":
        """This configuration for another language: its stop words and stemmer, where this one has
        a stop word list or a stemmer."""
        name = LANGUAGE_CODES.get(language.lower(), language.lower())
        if name not in _STOP_WORD_LISTS:
            raise ParameterError(f"language: unknown {language!r}; known: {sorted(LANGUAGE_CODES)} "
                                 f"or {sorted(_STOP_WORD_LISTS)}")
        return replace(self, stop_words=name if self.stop_words is not None else None,
                       stemmer=name if self.stemmer is not None else None)


class Analyzer:
    """Callable that maps a text to its terms: casefold, tokenise, fold accents, drop stop words, stem."""

    def __init__(self, config: AnalyzerConfig | None = None) -> None:
        self.config = config or AnalyzerConfig()
        self._stop = _stop_word_set(self.config.stop_words)
        self._stem = _stemmer(self.config.stemmer)
        if self.config.min_token_length < 1:
            raise ParameterError("min_token_length must be >= 1")
        self._pattern = (_TOKEN if self.config.min_token_length == 2
                         else re.compile(r"\w{%d,}" % self.config.min_token_length))
        ngrams = self.config.char_ngrams
        if ngrams is not None:
            if len(ngrams) != 2 or not 1 <= ngrams[0] <= ngrams[1]:
                raise ParameterError(f"char_ngrams must be (low, high) with 1 <= low <= high, got {ngrams!r}")
            self._pattern = re.compile(r"\w+")
            self._stop, self._stem = frozenset(), str

    def __call__(self, text: str) -> list[str]:
        """The terms of ``text``, in order."""
        stop = self._stop
        return list(map(self._stem, [t for t in self.raw_tokens(text) if t not in stop]))

    def term_counts(self, text: str) -> tuple[dict[str, int], int]:
        """Term -> count for ``text``, and the number of terms (what ``__call__`` gives, counted)."""
        counts = Counter(self.raw_tokens(text))
        for word in self._stop.intersection(counts):
            del counts[word]
        total = sum(counts.values())
        if self._stem is str:
            return counts, total
        terms = list(map(self._stem, counts))
        if len(set(terms)) == len(terms):
            return dict(zip(terms, counts.values())), total
        merged: dict[str, int] = {}
        for term, n in zip(terms, counts.values()):
            merged[term] = merged.get(term, 0) + n
        return merged, total

    def term_of(self, token: str) -> str | None:
        """The term a raw token becomes (None for a stop word); ``__call__`` is this over ``raw_tokens``."""
        return None if token in self._stop else self._stem(token)

    def raw_tokens(self, text: str) -> list[str]:
        """Tokens of ``text`` after case and accent folding, before stop words and stemming."""
        if not text:
            return []
        text = text.casefold()
        if self.config.fold_accents:
            text = fold_accents(text)
        words = self._pattern.findall(text)
        if self.config.char_ngrams is None:
            return words
        low, high = self.config.char_ngrams
        grams = []
        for word in words:
            padded = f" {word} "
            for n in range(low, high + 1):
                grams.extend(padded[i:i + n] for i in range(max(1, len(padded) - n + 1)))
        return grams


def _stop_word_set(stop_words: str | Iterable[str] | None) -> frozenset[str]:
    if stop_words is None:
        return frozenset()
    if isinstance(stop_words, str):
        try:
            return frozenset(_STOP_WORD_LISTS[stop_words])
        except KeyError:
            raise ParameterError(
                f"stop_words: unknown list {stop_words!r}; known: {sorted(_STOP_WORD_LISTS)}") from None
    return frozenset(fold_accents(w.casefold()) for w in stop_words)


def _stemmer(language: str | None) -> Callable[[str], str]:
    """A word -> stem function (Snowball, via PyStemmer) that remembers every word it has stemmed."""
    if language is None:
        return str
    import Stemmer  # PyStemmer: Snowball stemmers in C

    try:
        stem_word = Stemmer.Stemmer(language, 0).stemWord
    except KeyError:
        raise ParameterError(
            f"stemmer: unknown language {language!r}; known: {Stemmer.algorithms()}") from None
    return lru_cache(maxsize=STEM_CACHE_SIZE)(stem_word)
