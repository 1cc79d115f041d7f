"""Columnar storage of article fields: ids, JSON records, and the columns filters and blending read."""

from __future__ import annotations

import errno
import json
import tempfile
from array import array
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np

from .._arrays import make_read_only
from ..documents.article import Article
from ..errors import TemporarySpaceError

ABSENT = -2  # the code of a name no article has: it matches no row (None, no value, is -1)


class Codes:
    """Small integer codes of strings (sections, authors, tags), in first-seen order: ``names[code]``.
    The one place that turns these strings into codes and back."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self.names: list[str] = list(names)
        self._code: dict[str, int] = {name: code for code, name in enumerate(self.names)}

    def code(self, name: str | None) -> int:
        """The code of ``name`` (-1 for None), numbering it if it is new."""
        if name is None:
            return -1
        code = self._code.get(name)
        if code is None:
            code = self._code[name] = len(self.names)
            self.names.append(name)
        return code

    def find(self, name: str | None) -> int:
        """The code of ``name`` (-1 for None), or ABSENT; never numbers it."""
        return -1 if name is None else self._code.get(name, ABSENT)

    def with_name(self, name: str | None) -> tuple[int, "Codes"]:
        """The code of ``name``, and codes that have it: these if they do, else new ones (these
        are never changed)."""
        code = self.find(name)
        if code != ABSENT:
            return code, self
        grown = Codes(self.names)
        return grown.code(name), grown


class _SpilledBlob:
    """Byte strings appended to a temporary file, then memory-mapped: big texts need not stay in memory."""

    def __init__(self) -> None:
        self._file = temporary_file()
        self.offsets = array("q", [0])

    def append(self, data: bytes) -> None:
        try:  # not `with spilling(...)`: 1.7 us a call, twice an article, is seconds at 1M
            self._file.write(data)
        except OSError as error:
            _raise_if_no_room(error, "the article texts")
            raise
        self.offsets.append(self.offsets[-1] + len(data))

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """(the bytes, memory-mapped read-only, the mapping outliving the closed file; the offsets)."""
        with spilling("the article texts"):
            data = mapped(self._file, np.dtype(np.uint8), self.offsets[-1])
        return data, _column(self.offsets, np.int64)


def write(file, array: np.ndarray) -> None:
    """Append ``array``'s bytes to ``file`` (a file's own write: its errors say why, as tofile's do not)."""
    file.write(np.ascontiguousarray(array).data)


def read_into(file, out: np.ndarray) -> None:
    """Fill the C-contiguous ``out`` with the next bytes of ``file`` (what ``write`` wrote)."""
    view = memoryview(out).cast("B")
    if file.readinto(view) != len(view):
        raise OSError(f"a temporary file ended early: {len(view)} bytes expected")


NO_ROOM = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG)  # a full disk, a quota, a size limit


def temporary_file():
    """A buffered temporary file for spilled arrays (``write``, ``read_into``, ``mapped``)."""
    return tempfile.TemporaryFile(buffering=1 << 20)


@contextmanager
def spilling(what: str) -> Iterator[None]:
    """Writing ``what`` to temporary files: a lack of room there raises TemporarySpaceError, which
    names it and the directory (other errors pass as they are)."""
    try:
        yield
    except OSError as error:
        _raise_if_no_room(error, what)
        raise


def _raise_if_no_room(error: OSError, what: str) -> None:
    """TemporarySpaceError from ``error`` if it says a temporary file found no room for ``what``."""
    if error.errno in NO_ROOM:
        raise TemporarySpaceError(f"no room for {what} in the temporary directory {tempfile.gettempdir()} "
                                  f"({error.strerror}); set TMPDIR to a directory with more room") from error


def mapped(file, dtype: np.dtype, count: int) -> np.ndarray:
    """``count`` items of ``dtype`` written to ``file``, memory-mapped read-only; closes ``file``
    (the mapping outlives it, and the file's space is freed with the mapping)."""
    file.flush()
    data = (np.memmap(file, dtype=dtype, mode="r", shape=(count,)).view(np.ndarray) if count
            else np.zeros(0, dtype=dtype))
    file.close()
    return data


class StoreBuilder:
    """Collects articles one at a time into the columns of an ArticleStore (typed arrays, not lists
    of Python numbers: a million articles' columns take megabytes, not hundreds of them)."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self._records, self._bodies = _SpilledBlob(), _SpilledBlob()
        self._sections, self._authors, self._tags = Codes(), Codes(), Codes()
        self._section_codes = array("i")
        self._author_codes = array("i")
        self._tag_codes = array("i")
        self._tag_indptr = array("q", [0])
        self._published = array("d")
        self._views = array("q")

    def add(self, article: Article) -> None:
        self.ids.append(article.id)
        fields = article.to_dict()
        self._bodies.append(fields.pop("body").encode("utf-8"))
        self._records.append(json.dumps(fields, ensure_ascii=False).encode("utf-8"))
        self._section_codes.append(self._sections.code(article.section))
        self._author_codes.append(self._authors.code(article.author))
        self._tag_codes.extend(self._tags.code(t) for t in article.tags)
        self._tag_indptr.append(len(self._tag_codes))
        self._published.append(article.published_at.timestamp() if article.published_at else np.nan)
        self._views.append(article.views)

    def finish(self) -> "ArticleStore":
        """The store of the articles added (with its own copies of the columns)."""
        records, offsets = self._records.finish()
        bodies, body_offsets = self._bodies.finish()
        return ArticleStore(
            ids=self.ids, records=records, offsets=offsets, bodies=bodies, body_offsets=body_offsets,
            section=_column(self._section_codes, np.int32), sections=self._sections.names,
            author=_column(self._author_codes, np.int32), authors=self._authors.names,
            tag_codes=_column(self._tag_codes, np.int32), tag_indptr=_column(self._tag_indptr, np.int64),
            tags=self._tags.names, published=_column(self._published, np.float64),
            views=_column(self._views, np.int64),
        )


def _column(values: array, dtype) -> np.ndarray:
    """A typed array's items as a numpy array of ``dtype`` (its own copy)."""
    return np.frombuffer(values, dtype=dtype).copy() if len(values) else np.zeros(0, dtype=dtype)


@dataclass
class ArticleStore:
    """Article fields by row. Arrays may be memory-mapped; a store is never changed (see ``with_row``)."""

    ids: list[str]
    records: np.ndarray       # every article's fields but its body, as UTF-8 JSON, concatenated
    offsets: np.ndarray
    bodies: np.ndarray        # the bodies, UTF-8, concatenated (kept apart: most reads skip them)
    body_offsets: np.ndarray
    section: np.ndarray
    sections: list[str]
    author: np.ndarray
    authors: list[str]
    tag_codes: np.ndarray
    tag_indptr: np.ndarray
    tags: list[str]
    published: np.ndarray
    views: np.ndarray

    ARRAYS = ("records", "offsets", "bodies", "body_offsets", "section", "author", "tag_codes", "tag_indptr", "published", "views")
    NAMES = ("ids", "sections", "authors", "tags")

    row_of: dict[str, int] = field(default=None, repr=False)  # live id -> row (default: from ids)
    appended_records: dict[int, dict] = field(default_factory=dict, repr=False)  # rows added after the build
    codes: dict[str, Codes] = field(default=None, repr=False)  # "section", "author", "tag" -> their Codes

    def __post_init__(self) -> None:
        # never changed, built or loaded: read-only, so each kernel compiles once for both (recsys._arrays)
        make_read_only(*(getattr(self, name) for name in self.ARRAYS))
        if self.row_of is None:
            self.row_of = {article_id: row for row, article_id in enumerate(self.ids)}
        if self.codes is None:
            self.codes = {"section": Codes(self.sections), "author": Codes(self.authors), "tag": Codes(self.tags)}

    def with_row(self, article: Article) -> "ArticleStore":
        """A new store: this one with ``article`` added as a new row, to which its id now points. This
        store is not changed (its arrays are shared where they stay the same)."""
        section, sections = self.codes["section"].with_name(article.section)
        author, authors = self.codes["author"].with_name(article.author)
        tags, codes = self.codes["tag"], []
        for tag in article.tags:
            code, tags = tags.with_name(tag)
            codes.append(code)
        published = article.published_at.timestamp() if article.published_at else np.nan
        row = len(self.ids)
        return replace(
            self, ids=[*self.ids, article.id], sections=sections.names, authors=authors.names, tags=tags.names,
            codes={"section": sections, "author": authors, "tag": tags},
            section=np.append(self.section, np.int32(section)), author=np.append(self.author, np.int32(author)),
            tag_codes=np.append(self.tag_codes, np.asarray(codes, dtype=np.int32)),
            tag_indptr=np.append(self.tag_indptr, self.tag_indptr[-1] + len(codes)),
            published=np.append(self.published, published), views=np.append(self.views, np.int64(article.views)),
            row_of={**self.row_of, article.id: row}, appended_records={**self.appended_records, row: article.to_dict()})

    def without_id(self, article_id: str) -> "ArticleStore":
        """A new store in which ``article_id`` points to no row (its rows stay, for the arrays' sake)."""
        row_of = dict(self.row_of)
        del row_of[article_id]
        return replace(self, row_of=row_of)

    def __len__(self) -> int:
        return len(self.ids)

    def record(self, row: int, *, body: bool = True) -> dict:
        """The stored fields of the article at ``row``, as a JSON-ready dict (without ``body``: all but
        the body)."""
        if row in self.appended_records:
            record = dict(self.appended_records[row])
            if not body:
                record.pop("body", None)
            return record
        record = json.loads(self.records[self.offsets[row]:self.offsets[row + 1]].tobytes())
        if body:
            record["body"] = self.body(row)
        return record

    def body(self, row: int) -> str:
        """The body of the article at ``row``."""
        if row in self.appended_records:
            return self.appended_records[row]["body"]
        return self.bodies[self.body_offsets[row]:self.body_offsets[row + 1]].tobytes().decode("utf-8")

    def article(self, row: int) -> Article:
        return Article.from_dict(self.record(row))

    def rows_with_tags(self, rows: np.ndarray, tags: Iterable[str]) -> np.ndarray:
        """Boolean mask over ``rows``: True where the article carries at least one of ``tags``."""
        wanted = np.zeros(len(self.tags) + 1, dtype=bool)
        for tag in tags:
            code = self.codes["tag"].find(tag)
            if code >= 0:
                wanted[code] = True
        starts, ends = self.tag_indptr[rows], self.tag_indptr[rows + 1]
        lengths = ends - starts
        if lengths.sum() == 0:
            return np.zeros(len(rows), dtype=bool)
        owner = np.repeat(np.arange(len(rows)), lengths)
        flat = self.tag_codes[np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())]
        hits = np.zeros(len(rows), dtype=bool)
        hits[owner[wanted[flat]]] = True
        return hits

    def code_of(self, column: str, name: str) -> int:
        """Code of a section or author name (ABSENT if no article has it: it matches no row)."""
        return self.codes[column].find(name)
