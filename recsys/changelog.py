"""Article upserts and deletes accepted by the service, durable in SQLite until compaction folds them in."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from .article import Article
from .errors import UnknownArticleError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS article_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id TEXT NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
    record TEXT
);
CREATE TABLE IF NOT EXISTS serving (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class ChangeLog:
    """An append-only log of article changes; ``append`` returns once the change is on disk."""

    def __init__(self, path: str | Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(Path(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def append_upsert(self, article: Article) -> int:
        return self._append(article.id, "upsert", json.dumps(article.to_dict(), ensure_ascii=False))

    def append_delete(self, article_id: str) -> int:
        return self._append(article_id, "delete", None)

    def _append(self, article_id: str, op: str, record: str | None) -> int:
        with self._lock:
            cursor = self._db.execute("INSERT INTO article_changes (article_id, op, record) VALUES (?, ?, ?)",
                                      (article_id, op, record))
            return int(cursor.lastrowid)

    def changes(self, after: int = 0) -> Iterator[tuple[int, str, str, dict | None]]:
        """(seq, op, article id, record) of every change after ``after``, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT seq, op, article_id, record FROM article_changes WHERE seq > ? "
                                    "ORDER BY seq", (after,)).fetchall()
        for seq, op, article_id, record in rows:
            yield seq, op, article_id, json.loads(record) if record else None

    def data_version(self) -> int:
        """A number that changes whenever another connection (another worker, or this process's
        event store) commits to the file: a cheap "anything new?" test."""
        with self._lock:
            return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def last_seq(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM article_changes").fetchone()[0])

    def replay(self, index, after: int = 0) -> int:
        """Apply the logged changes to an index; returns the last seq applied."""
        last = after
        for seq, op, article_id, record in self.changes(after):
            if op == "upsert":
                index.upsert(Article.from_dict(record))
            else:
                try:
                    index.delete(article_id)
                except UnknownArticleError:
                    pass  # deleted before, or never in this index
            last = seq
        return last

    def generation(self) -> tuple[int, str | None]:
        """(how many times the served index directory was replaced, its path) as the log records it."""
        with self._lock:
            rows = dict(self._db.execute("SELECT key, value FROM serving").fetchall())
        return int(rows.get("generation", 0)), rows.get("index_path")

    def new_generation(self, index_path: str, forget_upto: int | None = None) -> int:
        """Record that ``index_path`` is now the index to serve (dropping the changes it folded in)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if forget_upto is not None:
                    self._db.execute("DELETE FROM article_changes WHERE seq <= ?", (forget_upto,))
                row = self._db.execute("SELECT value FROM serving WHERE key = 'generation'").fetchone()
                generation = int(row[0]) + 1 if row else 1
                self._db.executemany("INSERT OR REPLACE INTO serving (key, value) VALUES (?, ?)",
                                     [("generation", str(generation)), ("index_path", index_path)])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return generation

    def close(self) -> None:
        with self._lock:
            self._db.close()
