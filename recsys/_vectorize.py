"""Turning articles into a weighted term-count matrix, one pass, streaming."""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable, Mapping

import numpy as np
import scipy.sparse as sp

from .article import Article
from .text import Analyzer


def field_text(article: Article, name: str) -> str:
    """The text of one field of an article: tags are joined; unknown names are read from metadata."""
    if name == "tags":
        return " ".join(article.tags)
    value = getattr(article, name) if name in ("title", "body", "section", "author", "url") else article.meta.get(name)
    return value if isinstance(value, str) else ""


def weighted_terms(texts: Iterable[tuple[str, float]], analyzer: Analyzer) -> tuple[dict[str, float], float]:
    """Term -> weighted count over (text, weight) pairs, and the weighted token total (the length)."""
    counts: dict[str, float] = {}
    length = 0.0
    for text, weight in texts:
        if not weight or not text:
            continue
        tokens = analyzer(text)
        length += weight * len(tokens)
        for term, n in Counter(tokens).items():
            counts[term] = counts.get(term, 0.0) + weight * n
    return counts, length


def article_texts(article: Article, field_weights: Mapping[str, float]) -> list[tuple[str, float]]:
    return [(field_text(article, name), weight) for name, weight in field_weights.items()]


class CountBuilder:
    """Accumulates weighted term counts of documents into a CSR matrix with a sorted vocabulary."""

    def __init__(self, analyzer: Analyzer, field_weights: Mapping[str, float]) -> None:
        self.analyzer, self.field_weights = analyzer, dict(field_weights)
        self._vocab: dict[str, int] = {}
        self._indices = array("i")
        self._data = array("d")
        self._indptr = array("q", [0])
        self._lengths = array("d")

    def add(self, article: Article) -> None:
        counts, length = weighted_terms(article_texts(article, self.field_weights), self.analyzer)
        vocab = self._vocab
        for term, count in counts.items():
            index = vocab.get(term)
            if index is None:
                index = vocab[term] = len(vocab)
            self._indices.append(index)
            self._data.append(count)
        self._indptr.append(len(self._indices))
        self._lengths.append(length)

    def finish(self) -> tuple[sp.csr_matrix, np.ndarray, list[str]]:
        """(counts with columns in sorted-term order and sorted indices, document lengths, vocabulary)."""
        terms = list(self._vocab)
        order = sorted(range(len(terms)), key=terms.__getitem__)
        new_index = np.empty(len(terms), dtype=np.int32)
        new_index[order] = np.arange(len(terms), dtype=np.int32)
        indices = new_index[np.frombuffer(self._indices, dtype=np.int32)] if terms else np.zeros(0, np.int32)
        counts = sp.csr_matrix((np.frombuffer(self._data, dtype=np.float64).copy(), indices,
                                np.frombuffer(self._indptr, dtype=np.int64).copy()),
                               shape=(len(self._lengths), len(terms)))
        counts.sort_indices()
        return counts, np.frombuffer(self._lengths, dtype=np.float64).copy(), [terms[i] for i in order]
