"""Building an index on Dask distributed (the optional extra recsys[dask]).

The workers read the input in partitions (byte ranges of a JSONL file, aligned on line starts; the
rows of a CSV file, read here) and validate and tokenise each one. Here, in input order, the rows
then go through the same checks as a local build (duplicate ids across partitions, the first error
under on_error="raise", on_skip in file order); the partition vocabularies are merged into the
sorted vocabulary and the count matrices stacked, so document frequencies are those of the whole
corpus (the terms are then numbered by frequency, as in a local build: build.term_order).
Weighting is done here as in a local build. The neighbour lists are computed by the
workers, each task for a block of rows against the whole matrix (broadcast to every worker once).
The kernels are deterministic per row, so the index is the one a local build makes.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._checks import check_int
from ..analysis import embedding
from ..analysis.analyzer import Analyzer
from ..analysis.counting import CountBuilder
from ..config import IndexConfig
from ..documents.article import Article
from ..documents.readers import (
    ON_ERROR,
    _csv_rows,
    _format_of,
    _open_binary,
    validate_rows,
)
from ..errors import DependencyError, InputError, ParameterError, RecsysError
from ..index.columns import StoreBuilder
from . import kernels
from .dask_partitions import (
    ErrorData,
    Fatal,
    Partition,
    jsonl_partition,
    rows_partition,
)
from .neighbours import LinkInputs, refine_block, search_block
from .pipeline import BuildResult, weighed
from .progress import progress_bar
from .semantic import uses_minilm

INSTALL_HINT = "install the extra: pip install 'recsys[dask]'"
MAX_PARTITION_BYTES = 64 << 20
MIN_PARTITION_BYTES = 1 << 20
TASKS_PER_WORKER = 4  # partitions and row blocks per worker (when the input is large enough)


def build_on_dask(source: str | os.PathLike, address: Any, config: IndexConfig, *,
                  format: str | None = None, on_error: str = "raise",
                  on_skip: Callable[[InputError], None] | None = None, progress: bool = False,
                  n_workers: int = 2, partition_bytes: int | None = None, timeout: float = 30.0) -> BuildResult:
    """Build an index from a JSONL or CSV file on Dask distributed; see ``RelatedIndex.build_on_dask``."""
    if on_error not in ON_ERROR:
        raise ParameterError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    check_int("partition_bytes", partition_bytes, optional=True)
    if uses_minilm(config):
        embedding.require()  # before the work, not after it
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
           timeout: float) -> BuildResult:
    started = time.perf_counter()
    n_workers = len(_workers(client, timeout))
    window = 2 * n_workers + 1  # partitions read ahead of the one merged here
    if fmt == "jsonl":
        size = path.stat().st_size
        step = partition_bytes or min(MAX_PARTITION_BYTES,
                                      max(MIN_PARTITION_BYTES, math.ceil(size / (TASKS_PER_WORKER * n_workers))))
        parts = (client.submit(jsonl_partition, os.path.abspath(path), path.name, start, min(start + step, size),
                               config, on_error == "raise", pure=False)
                 for start in range(0, max(size, 1), step))
    else:
        step = partition_bytes or MAX_PARTITION_BYTES
        parts = (client.submit(rows_partition, rows, path.name, config, on_error == "raise", pure=False)
                 for rows in _scattered_csv(client, path, step))
    ahead = _Ahead(parts, window)
    merger = _Merger(ahead, config)
    stores = StoreBuilder()
    valid = validate_rows(merger.rows(), source=path.name, on_error=on_error, on_skip=on_skip)
    try:
        for article in progress_bar(valid, progress, "reading"):
            merger.keep(article)
            stores.add(article)
    finally:
        ahead.cancel()
    tf, doc_len, vocabulary = merger.merged()
    with _DaskLinker(client, timeout) as linker:
        return weighed(config, tf, doc_len, vocabulary, stores.finish(), started, progress, linker=linker)


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
            rows.append((line, ErrorData.of(row) if isinstance(row, InputError) else row))
            size += sum(len(k) + len(v) + 2 for k, v in row.items()) if isinstance(row, dict) else 1
            if size >= step:
                yield client.scatter([rows], hash=False)[0]
                rows, size = [], 0
    except InputError as error:
        rows.append((None, Fatal(ErrorData.of(error))))
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
                if isinstance(item, ErrorData):
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

    def _counts_of(self, part: "Partition", articles: list[Article], kept: np.ndarray):
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
        CountBuilder.finish makes them. Each partition's counts are let go once copied, so memory
        holds the stacked matrix and one partition's, not two of the whole."""
        parts, self._counts = self._counts, []
        vocabulary = sorted(set().union(*(v for _, _, v in parts)))
        column = {term: i for i, term in enumerate(vocabulary)}
        doc_len = np.concatenate([d for _, d, _ in parts])
        nnz = sum(tf.nnz for tf, _, _ in parts)
        indptr = np.zeros(len(doc_len) + 1, np.int32 if nnz < np.iinfo(np.int32).max else np.int64)
        indices, data = np.empty(nnz, np.int32), np.empty(nnz, np.float32)
        row = at = 0
        parts.reverse()  # taken from the end: the first partition first
        while parts:
            tf, _, terms = parts.pop()
            renumber = np.fromiter((column[t] for t in terms), dtype=np.int32, count=len(terms))
            indices[at:at + tf.nnz] = renumber[tf.indices]  # sorted terms into sorted terms: rows stay sorted
            data[at:at + tf.nnz] = tf.data
            ends = indptr[row + 1:row + 1 + tf.shape[0]]
            ends[:] = tf.indptr[1:]
            ends += at  # in indptr's dtype
            row, at = row + tf.shape[0], at + tf.nnz
            del tf
        return sp.csr_matrix((data, indices, indptr), shape=(len(doc_len), len(vocabulary))), doc_len, vocabulary


# ---------------------------------------------------------------------------- the neighbour lists
class _DaskLinker:
    """Runs the neighbour kernels on the workers (see build.neighbours.Linker): the inputs are
    broadcast to every worker once, then each task computes a block of rows."""

    def __init__(self, client, timeout: float) -> None:
        self.client, self.timeout = client, timeout
        self._inputs = None  # (the inputs, their future on the cluster)
        # the arrays go straight to the workers (through the scheduler, it would hold a copy of them
        # on the way), unless the Client was made with direct_to_workers=False
        self._direct = client.direct_to_workers is not False

    def __enter__(self) -> "_DaskLinker":
        return self

    def __exit__(self, *exc) -> None:
        if self._inputs is not None:
            self.client.cancel(self._inputs[1])

    def search(self, inputs: LinkInputs, config: IndexConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self._map(_search_on_worker, inputs, config)

    def refine(self, inputs: LinkInputs, config: IndexConfig, self_scores: np.ndarray, neighbor_rows: np.ndarray,
               neighbor_sims: np.ndarray, fresh: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        current = self.client.scatter([self_scores, neighbor_rows, neighbor_sims, fresh], broadcast=True, hash=False,
                                     direct=self._direct)
        try:
            return self._map(_refine_on_worker, inputs, config, *current)
        finally:
            self.client.cancel(current)

    def _map(self, task: Callable, inputs: LinkInputs, config: IndexConfig, *args) -> tuple[np.ndarray, ...]:
        """``task(inputs, config, *args, first, last, per_host)`` over blocks of rows, on the workers:
        the arrays it returns for each block, written into arrays over all rows as each block arrives
        (and let go), so that memory here holds the whole result and one block of it, not two copies."""
        from distributed import as_completed
        from distributed.comm import get_address_host

        workers = _workers(self.client, self.timeout)
        per_host = dict(Counter(get_address_host(address) for address in workers))
        n = len(inputs.rows.indptr) - 1
        bounds = np.unique(np.linspace(0, n, min(n, TASKS_PER_WORKER * len(workers)) + 1).astype(np.int64))
        if self._inputs is None or self._inputs[0] is not inputs:
            self._inputs = (inputs, self.client.scatter(inputs, broadcast=True, hash=False, direct=self._direct))
        shared = self._inputs[1]
        blocks = {self.client.submit(task, shared, config, *args, first, last, per_host, pure=False): (first, last)
                  for first, last in zip(bounds[:-1].tolist(), bounds[1:].tolist())}
        whole: tuple[np.ndarray, ...] = ()
        try:
            for future in as_completed(list(blocks)):
                (first, last), block = blocks.pop(future), future.result()
                future.release()
                whole = whole or tuple(np.empty((n, *part.shape[1:]), part.dtype) for part in block)
                for into, part in zip(whole, block):
                    into[first:last] = part
                del block
        finally:
            self.client.cancel(list(blocks))  # the blocks not taken, after an error
        return whole


_KERNEL_LOCK = threading.Lock()  # one whole-index kernel at a time in a worker process


@contextmanager
def _kernel_threads(per_host: dict[str, int]):
    """Threads for one kernel call: this machine's cores shared among its worker processes."""
    from distributed import get_worker
    from distributed.comm import get_address_host

    siblings = per_host.get(get_address_host(get_worker().address), 1)
    with _KERNEL_LOCK:
        yield max(1, kernels.threads() // siblings)


def _search_on_worker(inputs: LinkInputs, config: IndexConfig, first: int, last: int, per_host: dict[str, int]):
    with _kernel_threads(per_host) as n_threads:
        return search_block(inputs, config, first, last, n_threads)


def _refine_on_worker(inputs: LinkInputs, config: IndexConfig, self_scores, neighbor_rows, neighbor_sims, fresh,
                      first: int, last: int, per_host: dict[str, int]):
    with _kernel_threads(per_host) as n_threads:
        return refine_block(inputs, config, self_scores, neighbor_rows, neighbor_sims, fresh, first, last, n_threads)
