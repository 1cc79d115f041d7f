"""Sanity checks of a loaded index: shapes, dtypes, index ranges and counts, in O(nnz).

The compiled kernels check no bounds, so a foreign or truncated array must be refused before a
query reads it: every check here raises IndexFormatError naming the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np

from ..errors import IndexFormatError
from ..weighting import query_needs_counts
from .columns import ArticleStore
from .rows import LOW_TERMS, largest_term

if TYPE_CHECKING:
    from .data import IndexData

SIGNED, FLOATING, BYTES, HALF_WORDS = "i", "f", "u1", "u2"
_KINDS = {SIGNED: "a signed integer", FLOATING: "a floating-point", BYTES: "a byte (uint8)",
          HALF_WORDS: "a 16-bit unsigned (uint16)"}
_UNSIGNED = {BYTES: np.uint8, HALF_WORDS: np.uint16}
_FLOAT_ARRAYS = ("idf", "term_max", "query_tf", "self_scores", "neighbor_sims", "rows_data", "columns_data",
                 "lsa_components", "static_projection")


def check_index(data: "IndexData", arrays: Mapping[str, np.ndarray], directory: Path, counts: Any) -> None:
    """Raise IndexFormatError unless the arrays of ``data`` (an IndexData read from ``directory``;
    ``arrays`` maps each file's stem to its array, as ``save`` writes them) fit together and match
    the manifest's ``counts``."""
    files = _Files(directory, arrays)
    n, n_terms, nonzeros = len(data.store), len(data.vocabulary), data.rows.data.size
    _check_counts(directory, counts, n, n_terms, nonzeros)
    if "rows_indices" in files.arrays:  # versions 2 and 3: int32 term ids
        _check_postings(files, "rows", n, n_terms, "terms", nonzeros)
    else:
        _check_rows(files, n, n_terms, nonzeros)
    _check_postings(files, "columns", n_terms, n, "articles", nonzeros)
    _check_impact_order(files)
    if query_needs_counts(data.config) or "query_tf" in files.arrays:
        if "query_tf" not in files.arrays:
            files.fail("query_tf", f"missing: the query side of method {data.config.method!r} reads the term counts")
        files.array("query_tf", FLOATING, (nonzeros,))
    for name, kind in (("df", SIGNED), ("idf", FLOATING), ("term_max", FLOATING)):
        files.array(name, kind, (n_terms,))
    files.array("self_scores", FLOATING, (n,))
    files.in_range(files.array("duplicate_group", SIGNED, (n,)), "duplicate_group", 0, n, "articles")
    neighbours = files.array("neighbor_rows", SIGNED, (n, None))
    files.in_range(neighbours, "neighbor_rows", -1, n, "articles")
    files.array("neighbor_sims", FLOATING, neighbours.shape)
    _check_store(files, data.store, n)
    _check_embeddings(files, n, n_terms)
    if data.dense is not None:
        name = next(stem for stem in files.arrays if stem.endswith("_dense"))
        if len(data.dense) != n:
            files.fail(name, f"indexes {len(data.dense)} embeddings, expected {n}")
        if data.embeddings is None or data.dense.dimensions != data.embeddings.shape[1]:
            files.fail(name, f"indexes {data.dense.dimensions}-dimension embeddings, not the index's")
    for name in _FLOAT_ARRAYS:
        if name in arrays:
            files.finite(name)


class _Files:
    """The arrays of an index directory by file stem, checked one by one; a failed check names the file."""

    def __init__(self, directory: Path, arrays: Mapping[str, np.ndarray]) -> None:
        self.directory, self.arrays = directory, arrays

    def fail(self, name: str, message: str) -> NoReturn:
        raise IndexFormatError(f"{self.directory / (name + '.npy')}: {message}")

    def array(self, name: str, kind: str, shape: tuple[int | None, ...]) -> np.ndarray:
        """The array, once its dtype is of ``kind`` and its shape is ``shape`` (None: any length)."""
        array = self.arrays[name]
        dtype = array.dtype
        if not (dtype == _UNSIGNED[kind] if kind in _UNSIGNED else dtype.kind == kind):
            self.fail(name, f"dtype {dtype}, expected {_KINDS[kind]} array")
        if not dtype.isnative:
            self.fail(name, f"dtype {dtype.str} is not in this machine's byte order")
        if array.ndim != len(shape) or any(want is not None and got != want for got, want in zip(array.shape, shape)):
            expected = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "")
            self.fail(name, f"shape {array.shape}, expected {expected})")
        return array

    def in_range(self, array: np.ndarray, name: str, low: int, high: int, what: str) -> None:
        """Every value in [low, high): an index into ``high`` ``what`` (low -1: -1 marks none)."""
        if not array.size:
            return
        smallest, largest = int(array.min()), int(array.max())
        if smallest < low or largest >= high:
            bad = smallest if smallest < low else largest
            none = " (-1 marks none)" if low == -1 else ""
            self.fail(name, f"index {bad} out of range for {high} {what}{none}")

    def offsets(self, name: str, n_entries: int, target: str) -> None:
        """An indptr array of ``n_entries`` + 1 offsets into the array ``target``: from 0, never
        decreasing, to its length."""
        offsets = self.array(name, SIGNED, (n_entries + 1,))
        length = len(self.arrays[target])
        if offsets[0] != 0:
            self.fail(name, f"starts at {offsets[0]}, expected 0")
        if offsets[-1] != length:
            self.fail(name, f"ends at {offsets[-1]}, but {target}.npy holds {length} entries")
        if n_entries and np.diff(offsets).min() < 0:
            self.fail(name, f"decreases at position {int(np.argmax(np.diff(offsets) < 0))}")

    def finite(self, name: str) -> None:
        """No NaN or infinity (both show in the minimum or the maximum)."""
        array = self.arrays[name]
        if array.size and not (np.isfinite(array.min()) and np.isfinite(array.max())):
            self.fail(name, "holds NaN or infinite values")


def _check_counts(directory: Path, counts: Any, n: int, n_terms: int, nonzeros: int) -> None:
    """The manifest's counts of articles, terms and nonzeros are those of the files."""
    if not isinstance(counts, dict):
        raise IndexFormatError(f"{directory / 'manifest.json'}: has no counts")
    for key, actual, file, unit in (("articles", n, "articles_ids.json", "ids"),
                                    ("vocabulary", n_terms, "vocabulary.json", "terms"),
                                    ("nonzeros", nonzeros, "rows_data.npy", "weights")):
        if counts.get(key) != actual:
            raise IndexFormatError(f"{directory / file}: holds {actual} {unit}, but manifest.json counts "
                                   f"{counts.get(key)!r} {key}")


def _check_postings(files: _Files, prefix: str, n_major: int, n_minor: int, minor: str, nonzeros: int) -> None:
    """A CSR (rows) or CSC (columns) matrix of n_major rows or columns over n_minor ``minor``."""
    indices = files.array(f"{prefix}_indices", SIGNED, (nonzeros,))
    files.array(f"{prefix}_data", FLOATING, (nonzeros,))
    files.offsets(f"{prefix}_indptr", n_major, f"{prefix}_indices")
    files.in_range(indices, f"{prefix}_indices", 0, n_minor, minor)


def _check_rows(files: _Files, n: int, n_terms: int, nonzeros: int) -> None:
    """The rows' term ids in two parts (see index.rows): each row has no more entries with upper bits
    than entries, and every entry's term is one of the ``n_terms``."""
    files.array("rows_low", HALF_WORDS, (nonzeros,))
    high = files.array("rows_high", HALF_WORDS, (None,))
    files.array("rows_data", FLOATING, (nonzeros,))
    files.offsets("rows_indptr", n, "rows_low")
    files.offsets("rows_high_ptr", n, "rows_high")
    indptr, high_ptr = files.arrays["rows_indptr"], files.arrays["rows_high_ptr"]
    over = np.flatnonzero(np.diff(high_ptr) > np.diff(indptr))
    if len(over):
        files.fail("rows_high_ptr", f"row {over[0]} has more entries with upper bits than entries")
    largest = largest_term(indptr, (files.arrays["rows_low"], high, high_ptr))
    if largest >= n_terms:
        files.fail("rows_high" if largest >= LOW_TERMS else "rows_low",
                   f"term {largest} out of range for {n_terms} terms")


def _check_impact_order(files: _Files) -> None:
    """Each term's postings largest weight first: a search stops where contributions get too small,
    and counts a row as new while its sum is 0, so it must never reach a zero or negative weight."""
    values, starts = files.arrays["columns_data"], files.arrays["columns_indptr"][1:-1]
    if values.size < 2:
        return
    rises = values[1:] > values[:-1]
    rises[starts[(starts > 0) & (starts < values.size)] - 1] = False  # a term's first posting may be larger
    if rises.any():
        files.fail("columns_data", f"postings not in impact order (largest weight first) at entry "
                                   f"{int(np.argmax(rises)) + 1}")


def _check_store(files: _Files, store: ArticleStore, n: int) -> None:
    """The article columns: one entry per article, offsets into the byte blobs and the tag codes."""
    for blob, offsets in (("records", "offsets"), ("bodies", "body_offsets")):
        files.array(f"articles_{blob}", BYTES, (None,))
        files.offsets(f"articles_{offsets}", n, f"articles_{blob}")
    for column, names in (("section", store.sections), ("author", store.authors)):
        files.in_range(files.array(f"articles_{column}", SIGNED, (n,)), f"articles_{column}", -1, len(names),
                       f"{column}s")
    files.in_range(files.array("articles_tag_codes", SIGNED, (None,)), "articles_tag_codes", 0, len(store.tags),
                   "tags")
    files.offsets("articles_tag_indptr", n, "articles_tag_codes")
    files.array("articles_published", FLOATING, (n,))
    views = files.array("articles_views", SIGNED, (n,))
    if n and views.min() < 0:
        files.fail("articles_views", f"negative view count {int(views.min())}")


def _check_embeddings(files: _Files, n: int, n_terms: int) -> None:
    """The semantic model's (n, d) article embeddings and, for the static model and LSA, the
    (d, n_terms) projection; MiniLM's embeddings before feedback, if stored, are (n, d) too."""
    name = next((stem for stem in files.arrays if stem.endswith("_embeddings")), None)
    if name is None:
        return
    embeddings = files.array(name, FLOATING, (n, None))
    if embeddings.dtype.itemsize < 4:  # the compiled kernels that read them take float32 or float64
        files.fail(name, f"dtype {embeddings.dtype}, expected float32 or float64")
    files.finite(name)
    shapes = {"lsa_": ("lsa_components", (embeddings.shape[1], n_terms)),
              "static_": ("static_projection", (n_terms, embeddings.shape[1]))}
    projection, shape = shapes.get(name[:name.index("_") + 1], (None, None))
    if projection:
        if projection not in files.arrays:
            files.fail(projection, f"missing, but {name}.npy is there")
        files.array(projection, FLOATING, shape)
        files.finite(projection)
    if "minilm_encoded" in files.arrays:
        files.array("minilm_encoded", FLOATING, embeddings.shape)
