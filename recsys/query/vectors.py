"""Query vectors: a text, a draft or an indexed article over a built index's terms, weighted as the
index's method says (the query side), with the weights the same text has as an article (the
document side) and, with the semantic channel on, its embedding."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .._arrays import read_only
from ..analysis import embedding
from ..analysis.analyzer import Analyzer
from ..analysis.counting import Languages, TermIds, article_texts, weighted_term_ids
from ..documents.article import Article
from ..analysis.static_model import POOLED_TERMS
from ..index.data import FLOAT, IndexData, unit_rows
from ..weighting import query_weights, text_weights


@dataclass(frozen=True)
class Vector:
    """A query over the index's terms, and its score against itself (which normalises similarities)."""

    terms: np.ndarray         # term ids, ascending
    weights: np.ndarray       # query-side weights (TF-IDF weights, or BM25 term counts)
    doc_weights: np.ndarray   # the weights the same text has as an article (document side)
    self_score: float         # weights . doc_weights
    embedding: np.ndarray | None = None  # unit embedding, with the semantic channel on
    fed_back: bool = False  # whether the embedding has had its feedback (recsys.query.search.with_feedback)
    encoded: np.ndarray | None = None  # the model's embedding before the feedback, when it had one

    def __post_init__(self) -> None:
        read_only(self.terms)  # as an indexed article's terms are: one compiled kernel for both (recsys._arrays)


class Vectorizer:
    """Makes Vectors over one built index: its vocabulary, weighting, languages and semantic model."""

    def __init__(self, data: IndexData) -> None:
        self.data, self.config = data, data.config
        self.languages = Languages(Analyzer(data.config.analyzer), data.config.language_field)
        self.term_of = {term: i for i, term in enumerate(data.vocabulary)}
        self._token_ids: dict[str | None, TermIds] = {}  # by language (None: the corpus's)
        self.semantic = bool(data.config.semantic_weight > 0 and data.embeddings is not None)

    def article(self, article: Article) -> Vector:
        """The vector of an article that is not in the built index (an upsert)."""
        return self.text(article_texts(article, self.config.field_weights), self.languages.language_of(article),
                         embedding.article_text(article.title, article.body))

    def draft(self, text: str, title: str | None, language: str | None) -> Vector:
        """The vector of a draft's body and title (``language``: a language code or name, or None)."""
        weights = self.config.field_weights
        language = self.languages.normalize(language, strict=True)
        return self.text([(text, weights.get("body", 1.0) or 1.0), (title or "", weights.get("title", 0.0))],
                         language, embedding.article_text(title, text))

    def text(self, texts: list[tuple[str, float]], language: str | None = None, plain_text: str = "") -> Vector:
        """The vector of (text, field weight) pairs; with the semantic channel on, also the embedding
        (of ``plain_text`` for a language model)."""
        terms, tf, length = weighted_term_ids(texts, self._ids(language))
        weights, doc_weights = text_weights(self.config, self.data.idf, self.data.avgdl, terms, tf, length)
        vector = Vector(terms, weights, doc_weights, float(np.dot(weights, doc_weights)))
        if not self.semantic:
            return vector
        if self.data.projection is not None:
            return replace(vector, embedding=self._projected(vector))
        return replace(vector, embedding=embedding.encode([plain_text])[0].astype(np.float64))

    def _ids(self, language: str | None) -> TermIds:
        """The token -> term id lookup of a language's analyzer (None: the corpus's)."""
        ids = self._token_ids.get(language)
        if ids is None:
            ids = self._token_ids[language] = TermIds(self.languages.analyzer_for(language), self.term_of)
        return ids

    def built_row(self, row: int) -> Vector:
        """The query vector of an article of the built index."""
        data = self.data
        start, end = data.rows.indptr[row], data.rows.indptr[row + 1]
        terms = data.rows.row_terms(row)
        doc_weights = np.asarray(data.rows.data[start:end], dtype=np.float64)
        tf = None if data.query_tf is None else np.asarray(data.query_tf[start:end])
        weights = query_weights(self.config, doc_weights, tf, terms, data.df)
        vector_embedding = np.asarray(data.embeddings[row], dtype=np.float64) if self.semantic else None
        return Vector(terms, np.asarray(weights, dtype=np.float64), doc_weights, float(data.self_scores[row]),
                      vector_embedding, fed_back=True)

    def _projected(self, vector: Vector) -> np.ndarray:
        """A vector's unit static or LSA embedding: its document-side weights projected (the static
        model pools the strongest POOLED_TERMS terms, as the build does)."""
        terms, weights = vector.terms, vector.doc_weights
        if self.config.semantic_model != "static":  # LSA: a column per term
            return unit_rows(np.asarray(self.data.projection[:, terms], dtype=np.float64) @ weights)
        if len(terms) > POOLED_TERMS:
            strongest = np.sort(np.argsort(-weights.astype(FLOAT), kind="stable")[:POOLED_TERMS])
            terms, weights = terms[strongest], weights[strongest]
        return unit_rows(weights @ np.asarray(self.data.projection[terms], dtype=np.float64))
