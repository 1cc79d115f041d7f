"""Building an index on Dask distributed (the optional extra recsys[dask]).

The workers read the input in partitions (byte ranges of a JSONL file, aligned on line starts; the
rows of a CSV file, read here) and validate and tokenise each one. Here, in input order, the rows
then go through the same checks as a local build (duplicate ids across partitions, the first error
under on_error="raise", on_skip in file order); the partition vocabularies are merged into the
sorted vocabulary and the count matrices stacked, so document frequencies are those of the whole
corpus. Weighting is done here as in a local build. The neighbour lists are computed by the
workers, each task for a block of rows against the whole matrix (broadcast to every worker once).
The kernels are deterministic per row, so the index is the one a local build makes.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from . import _kernels
from ._checks import check_int
from ._store import StoreBuilder
from ._vectorize import CountBuilder
from .article import Article
from .config import IndexConfig
from .corpus import ON_ERROR, _csv_rows, _format_of, _open_binary, validate_rows
from .errors import DependencyError, InputError, ParameterError, RecsysError
from .index import RelatedIndex, _budget, _progress
from .text import Analyzer

INSTALL_HINT = "install the extra: pip install 'recsys[dask]'"
MAX_PARTITION_BYTES = 64 << 20
MIN_PARTITION_BYTES = 1 << 20
TASKS_PER_WORKER = 4  # partitions and row blocks per worker (when the input is large enough)


def build_on_dask(source: str | os.PathLike, address: Any = "local", method: str | None = None, *,
                  format: str | None = None, on_error: str = "raise",
                  on_skip: Callable[[InputError], None] | None = None, progress: bool = False,
                  n_workers: int = 2, partition_bytes: int | None = None, timeout: float = 30.0,
                  **params: Any) -> RelatedIndex:
    """Build an index from a JSONL or CSV file on Dask distributed; see ``RelatedIndex.build_on_dask``."""
    if method is not None:
        params["method"] = method
    config = IndexConfig.from_params(**params)
    if on_error not in ON_ERROR:
        raise ParameterError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    check_int("partition_bytes", partition_bytes, optional=True)
    _require_minilm_if_used(config)
    path = Path(source)
    fmt = _format_of(path, format)
    _open_binary(path).close()  # a missing file fails here, as in a local build
    with _connected(address, n_workers, timeout) as client:
        return _build(client, path, fmt, config, on_error, on_skip, progress, partition_bytes, timeout)


# ---------------------------------------------------------------------------- the cluster
@contextmanager
def _connected(address: Any, n_workers: int, timeout: float):
    """A Client: the one given, one of a LocalCluster started (and closed) here for "local", or
    one connected to the scheduler at ``address``."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise DependencyError(f"building on Dask needs dask.distributed (not installed); {INSTALL_HINT}") from None
    if isinstance(address, Client):
        yield address
        return
    if not isinstance(address, str) or not address.strip():
        raise ParameterError(f"dask: expected a scheduler address such as tcp://host:8786, or 'local'; got {address!r}")
    address = address.strip()
    if address == "local":
        check_int("n_workers", n_workers)
        with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                          dashboard_address=":0") as cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(address, timeout=timeout)
    except (OSError, ValueError, TypeError) as exc:  # distributed's timeouts are OSErrors
        raise RecsysError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    with client:
        yield client


def _workers(client, timeout: float) -> dict[str, dict]:
    """The cluster's workers (address -> info), waiting up to ``timeout`` for a first one."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    if not workers:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except TimeoutError:
            raise RecsysError(f"the Dask scheduler at {client.scheduler.address} has no workers") from None
        workers = client.scheduler_info(n_workers=-1)["workers"]
    return workers


# ---------------------------------------------------------------------------- the build, here
def _build(client, path: Path, fmt: str, config: IndexConfig, on_error: str,
           on_skip: Callable[[InputError], None] | None, progress: bool, partition_bytes: int | None,
           timeout: float) -> RelatedIndex:
    started = time.perf_counter()
    n_workers = len(_workers(client, timeout))
    window = 2 * n_workers + 1  # partitions read ahead of the one merged here
    if fmt == "jsonl":
        size = path.stat().st_size
        step = partition_bytes or min(MAX_PARTITION_BYTES,
                                      max(MIN_PARTITION_BYTES, math.ceil(size / (TASKS_PER_WORKER * n_workers))))
        parts = (client.submit(_jsonl_partition, os.path.abspath(path), path.name, start, min(start + step, size),
                               config, on_error == "raise", pure=False)
                 for start in range(0, max(size, 1), step))
    else:
        step = partition_bytes or MAX_PARTITION_BYTES
        parts = (client.submit(_rows_partition, rows, path.name, config, on_error == "raise", pure=False)
                 for rows in _scattered_csv(client, path, step))
    ahead = _Ahead(parts, window)
    merger = _Merger(ahead, config)
    stores = StoreBuilder()
    valid = validate_rows(merger.rows(), source=path.name, on_error=on_error, on_skip=on_skip)
    try:
        for article in _progress(valid, progress, "reading"):
            merger.keep(article)
            stores.add(article)
    finally:
        ahead.cancel()
    tf, doc_len, vocabulary = merger.merged()
    return RelatedIndex._weighed(config, tf, doc_len, vocabulary, stores.finish(), started, progress,
                                 link=_linker(client, timeout))


class _Ahead:
    """Futures in order, submitting up to ``window`` of them before the first is taken."""

    def __init__(self, futures: Iterator, window: int) -> None:
        self._futures, self._window = futures, window
        self._pending: deque = deque()

    def __iter__(self) -> Iterator:
        for future in self._futures:
            self._pending.append(future)
            if len(self._pending) >= self._window:
                yield self._pending.popleft()
        while self._pending:
            yield self._pending.popleft()

    def cancel(self) -> None:
        """Cancel the futures submitted and not taken (after an error)."""
        while self._pending:
            self._pending.popleft().cancel()


def _scattered_csv(client, path: Path, step: int) -> Iterator:
    """The rows of a CSV file (read here: a quoted field may span lines), about ``step`` bytes at a
    time, each batch sent to a worker; a read error that ends the file ends the last batch."""
    rows: list = []
    size = 0
    try:
        for line, row in _csv_rows(path):
            rows.append((line, _ErrorData.of(row) if isinstance(row, InputError) else row))
            size += sum(len(k) + len(v) + 2 for k, v in row.items()) if isinstance(row, dict) else 1
            if size >= step:
                yield client.scatter([rows], hash=False)[0]
                rows, size = [], 0
    except InputError as error:
        rows.append((None, _Fatal(_ErrorData.of(error))))
    if rows:
        yield client.scatter([rows], hash=False)[0]


class _Merger:
    """Feeds the partitions' rows, in input order, to validate_rows, and keeps the count matrices
    of the articles it keeps."""

    def __init__(self, futures: Iterable, config: IndexConfig) -> None:
        self._futures = futures
        self._config = config
        self._counts: list[tuple[sp.csr_matrix, np.ndarray, list[str]]] = []
        self._last: Article | None = None
        self._kept: list[bool] = []

    def rows(self) -> Iterator[tuple[int, Any]]:
        offset = 0  # lines of the partitions before (JSONL partitions number their lines from 1)
        for future in self._futures:
            part = future.result()
            future.release()
            articles = [item for _, item in part.items if isinstance(item, Article)]
            self._kept = []
            for line, item in part.items:
                if isinstance(item, _ErrorData):
                    yield line + offset, item.error(offset)
                else:
                    self._last = item
                    self._kept.append(False)
                    yield line + offset, item
            # validate_rows has dealt with every row of the partition by now
            self._counts.append(self._counts_of(part, articles, np.array(self._kept, dtype=bool)))
            if part.fatal is not None:
                raise part.fatal.error(offset)
            offset += part.lines

    def keep(self, article: Article) -> None:
        """validate_rows kept ``article``: the row it was last given."""
        assert article is self._last
        self._kept[-1] = True

    def _counts_of(self, part: "_Partition", articles: list[Article], kept: np.ndarray):
        if np.array_equal(kept, part.counted):
            return part.tf, part.doc_len, part.vocabulary
        # An id seen in an earlier partition: count the articles kept here again (rare)
        with CountBuilder(Analyzer(self._config.analyzer), self._config.field_weights, 1,
                          self._config.language_field) as counts:
            for article, keep in zip(articles, kept):
                if keep:
                    counts.add(article)
            return counts.finish()

    def merged(self) -> tuple[sp.csr_matrix, np.ndarray, list[str]]:
        """(the stacked counts, columns in sorted-term order, document lengths, vocabulary), as
        CountBuilder.finish makes them."""
        vocabulary = sorted(set().union(*(v for _, _, v in self._counts)))
        column = {term: i for i, term in enumerate(vocabulary)}
        indices, data, lengths = [], [], []
        for tf, _, terms in self._counts:
            renumber = np.fromiter((column[t] for t in terms), dtype=np.int32, count=len(terms))
            indices.append(renumber[tf.indices])  # sorted terms into sorted terms: rows stay sorted
            data.append(tf.data)
            lengths.append(np.diff(tf.indptr))
        indptr = np.concatenate([[0], np.cumsum(np.concatenate(lengths), dtype=np.int64)])
        if indptr[-1] < np.iinfo(np.int32).max:
            indptr = indptr.astype(np.int32)
        doc_len = np.concatenate([d for _, d, _ in self._counts])
        tf = sp.csr_matrix((np.concatenate(data).astype(np.float32, copy=False),
                            np.concatenate(indices).astype(np.int32, copy=False), indptr),
                           shape=(len(indptr) - 1, len(vocabulary)))
        self._counts = []
        return tf, doc_len, vocabulary


# ---------------------------------------------------------------------------- reading, on a worker
@dataclass(frozen=True)
class _ErrorData:
    """An InputError as plain data (a pickled InputError loses where it happened)."""

    kind: type
    reason: str
    source: str | None
    line: int | None
    field: str | None

    @classmethod
    def of(cls, error: InputError) -> "_ErrorData":
        return cls(type(error), error.reason, error.source, error.line, error.field)

    def error(self, line_offset: int = 0) -> InputError:
        line = None if self.line is None else self.line + line_offset
        return self.kind(self.reason, source=self.source, line=line, field=self.field)


class _Fatal(Exception):
    """A read error that ends the input, whatever on_error says (as in read_articles)."""

    def __init__(self, error: _ErrorData) -> None:
        super().__init__(error)  # args: what pickling passes back to __init__
        self.data = error


@dataclass
class _Partition:
    """What a worker sends back for one partition."""

    items: list            # (line, Article | _ErrorData), in input order
    counted: np.ndarray    # per Article item: counted in tf (not an id repeated within the partition)
    fatal: _ErrorData | None
    lines: int             # lines the partition spans (JSONL; 0 for rows numbered already)
    tf: sp.csr_matrix
    doc_len: np.ndarray
    vocabulary: list[str]


class _JsonlRange:
    """(line, row) of the lines of a JSONL file that start in [start, end), numbered from 1 in the
    range; ``lines`` counts the lines read. Mirrors read_articles, line by line."""

    def __init__(self, path: str, source: str, start: int, end: int) -> None:
        self.path, self.source, self.start, self.end = path, source, start, end
        self.lines = 0

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        try:
            handle = open(self.path, "rb")
        except OSError as exc:
            raise _Fatal(_ErrorData(InputError, f"cannot be read on Dask worker {_worker_name()} ({exc.strerror}); "
                                    "the input must be at the same path on every worker", self.path, None, None))
        with handle:
            if self.start > 0:
                handle.seek(self.start - 1)
                handle.readline()  # the end of the line that began before start
            position = handle.tell()
            while position < self.end:
                raw = handle.readline()
                if not raw:
                    break
                position += len(raw)
                self.lines += 1
                line = self.lines
                try:
                    text = raw.decode("utf-8-sig" if self.start == 0 and line == 1 else "utf-8")
                except UnicodeDecodeError as exc:
                    raise _Fatal(_ErrorData(InputError, f"not valid UTF-8 (byte {exc.start + 1} of the line); "
                                            "re-encode the file as UTF-8", self.source, line, None)) from None
                if not text.strip():
                    continue
                try:
                    yield line, json.loads(text)
                except json.JSONDecodeError as exc:
                    yield line, _ErrorData(InputError, f"invalid JSON: {exc.msg} (column {exc.colno})",
                                           self.source, line, None)


def _jsonl_partition(path: str, source: str, start: int, end: int, config: IndexConfig,
                     stop_at_error: bool) -> _Partition:
    rows = _JsonlRange(path, source, start, end)
    part = _partition(rows, source, config, stop_at_error)
    part.lines = rows.lines
    return part


def _rows_partition(rows: list, source: str, config: IndexConfig, stop_at_error: bool) -> _Partition:
    def items():
        for line, row in rows:
            if isinstance(row, _Fatal):
                raise row
            yield line, row

    return _partition(items(), source, config, stop_at_error)


def _partition(rows: Iterable[tuple[int, Any]], source: str, config: IndexConfig, stop_at_error: bool) -> _Partition:
    """Validate and count the rows of one partition. Ids repeated within it are left out of the
    counts (validate_rows leaves them out too); ids seen in earlier partitions are checked later."""
    items, counted, fatal = [], [], None
    seen: set[str] = set()
    with CountBuilder(Analyzer(config.analyzer), config.field_weights, 1, config.language_field) as counts:
        try:
            for line, row in rows:
                if not isinstance(row, _ErrorData):
                    try:
                        row = Article.from_dict(row, source=source, line=line)
                    except InputError as error:
                        row = _ErrorData.of(error)
                items.append((line, row))
                if isinstance(row, _ErrorData):
                    if stop_at_error:
                        break  # the build stops at this row, or before it
                    continue
                counted.append(row.id not in seen)
                if counted[-1]:
                    seen.add(row.id)
                    counts.add(row)
        except _Fatal as error:
            fatal = error.data
        tf, doc_len, vocabulary = counts.finish()
    return _Partition(items, np.array(counted, dtype=bool), fatal, 0, tf, doc_len, vocabulary)


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return "?"


# ---------------------------------------------------------------------------- the neighbour lists
def _linker(client, timeout: float) -> Callable:
    """A neighbour step for _weigh_and_link (the signature of index._neighbour_lists) that runs
    the kernels on the workers, a block of rows per task."""

    def link(config: IndexConfig, q_data: np.ndarray, usable: np.ndarray, term_max: np.ndarray, rows, columns,
             n_terms: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from distributed.comm import get_address_host

        workers = _workers(client, timeout)
        per_host = dict(Counter(get_address_host(address) for address in workers))
        n = len(rows.indptr) - 1
        bounds = np.unique(np.linspace(0, n, min(n, TASKS_PER_WORKER * len(workers)) + 1).astype(np.int64))
        blocks = list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))
        shared = client.scatter([q_data, usable, term_max, columns.indptr, columns.indices, columns.data,
                                 rows.indptr, rows.indices, rows.data], broadcast=True, hash=False)
        try:
            found = client.gather([client.submit(_neighbours_block, *shared, config.max_query_terms, _budget(config),
                                                 config.n_candidates, config.n_neighbors, first, last, per_host,
                                                 pure=False) for first, last in blocks])
            neighbor_rows = np.concatenate([r for r, _, _ in found])
            neighbor_sims = np.concatenate([s for _, s, _ in found])
            self_scores = np.concatenate([s for _, _, s in found])
            del found
            fresh = neighbor_rows >= 0
            for _ in range(config.refine_rounds):
                current = client.scatter([self_scores, neighbor_rows, neighbor_sims, fresh], broadcast=True, hash=False)
                refined = client.gather([client.submit(_refine_block, shared[0], *shared[6:], n_terms, *current,
                                                       first, last, config.refine_fan_out, config.n_neighbors,
                                                       per_host, pure=False) for first, last in blocks])
                client.cancel(current)
                neighbor_rows, neighbor_sims, fresh = (np.concatenate(part) for part in zip(*refined))
        finally:
            client.cancel(shared)
        return neighbor_rows, neighbor_sims, self_scores

    return link


_KERNEL_LOCK = threading.Lock()  # one whole-index kernel at a time in a worker process


@contextmanager
def _kernel_threads(per_host: dict[str, int]):
    """Threads for one kernel call: this machine's cores shared among its worker processes."""
    from distributed import get_worker
    from distributed.comm import get_address_host

    siblings = per_host.get(get_address_host(get_worker().address), 1)
    with _KERNEL_LOCK:
        yield max(1, _kernels.threads() // siblings)


def _neighbours_block(q_data, usable, term_max, colptr, rowidx, colval, indptr, indices, data, max_query_terms,
                      budget, n_candidates, n_keep, first, last, per_host):
    with _kernel_threads(per_host) as n_threads:
        return _kernels.all_neighbours(q_data, usable, term_max, max_query_terms, budget, colptr, rowidx, colval,
                                       indptr, indices, data, n_candidates, n_keep, first, last, n_threads)


def _refine_block(q_data, indptr, indices, data, n_terms, self_scores, nb_rows, nb_sims, fresh, first, last,
                  fan_out, n_keep, per_host):
    with _kernel_threads(per_host) as n_threads:
        return _kernels.refine(q_data, indptr, indices, data, n_terms, self_scores, nb_rows, nb_sims, fresh, first,
                               last, fan_out, n_keep, n_threads)


def _require_minilm_if_used(config: IndexConfig) -> None:
    """As RelatedIndex.build: refuse a missing semantic extra before the work, not after it."""
    from .index import _uses_minilm

    if _uses_minilm(config):
        from . import _embedding

        _embedding.require()
