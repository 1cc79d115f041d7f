"""Turning articles into a weighted term-count matrix, one pass, streaming."""

from __future__ import annotations

import gc
import multiprocessing
import os
from array import array
from collections import Counter, deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from collections.abc import Iterable, Mapping
from itertools import groupby
from operator import itemgetter

import numpy as np
import scipy.sparse as sp
from numba import njit

from ..documents.article import Article
from ..errors import ParameterError
from .analyzer import LANGUAGE_CODES, Analyzer


def field_text(article: Article, name: str) -> str:
    """The text of one field of an article: tags are joined; unknown names are read from metadata."""
    if name == "tags":
        return " ".join(article.tags)
    value = getattr(article, name) if name in ("title", "body", "section", "author", "url") else article.meta.get(name)
    return value if isinstance(value, str) else ""


def weighted_terms(texts: Iterable[tuple[str, float]], analyzer: Analyzer) -> tuple[dict[str, float], float]:
    """Term -> weighted count over (text, weight) pairs, and the weighted token total (the length):
    what an article's or a query's terms count, by definition (the build's CountBuilder and a
    query's weighted_term_ids count the same, faster; tests hold them to this)."""
    counts: dict[str, float] = {}
    length = 0.0
    for text, weight in texts:
        if not weight or not text:
            continue
        terms, n_terms = analyzer.term_counts(text)
        length += weight * n_terms
        if not counts and weight == 1:  # the common case, a body of weight 1, without a loop
            counts = dict(terms)
            continue
        for term, n in terms.items():
            counts[term] = counts.get(term, 0.0) + weight * n
    return counts, length


STOP_WORD, UNKNOWN = -2, -1  # TermIds' values for a token that is no term, or a term not in the vocabulary


class TermIds(dict):
    """Raw token -> the id in a vocabulary of the term ``analyzer`` makes of it (UNKNOWN, STOP_WORD),
    looked up once per token and remembered: a query's counting is then one lookup per token. It
    remembers at most MAX_TOKENS tokens, then starts afresh."""

    MAX_TOKENS = 1 << 15  # a bound, so that drafts of new words cannot grow it (see STEM_CACHE_SIZE)

    def __init__(self, analyzer: Analyzer, term_ids: Mapping[str, int]) -> None:
        super().__init__()
        self.analyzer, self.term_ids = analyzer, term_ids

    def __missing__(self, token: str) -> int:
        if len(self) >= self.MAX_TOKENS:
            self.clear()
        term = self.analyzer.term_of(token)
        number = self[token] = STOP_WORD if term is None else self.term_ids.get(term, UNKNOWN)
        return number


def weighted_term_ids(texts: Iterable[tuple[str, float]], ids: TermIds) -> tuple[np.ndarray, np.ndarray, float]:
    """weighted_terms over a vocabulary: the ids of the terms in it (ascending, int32), their
    weighted counts (float64), and the weighted token total (the length, which counts every term)."""
    found_ids, found_counts, length = [], [], 0.0
    for text, weight in texts:
        if not weight or not text:
            continue
        tokens = Counter(ids.analyzer.raw_tokens(text))
        numbers = np.fromiter(map(ids.__getitem__, tokens), np.int64, len(tokens))
        counts = np.fromiter(tokens.values(), np.int64, len(tokens))
        length += weight * int(counts[numbers != STOP_WORD].sum())
        known = numbers >= 0
        terms, at = np.unique(numbers[known], return_inverse=True)  # tokens that make the same term add up
        found_ids.append(terms)
        found_counts.append(weight * np.bincount(at, weights=counts[known], minlength=len(terms)))
    if len(found_ids) != 1:  # fields in order, as weighted_terms adds them up
        terms, at = np.unique(np.concatenate([np.zeros(0, np.int64)] + found_ids), return_inverse=True)
        found_counts = [np.bincount(at, weights=np.concatenate([np.zeros(0)] + found_counts), minlength=len(terms))]
        found_ids = [terms]
    return found_ids[0].astype(np.int32), found_counts[0], length


def article_texts(article: Article, field_weights: Mapping[str, float]) -> list[tuple[str, float]]:
    """(text, weight) of each weighted field of an article."""
    return [(field_text(article, name), weight) for name, weight in field_weights.items()]


class Languages:
    """Per-article languages: an article whose ``language_field`` names another supported language
    than the corpus's is analysed with that language's stop words and stemmer."""

    def __init__(self, analyzer: Analyzer, language_field: str | None) -> None:
        self.analyzer, self.field = analyzer, language_field
        self._analyzers: dict[str, Analyzer] = {}

    def language_of(self, article: Article) -> str | None:
        """The article's language name if it differs from the corpus's and is supported, else None
        (an unknown language is analysed as the corpus's)."""
        value = article.meta.get(self.field) if self.field else None
        return self.normalize(value) if isinstance(value, str) else None

    def normalize(self, language: str | None, *, strict: bool = False) -> str | None:
        """A language code or name as the name the analyzers use; None for the corpus's own language
        (and, unless ``strict``, for an unsupported one)."""
        if not language or not language.strip():
            return None
        name = LANGUAGE_CODES.get(language.strip().lower(), language.strip().lower())
        config = self.analyzer.config
        if name not in LANGUAGE_CODES.values():
            if strict:
                raise ParameterError(f"language: unknown {language!r}; known: {sorted(LANGUAGE_CODES.items())}")
            return None
        if config.char_ngrams is not None or name in (config.stop_words, config.stemmer):
            return None
        return name

    def analyzer_for(self, language: str | None) -> Analyzer:
        if not language:
            return self.analyzer
        if language not in self._analyzers:
            self._analyzers[language] = Analyzer(self.analyzer.config.for_language(language))
        return self._analyzers[language]


class _Tokens(dict):
    """One language's part of a ``_Numbering``: spelling -> number, numbering a new spelling as
    the next number of the whole numbering (plain string keys, so counting stays one dict lookup
    per token)."""

    def __init__(self, numbering: _Numbering, language: str | None) -> None:
        super().__init__()
        self.numbering, self.language = numbering, language

    def __missing__(self, token: str) -> int:
        numbering = self.numbering
        number = self[token] = numbering.size
        numbering.size += 1
        if numbering.new is not None:
            numbering.new.append((self.language, token))
        return number


class _Numbering:
    """Numbers raw tokens as first seen, 0, 1, 2, ... across all languages.

    A raw token is identified by its *language* and its spelling: ``language`` is None for the
    corpus's own language, or the name of another one (``Languages.language_of``, e.g. "german"),
    whose analyzer later makes the token's term. So "die" in a German article and "die" in an
    English one are two raw tokens, with two numbers. Each language has its own dict,
    ``tokens(language)``, keyed by plain spellings. If ``record``, ``new`` lists the
    ``(language, spelling)`` pairs numbered since it was last emptied, in number order (what a
    worker sends back).
    """

    def __init__(self, record: bool = False) -> None:
        self.size = 0
        self.by_language: dict[str | None, _Tokens] = {}
        self.new: list[tuple[str | None, str]] | None = [] if record else None

    def __len__(self) -> int:
        return self.size

    def tokens(self, language: str | None) -> _Tokens:
        """Spelling -> number for the raw tokens of ``language`` (None: the corpus's own)."""
        tokens = self.by_language.get(language)
        if tokens is None:
            tokens = self.by_language[language] = _Tokens(self, language)
        return tokens

    def numbers(self, pairs: Iterable[tuple[str | None, str]]) -> list[int]:
        """The numbers of ``(language, spelling)`` pairs, numbering new ones (a run of pairs of
        one language at a time, so the common case, all the corpus's own, is one ``map``)."""
        numbers: list[int] = []
        spelling = itemgetter(1)
        for language, run in groupby(pairs, itemgetter(0)):
            numbers.extend(map(self.tokens(language).__getitem__, map(spelling, run)))
        return numbers


class _RawCounts:
    """Weighted raw-token counts, row by row (CSR arrays), with raw tokens numbered as first seen
    (``tokens``: a raw token is a language and a spelling, see ``_Numbering``)."""

    def __init__(self, tokens: _Numbering | None = None) -> None:
        self.tokens = _Numbering() if tokens is None else tokens
        self._own = self.tokens.tokens(None)
        self.indices = array("i")
        self.data = array("f")
        self.indptr = array("q", [0])

    def add(self, texts: Iterable[tuple[str, float]], analyzer: Analyzer, language: str | None = None) -> None:
        """Count one document, tokenised by ``analyzer``; its raw tokens are those of ``language``
        (None: the corpus's own), kept apart from the same spellings in other languages."""
        number = (self._own if language is None else self.tokens.tokens(language)).__getitem__
        for text, weight in texts:
            tokens = Counter(analyzer.raw_tokens(text))
            self.indices.extend(map(number, tokens))
            self.data.extend(tokens.values() if weight == 1.0 else [n * weight for n in tokens.values()])
        self.indptr.append(len(self.indices))

    def extend(self, batch: "_Batch", renumber: np.ndarray) -> None:
        """Append the rows of a worker's batch; ``renumber`` maps the worker's token numbers to ours."""
        self.indices.frombytes(renumber[np.frombuffer(batch.indices, dtype=np.int32)].tobytes())
        self.data.extend(batch.data)
        ends = np.frombuffer(batch.indptr, dtype=np.int64)[1:] + self.indptr[-1]
        self.indptr.frombytes(ends.tobytes())


@dataclass
class _Batch:
    """What a worker sends back: its rows, and the raw tokens it numbered for the first time, as
    ``(language, spelling)`` pairs in number order (language None for the corpus's own)."""

    worker: int
    new_tokens: list[tuple[str | None, str]]
    indices: array
    data: array
    indptr: array


_worker: tuple[Analyzer, _Numbering] | None = None


def _start_worker(config) -> None:
    global _worker
    _worker = (Analyzer(config), _Numbering(record=True))


def _count_batch(batch: list[tuple[list[tuple[str, float]], str | None]]) -> _Batch:
    """Count a batch in a worker. Its token numbers persist across the worker's batches, so only
    tokens it has not seen before are sent back (a worker takes its batches in submission order).
    Each document comes as its (text, weight) pairs and its language (None: the corpus's own)."""
    analyzer, tokens = _worker
    counts = _RawCounts(tokens)
    for texts, language in batch:
        counts.add(texts, analyzer, language)
    new, tokens.new = tokens.new, []
    return _Batch(os.getpid(), new, counts.indices, counts.data, counts.indptr)


class CountBuilder:
    """Accumulates the weighted term counts of documents into a CSR matrix with a sorted vocabulary.

    Each field's raw tokens are counted per document, times the field's weight; stop words and
    stemming are applied once per distinct raw token at the end, when the raw counts are folded in
    place into the term matrix (which also adds up the fields). A raw token is a spelling *and* a
    language: that of the document (``Languages.language_of``, None for the corpus's own), whose
    analyzer makes its term, so the same spelling in two languages is counted apart and may make two
    different terms. With ``n_jobs`` > 1, batches of documents are tokenised in worker processes
    (started once there is a full batch) and merged back in order. Use it as a context manager so
    that the workers are stopped on error.
    """

    BATCH = 1000

    def __init__(self, analyzer: Analyzer, field_weights: Mapping[str, float], n_jobs: int = 1,
                 language_field: str | None = None) -> None:
        self.analyzer = analyzer
        self.languages = Languages(analyzer, language_field)
        self.field_weights = {name: float(w) for name, w in field_weights.items() if w}
        self.n_jobs = n_jobs
        self._counts = _RawCounts()
        self._batch: list[tuple[list[tuple[str, float]], str | None]] = []  # (texts, language)
        self._pending: deque = deque()
        self._renumber: dict[int, array] = {}  # worker -> its token numbers, in ours
        self._pool = None

    def __enter__(self) -> "CountBuilder":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def add(self, article: Article) -> None:
        texts = article_texts(article, self.field_weights)
        language = self.languages.language_of(article)
        if self.n_jobs <= 1:
            self._counts.add(texts, self.analyzer, language)
            return
        self._batch.append((texts, language))
        if len(self._batch) == self.BATCH:
            self._submit()

    def _submit(self) -> None:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.n_jobs, mp_context=multiprocessing.get_context("fork"),
                                             initializer=_start_worker, initargs=(self.analyzer.config,))
        self._pending.append(self._pool.submit(_count_batch, self._batch))
        self._batch = []
        while len(self._pending) > 2 * self.n_jobs or (self._pending and self._pending[0].done()):
            self._merge(self._pending.popleft().result())

    def _merge(self, batch: _Batch) -> None:
        renumber = self._renumber.setdefault(batch.worker, array("i"))
        renumber.extend(self._counts.tokens.numbers(batch.new_tokens))
        self._counts.extend(batch, np.frombuffer(renumber, dtype=np.int32))

    def _drain(self) -> None:
        if self._pool is None:
            for texts, language in self._batch:
                self._counts.add(texts, self.analyzer, language)
        else:
            if self._batch:
                self._submit()
            while self._pending:
                self._merge(self._pending.popleft().result())
            self.close()
        self._batch = []

    def finish(self) -> tuple[sp.csr_matrix, np.ndarray, list[str]]:
        """(weighted counts (float32) with columns in sorted-term order, document lengths, vocabulary).

        Call once: the raw counts are folded into the matrix in place (their memory becomes its
        arrays), so at no time are both held."""
        self._drain()
        raw_counts, self._counts = self._counts, None
        terms: list[str | None] = [None] * len(raw_counts.tokens)  # raw token number -> its term (None: a stop word)
        for language, tokens in raw_counts.tokens.by_language.items():
            term_of = self.languages.analyzer_for(language).term_of  # the raw token's own language's
            for token, number in tokens.items():
                terms[number] = term_of(token)
        for tokens in raw_counts.tokens.by_language.values():
            tokens.clear()  # now, not at the next full collection: a token's dict and numbering refer to each other
        raw_counts.tokens = raw_counts._own = None
        vocabulary = sorted({t for t in terms if t is not None})
        column = {term: i for i, term in enumerate(vocabulary)}
        column_of = np.array([-1 if t is None else column[t] for t in terms], dtype=np.int32)
        del terms, column
        indptr = _fold_rows(np.frombuffer(raw_counts.indptr, dtype=np.int64),
                            np.frombuffer(raw_counts.indices, dtype=np.int32),
                            np.frombuffer(raw_counts.data, dtype=np.float32), column_of)
        nnz = int(indptr[-1])
        if nnz < np.iinfo(np.int32).max:  # one index dtype, or scipy copies the indices to int64
            indptr = indptr.astype(np.int32)
        total = sp.csr_matrix((_packed(raw_counts.data, nnz, np.float32), _packed(raw_counts.indices, nnz, np.int32),
                               indptr), shape=(len(indptr) - 1, len(vocabulary)), copy=False)
        total.has_sorted_indices = True
        doc_len = np.asarray(total.sum(axis=1, dtype=np.float64)).ravel()
        return total, doc_len, vocabulary


def _packed(values: array, n: int, dtype) -> np.ndarray:
    """The first ``n`` items of ``values`` as an array sharing its memory, the rest released (kept
    if something still holds a view of it, which forbids resizing)."""
    try:
        del values[n:]
    except BufferError:
        gc.collect()  # a view in a reference cycle (numba's first compilation can leave one)
        try:
            del values[n:]
        except BufferError:
            pass
    return np.frombuffer(values, dtype=dtype, count=n)


@njit(cache=True, nogil=True)
def _fold_rows(indptr, indices, data, column_of):
    """Raw-token counts (CSR arrays) turned, in place, into term counts: each raw token becomes
    ``column_of[token]`` (-1: dropped), a row's entries of one term are summed (in their order, as
    a sparse product would), sorted by term, and zero sums dropped; the rows are packed to the
    front of ``indices`` and ``data``. Returns the new indptr (int64)."""
    n = indptr.shape[0] - 1
    out = np.zeros(n + 1, np.int64)
    w = 0
    for i in range(n):
        a, b = indptr[i], indptr[i + 1]
        columns = np.empty(b - a, np.int32)
        for p in range(b - a):
            columns[p] = column_of[indices[a + p]]
        values = data[a:b].copy()  # the packed row may overwrite its own raw entries: read them first
        order = np.argsort(columns, kind="mergesort")
        start, last = w, -1
        for q in order:
            c = columns[q]
            if c < 0:
                continue
            if c == last:
                data[w - 1] += values[q]
            else:
                if w > start and data[w - 1] == 0.0:
                    w -= 1
                indices[w], data[w] = c, values[q]
                w += 1
                last = c
        if w > start and data[w - 1] == 0.0:
            w -= 1
        out[i + 1] = w
    return out
