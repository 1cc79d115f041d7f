"""The embedded event store: view and click events, durable in SQLite (WAL), idempotent by event id."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    article_id TEXT NOT NULL,
    type TEXT NOT NULL CHECK (type IN ('view', 'click')),
    ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_type_time ON events (type, ts);
CREATE INDEX IF NOT EXISTS events_by_article ON events (article_id, type);
"""


@dataclass(frozen=True)
class Event:
    """One client event: ``id`` is the client's own event id (a retry with the same id is a duplicate)."""

    id: str
    article_id: str
    type: str
    ts: float  # epoch seconds


class EventStore:
    """Events in a SQLite file. ``add`` returns only once the events are on disk (WAL, synchronous=FULL)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def add(self, events: Iterable[Event]) -> tuple[list[Event], int]:
        """Store new events in one transaction: (the events that were new, how many were duplicates)."""
        events = list(events)
        accepted: list[Event] = []
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for event in events:
                    cursor = self._db.execute("INSERT OR IGNORE INTO events (id, article_id, type, ts) VALUES (?, ?, ?, ?)",
                                              (event.id, event.article_id, event.type, event.ts))
                    if cursor.rowcount:
                        accepted.append(event)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return accepted, len(events) - len(accepted)

    def view_counts(self, since: float | None = None) -> dict[str, int]:
        """Views per article, all time or since an epoch time."""
        query = "SELECT article_id, COUNT(*) FROM events WHERE type = 'view'"
        params: tuple = ()
        if since is not None:
            query += " AND ts >= ?"
            params = (since,)
        with self._lock:
            return dict(self._db.execute(query + " GROUP BY article_id", params).fetchall())

    def last_rowid(self) -> int:
        """The row id of the newest event (0: none); it grows with every stored event."""
        with self._lock:
            return int(self._db.execute("SELECT COALESCE(MAX(rowid), 0) FROM events").fetchone()[0])

    def views_after(self, rowid: int) -> tuple[dict[str, int], int]:
        """Views per article stored after row ``rowid`` (0: all), and the last row id seen."""
        with self._lock:
            last = int(self._db.execute("SELECT COALESCE(MAX(rowid), 0) FROM events").fetchone()[0])
            rows = self._db.execute("SELECT article_id, COUNT(*) FROM events WHERE type = 'view' AND rowid > ? "
                                    "AND rowid <= ? GROUP BY article_id", (rowid, last)).fetchall()
        return dict(rows), last

    def views_of(self, article_ids: Iterable[str], upto: int) -> dict[str, int]:
        """Views of these articles stored up to row ``upto``: what ``views_after`` counted for them
        before they existed (an article added later still gets the views reported for its id)."""
        ids = sorted(set(article_ids))
        counts: dict[str, int] = {}
        with self._lock:
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                marks = ", ".join("?" * len(chunk))
                counts.update(self._db.execute(
                    f"SELECT article_id, COUNT(*) FROM events WHERE article_id IN ({marks}) AND type = 'view' "
                    "AND rowid <= ? GROUP BY article_id", (*chunk, upto)).fetchall())
        return counts

    def totals(self) -> dict[str, int]:
        """Event counts by type."""
        with self._lock:
            return dict(self._db.execute("SELECT type, COUNT(*) FROM events GROUP BY type").fetchall())

    def close(self) -> None:
        with self._lock:
            self._db.close()
