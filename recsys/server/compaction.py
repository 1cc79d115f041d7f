"""Compaction across workers: single-flight, rebuilt in a separate process, switched in atomically.

Compaction folds the logged article changes into a freshly built index (fresh idf). With
``--workers N`` any worker may be asked to, so:

- It is single-flight across processes: an exclusive ``fcntl.flock`` on a lock file next to the
  SQLite file (``<db>.compact.lock``). The OS releases it when its holder dies, so kill -9 leaves no
  stale lock. A compaction that arrives while one runs waits for it, then rebuilds only if changes
  were logged meanwhile (otherwise it returns at once: nothing is pending). Reload takes the same
  lock, so a reload never lands between a compaction's rebuild and its switch.
- The rebuild runs in a child process (``main`` here), never in a
  (multithreaded) server worker. It loads the current generation, replays the log up to seq S
  (quarantining entries that fail, like every replay), builds, and writes the result as a NEW
  generation directory (``recsys.generations``). The child inherits the lock's file descriptor, so
  if the server dies first, no other compaction starts before the child is done.
- Writes and reads go on meanwhile: changes logged after S stay in the log and are replayed on top
  of the new generation.

The steps, in this order, for crash safety:

(a) the child writes generation N, complete and fsynced, under a temporary name, then renamed;
(b) the pointer switch: ``CURRENT`` names generation N (``os.replace`` of a synced file);
(c) one SQLite transaction deletes the log entries <= S and records a new serving generation, so
    every worker reopens the index.

A crash before (b) leaves the old generation served and the log untouched; the half-written or
unswitched directory is an orphan that the next compaction deletes. A crash between (b) and (c)
leaves generation N served with the entries <= S still logged: every worker replays them on top of
N, which is idempotent (an upsert replaces the article with the same id, and a replaced article keeps
the larger of its stored view counts, which are equal; a delete of an absent id is ignored; view
events are never written into an index, only added in memory after the replay, so none is counted
twice). The next compaction then forgets them.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import subprocess
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..index import generations
from .changelog import ChangeLog
from ..errors import RecsysError
from .errors import ServiceError

log = logging.getLogger("recsys.server")

# ``python -m recsys.server.compaction`` works too, but the package imports this module first (runpy warns).
_CHILD = "import sys; from recsys.server.compaction import main; sys.exit(main())"
REBUILD_TIMEOUT_SECONDS = 6 * 3600  # a 1M-article rebuild takes under two hours on 2 cores
_PRIVATE_ENVIRONMENT = ("RECSYS_API_TOKEN", "RECSYS_ADMIN_TOKEN", "PROMETHEUS_MULTIPROC_DIR")


def lock_path(db_path: str | os.PathLike) -> Path:
    """The lock file that makes compaction (and reload) single-flight: next to the SQLite file."""
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + ".compact.lock")


@contextmanager
def single_flight(db_path: str | os.PathLike) -> Iterator[int]:
    """Hold the exclusive lock for ``db_path``'s service (waiting for a holder in any process or
    thread); yields the locked file descriptor."""
    descriptor = os.open(lock_path(db_path), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield descriptor
    finally:
        os.close(descriptor)  # releases the lock (once no child holds it any more)


def compact(changes: ChangeLog, db_path: str | os.PathLike, index_path: str | os.PathLike) -> int | None:
    """Fold the logged changes into a new generation of the served index and switch to it. Returns
    the new serving generation, or None when nothing was pending. ``index_path`` is used when the log
    records no index path yet. Raises ServiceError(500) with the rebuild's one-line error."""
    with single_flight(db_path) as descriptor:
        upto = changes.last_seq()
        if upto == 0:
            return None  # nothing logged: what is served is what a compaction would build
        _, recorded = changes.generation()
        path = Path(recorded) if recorded else Path(index_path)
        previous = generations.current(path)
        target = generations.next_directory(path)
        _rebuild(path, Path(db_path), upto, target, descriptor)  # (a)
        generations.switch(path, target)  # (b)
        generation = changes.new_generation(str(path), forget_upto=upto)  # (c)
        removed = generations.prune(path, keep={previous, target})
        log.info("compacted changes up to %d into %s; removed %d old generations", upto, target, len(removed))
        return generation


def _rebuild(path: Path, db_path: Path, upto: int, target: Path, descriptor: int) -> None:
    """Run the child process that writes the new generation; ServiceError(500) if it fails."""
    environment = {k: v for k, v in os.environ.items() if k not in _PRIVATE_ENVIRONMENT}
    command = [sys.executable, "-c", _CHILD, "--index", str(path), "--db", str(db_path), "--upto", str(upto),
               "--output", str(target)]
    try:
        done = subprocess.run(command, env=environment, capture_output=True, text=True, pass_fds=(descriptor,),
                              stdin=subprocess.DEVNULL, timeout=REBUILD_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:  # killed: a hung rebuild must not hold the lock for ever
        raise ServiceError(500, f"compaction failed: the rebuild took over {REBUILD_TIMEOUT_SECONDS} s and "
                                "was stopped; still serving the index as it was") from None
    if done.returncode == 0:
        return
    if done.stderr.strip():
        log.error("compaction of %s failed:\n%s", path, done.stderr.strip())
    lines = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    if lines:
        message = lines[-1][len("error: "):]
    elif done.returncode < 0:
        message = f"the rebuild process was killed by signal {-done.returncode}"
    else:
        message = f"the rebuild process exited with status {done.returncode}"
    raise ServiceError(500, f"compaction failed: {message[:500]}; still serving the index as it was")


def rebuild(path: Path, db_path: Path, upto: int, target: Path) -> dict:
    """In the child: the current generation of ``path`` plus the log up to ``upto``, rebuilt and
    written to ``target``."""
    from ..related_index import RelatedIndex

    index = RelatedIndex.load(path)
    changes = ChangeLog(db_path)
    try:
        replayed = changes.replay(index, upto=upto)
    finally:
        changes.close()
    compacted = index.compacted()
    compacted.save(target)
    return {"articles": len(compacted), "folded": replayed.last, "quarantined": len(replayed.quarantined),
            "directory": str(target)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recsys.server.compaction",
                                     description="Write a compacted generation of a served index (run by the service).")
    parser.add_argument("--index", type=Path, required=True, help="The configured index directory.")
    parser.add_argument("--db", type=Path, required=True, help="The service's SQLite file.")
    parser.add_argument("--upto", type=int, required=True, help="Fold in the logged changes up to this seq.")
    parser.add_argument("--output", type=Path, required=True, help="The new generation's directory.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = rebuild(args.index, args.db, args.upto, args.output)
    except RecsysError as error:
        print(f"error: {error}".replace("\n", " "), file=sys.stderr)
        return 1
    except Exception as error:  # noqa: BLE001 - the traceback for the server's log, then one line
        traceback.print_exc()
        print(f"error: {type(error).__name__}: {error}".replace("\n", " "), file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
