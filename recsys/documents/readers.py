"""Reading articles from JSONL and CSV files, with errors that name the file, line and field."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .article import Article
from ..errors import DuplicateIdError, EmptyCorpusError, InputError, ParameterError

ON_ERROR = ("raise", "skip")


def read_articles(path: str | os.PathLike, *, format: str | None = None, on_error: str = "raise",
                  on_skip: Callable[[InputError], None] | None = None) -> Iterator[Article]:
    """Yield the valid articles of a JSONL or CSV file, in file order.

    ``format`` is "jsonl" or "csv" (default: from the file extension; ``.json``/``.ndjson`` count as
    JSONL). With ``on_error="raise"`` the first bad row raises an InputError naming file, line and
    field; with ``"skip"`` each bad row is passed to ``on_skip`` and reading goes on.
    """
    path = Path(path)
    fmt = _format_of(path, format)
    rows = _jsonl_rows(path) if fmt == "jsonl" else _csv_rows(path)
    yield from validate_rows(rows, source=path.name, on_error=on_error, on_skip=on_skip)


def validate_rows(rows: Iterable[tuple[int, Any]], *, source: str | None, on_error: str = "raise",
                  on_skip: Callable[[InputError], None] | None = None) -> Iterator[Article]:
    """Validate ``(line, row)`` pairs into unique Articles; raise EmptyCorpusError if none is valid.

    A row may be a mapping, an Article, or an InputError raised while reading it.
    """
    if on_error not in ON_ERROR:
        raise ParameterError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    first_line: dict[str, int] = {}
    count = 0
    for line, row in rows:
        try:
            if isinstance(row, InputError):
                raise row
            article = row if isinstance(row, Article) else Article.from_dict(row, source=source, line=line)
            if article.id in first_line:
                raise DuplicateIdError(f"duplicate id {article.id!r}, first seen at line {first_line[article.id]}",
                                       source=source, line=line, field="id")
        except InputError as error:
            if on_error == "raise":
                raise
            if on_skip is not None:
                on_skip(error)
            continue
        first_line[article.id] = line
        count += 1
        yield article
    if count == 0:
        raise EmptyCorpusError("no valid articles: the corpus is empty", source=source)


def iter_input(articles: Iterable[Mapping[str, Any] | Article]) -> Iterator[tuple[int, Any]]:
    """Number the items of an in-memory iterable from 1, as ``validate_rows`` expects."""
    return enumerate(articles, start=1)


def _format_of(path: Path, format: str | None) -> str:
    if format is None:
        suffix = path.suffix.lower()
        format = "csv" if suffix in (".csv", ".tsv") else "jsonl"
    format = format.lower()
    if format not in ("jsonl", "csv"):
        raise ParameterError(f"format must be 'jsonl' or 'csv', got {format!r}")
    return format


def _open_binary(path: Path):
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InputError("no such file", source=str(path)) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a file", source=str(path)) from None


def _jsonl_rows(path: Path) -> Iterator[tuple[int, Any]]:
    with _open_binary(path) as handle:
        yield from JsonlLines(handle, path.name)


class JsonlLines:
    """(line, row) of the lines of a JSONL file (an open binary handle) that start in the byte range
    [start, end), numbered from 1 in the range: a row is the line's JSON, or an InputError for a line
    that is not JSON; blank lines are skipped. A line that is not UTF-8 raises InputError, which
    ends the input. ``lines`` counts the lines read so far (blank ones too). The one JSONL reader:
    a local build reads the whole file, a Dask worker one range of it."""

    def __init__(self, handle, source: str, start: int = 0, end: int | None = None) -> None:
        self.handle, self.source, self.start, self.end = handle, source, start, end
        self.lines = 0

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        handle = self.handle
        if self.start > 0:
            handle.seek(self.start - 1)
            handle.readline()  # the end of the line that began before start
        position = handle.tell()
        while self.end is None or position < self.end:
            raw = handle.readline()
            if not raw:
                break
            position += len(raw)
            self.lines += 1
            line = self.lines
            try:
                text = raw.decode("utf-8-sig" if self.start == 0 and line == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"not valid UTF-8 (byte {exc.start + 1} of the line); re-encode the file as UTF-8",
                                 source=self.source, line=line) from None
            if not text.strip():
                continue
            try:
                yield line, json.loads(text)
            except json.JSONDecodeError as exc:
                yield line, InputError(f"invalid JSON: {exc.msg} (column {exc.colno})", source=self.source, line=line)


def _csv_rows(path: Path) -> Iterator[tuple[int, Any]]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    with _open_binary(path) as handle:
        text = io.TextIOWrapper(handle, encoding="utf-8-sig", errors="strict", newline="")
        reader = csv.reader(text, delimiter=delimiter)
        try:
            header = next(reader, None)
            if header is None:
                return
            header = [h.strip() for h in header]
            if "id" not in header:
                raise InputError("CSV header has no 'id' column", source=path.name, line=1, field="id")
            start = reader.line_num + 1
            for values in reader:
                if not any(v.strip() for v in values):
                    start = reader.line_num + 1
                    continue
                if len(values) != len(header):
                    yield start, InputError(f"expected {len(header)} columns, got {len(values)}",
                                            source=path.name, line=start)
                else:
                    yield start, dict(zip(header, values))
                start = reader.line_num + 1
        except UnicodeDecodeError:
            raise InputError("not valid UTF-8; re-encode the file as UTF-8", source=path.name,
                             line=reader.line_num + 1) from None
        except csv.Error as exc:
            raise InputError(f"malformed CSV: {exc}", source=path.name, line=reader.line_num) from None
