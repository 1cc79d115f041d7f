"""Article upserts and deletes accepted by the service, durable in SQLite until compaction folds them in.

A logged change that cannot be replayed (written by an older version, or edited by hand: invalid
JSON, a record that no longer validates, an unknown op) is quarantined on replay: moved, in one
transaction, to the ``dead_letters`` table, and the rest of the log is applied. It is never retried
at every start-up.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..documents.article import Article
from ..errors import UnknownArticleError

log = logging.getLogger("recsys.changelog")

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
CREATE TABLE IF NOT EXISTS dead_letters (
    seq INTEGER PRIMARY KEY,
    article_id TEXT,
    op TEXT,
    record TEXT,
    error TEXT NOT NULL,
    quarantined_at REAL NOT NULL
);
"""

MAX_ERROR_CHARS = 1_000  # of an error's text kept in dead_letters (and logged)


@dataclass
class Replayed:
    """What a replay did: the last seq it went through, the ids it added (absent before, present
    after) and the seqs it quarantined."""

    last: int
    created: set[str] = field(default_factory=set)
    quarantined: list[int] = field(default_factory=list)


class ChangeLog:
    """An append-only log of article changes; ``append`` returns once the change is on disk."""

    def __init__(self, path: str | Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(Path(path), check_same_thread=False, isolation_level=None, timeout=30)
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

    def entries(self, after: int = 0, upto: int | None = None) -> list[tuple[int, str, str, str | None]]:
        """(seq, op, article id, record as stored) of every change after ``after`` (and up to ``upto``),
        oldest first; nothing parsed."""
        with self._lock:
            return self._db.execute("SELECT seq, op, article_id, record FROM article_changes WHERE seq > ? "
                                    "AND seq <= ? ORDER BY seq",
                                    (after, upto if upto is not None else 2**63 - 1)).fetchall()

    def changes(self, after: int = 0) -> Iterator[tuple[int, str, str, dict | None]]:
        """(seq, op, article id, record) of every change after ``after``, oldest first."""
        for seq, op, article_id, record in self.entries(after):
            yield seq, op, article_id, json.loads(record) if record else None

    def data_version(self) -> int:
        """A number that changes whenever another connection (another worker, or this process's
        event store) commits to the file: a cheap "anything new?" test."""
        with self._lock:
            return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def last_seq(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM article_changes").fetchone()[0])

    def replay(self, index, after: int = 0, upto: int | None = None) -> Replayed:
        """Apply the logged changes after ``after`` (up to ``upto``) to an index, oldest first. An entry
        that fails (to parse, to validate, or to apply) is quarantined and the rest are applied.

        Idempotent on an index that already holds some of the changes (compaction relies on it): an
        upsert replaces the article with its id, and a delete of an absent id is ignored."""
        done = Replayed(after)
        for seq, op, article_id, record in self.entries(after, upto):
            try:
                present = article_id in index
                if op == "upsert":
                    article = Article.from_dict(json.loads(record))
                    if article.id != article_id:
                        raise ValueError(f"the record's id {article.id[:80]!r} differs from the entry's")
                    index.upsert(article)
                    if not present:
                        done.created.add(article_id)
                elif op == "delete":
                    try:
                        index.delete(article_id)
                    except UnknownArticleError:
                        pass  # deleted before, or never in this index
                    done.created.discard(article_id)
                else:
                    raise ValueError(f"unknown op {str(op)[:40]!r}")
            except Exception as error:  # noqa: BLE001 - any entry that cannot be applied is set aside
                if self.quarantine(seq, article_id, op, record, error):
                    done.quarantined.append(seq)
            done.last = seq
        return done

    def quarantine(self, seq: int, article_id, op, record, error: BaseException) -> bool:
        """Move entry ``seq`` to ``dead_letters`` in one transaction; False if another worker already did."""
        text = f"{type(error).__name__}: {error}"[:MAX_ERROR_CHARS]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                moved = self._db.execute("DELETE FROM article_changes WHERE seq = ?", (seq,)).rowcount > 0
                if moved:
                    self._db.execute("INSERT OR REPLACE INTO dead_letters (seq, article_id, op, record, error, "
                                     "quarantined_at) VALUES (?, ?, ?, ?, ?, ?)",
                                     (seq, article_id, op, record, text, time.time()))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        if moved:
            log.error("change %d (%s of article %r) cannot be applied and was moved to dead_letters: %s",
                      seq, str(op)[:40], str(article_id)[:80], text)
        return moved

    def is_quarantined(self, seq: int) -> bool:
        """True if entry ``seq`` was set aside (by this worker's replay or another's)."""
        with self._lock:
            return self._db.execute("SELECT 1 FROM dead_letters WHERE seq = ?", (seq,)).fetchone() is not None

    def quarantined(self) -> int:
        """How many entries the dead_letters table holds."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0])

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
