"""What the service serves: the current index, kept in step with the shared SQLite file.

Every worker process applies the same logged article changes and stored view events, so that with
``--workers N`` all of them answer alike: a write is logged first, then each worker catches up
before it answers (``sync``). Reload and compaction start a new "generation", which makes every
worker reopen the index directory.
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
    """The served index and the durable stores behind it. All mutation happens under ``lock``."""

    def __init__(self, index_path: Path, db_path: Path) -> None:
        self.events = EventStore(db_path)
        self.changes = ChangeLog(db_path)
        self.lock = threading.Lock()
        self.index: RelatedIndex | None = None
        self.index_path = Path(index_path)
        self._generation = -1
        self._applied_seq = 0
        self._events_seen = 0
        self._seen_version: int | None = None  # the file's data_version when we last caught up

    def close(self) -> None:
        self.events.close()
        self.changes.close()

    # ------------------------------------------------------------ keeping in step
    def up_to_date(self) -> bool:
        """True if nothing was written to the shared file since we last caught up (one cheap query)."""
        return self.index is not None and self.changes.data_version() == self._seen_version

    def sync(self) -> RelatedIndex | None:
        """Catch up with changes, events and generations written by any worker; the current index."""
        version = self.changes.data_version()
        if self.index is not None and version == self._seen_version:
            return self.index
        generation, path = self.changes.generation()
        with self.lock:
            self._seen_version = version
            if generation == self._generation:
                if self.index is not None:
                    self._catch_up()
                return self.index
            try:
                self._open(Path(path) if path else self.index_path, generation)
            except RecsysError as error:
                if self.index is None:
                    raise ServiceError(503, f"no index is loaded: {error}") from None
                self._generation = generation  # keep serving the index we have
        return self.index

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
        """The current index, held while the block runs: a write waits until the read is done, so no
        read sees half of an upsert."""
        self.sync()
        with self.lock:
            yield self._ready()

    def _open(self, path: Path, generation: int) -> None:
        """Serve the index at ``path`` with every view and logged change applied (refuse a bad one)."""
        index = RelatedIndex.load(path)
        views, events_seen = self.events.views_after(0)
        index.add_views(views)
        self._applied_seq = self.changes.replay(index)
        self.index, self.index_path, self._generation, self._events_seen = index, path, generation, events_seen

    def _catch_up(self) -> None:
        if self.changes.last_seq() > self._applied_seq:
            self._applied_seq = self.changes.replay(self.index, after=self._applied_seq)
        if self.events.last_rowid() > self._events_seen:
            views, self._events_seen = self.events.views_after(self._events_seen)
            self.index.add_views(views)


    # ------------------------------------------------------------ writes
    def upsert(self, article: Article) -> tuple[bool, int]:
        """Log, then apply, an upsert: (whether the id is new, pending changes)."""
        self.sync()
        with self.lock:
            created = article.id not in self._ready()
            self.changes.append_upsert(article)
            self._catch_up()
            return created, self.index.pending_changes

    def delete(self, article_id: str) -> int:
        self.sync()
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
        """Serve another index directory (or the same one, rebuilt); a bad one is refused."""
        path = Path(path) if path else self.index_path
        with self.lock:
            try:
                RelatedIndex.load(path)  # verify before anyone switches
            except IndexFormatError as error:
                raise ServiceError(422, f"refused: {error}; still serving {self.index_path}") from None
            generation = self.changes.new_generation(str(path))
            self._open(path, generation)
            return self.index

    def compact(self) -> RelatedIndex:
        """Fold the logged changes into the index directory (a rebuild), and serve the result."""
        self.sync()
        with self.lock:
            folded = self._applied_seq
            self._ready().compacted().save(self.index_path)
            generation = self.changes.new_generation(str(self.index_path), forget_upto=folded)
            self._open(self.index_path, generation)
            return self.index

    def _ready(self) -> RelatedIndex:
        if self.index is None:
            raise ServiceError(503, "no index is loaded yet")
        return self.index
