"""Impressions and clicks of the related block, in SQLite (WAL), rolled up per hour.

Raw rows:

- ``impressions``: one per block a reader saw: the client's impression id (the idempotency key),
  the article, the variant, and the ids shown, in order.
- ``clicks``: at most one per impression (the first; a second click in the same block, or a retry,
  is a duplicate): the target and its position, checked against the stored impression.

Roll-ups (``roll_up``), in the same file:

- ``feedback_hourly``: impressions and clicks per (hour, article, variant, position);
- ``feedback_variants_hourly``: impressions and clicks per (hour, variant);
- ``feedback_targets``: impressions and clicks per (article, target, position), what ``recsys eval``
  reads as a click log.

A click counts in the hour of its impression. Each raw table has a watermark (the last ``seq``
rolled up) that moves in the same transaction as the counts, so a roll-up never counts a row twice,
whichever process runs it and however often; a click is rolled up only once its impression is.
Raw rows older than the retention are deleted once they are rolled up. Reports read the roll-ups
only, so nothing the service or a report holds grows with the raw row count.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import FeedbackError, UnknownImpressionError

DEFAULT_RETENTION_DAYS = 30.0
CHUNK_ROWS = 20_000  # raw rows per roll-up transaction: the write lock is held for a fraction of a second

_SCHEMA = """
CREATE TABLE IF NOT EXISTS impressions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    article_id TEXT NOT NULL,
    variant TEXT NOT NULL,
    shown TEXT NOT NULL,
    ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS impressions_by_time ON impressions (ts);
CREATE TABLE IF NOT EXISTS clicks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    impression_id TEXT NOT NULL UNIQUE,
    impression_seq INTEGER NOT NULL,
    hour INTEGER NOT NULL,
    article_id TEXT NOT NULL,
    target_id TEXT NOT NULL,
    position INTEGER NOT NULL CHECK (position >= 1),
    variant TEXT NOT NULL,
    ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS clicks_by_time ON clicks (ts);
CREATE TABLE IF NOT EXISTS feedback_hourly (
    hour INTEGER NOT NULL,
    article_id TEXT NOT NULL,
    variant TEXT NOT NULL,
    position INTEGER NOT NULL,
    impressions INTEGER NOT NULL DEFAULT 0,
    clicks INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, article_id, variant, position)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS feedback_variants_hourly (
    hour INTEGER NOT NULL,
    variant TEXT NOT NULL,
    impressions INTEGER NOT NULL DEFAULT 0,
    clicks INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, variant)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS feedback_targets (
    article_id TEXT NOT NULL,
    target_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    impressions INTEGER NOT NULL DEFAULT 0,
    clicks INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (article_id, target_id, position)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS feedback_watermarks (
    name TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);
"""

_ROLL_IMPRESSIONS = [
    """INSERT INTO feedback_hourly (hour, article_id, variant, position, impressions)
       SELECT CAST(i.ts / 3600 AS INTEGER), i.article_id, i.variant, j.key + 1, COUNT(*)
       FROM impressions AS i, json_each(i.shown) AS j WHERE i.seq > :low AND i.seq <= :high
       GROUP BY 1, 2, 3, 4
       ON CONFLICT DO UPDATE SET impressions = impressions + excluded.impressions""",
    """INSERT INTO feedback_variants_hourly (hour, variant, impressions)
       SELECT CAST(ts / 3600 AS INTEGER), variant, COUNT(*) FROM impressions WHERE seq > :low AND seq <= :high
       GROUP BY 1, 2
       ON CONFLICT DO UPDATE SET impressions = impressions + excluded.impressions""",
    """INSERT INTO feedback_targets (article_id, target_id, position, impressions)
       SELECT i.article_id, j.value, j.key + 1, COUNT(*)
       FROM impressions AS i, json_each(i.shown) AS j WHERE i.seq > :low AND i.seq <= :high
       GROUP BY 1, 2, 3
       ON CONFLICT DO UPDATE SET impressions = impressions + excluded.impressions""",
]
_ROLL_CLICKS = [
    """INSERT INTO feedback_hourly (hour, article_id, variant, position, clicks)
       SELECT hour, article_id, variant, position, COUNT(*) FROM clicks WHERE seq > :low AND seq <= :high
       GROUP BY 1, 2, 3, 4
       ON CONFLICT DO UPDATE SET clicks = clicks + excluded.clicks""",
    """INSERT INTO feedback_variants_hourly (hour, variant, clicks)
       SELECT hour, variant, COUNT(*) FROM clicks WHERE seq > :low AND seq <= :high
       GROUP BY 1, 2
       ON CONFLICT DO UPDATE SET clicks = clicks + excluded.clicks""",
    """INSERT INTO feedback_targets (article_id, target_id, position, clicks)
       SELECT article_id, target_id, position, COUNT(*) FROM clicks WHERE seq > :low AND seq <= :high
       GROUP BY 1, 2, 3
       ON CONFLICT DO UPDATE SET clicks = clicks + excluded.clicks""",
]


@dataclass(frozen=True)
class RolledUp:
    """What one ``roll_up`` did: raw rows counted into the roll-ups, and raw rows deleted."""

    impressions: int = 0
    clicks: int = 0
    deleted: int = 0


class FeedbackStore:
    """The impressions and clicks of one SQLite file (the service's events file)."""

    def __init__(self, path: str | Path, *, retention_days: float = DEFAULT_RETENTION_DAYS) -> None:
        self.path = Path(path)
        self.retention_days = float(retention_days)
        self._lock = threading.Lock()
        self._db = _connect(self.path)
        with self._lock:
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------ writes
    def add_impression(self, impression_id: str, article_id: str, variant: str, shown: Sequence[str],
                       ts: float | None = None) -> bool:
        """Store an impression; False if one with this id is stored already (a retry). The same id
        with another article, variant or list raises FeedbackError and stores nothing."""
        shown = list(shown)
        record = json.dumps(shown, ensure_ascii=False, separators=(",", ":"))
        with self._transaction() as db:
            cursor = db.execute("INSERT OR IGNORE INTO impressions (id, article_id, variant, shown, ts) "
                                "VALUES (?, ?, ?, ?, ?)", (impression_id, article_id, variant, record,
                                                           time.time() if ts is None else ts))
            if cursor.rowcount:
                return True
            stored = db.execute("SELECT article_id, variant, shown FROM impressions WHERE id = ?",
                                (impression_id,)).fetchone()
        if stored != (article_id, variant, record):
            raise FeedbackError("impression_id: already used for another article, variant or list")
        return False

    def add_click(self, impression_id: str, article_id: str, target_id: str, position: int, variant: str,
                  ts: float | None = None, *, shown: Sequence[str] | None = None) -> bool:
        """Store the click of an impression; False if that impression has its click already (a retry,
        or a second click in the same block). The click must match the stored impression: its
        article, its variant, and the id shown at ``position`` (1 is the first); otherwise
        FeedbackError (UnknownImpressionError for an impression never stored), and nothing is stored.

        ``shown`` (the ids the impression showed) stores the impression too, in the same transaction,
        if it is not stored yet: for a block clicked before it was reported seen, whose impression
        report might arrive after its click. A stored impression with another list is a FeedbackError."""
        now = time.time() if ts is None else ts
        with self._transaction() as db:
            row = db.execute("SELECT seq, article_id, variant, shown, ts FROM impressions WHERE id = ?",
                             (impression_id,)).fetchone()
            if shown is not None:
                record = json.dumps(list(shown), ensure_ascii=False, separators=(",", ":"))
                if row is None:
                    db.execute("INSERT INTO impressions (id, article_id, variant, shown, ts) VALUES (?, ?, ?, ?, ?)",
                               (impression_id, article_id, variant, record, now))
                    row = db.execute("SELECT seq, article_id, variant, shown, ts FROM impressions WHERE id = ?",
                                     (impression_id,)).fetchone()
                elif row[1:4] != (article_id, variant, record):
                    raise FeedbackError("impression_id: already used for another article, variant or list")
            if row is None:
                raise UnknownImpressionError(f"impression_id: no impression {impression_id[:80]!r} was reported "
                                             "(or it is older than the retention)")
            seq, shown_for, shown_variant, record, shown_at = row
            shown = json.loads(record)
            if article_id != shown_for:
                raise FeedbackError(f"article_id: the impression was of {shown_for[:80]!r}, not {article_id[:80]!r}")
            if variant != shown_variant:
                raise FeedbackError(f"variant: the impression was of variant {shown_variant!r}, not {variant[:60]!r}")
            if not 1 <= position <= len(shown):
                raise FeedbackError(f"position: the impression showed {len(shown)} articles, not {position}")
            if shown[position - 1] != target_id:
                raise FeedbackError(f"target_id: {target_id[:80]!r} was not shown at position {position}")
            cursor = db.execute("INSERT OR IGNORE INTO clicks (impression_id, impression_seq, hour, article_id, "
                                "target_id, position, variant, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                (impression_id, seq, int(shown_at // 3600), article_id, target_id, position, variant,
                                 now))
            return bool(cursor.rowcount)

    # ------------------------------------------------------------ roll-ups
    def roll_up(self, *, now: float | None = None, chunk: int = CHUNK_ROWS) -> RolledUp:
        """Count the raw rows stored since the last roll-up into the hourly roll-ups, then delete the
        raw rows older than the retention that are rolled up. Safe to run from several threads and
        processes at once: each transaction moves its watermarks with its counts."""
        impressions = clicks = deleted = 0
        db = _connect(self.path)  # its own connection: a long roll-up never holds up this store's writes
        try:
            while True:
                with _immediate(db):
                    low_i, low_c = _watermark(db, "impressions"), _watermark(db, "clicks")
                    top_i = db.execute("SELECT COALESCE(MAX(seq), 0) FROM impressions").fetchone()[0]
                    high_i = min(top_i, low_i + chunk)
                    for statement in _ROLL_IMPRESSIONS:
                        db.execute(statement, {"low": low_i, "high": high_i})
                    # clicks up to the first whose impression is not rolled up yet
                    high_c = min(db.execute("SELECT COALESCE(MAX(seq), 0) FROM clicks").fetchone()[0], low_c + chunk)
                    waiting = db.execute("SELECT MIN(seq) FROM clicks WHERE seq > ? AND seq <= ? AND impression_seq > ?",
                                         (low_c, high_c, high_i)).fetchone()[0]
                    if waiting is not None:
                        high_c = waiting - 1
                    for statement in _ROLL_CLICKS:
                        db.execute(statement, {"low": low_c, "high": high_c})
                    db.executemany("INSERT OR REPLACE INTO feedback_watermarks (name, seq) VALUES (?, ?)",
                                   [("impressions", high_i), ("clicks", high_c)])
                    impressions += _count(db, "impressions", low_i, high_i)
                    clicks += _count(db, "clicks", low_c, high_c)
                if high_i == top_i and (high_c - low_c) < chunk:
                    break
            cutoff = (time.time() if now is None else now) - self.retention_days * 86400
            for table in ("clicks", "impressions"):  # an old impression's click goes first
                while True:
                    with _immediate(db):
                        done = _watermark(db, table)
                        removed = db.execute(f"DELETE FROM {table} WHERE seq IN (SELECT seq FROM {table} "  # noqa: S608
                                             "WHERE ts < ? AND seq <= ? LIMIT ?)", (cutoff, done, chunk)).rowcount
                    deleted += removed
                    if removed < chunk:
                        break
        finally:
            db.close()
        return RolledUp(impressions, clicks, deleted)

    # ------------------------------------------------------------ reads (of the roll-ups)
    def variant_hours(self, from_hour: int, to_hour: int) -> list[tuple[int, str, int, int]]:
        """(hour, variant, impressions, clicks) of the hours from ``from_hour`` up to (not including) ``to_hour``."""
        with self._lock:
            return self._db.execute("SELECT hour, variant, impressions, clicks FROM feedback_variants_hourly "
                                    "WHERE hour >= ? AND hour < ? ORDER BY hour, variant",
                                    (from_hour, to_hour)).fetchall()

    def positions(self, from_hour: int, to_hour: int) -> list[tuple[str, int, int, int]]:
        """(variant, position, impressions, clicks), summed over the hours and articles."""
        with self._lock:
            return self._db.execute("SELECT variant, position, SUM(impressions), SUM(clicks) FROM feedback_hourly "
                                    "WHERE hour >= ? AND hour < ? GROUP BY variant, position "
                                    "ORDER BY variant, position", (from_hour, to_hour)).fetchall()

    def targets(self) -> Iterator[tuple[str, str, int, int, int]]:
        """(article, target, position, impressions, clicks) of every pair ever rolled up."""
        with self._lock:
            rows = self._db.execute("SELECT article_id, target_id, position, impressions, clicks "
                                    "FROM feedback_targets ORDER BY article_id").fetchall()
        yield from rows

    def raw_counts(self) -> dict[str, int]:
        """Raw rows stored now (rolled up or not), by table."""
        with self._lock:
            return {table: int(self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # noqa: S608
                    for table in ("impressions", "clicks")}

    @contextmanager
    def _transaction(self):
        with self._lock, _immediate(self._db):
            yield self._db


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    return db


@contextmanager
def _immediate(db: sqlite3.Connection):
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _watermark(db: sqlite3.Connection, name: str) -> int:
    row = db.execute("SELECT seq FROM feedback_watermarks WHERE name = ?", (name,)).fetchone()
    return int(row[0]) if row else 0


def _count(db: sqlite3.Connection, table: str, low: int, high: int) -> int:
    if high <= low:
        return 0
    return int(db.execute(f"SELECT COUNT(*) FROM {table} WHERE seq > ? AND seq <= ?",  # noqa: S608
                          (low, high)).fetchone()[0])
