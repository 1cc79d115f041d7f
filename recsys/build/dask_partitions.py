"""Reading on a Dask worker: one partition of the input (a byte range of a JSONL file, or rows of a
CSV file read by the client), validated and counted; errors travel back as ErrorData."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..analysis.analyzer import Analyzer
from ..analysis.counting import CountBuilder
from ..config import IndexConfig
from ..documents.article import Article
from ..documents.readers import JsonlLines
from ..errors import InputError


@dataclass(frozen=True)
class ErrorData:
    """An InputError as plain data (a pickled InputError loses where it happened)."""

    kind: type
    reason: str
    source: str | None
    line: int | None
    field: str | None

    @classmethod
    def of(cls, error: InputError) -> "ErrorData":
        return cls(type(error), error.reason, error.source, error.line, error.field)

    def error(self, line_offset: int = 0) -> InputError:
        line = None if self.line is None else self.line + line_offset
        return self.kind(self.reason, source=self.source, line=line, field=self.field)


class Fatal(Exception):
    """A read error that ends the input, whatever on_error says (as in read_articles)."""

    def __init__(self, error: ErrorData) -> None:
        super().__init__(error)  # args: what pickling passes back to __init__
        self.data = error


@dataclass
class Partition:
    """What a worker sends back for one partition."""

    items: list            # (line, Article | ErrorData), in input order
    counted: np.ndarray    # per Article item: counted in tf (not an id repeated within the partition)
    fatal: ErrorData | None
    lines: int             # lines the partition spans (JSONL; 0 for rows numbered already)
    tf: sp.csr_matrix
    doc_len: np.ndarray
    vocabulary: list[str]


class JsonlRange:
    """(line, row) of the lines of a JSONL file that start in [start, end) (see readers.JsonlLines),
    with errors as ErrorData, which crosses to the client intact."""

    def __init__(self, path: str, source: str, start: int, end: int) -> None:
        self.path, self.source, self.start, self.end = path, source, start, end
        self.lines = 0

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        try:
            handle = open(self.path, "rb")
        except OSError as exc:
            raise Fatal(ErrorData(InputError, f"cannot be read on Dask worker {worker_name()} ({exc.strerror}); "
                                    "the input must be at the same path on every worker", self.path, None, None))
        with handle:
            lines = JsonlLines(handle, self.source, self.start, self.end)
            try:
                for line, row in lines:
                    yield line, ErrorData.of(row) if isinstance(row, InputError) else row
            except InputError as error:
                raise Fatal(ErrorData.of(error)) from None
            finally:
                self.lines = lines.lines


def jsonl_partition(path: str, source: str, start: int, end: int, config: IndexConfig,
                     stop_at_error: bool) -> Partition:
    rows = JsonlRange(path, source, start, end)
    part = _partition(rows, source, config, stop_at_error)
    part.lines = rows.lines
    return part


def rows_partition(rows: list, source: str, config: IndexConfig, stop_at_error: bool) -> Partition:
    def items():
        for line, row in rows:
            if isinstance(row, Fatal):
                raise row
            yield line, row

    return _partition(items(), source, config, stop_at_error)


def _partition(rows: Iterable[tuple[int, Any]], source: str, config: IndexConfig, stop_at_error: bool) -> Partition:
    """Validate and count the rows of one partition. Ids repeated within it are left out of the
    counts (validate_rows leaves them out too); ids seen in earlier partitions are checked later."""
    items, counted, fatal = [], [], None
    seen: set[str] = set()
    with CountBuilder(Analyzer(config.analyzer), config.field_weights, 1, config.language_field) as counts:
        try:
            for line, row in rows:
                if not isinstance(row, ErrorData):
                    try:
                        row = Article.from_dict(row, source=source, line=line)
                    except InputError as error:
                        row = ErrorData.of(error)
                items.append((line, row))
                if isinstance(row, ErrorData):
                    if stop_at_error:
                        break  # the build stops at this row, or before it
                    continue
                counted.append(row.id not in seen)
                if counted[-1]:
                    seen.add(row.id)
                    counts.add(row)
        except Fatal as error:
            fatal = error.data
        tf, doc_len, vocabulary = counts.finish()
    return Partition(items, np.array(counted, dtype=bool), fatal, 0, tf, doc_len, vocabulary)


def worker_name() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return "?"
