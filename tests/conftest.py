import json
import os
from functools import partial
from pathlib import Path

import pytest

import recsys
from recsys.cli import sample_corpus_path


@pytest.fixture(scope="session")
def sample_path() -> Path:
    return Path(str(sample_corpus_path()))


@pytest.fixture(scope="session")
def sample_articles(sample_path) -> list[dict]:
    return [json.loads(line) for line in sample_path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="session")
def sample_index(sample_path) -> recsys.RelatedIndex:
    return recsys.RelatedIndex.build(sample_path)


@pytest.fixture(scope="session", autouse=True)
def compiled_kernels(sample_index) -> None:
    """Compile every kernel once, first, into numba's on-disk cache: the servers the tests start in
    fresh processes then load them from there instead of each compiling them (seconds, on a cold
    machine tens of seconds) before they are ready."""
    from recsys.server.state import warm

    warm(sample_index)


@pytest.fixture(scope="module")
def served_index_dir(sample_index, tmp_path_factory) -> Path:
    """The sample index saved to disk, for the HTTP tests of one module."""
    return sample_index.save(tmp_path_factory.mktemp("served") / "news")


@pytest.fixture()
def start_app():
    """``start_app(**settings)``: an in-process app (its lifespan run) behind a TestClient, closed
    after the test."""
    from fastapi.testclient import TestClient

    from recsys.server import Settings, create_app

    clients = []

    def start(**settings):
        client = TestClient(create_app(Settings(**settings)), raise_server_exceptions=False)
        clients.append(client.__enter__())
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture()
def start_sample_app(start_app, served_index_dir, tmp_path):
    """``start_sample_app(**settings)``: ``start_app`` on the sample index and this test's SQLite file."""
    return partial(start_app, index=served_index_dir, events_db=tmp_path / "events.sqlite3")


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def _on(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")


def pytest_runtest_makereport(item, call):
    """In CI (CI=true) a skipped test fails: the browser and Dask tests must run there. The MiniLM
    tests (marked ``minilm``) may skip without the optional extra, unless RECSYS_REQUIRE_MINILM is
    set too (``.ci/run`` sets it when it runs them with the extra installed). A developer's plain
    ``pytest`` keeps the skips (``-rs`` lists why)."""
    if not _on("CI") or (item.get_closest_marker("minilm") and not _on("RECSYS_REQUIRE_MINILM")):
        return None
    report = pytest.TestReport.from_item_and_call(item, call)
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome, report.longrepr = "failed", f"skipped in CI, which must run every test: {reason}"
    return report


def compiled_versions() -> set[tuple[str, tuple[str, ...]]]:
    """The typed versions of the query kernels numba has compiled (or read from its cache) in this
    process: (kernel name, its arguments' types, read-only arrays marked "ro")."""
    from recsys.index import kernels, prefetch, rows
    from recsys.query import list_kernels, semantic_kernels

    modules = (kernels, prefetch, rows, list_kernels, semantic_kernels)
    return {(f.py_func.__name__, tuple(_type_name(t) for t in signature))
            for m in modules for f in vars(m).values() if hasattr(f, "signatures") for signature in f.signatures}


def compiled_signatures() -> int:
    """How many typed versions of the query kernels numba has compiled (or read from its cache) in
    this process."""
    return len(compiled_versions())


def _type_name(numba_type) -> str:
    if isinstance(getattr(numba_type, "types", None), tuple):  # a tuple of arrays (the rows' term ids)
        return "(" + ", ".join(_type_name(t) for t in numba_type.types) + ")"
    dtype = getattr(numba_type, "dtype", None)
    if dtype is None:
        return str(numba_type)
    return f"{dtype}[{numba_type.ndim}d]" + ("" if numba_type.mutable else " ro")
