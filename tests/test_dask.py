"""Building on Dask distributed: a LocalCluster of 2 worker processes makes the index a local build makes."""

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")

from click.testing import CliRunner
from distributed import Client, LocalCluster

import recsys
from recsys import RelatedIndex
from recsys.cli import main
from recsys.errors import DependencyError, DuplicateIdError, InputError, RecsysError

PARTITION = 60_000  # bytes: the ~0.5 MB corpus is read in about 8 partitions
SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]


def _word(rng) -> str:
    return "".join(rng.choice(SYLLABLES, size=rng.integers(2, 4)))


def synthetic(n: int = 2000, seed: int = 7) -> list[dict]:
    """Articles on 25 topics of made-up words over a shared background, with a few near-copies."""
    rng = np.random.default_rng(seed)
    background = sorted({_word(rng) for _ in range(600)})
    topics = [sorted({_word(rng) for _ in range(60)}) for _ in range(25)]
    articles = []
    for i in range(n):
        topic = topics[int(rng.integers(len(topics)))]
        if articles and rng.random() < 0.02:  # a near-copy of a recent article
            copy = dict(articles[-int(rng.integers(1, min(len(articles), 20) + 1))])
            body = copy["body"].split()
            body[int(rng.integers(len(body)))] = _word(rng)
            articles.append({**copy, "id": f"a-{i}", "body": " ".join(body)})
            continue
        size = int(rng.integers(30, 80))
        words = np.where(rng.random(size) < 0.5, rng.choice(topic, size), rng.choice(background, size))
        articles.append({
            "id": f"a-{i}", "title": " ".join(rng.choice(topic, 5)).capitalize(), "body": " ".join(words),
            "section": ["world", "sports", "business", "culture", "science"][i % 5],
            "tags": [str(t) for t in rng.choice(topic[:8], 2, replace=False)],
            "published_at": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T08:00:00Z", "views": int(rng.integers(0, 5000)),
        })
    return articles


def write_lines(path: Path, lines: list) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines),
                    encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def articles() -> list[dict]:
    return synthetic()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, articles) -> Path:
    return write_lines(tmp_path_factory.mktemp("dask") / "news.jsonl", articles)


def assert_same_index(local: RelatedIndex, distributed: RelatedIndex) -> None:
    a, b = local._view.data, distributed._view.data
    assert b.vocabulary == a.vocabulary
    assert np.array_equal(b.df, a.df)
    np.testing.assert_allclose(b.idf, a.idf, rtol=0, atol=1e-6)
    assert b.avgdl == pytest.approx(a.avgdl, abs=1e-6)
    for name in ("rows", "columns"):
        x, y = getattr(a, name), getattr(b, name)
        ids = (lambda p: p.term_ids()) if name == "rows" else (lambda p: p.indices)
        assert np.array_equal(y.indptr, x.indptr) and np.array_equal(ids(y), ids(x))
        np.testing.assert_allclose(y.data, x.data, rtol=0, atol=1e-6)
    assert (b.query_tf is None) == (a.query_tf is None) == (a.config.method == "tfidf")  # BM25's query side reads them
    for name in ("query_tf", "term_max", "self_scores", "neighbor_sims"):
        if getattr(a, name) is not None:
            np.testing.assert_allclose(getattr(b, name), getattr(a, name), rtol=0, atol=1e-6)
    assert np.array_equal(b.neighbor_rows, a.neighbor_rows)
    assert np.array_equal(b.duplicate_group, a.duplicate_group)
    assert b.store.ids == a.store.ids
    for name in b.store.ARRAYS:
        assert np.array_equal(getattr(b.store, name), getattr(a.store, name), equal_nan=name == "published"), name
    for name in b.store.NAMES:
        assert getattr(b.store, name) == getattr(a.store, name), name


def test_the_cluster_has_two_worker_processes(client):
    workers = client.scheduler_info(n_workers=-1)["workers"]
    assert len(workers) == 2 and len({w["id"] for w in workers.values()}) == 2


@pytest.mark.parametrize("params", [{}, {"method": "bm25", "refine_rounds": 2, "probe_budget": 500}],
                         ids=["tfidf", "bm25-budget-refined"])
def test_the_dask_build_is_the_local_build(client, corpus, params):
    assert corpus.stat().st_size > 6 * PARTITION
    local = RelatedIndex.build(corpus, n_jobs=1, **params)
    distributed = RelatedIndex.build_on_dask(corpus, client, partition_bytes=PARTITION, **params)
    assert len(distributed) == 2000 and (distributed._view.data.neighbor_rows >= 0).all()
    assert (local._view.data.duplicate_group != np.arange(2000)).any()  # the near-copies were found
    assert_same_index(local, distributed)


def test_saved_dask_index_loads_and_answers_alike(client, corpus, tmp_path, articles):
    RelatedIndex.build(corpus, n_jobs=1).save(tmp_path / "local")
    RelatedIndex.build_on_dask(corpus, client, partition_bytes=PARTITION).save(tmp_path / "dask")
    local, distributed = RelatedIndex.load(tmp_path / "local"), RelatedIndex.load(tmp_path / "dask")
    assert sorted(p.name for p in (tmp_path / "dask").iterdir()) == sorted(p.name for p in (tmp_path / "local").iterdir())
    assert_same_index(local, distributed)
    for article in articles[::97]:
        want = local.related(article["id"], k=8, now="2026-12-31")
        got = distributed.related(article["id"], k=8, now="2026-12-31")
        assert [h.id for h in got] == [h.id for h in want]
        assert [h.score for h in got] == pytest.approx([h.score for h in want], abs=1e-6)


def test_skipped_rows_are_reported_in_file_order_and_left_out_alike(client, tmp_path, articles):
    lines = list(articles[:600])
    lines[40] = "{not json"
    lines[333] = {"id": "bad-date", "title": "x", "published_at": "yesterday"}
    lines[350] = dict(articles[345])                 # a repeated id within a partition
    lines[590] = dict(articles[3], title="retold")   # an id first seen partitions earlier
    lines[450] = ""                                  # blank lines count as lines, and are passed over
    lines[451] = {"title": "no id"}
    path = write_lines(tmp_path / "messy.jsonl", lines)
    reports = {"local": [], "dask": []}
    local = RelatedIndex.build(path, on_error="skip", on_skip=reports["local"].append, n_jobs=1)
    distributed = RelatedIndex.build_on_dask(path, client, on_error="skip", on_skip=reports["dask"].append,
                                             partition_bytes=15_000)
    assert [str(e) for e in reports["dask"]] == [str(e) for e in reports["local"]]
    assert [type(e) for e in reports["dask"]] == [type(e) for e in reports["local"]]
    assert [(e.line, e.field) for e in reports["dask"]] == [(41, None), (334, "published_at"), (351, "id"),
                                                           (452, "id"), (591, "id")]
    assert "first seen at line 4" in str(reports["dask"][-1])
    assert_same_index(local, distributed)


@pytest.mark.parametrize("bad_line, bad, message", [
    (1733, {"id": "x", "title": "late", "views": -3}, "news.jsonl:1733: views:"),
    (1911, "[1, 2]", "news.jsonl:1911: expected an object, got list"),
    (1500, {"id": "a-20", "title": "again"}, "news.jsonl:1500: id: duplicate id 'a-20', first seen at line 21"),
])
def test_an_error_in_a_late_partition_names_its_line(client, tmp_path, articles, bad_line, bad, message):
    lines = list(articles)
    lines[bad_line - 1] = bad
    path = write_lines(tmp_path / "news.jsonl", lines)
    with pytest.raises(InputError) as local:
        RelatedIndex.build(path, n_jobs=1)
    with pytest.raises(InputError) as distributed:
        RelatedIndex.build_on_dask(path, client, partition_bytes=PARTITION)
    assert str(distributed.value) == str(local.value)
    assert str(distributed.value).startswith(message)
    assert (distributed.value.source, distributed.value.line) == ("news.jsonl", bad_line)
    assert type(distributed.value) is (DuplicateIdError if "duplicate" in message else InputError)


def test_invalid_utf8_stops_the_build_even_when_skipping(client, tmp_path, articles):
    text = "".join(json.dumps(a) + "\n" for a in articles[:800]).encode("utf-8").splitlines(keepends=True)
    text[10] = b"{broken\n"
    text[700] = b'{"id": "z", "title": "caf\xe9"}\n'
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b"".join(text))
    reports = {"local": [], "dask": []}
    with pytest.raises(InputError) as local:
        RelatedIndex.build(path, on_error="skip", on_skip=reports["local"].append, n_jobs=1)
    with pytest.raises(InputError) as distributed:
        RelatedIndex.build_on_dask(path, client, on_error="skip", on_skip=reports["dask"].append, partition_bytes=20_000)
    assert str(distributed.value) == str(local.value) and distributed.value.line == 701
    assert [str(e) for e in reports["dask"]] == [str(e) for e in reports["local"]] and len(reports["dask"]) == 1


def test_csv_input(client, tmp_path, articles):
    path = tmp_path / "news.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "body", "section", "tags"])
        for a in articles[:500]:
            writer.writerow([a["id"], a["title"], a["body"].replace(" ", "\n", 1), a["section"], ",".join(a["tags"])])
    local = RelatedIndex.build(path, n_jobs=1)
    distributed = RelatedIndex.build_on_dask(path, client, partition_bytes=20_000)
    assert_same_index(local, distributed)


def test_a_worker_that_cannot_read_the_input_says_so(client, tmp_path):
    from recsys.build.dask_partitions import jsonl_partition as _jsonl_partition

    missing = str(tmp_path / "elsewhere.jsonl")  # as on a worker without the shared storage
    part = client.submit(_jsonl_partition, missing, "elsewhere.jsonl", 0, 100, recsys.IndexConfig(), True).result()
    error = part.fatal.error()
    assert isinstance(error, InputError) and error.source == missing and not part.items
    assert "cannot be read on Dask worker tcp://" in str(error) and "same path on every worker" in str(error)


def test_an_unreachable_scheduler_is_named(corpus):
    with pytest.raises(RecsysError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:1"):
        RelatedIndex.build_on_dask(corpus, "tcp://127.0.0.1:1", timeout=1)


def test_without_dask_installed_it_says_which_extra(corpus, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(DependencyError, match=r"recsys\[dask\]"):
        RelatedIndex.build_on_dask(corpus, "local")


def test_cli_build_on_a_local_cluster(corpus, tmp_path, articles):
    runner = CliRunner()
    result = runner.invoke(main, ["build", str(corpus), "-o", str(tmp_path / "dask"), "--dask", "local"])
    assert result.exit_code == 0, result.output
    assert "built" in result.stderr and "2000 articles" in result.stderr
    local = RelatedIndex.build(corpus, n_jobs=1)
    assert_same_index(local, recsys.RelatedIndex.load(tmp_path / "dask"))
    result = runner.invoke(main, ["related", str(tmp_path / "dask"), articles[5]["id"], "-k", "5", "--json"])
    assert result.exit_code == 0
    listed = [hit["id"] for hit in json.loads(result.stdout)["results"]]
    assert listed == [hit.id for hit in local.related(articles[5]["id"], k=5)]


def test_the_dask_build_benchmark_reports_the_client_and_each_worker():
    from benchmarks import dask_build

    row = dask_build.measure(300, "stories", 2, seed=0)
    assert row["articles"] == 300 and row["workers"] == 2
    assert len(row["worker_rss_mb"]) == 2 and all(mb > 50 for mb in row["worker_rss_mb"])
    assert row["client_rss_mb"] > 50 and row["build_s"] >= row["neighbours_s"] > 0
    assert 50 < row["client_reading_rss_mb"] <= row["client_neighbours_rss_mb"] <= row["client_rss_mb"]
