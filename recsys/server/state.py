"""What the service serves: the current index, kept in step with the shared SQLite file.

Every worker process applies the same logged article changes and stored view events, so that with
``--workers N`` all of them answer alike: a write is logged first, then each worker catches up
before it answers (``sync``). Reload and compaction start a new "generation", which makes every
worker reopen the index directory.

Two locks: ``lock`` is held by every read and by the brief moments that change the index in place
or swap it; ``write_lock`` serialises the writers (upserts, deletes, reload, compaction). Long work
(a compaction's rebuild, loading an index) holds only ``write_lock``, so reads go on meanwhile, on
the index as it was; a worker busy with such work also skips catching up until it is done.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

from ..article import Article
from ..changelog import ChangeLog
from ..errors import IndexFormatError, RecsysError, UnknownArticleError
from ..events import Event, EventStore
from ..index import RelatedIndex
from .errors import ServiceError

T = TypeVar("T")


class ServingState:
    """The served index and the durable stores behind it."""

    def __init__(self, index_path: Path, db_path: Path) -> None:
        self.events = EventStore(db_path)
        self.changes = ChangeLog(db_path)
        self.lock = threading.Lock()
        self.write_lock = threading.Lock()
        self.index: RelatedIndex | None = None
        self.index_path = Path(index_path)
        self._generation = -1
        self._applied_seq = 0
        self._events_seen = 0
        self._seen_version: int | None = None  # the file's data_version when we last caught up
        generation, recorded = self.changes.generation()
        if recorded is not None and Path(recorded) != self.index_path:
            self.changes.new_generation(str(self.index_path))  # the configured index wins at startup

    def close(self) -> None:
        self.events.close()
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

    def _catch_up_or_reopen(self) -> None:
        """Under write_lock: apply what other workers wrote, or reopen on a new generation."""
        version = self.changes.data_version()
        generation, path = self.changes.generation()
        if generation == self._generation and self.index is not None:
            with self.lock:
                self._catch_up()
            self._seen_version = version
            return
        try:
            self._swap_in(self._opened(Path(path) if path else self.index_path), generation)
        except RecsysError as error:
            if self.index is None:
                raise ServiceError(503, f"no index is loaded: {error}") from None
            self._generation = generation  # keep serving the index we have
        self._seen_version = version

    def _opened(self, path: Path) -> tuple[RelatedIndex, Path, int, int]:
        """Load the index at ``path`` and apply every view and logged change (no lock needed: nobody
        else sees it yet)."""
        index = RelatedIndex.load(path)
        views, events_seen = self.events.views_after(0)
        index.add_views(views)
        applied = self.changes.replay(index)
        return index, path, applied, events_seen

    def _swap_in(self, opened: tuple[RelatedIndex, Path, int, int], generation: int) -> None:
        index, path, applied, events_seen = opened
        with self.lock:  # requests under way keep the index they hold
            self.index, self.index_path, self._generation = index, path, generation
            self._applied_seq, self._events_seen = applied, events_seen
            self._catch_up()  # anything written while it was loading

    def _catch_up(self) -> None:
        """Under lock: apply the changes and views written since we last looked."""
        if self.changes.last_seq() > self._applied_seq:
            self._applied_seq = self.changes.replay(self.index, after=self._applied_seq)
        if self.events.last_rowid() > self._events_seen:
            views, self._events_seen = self.events.views_after(self._events_seen)
            self.index.add_views(views)

    # ------------------------------------------------------------ reads
    async def read(self, query: Callable[[RelatedIndex], T]) -> T:
        """Run a quick read-only ``query`` on the current index. On the event loop when nothing is to
        catch up and no write holds the index (no thread hop); otherwise in the thread pool."""
        if self.up_to_date() and self.lock.acquire(blocking=False):
            try:
                return query(self.index)
            finally:
                self.lock.release()
        return await run_in_threadpool(self._read_in_thread, query)

    def _read_in_thread(self, query: Callable[[RelatedIndex], T]) -> T:
        with self.reading() as index:
            return query(index)

    @contextmanager
    def reading(self) -> Iterator[RelatedIndex]:
        """The current index, held while the block runs: a change waits until the read is done, so
        no read sees half of an upsert."""
        self.sync()
        with self.lock:
            yield self._ready()

    # ------------------------------------------------------------ writes
    def upsert(self, article: Article) -> tuple[bool, int]:
        """Log, then apply, an upsert: (whether the id is new, pending changes)."""
        with self.write_lock:
            self._catch_up_or_reopen()
            with self.lock:
                created = article.id not in self._ready()
                self.changes.append_upsert(article)
                self._catch_up()
                return created, self.index.pending_changes

    def delete(self, article_id: str) -> int:
        with self.write_lock:
            self._catch_up_or_reopen()
            with self.lock:
                if article_id not in self._ready():
                    raise UnknownArticleError(article_id)
                self.changes.append_delete(article_id)
                self._catch_up()
                return self.index.pending_changes

    def add_events(self, events: list[Event]) -> tuple[int, int]:
        """Store events durably, then count their views in: (accepted, duplicates)."""
        accepted, duplicates = self.events.add(events)
        self.sync()
        return len(accepted), duplicates

    def reload(self, path: Path | None) -> RelatedIndex:
        """Serve another index directory (or the same one, rebuilt); a bad one is refused and the
        old one keeps serving. Reads go on while it loads."""
        path = Path(path) if path else self.index_path
        with self.write_lock:
            try:
                opened = self._opened(path)
            except IndexFormatError as error:
                raise ServiceError(422, f"refused: {error}; still serving {self.index_path}") from None
            self._swap_in(opened, self.changes.new_generation(str(path)))
            return self.index

    def compact(self) -> RelatedIndex:
        """Fold the logged changes into the index directory (a rebuild), and serve the result.
        Writes wait meanwhile; reads go on, on the index as it was."""
        with self.write_lock:
            self._catch_up_or_reopen()
            folded = self._applied_seq
            self._ready().compacted().save(self.index_path)  # only writers change the index: none now
            generation = self.changes.new_generation(str(self.index_path), forget_upto=folded)
            self._swap_in(self._opened(self.index_path), generation)
            return self.index

    def _ready(self) -> RelatedIndex:
        if self.index is None:
            raise ServiceError(503, "no index is loaded yet")
        return self.index
