"""The service's start-up time and memory do not grow with the raw impressions and clicks stored.

Two events files hold the same newest 10,000 raw rows that no roll-up has counted yet; one of them
holds 1,000,000 raw rows in all, the rest counted already (their watermarks are past them): the
steady state of a busy site within the retention. A fresh service process starts on each, answers
/ready, then GET /v1/stats, which rolls up the 10,000 first. What it costs, in time and in memory,
must not depend on the 990,000 other rows.
"""

import json
import os
import sqlite3
import subprocess
import sys
import time

from recsys.feedback import FeedbackStore

BACKLOG = 10_000
ADMIN_TOKEN = "admin-token-0123456789"
IDS = [f"a-{i:03d}" for i in range(1, 61)]  # the sample corpus's ids
PROBE = r"""
import json, sys, time
started = time.perf_counter()
from fastapi.testclient import TestClient
from recsys.server import Settings, create_app

def rss_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024

imported = time.perf_counter()
settings = Settings(index=sys.argv[1], events_db=sys.argv[2], admin_token=sys.argv[3], rollup_seconds=3600)
with TestClient(create_app(settings)) as client:
    assert client.get("/ready").status_code == 200
    ready = time.perf_counter()
    rss_ready = rss_mb()
    stats = client.get("/v1/stats", headers={"Authorization": "Bearer " + sys.argv[3]}).json()
    done = time.perf_counter()
    print(json.dumps({"startup_s": ready - imported, "rss_ready_mb": rss_ready, "stats_s": done - ready,
                      "rss_after_mb": rss_mb(), "impressions": sum(v["impressions"] for v in stats["variants"]),
                      "clicks": sum(v["clicks"] for v in stats["variants"])}))
"""


def write_events(path, total: int) -> None:
    """``total`` raw rows (9 impressions to 1 click), all but the newest BACKLOG counted as rolled up."""
    FeedbackStore(path).close()  # the schema
    now = time.time()
    shown = [json.dumps([IDS[(a + j + 1) % 60] for j in range(5)], separators=(",", ":")) for a in range(60)]
    n_clicks = total // 10
    n_impressions = total - n_clicks
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=OFF")  # a bulk load: the service switches the file back to WAL
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-200000")
    db.execute("BEGIN")
    span = 28 * 86400  # within the retention: nothing to delete
    db.executemany("INSERT INTO impressions (seq, id, article_id, variant, shown, ts) VALUES (?, ?, ?, ?, ?, ?)",
                   ((i + 1, f"imp-{i:016d}", IDS[i % 60], ("control", "fresh")[i % 2], shown[i % 60],
                     now - span * (n_impressions - i) / n_impressions) for i in range(n_impressions)))
    step = n_impressions // n_clicks
    db.executemany("INSERT INTO clicks (seq, impression_id, impression_seq, hour, article_id, target_id, position, "
                   "variant, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   ((c + 1, f"imp-{c * step:016d}", c * step + 1,
                     int((now - span * (n_impressions - c * step) / n_impressions) // 3600), IDS[c * step % 60],
                     IDS[(c * step % 60 + 2) % 60], 1 + c % 2, ("control", "fresh")[c * step % 2],
                     now - span * (n_impressions - c * step) / n_impressions + 5)
                    for c in range(n_clicks)))
    # fix each click's target to the one shown at its position
    db.execute("UPDATE clicks SET target_id = json_extract((SELECT shown FROM impressions WHERE seq = impression_seq), "
               "'$[' || (position - 1) || ']')")
    backlog_impressions = BACKLOG * 9 // 10
    db.executemany("INSERT INTO feedback_watermarks (name, seq) VALUES (?, ?)",
                   [("impressions", n_impressions - backlog_impressions),
                    ("clicks", db.execute("SELECT COALESCE(MAX(seq), 0) FROM clicks WHERE impression_seq <= ?",
                                          (n_impressions - backlog_impressions,)).fetchone()[0])])
    db.execute("COMMIT")
    db.close()


def probe(index_dir, events) -> dict:
    output = subprocess.run([sys.executable, "-c", PROBE, str(index_dir), str(events), ADMIN_TOKEN],
                            capture_output=True, text=True, timeout=120, env={**os.environ})
    assert output.returncode == 0, output.stderr[-3000:]
    return json.loads(output.stdout.strip().splitlines()[-1])


def test_startup_and_memory_do_not_grow_with_the_raw_rows(served_index_dir, tmp_path):
    small, large = tmp_path / "small.sqlite3", tmp_path / "large.sqlite3"
    started = time.perf_counter()
    write_events(small, BACKLOG)
    write_events(large, 1_000_000)
    with sqlite3.connect(large) as db:
        assert db.execute("SELECT COUNT(*) FROM impressions").fetchone()[0] + \
               db.execute("SELECT COUNT(*) FROM clicks").fetchone()[0] == 1_000_000
    written = time.perf_counter() - started
    few, many = probe(served_index_dir, small), probe(served_index_dir, large)
    print(f"\nwritten in {written:.1f} s; 10k rows: {few}\n1M rows: {many}")
    assert few["impressions"] == many["impressions"] == BACKLOG * 9 // 10  # the backlog, rolled up on the call
    assert few["clicks"] == many["clicks"] > 0
    assert many["startup_s"] < few["startup_s"] * 1.5 + 1.0
    assert many["rss_ready_mb"] < few["rss_ready_mb"] + 25
    assert many["stats_s"] < few["stats_s"] * 2 + 1.0
    assert many["rss_after_mb"] < few["rss_after_mb"] + 25

