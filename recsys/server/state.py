"""What the service serves: the current index, kept in step with the shared SQLite file.

Every worker process applies the same logged article changes and stored view events, so that with
``--workers N`` all of them answer alike: a write is logged first, then each worker catches up
before it answers (``sync``). Reload and compaction start a new "generation", which makes every
worker reopen the index directory.

On (re)opening, the logged changes are replayed first and the stored views added after, so views of
articles added since the last compaction count too; views reported for an id before the article
existed are added when a replayed upsert creates it (``EventStore.views_of``). A log entry that
cannot be replayed is quarantined (see ``ChangeLog.replay``). A worker that fails to open a new
generation keeps serving the index it has and tries again, at most once per ``retry_delay`` seconds.

Reads take no lock: a RelatedIndex answers each call on the snapshot it holds when the call
starts, and a change swaps in a new snapshot (see recsys.live), so reads run side by side, alongside
a write, and never see half of one. ``write_lock`` serialises the writers (upserts, deletes, catching
up, reload) in this process. Long work (loading an index) holds it too, and reads go on meanwhile,
on the index as it was; a worker busy with such work also skips catching up until it is done.
Compaction and reload are single-flight across processes too (a file lock, see ``compaction``); a
compaction's rebuild runs in a child process and holds no lock of ours, so writes go on meanwhile.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

from ..documents.article import Article
from ..errors import IndexFormatError, RecsysError, UnknownArticleError
from ..feedback import FeedbackStore
from ..feedback.store import DEFAULT_RETENTION_DAYS
from ..related_index import RelatedIndex
from . import compaction
from .changelog import ChangeLog
from .errors import ServiceError
from .events import Event, EventStore

T = TypeVar("T")
log = logging.getLogger("recsys.server")


class ServingState:
    """The served index and the durable stores behind it."""

    def __init__(self, index_path: Path, db_path: Path, *, retry_delay: float = 1.0,
                 retention_days: float = DEFAULT_RETENTION_DAYS) -> None:
        self.db_path = Path(db_path)
        self.events = EventStore(db_path)
        self.feedback = FeedbackStore(db_path, retention_days=retention_days)  # the block's impressions and clicks
        self.changes = ChangeLog(db_path)
        self.write_lock = threading.Lock()
        self.index: RelatedIndex | None = None
        self.index_path = Path(index_path)
        self._generation = -1
        self._applied_seq = 0
        self._events_seen = 0
        self._seen_version: int | None = None  # the file's data_version when we last caught up
        self.retry_delay = retry_delay  # seconds between attempts to open a generation that failed
        self._retry_at = 0.0  # time.monotonic() before which a failed generation is not tried again
        self._failed_generation: int | None = None
        generation, recorded = self.changes.generation()
        if recorded is not None and Path(recorded) != self.index_path:
            self.changes.new_generation(str(self.index_path))  # the configured index wins at startup

    def close(self) -> None:
        self.events.close()
        self.feedback.close()
        self.changes.close()

    # ------------------------------------------------------------ keeping in step
    def up_to_date(self) -> bool:
        """True if nothing was written to the shared file since we last caught up (one cheap query)."""
        return self.index is not None and self.changes.data_version() == self._seen_version

    def sync(self) -> RelatedIndex:
        """Catch up with changes, events and generations written by any worker; the current index
        (503 while there is none)."""
        if self.up_to_date():
            return self.index
        if self.write_lock.acquire(blocking=self.index is None):
            try:
                self._catch_up_or_reopen()
            finally:
                self.write_lock.release()
        return self._ready()

    def _catch_up_or_reopen(self, *, retry_now: bool = False) -> None:
        """Under write_lock: apply what other workers wrote, or reopen on a new generation. A worker
        that cannot open the new generation keeps serving the index it has (caught up with the log)
        and tries again on a later sync, at most once per ``retry_delay`` (or now: ``retry_now``)."""
        version = self.changes.data_version()
        generation, path = self.changes.generation()
        if generation != self._generation or self.index is None:
            if self.index is None or retry_now or time.monotonic() >= self._retry_at:
                try:
                    opened = self._opened(Path(path) if path else self.index_path)
                except (RecsysError, OSError) as error:
                    if self.index is None:
                        raise ServiceError(503, f"no index is loaded: {error}") from None
                    self._retry_at = time.monotonic() + self.retry_delay
                    if self._failed_generation != generation:
                        self._failed_generation = generation
                        log.error("could not open index generation %d (%s); still serving %s, trying again",
                                  generation, error, self.index_path)
                else:
                    self._swap_in(opened, generation)
                    self._failed_generation = None
                    self._seen_version = version
                    return
            self._catch_up()
            self._seen_version = None  # not up to date: the next sync tries the new generation again
            return
        self._catch_up()
        self._seen_version = version

    def _opened(self, path: Path) -> tuple[RelatedIndex, Path, int, int]:
        """Load the index at ``path`` (the generation it points to), replay the logged changes, then add
        every stored view, and warm the compiled kernels on it (no lock needed: nobody else sees it
        yet). Changes first: views of articles added since the index was built count too."""
        index = RelatedIndex.load(path)
        applied = self.changes.replay(index).last
        views, events_seen = self.events.views_after(0)
        index.add_views(views)
        warm(index)
        return index, path, applied, events_seen

    def _swap_in(self, opened: tuple[RelatedIndex, Path, int, int], generation: int) -> None:
        index, path, applied, events_seen = opened
        self._applied_seq, self._events_seen = applied, events_seen
        self._catch_up(index)  # anything written while it was loading; then requests see it
        replaced = self.index is not None
        self.index, self.index_path, self._generation = index, path, generation  # those under way keep theirs
        _settle_heap(collect=replaced)

    def _catch_up(self, index: RelatedIndex | None = None) -> None:
        """Under write_lock: apply to ``index`` (default: the served one) the changes and views written
        since we last looked (changes first)."""
        index = self.index if index is None else index
        if self.changes.last_seq() > self._applied_seq:
            replayed = self.changes.replay(index, after=self._applied_seq)
            self._applied_seq = replayed.last
            if replayed.created:  # views reported for these ids before they existed
                index.add_views(self.events.views_of(replayed.created, upto=self._events_seen))
        if self.events.last_rowid() > self._events_seen:
            views, self._events_seen = self.events.views_after(self._events_seen)
            index.add_views(views)

    # ------------------------------------------------------------ reads
    async def read(self, query: Callable[[RelatedIndex], T]) -> T:
        """Run a quick read-only ``query`` on the current index: on the event loop when nothing is to
        catch up (no thread hop), otherwise in the thread pool."""
        if self.up_to_date():
            return query(self.index)
        return await run_in_threadpool(self._read_in_thread, query)

    async def read_in_thread(self, query: Callable[[RelatedIndex], T]) -> T:
        """Run a read-only ``query`` on the current index in the thread pool, always: for reads that may
        take long (live searches, MMR, explanations), which must not hold up the event loop."""
        return await run_in_threadpool(self._read_in_thread, query)

    def _read_in_thread(self, query: Callable[[RelatedIndex], T]) -> T:
        with self.reading() as index:
            return query(index)

    @contextmanager
    def reading(self) -> Iterator[RelatedIndex]:
        """The current index, caught up. No lock: each of its calls answers on one snapshot."""
        self.sync()
        yield self._ready()

    # ------------------------------------------------------------ writes
    def upsert(self, article: Article) -> tuple[bool, int]:
        """Log, then apply, an upsert: (whether the id is new, pending changes)."""
        with self.write_lock:
            self._catch_up_or_reopen()
            created = article.id not in self._ready()
            seq = self.changes.append_upsert(article)
            self._catch_up()
            self._refuse_if_quarantined(seq)
            return created, self.index.pending_changes

    def delete(self, article_id: str) -> int:
        with self.write_lock:
            self._catch_up_or_reopen()
            if article_id not in self._ready():
                raise UnknownArticleError(article_id)
            seq = self.changes.append_delete(article_id)
            self._catch_up()
            self._refuse_if_quarantined(seq)
            return self.index.pending_changes

    def _refuse_if_quarantined(self, seq: int) -> None:
        """500 if our own logged change was set aside on replay (here or by another worker)."""
        if self.changes.is_quarantined(seq):
            raise ServiceError(500, "the change could not be applied; it was set aside (dead_letters), "
                                    "not stored")

    def add_events(self, events: list[Event]) -> tuple[int, int]:
        """Store events durably, then count their views in: (accepted, duplicates)."""
        accepted, duplicates = self.events.add(events)
        self.sync()
        return len(accepted), duplicates

    def reload(self, path: Path | None) -> RelatedIndex:
        """Serve another index directory (or the same one, rebuilt); a bad one is refused and the
        old one keeps serving. Reads go on while it loads; it waits for a compaction under way."""
        path = Path(path) if path else self.index_path
        with compaction.single_flight(self.db_path), self.write_lock:
            try:
                opened = self._opened(path)
            except (IndexFormatError, OSError) as error:
                raise ServiceError(422, f"refused: {error}; still serving {self.index_path}") from None
            self._swap_in(opened, self.changes.new_generation(str(path)))
            return self.index

    def compact(self) -> RelatedIndex:
        """Fold the logged changes into a new generation of the index directory (a rebuild, in a
        separate process, single-flight across workers), and serve it. Reads and writes go on
        meanwhile; changes logged during the rebuild are replayed on top of the result."""
        compaction.compact(self.changes, self.db_path, self.index_path)
        with self.write_lock:
            self._catch_up_or_reopen(retry_now=True)
        return self._ready()

    def _ready(self) -> RelatedIndex:
        if self.index is None:
            raise ServiceError(503, "no index is loaded yet")
        return self.index


def warm(index: RelatedIndex) -> None:
    """Run one filtered related list and one filtered more-like-this on ``index``, so that the compiled
    kernels (numba: compiled, or read from its cache, on first use) are ready before the first
    request needs them. Seconds the first time in a process; about a millisecond after."""
    try:
        for article_id in index.ids[:1]:
            article = index.article(article_id)
            width = index.info()["neighbors_per_article"]
            index.related(article_id, k=width + 1, section=article.section, fallback=True)  # a live search, padded
            index.popular(3)
            index.more_like_this(article.title or (article.body or "")[:200] or "news", k=3,
                                 exclude=[article_id])  # a filtered draft (any index): its feedback's own search too
    except Exception:  # noqa: BLE001 - warming is an optimisation: the request will compile instead
        log.warning("warming up the kernels failed", exc_info=True)


def _settle_heap(*, collect: bool) -> None:
    """Exempt what is alive now (the index: hundreds of thousands of objects) from the garbage
    collector's full passes, which would otherwise pause every request of this process for a tenth
    of a second or more. With ``collect`` (an index was replaced), what the previous one left behind
    is collected first: a full pass, a few tenths of a second in a large process, so not on first load."""
    if collect:
        gc.unfreeze()
        gc.collect()
    gc.freeze()
