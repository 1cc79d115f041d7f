"""Columnar storage of article fields: ids, JSON records, and the columns filters and blending read."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .article import Article, parse_time


class _Codes:
    """Assigns small integer codes to strings in first-seen order."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._code: dict[str, int] = {}

    def code(self, name: str | None) -> int:
        if name is None:
            return -1
        code = self._code.get(name)
        if code is None:
            code = self._code[name] = len(self.names)
            self.names.append(name)
        return code


class _SpilledBlob:
    """Byte strings appended to a temporary file, then memory-mapped: big texts need not stay in memory."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(buffering=1 << 20)
        self.offsets = [0]

    def append(self, data: bytes) -> None:
        self._file.write(data)
        self.offsets.append(self.offsets[-1] + len(data))

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """(the bytes, memory-mapped read-only, the mapping outliving the closed file; the offsets)."""
        self._file.flush()
        size = self.offsets[-1]
        data = (np.memmap(self._file, dtype=np.uint8, mode="r", shape=(size,)).view(np.ndarray) if size
                else np.zeros(0, dtype=np.uint8))
        self._file.close()
        return data, np.asarray(self.offsets, dtype=np.int64)


class StoreBuilder:
    """Collects articles one at a time into the columns of an ArticleStore."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self._records, self._bodies = _SpilledBlob(), _SpilledBlob()
        self._sections, self._authors, self._tags = _Codes(), _Codes(), _Codes()
        self._section_codes: list[int] = []
        self._author_codes: list[int] = []
        self._tag_codes: list[int] = []
        self._tag_indptr = [0]
        self._published: list[float] = []
        self._views: list[int] = []

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
        records, offsets = self._records.finish()
        bodies, body_offsets = self._bodies.finish()
        return ArticleStore(
            ids=self.ids, records=records, offsets=offsets, bodies=bodies, body_offsets=body_offsets,
            section=np.asarray(self._section_codes, dtype=np.int32), sections=self._sections.names,
            author=np.asarray(self._author_codes, dtype=np.int32), authors=self._authors.names,
            tag_codes=np.asarray(self._tag_codes, dtype=np.int32),
            tag_indptr=np.asarray(self._tag_indptr, dtype=np.int64), tags=self._tags.names,
            published=np.asarray(self._published, dtype=np.float64),
            views=np.asarray(self._views, dtype=np.int64),
        )


@dataclass
class ArticleStore:
    """Article fields by row. Arrays may be memory-mapped; ``views`` is the only mutable column."""

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

    def __post_init__(self) -> None:
        self.row_of = {article_id: row for row, article_id in enumerate(self.ids)}
        self._appended: dict[int, dict] = {}  # records of rows added after the build

    def append(self, article: Article) -> int:
        """Add an article as a new row (its id now points there); returns the row. If it fails, the
        store is unchanged."""
        return self.apply(self.new_row(article))

    def new_row(self, article: Article) -> "NewRow":
        """The store's columns with ``article`` added as a new row, computed without changing the store."""
        section, sections = _coded(self.sections, article.section)
        author, authors = _coded(self.authors, article.author)
        tags, codes = self.tags, []
        for tag in article.tags:
            code, tags = _coded(tags, tag)
            codes.append(code)
        published = article.published_at.timestamp() if article.published_at else np.nan
        columns = {
            "ids": [*self.ids, article.id], "sections": sections, "authors": authors, "tags": tags,
            "section": np.append(self.section, np.int32(section)), "author": np.append(self.author, np.int32(author)),
            "tag_codes": np.append(self.tag_codes, np.asarray(codes, dtype=np.int32)),
            "tag_indptr": np.append(self.tag_indptr, self.tag_indptr[-1] + len(codes)),
            "published": np.append(self.published, published), "views": np.append(self.views, np.int64(article.views)),
        }
        return NewRow(len(self.ids), article.id, article.to_dict(), columns)

    def apply(self, new: "NewRow") -> int:
        """Make a row computed by ``new_row`` part of the store (assignments only: nothing here can
        fail halfway); returns the row."""
        for name, value in new.columns.items():
            setattr(self, name, value)
        self.__dict__.pop("_tag_code", None)
        self.row_of[new.article_id] = new.row
        self._appended[new.row] = new.record
        return new.row

    def __len__(self) -> int:
        return len(self.ids)

    def record(self, row: int) -> dict:
        """The stored fields of the article at ``row``, as a JSON-ready dict."""
        if row in self._appended:
            return dict(self._appended[row])
        record = json.loads(self.records[self.offsets[row]:self.offsets[row + 1]].tobytes())
        record["body"] = self.bodies[self.body_offsets[row]:self.body_offsets[row + 1]].tobytes().decode("utf-8")
        return record

    def article(self, row: int) -> Article:
        return Article.from_dict(self.record(row))

    def rows_with_tags(self, rows: np.ndarray, tags: Iterable[str]) -> np.ndarray:
        """Boolean mask over ``rows``: True where the article carries at least one of ``tags``."""
        wanted = np.zeros(len(self.tags) + 1, dtype=bool)
        for tag in tags:
            code = self.tag_code(tag)
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

    def tag_code(self, tag: str) -> int:
        if not hasattr(self, "_tag_code"):
            self._tag_code = {name: code for code, name in enumerate(self.tags)}
        return self._tag_code.get(tag, -1)

    def code_of(self, column: str, name: str) -> int:
        """Code of a section or author name (-2 if absent, which matches no row)."""
        names = self.sections if column == "section" else self.authors
        try:
            return names.index(name)
        except ValueError:
            return -2


@dataclass(frozen=True)
class NewRow:
    """An article's row, computed by ArticleStore.new_row and not yet applied: its row number, id,
    record, and every column of the store with it (attribute name -> new value)."""

    row: int
    article_id: str
    record: dict
    columns: dict


def _coded(names: list[str], name: str | None) -> tuple[int, list[str]]:
    """The code of ``name`` in ``names`` (-1 for None), and the names with it: ``names`` itself if it
    is there, else a new list (``names`` is never changed)."""
    if name is None:
        return -1, names
    try:
        return names.index(name), names
    except ValueError:
        return len(names), [*names, name]


def timestamp(value) -> float:
    """Epoch seconds of an ISO 8601 string, date or datetime (naive counts as UTC)."""
    return parse_time(value).timestamp()
