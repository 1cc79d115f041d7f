"""The static semantic model: a vector for every word piece of all-MiniLM-L6-v2's vocabulary,
distilled once from the model (``recsys.analysis.static_distill``) and shipped inside the package
(int8, 128 dimensions). A word's vector is the mean of its word pieces' vectors (WordPiece, as the
model tokenises); no torch, no tokenizer library, no download."""

from __future__ import annotations

import itertools
import threading
import unicodedata
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .analyzer import Analyzer

MODEL_DIR = Path(__file__).resolve().parents[1] / "data" / "static_minilm"
MAX_WORD_CHARS = 100   # a longer word is one unknown piece, as BERT's tokenizer has it
POOLED_TERMS = 100     # an article's embedding pools its strongest terms, at most this many
_load_lock = threading.Lock()


def quantise(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 vectors and a float32 scale per row (symmetric: row = int8 * scale)."""
    peaks = np.abs(vectors).max(axis=1)
    scales = np.where(peaks > 0, peaks / 127.0, 1.0).astype(np.float32)
    return np.clip(np.rint(vectors / scales[:, None]), -127, 127).astype(np.int8), scales


class StaticModel:
    """The shipped word-piece vectors and the WordPiece tokenizer over their vocabulary."""

    def __init__(self, directory: Path = MODEL_DIR) -> None:
        pieces = (directory / "vocab.txt").read_text(encoding="utf-8").split("\n")
        self.pieces = pieces[:-1] if pieces and pieces[-1] == "" else pieces
        self.piece_id = {piece: i for i, piece in enumerate(self.pieces)}
        vectors = np.load(directory / "vectors.npy", allow_pickle=False)
        scales = np.load(directory / "scales.npy", allow_pickle=False)
        self.vectors = vectors.astype(np.float32) * scales[:, None]
        self.dimensions = self.vectors.shape[1]
        self.longest_piece = max(len(piece.removeprefix("##")) for piece in self.pieces)

    def word_pieces(self, text: str) -> list[int]:
        """The ids of ``text``'s word pieces (unknown words left out)."""
        if text.isascii() and text.isalnum():  # one plain word (as index terms are): nothing to split
            return self._word(text.lower())
        ids: list[int] = []
        for word in _basic_words(text):
            ids.extend(self._word(word))
        return ids

    def _word(self, word: str) -> list[int]:
        """Greedy longest-match-first WordPiece of one word; [] if a part of it is not in the vocabulary."""
        if len(word) > MAX_WORD_CHARS:
            return []
        ids, start = [], 0
        while start < len(word):
            end = min(len(word), start + self.longest_piece)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                found = self.piece_id.get(piece)
                if found is not None:
                    ids.append(found)
                    break
                end -= 1
            else:
                return []
            start = end
        return ids


@lru_cache(maxsize=1)
def load() -> StaticModel:
    """The shipped static model (read once per process)."""
    with _load_lock:
        return StaticModel()


def _basic_words(text: str) -> list[str]:
    """BERT's basic tokenisation of uncased text: lower case, accents stripped, split at white space,
    with every punctuation and CJK character a word of its own."""
    text = "".join(c for c in unicodedata.normalize("NFD", text.lower()) if unicodedata.category(c) != "Mn")
    words: list[str] = []
    for chunk in text.split():
        current = ""
        for char in chunk:
            if _is_punctuation(char) or _is_cjk(char):
                if current:
                    words.append(current)
                words.append(char)
                current = ""
            else:
                current += char
        if current:
            words.append(current)
    return words


def _is_punctuation(char: str) -> bool:
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x2A6DF
            or 0x2A700 <= code <= 0x2B73F or 0x2B740 <= code <= 0x2B81F or 0x2B820 <= code <= 0x2CEAF
            or 0xF900 <= code <= 0xFAFF or 0x2F800 <= code <= 0x2FA1F)


def term_vectors(model: StaticModel, terms: Sequence[str], analyzer: Analyzer) -> np.ndarray:
    """(len(terms), d) float32: the vector of each index term. A term that whole words of the
    model's vocabulary become under ``analyzer`` (a stem such as 'govern') is the mean of those
    words' vectors ('govern', 'government', 'governor', ...); any other term is the mean of its
    own word pieces; a term with none of them is zeros."""
    return _term_vectors(model, terms, _words_by_term(model, analyzer))


def term_vector_blocks(model: StaticModel, terms: Sequence[str], analyzer: Analyzer,
                       block: int) -> Iterator[tuple[int, np.ndarray]]:
    """term_vectors of ``terms``, ``block`` terms at a time: (the first term's position, their vectors)."""
    words_of = _words_by_term(model, analyzer)
    for first in range(0, len(terms), block):
        yield first, _term_vectors(model, terms[first:first + block], words_of)


def _term_vectors(model: StaticModel, terms: Sequence[str], words_of: dict[str, list[int]]) -> np.ndarray:
    pieces = [words_of.get(term) or model.word_pieces(term) for term in terms]
    lengths = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    indices = np.fromiter(itertools.chain.from_iterable(pieces), dtype=np.int32, count=int(indptr[-1]))
    weights = np.repeat(1.0 / np.maximum(lengths, 1), lengths).astype(np.float32)
    mean = sp.csr_matrix((weights, indices, indptr), shape=(len(terms), len(model.pieces)))
    return np.asarray(mean @ model.vectors, dtype=np.float32)


def _words_by_term(model: StaticModel, analyzer: Analyzer) -> dict[str, list[int]]:
    """Index term -> the ids of the vocabulary's whole words (two letters or more) that become it."""
    words_of: dict[str, list[int]] = {}
    for i, piece in enumerate(model.pieces):
        if len(piece) > 1 and piece.isalpha() and not piece.startswith("##"):
            for term in analyzer(piece):
                words_of.setdefault(term, []).append(i)
    return words_of
