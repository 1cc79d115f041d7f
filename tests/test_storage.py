"""The on-disk index: round trip, memory mapping, atomic replacement, and refusal of bad directories."""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import recsys
from conftest import compiled_signatures
from recsys import IndexFormatError, ParameterError

NOW = "2026-11-25T00:00:00Z"


def lists(index, ids=("a-001", "a-012", "a-040")):
    return [[(h.id, round(h.score, 6)) for h in index.related(i, now=NOW)] for i in ids]


def test_round_trip_gives_the_same_lists(sample_index, tmp_path):
    sample_index.save(tmp_path / "news")
    loaded = recsys.RelatedIndex.load(tmp_path / "news")
    assert lists(loaded) == lists(sample_index)
    assert [h.id for h in loaded.more_like_this("rail strike pay")] == \
           [h.id for h in sample_index.more_like_this("rail strike pay")]
    assert loaded.config == sample_index.config and len(loaded) == len(sample_index)
    assert loaded.article("a-001") == sample_index.article("a-001")


def test_a_built_index_is_read_only_as_a_loaded_one_and_serving_it_after_the_build_compiles_nothing(
        sample_index, tmp_path):
    from recsys.server.state import warm

    data = sample_index._view.data
    for array in (data.rows.data, data.columns.indices, data.neighbor_rows, data.embeddings, data.store.views):
        assert not array.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        data.neighbor_sims[0, 0] = 1.0
    warm(sample_index)
    compiled = compiled_signatures()
    warm(recsys.RelatedIndex.load(sample_index.save(tmp_path / "news")))  # memory-mapped, read-only
    assert compiled_signatures() == compiled


def test_arrays_are_memory_mapped_and_there_is_no_pickle(sample_index, tmp_path):
    path = sample_index.save(tmp_path / "news")
    loaded = recsys.RelatedIndex.load(path)
    for array in (loaded._view.data.rows.data, loaded._view.data.neighbor_rows, loaded._view.data.store.bodies):
        assert isinstance(array.base, np.memmap) and not array.flags.writeable
    assert {p.suffix for p in path.iterdir()} == {".npy", ".json"}
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["format"] == "recsys-index" and manifest["version"] == 4
    assert manifest["counts"]["articles"] == 60
    assert set(manifest["files"]) == {p.name for p in path.iterdir()} - {"manifest.json", "editorial.json"}


def test_saving_over_an_index_replaces_it_and_leaves_no_temporary_files(sample_articles, tmp_path):
    recsys.RelatedIndex.build(sample_articles[:10]).save(tmp_path / "news")
    recsys.RelatedIndex.build(sample_articles).save(tmp_path / "news")
    assert len(recsys.RelatedIndex.load(tmp_path / "news")) == 60
    assert [p.name for p in tmp_path.iterdir()] == ["news"]


def test_a_crash_while_saving_leaves_the_old_index_intact(sample_articles, tmp_path, monkeypatch):
    recsys.RelatedIndex.build(sample_articles[:10]).save(tmp_path / "news")
    calls = []

    def failing_save(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise OSError("disk full")
        return real_save(*args, **kwargs)

    real_save = np.save
    monkeypatch.setattr(np, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        recsys.RelatedIndex.build(sample_articles).save(tmp_path / "news")
    monkeypatch.undo()
    assert len(recsys.RelatedIndex.load(tmp_path / "news")) == 10
    assert [p.name for p in tmp_path.iterdir()] == ["news"]


def test_refuses_to_overwrite_a_directory_that_is_not_an_index(sample_index, tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"meow")
    with pytest.raises(ParameterError, match="is not a recsys index"):
        sample_index.save(tmp_path / "photos")
    assert (tmp_path / "photos" / "cat.jpg").read_bytes() == b"meow"


def test_corrupted_file_is_named(sample_index, tmp_path):
    path = sample_index.save(tmp_path / "news")
    with open(path / "neighbor_sims.npy", "r+b") as handle:
        handle.seek(-4, 2)
        handle.write(b"\x00\x01\x02\x03")
    with pytest.raises(IndexFormatError, match=r"neighbor_sims\.npy: checksum mismatch"):
        recsys.RelatedIndex.load(path)


def test_missing_file_is_named(sample_index, tmp_path):
    path = sample_index.save(tmp_path / "news")
    (path / "vocabulary.json").unlink()
    with pytest.raises(IndexFormatError, match=r"vocabulary\.json: missing"):
        recsys.RelatedIndex.load(path)


def test_unknown_format_version_is_refused(sample_index, tmp_path):
    path = sample_index.save(tmp_path / "news")
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["version"] = 99
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexFormatError, match=r"manifest\.json: unsupported index format version 99"):
        recsys.RelatedIndex.load(path)


@pytest.mark.parametrize("content, message", [
    (None, "manifest.json: missing"),
    ("not json", "manifest.json: not valid JSON"),
    ('{"format": "something-else", "version": 1}', "not a recsys index manifest"),
])
def test_foreign_directories_are_refused(tmp_path, content, message):
    (tmp_path / "dir").mkdir()
    if content is not None:
        (tmp_path / "dir" / "manifest.json").write_text(content)
    with pytest.raises(IndexFormatError, match=message):
        recsys.RelatedIndex.load(tmp_path / "dir")


def test_missing_directory(tmp_path):
    with pytest.raises(IndexFormatError, match="not an index directory"):
        recsys.RelatedIndex.load(tmp_path / "nowhere")


def replace_array(path, name, array):
    """Write ``array`` as ``name``.npy and its checksum into the manifest, so only the sanity check can object."""
    import hashlib

    np.save(path / f"{name}.npy", array, allow_pickle=False)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"][f"{name}.npy"] = hashlib.sha256((path / f"{name}.npy").read_bytes()).hexdigest()
    (path / "manifest.json").write_text(json.dumps(manifest))


def as_version(path, version: int) -> None:
    """Rewrite a saved index's rows as versions 2 and 3 kept them (int32 term ids, rows_indices.npy)."""
    rows = recsys.RelatedIndex.load(path)._view.data.rows
    replace_array(path, "rows_indices", rows.term_ids())
    manifest = json.loads((path / "manifest.json").read_text())
    for name in ("rows_low", "rows_high", "rows_high_ptr"):
        (path / f"{name}.npy").unlink()
        del manifest["files"][f"{name}.npy"]
    manifest["version"] = version
    (path / "manifest.json").write_text(json.dumps(manifest))


def out_of_range(value):
    def change(array):
        array = np.array(array)
        array.flat[len(array) // 2] = value
        return array
    return change


def swapped(array):
    array = np.array(array)
    array[[10, 11]] = array[[11, 10]]
    return array


def with_nan(array):
    array = np.array(array)
    array.flat[3] = np.nan
    return array


BAD_ARRAYS = [  # file, how it is broken, the message
    ("rows_low", lambda a: a[: len(a) // 2], r"rows_low\.npy: shape \(1733,\), expected \(3467,\)"),
    ("rows_low", out_of_range(1481 + 7642), r"rows_low\.npy: term 9123 out of range for 1481 terms"),
    ("rows_low", lambda a: a.astype(np.int32), r"rows_low\.npy: dtype int32, expected a 16-bit unsigned \(uint16\)"),
    ("rows_high_ptr", lambda a: a + 1, r"rows_high_ptr\.npy: starts at 1, expected 0"),
    ("rows_high_ptr", lambda a: a[:-1], r"rows_high_ptr\.npy: shape \(60,\), expected \(61,\)"),
    ("rows_indptr", lambda a: a[:-1], r"rows_indptr\.npy: shape \(60,\), expected \(61,\)"),
    ("rows_indptr", swapped, r"rows_indptr\.npy: decreases at position 10"),
    ("rows_indptr", lambda a: a + 1, r"rows_indptr\.npy: starts at 1, expected 0"),
    ("rows_data", lambda a: a[:-1], r"rows_data\.npy: holds 3466 weights, but manifest\.json counts 3467 nonzeros"),
    ("rows_data", with_nan, r"rows_data\.npy: holds NaN or infinite values"),
    ("columns_indices", out_of_range(60), r"columns_indices\.npy: index 60 out of range for 60 articles"),
    ("columns_indptr", lambda a: np.concatenate([a, a[-1:]]),
     r"columns_indptr\.npy: shape \(1483,\), expected \(1482,\)"),
    ("columns_data", lambda a: a.astype(">f4"), r"columns_data\.npy: dtype >f4 is not in this machine's byte order"),
    ("columns_data", lambda a: np.sort(a), r"columns_data\.npy: postings not in impact order \(largest weight first\)"),
    ("idf", lambda a: a[:100], r"idf\.npy: shape \(100,\), expected \(1481,\)"),
    ("df", lambda a: a.astype(np.float64), r"df\.npy: dtype float64, expected a signed integer"),
    ("term_max", lambda a: np.full(len(a), np.inf, np.float32), r"term_max\.npy: holds NaN or infinite"),
    ("self_scores", lambda a: a.astype(np.int64), r"self_scores\.npy: dtype int64, expected a floating-point"),
    ("neighbor_rows", out_of_range(60), r"neighbor_rows\.npy: index 60 out of range for 60 articles \(-1 marks none\)"),
    ("neighbor_rows", out_of_range(-2), r"neighbor_rows\.npy: index -2 out of range"),
    ("neighbor_rows", lambda a: a.ravel(), r"neighbor_rows\.npy: shape \(3000,\), expected \(60, \*\)"),
    ("neighbor_rows", lambda a: a.astype(np.float64), r"neighbor_rows\.npy: dtype float64, expected a signed"),
    ("neighbor_sims", lambda a: a[:, :-1], r"neighbor_sims\.npy: shape \(60, 49\), expected \(60, 50\)"),
    ("duplicate_group", out_of_range(-3), r"duplicate_group\.npy: index -3 out of range for 60 articles"),
    ("articles_views", lambda a: a[:-1], r"articles_views\.npy: shape \(59,\), expected \(60,\)"),
    ("articles_views", out_of_range(-4), r"articles_views\.npy: negative view count -4"),
    ("articles_offsets", lambda a: a * 2,
     r"articles_offsets\.npy: ends at 44822, but articles_records\.npy holds 22411"),
    ("articles_records", lambda a: a.astype(np.int64), r"articles_records\.npy: dtype int64, expected a byte"),
    ("articles_section", out_of_range(8), r"articles_section\.npy: index 8 out of range for 8 sections"),
    ("articles_tag_codes", out_of_range(10**6), r"articles_tag_codes\.npy: index 1000000 out of range"),
    ("articles_published", lambda a: a[:, None], r"articles_published\.npy: shape \(60, 1\), expected \(60,\)"),
    ("static_embeddings", lambda a: a.astype(np.float16),
     r"static_embeddings\.npy: dtype float16, expected float32 or float64"),
]


@pytest.mark.parametrize("verify", [True, False])
@pytest.mark.parametrize("name, change, message", BAD_ARRAYS)
def test_a_foreign_or_truncated_array_is_refused_naming_its_file(sample_index, tmp_path, name, change, message,
                                                                 verify):
    path = sample_index.save(tmp_path / "news")
    replace_array(path, name, change(np.load(path / f"{name}.npy")))
    with pytest.raises(IndexFormatError, match=message) as info:
        recsys.RelatedIndex.load(path, verify=verify)
    assert str(path / f"{name}.npy") in str(info.value)


@pytest.mark.parametrize("row, extra, message", [
    (59, 0, r"rows_high\.npy: term \d+ out of range for 1481 terms"),
    (0, 1, r"rows_high_ptr\.npy: row 0 has more entries with upper bits than entries"),
])
def test_upper_bits_that_name_no_term_or_no_entry_are_refused(sample_index, tmp_path, row, extra, message):
    """The rows' upper bits (rows_high.npy, rows_high_ptr.npy) are checked with the entries they
    belong to: a term past the vocabulary, or a row with more of them than entries, is refused."""
    path = sample_index.save(tmp_path / "news")
    indptr = np.load(path / "rows_indptr.npy")
    count = int(indptr[row + 1] - indptr[row]) if extra else 1
    high_ptr = np.zeros(len(indptr), np.int64)
    high_ptr[row + 1:] = count + extra
    replace_array(path, "rows_high", np.ones(count + extra, np.uint16))
    replace_array(path, "rows_high_ptr", high_ptr)
    with pytest.raises(IndexFormatError, match=message):
        recsys.RelatedIndex.load(path)


def test_the_term_counts_are_kept_only_when_the_query_side_reads_them(sample_articles, sample_index, tmp_path):
    """TF-IDF's query side is its document side: no query_tf.npy. BM25's reads the counts: a
    truncated or missing query_tf.npy is refused, naming it. An index that keeps the counts when it
    need not (as version 2 did) still loads and answers the same."""
    tfidf = sample_index.save(tmp_path / "tfidf")
    assert not (tfidf / "query_tf.npy").exists()
    bm25 = recsys.RelatedIndex.build(sample_articles, method="bm25").save(tmp_path / "bm25")
    counts = np.load(bm25 / "query_tf.npy")
    replace_array(bm25, "query_tf", counts[:-5])
    with pytest.raises(IndexFormatError, match=r"query_tf\.npy: shape \(3462,\), expected \(3467,\)"):
        recsys.RelatedIndex.load(bm25)
    manifest = json.loads((bm25 / "manifest.json").read_text())
    del manifest["files"]["query_tf.npy"]
    (bm25 / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexFormatError, match=r"query_tf\.npy: missing: the query side of method 'bm25'"):
        recsys.RelatedIndex.load(bm25)
    replace_array(tfidf, "query_tf", counts)  # the same articles' counts, as a version 2 index holds them
    as_version(tfidf, 2)
    old = recsys.RelatedIndex.load(tfidf)
    assert old._view.data.query_tf is not None
    assert [h.id for h in old.more_like_this("a-001", k=10)] == [h.id for h in sample_index.more_like_this("a-001", k=10)]


def test_the_build_keeps_the_term_postings_in_a_temporary_file(sample_articles, tmp_path, monkeypatch):
    """After linking, the build reads the term postings no more (only the index's live searches
    do): they are memory-mapped from a temporary file that leaves nothing in the temporary
    directory, and the index answers, saves and loads as before."""
    spill = tmp_path / "spill"
    spill.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spill))
    index = recsys.RelatedIndex.build(sample_articles)
    columns = index._view.data.columns
    assert all(isinstance(a.base, np.memmap) and not a.flags.writeable for a in (columns.indices, columns.data))
    assert list(spill.iterdir()) == []
    loaded = recsys.RelatedIndex.load(index.save(tmp_path / "news"), mmap=False)
    assert np.array_equal(loaded._view.data.columns.indices, columns.indices)
    assert np.array_equal(loaded._view.data.columns.data, columns.data)
    draft = "Rail workers vote to strike over pay"
    assert [h.id for h in loaded.more_like_this(draft, k=5)] == [h.id for h in index.more_like_this(draft, k=5)]
    assert ([h.id for h in loaded.related("a-012", k=5, section="business")]
            == [h.id for h in index.related("a-012", k=5, section="business")])


def test_arrays_are_checked_when_read_into_memory_too(sample_index, tmp_path):
    path = sample_index.save(tmp_path / "news")
    replace_array(path, "rows_low", out_of_range(5000)(np.load(path / "rows_low.npy")))
    with pytest.raises(IndexFormatError, match=r"rows_low\.npy: term 5000 out of range for 1481 terms"):
        recsys.RelatedIndex.load(path, mmap=False, verify=False)


def test_manifest_counts_must_match_the_arrays(sample_index, tmp_path):
    path = sample_index.save(tmp_path / "news")
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["counts"]["articles"] = 61
    (path / "manifest.json").write_text(json.dumps(manifest))
    message = r"articles_ids\.json: holds 60 ids, but manifest\.json counts 61 articles"
    with pytest.raises(IndexFormatError, match=message):
        recsys.RelatedIndex.load(path, verify=False)


def test_embeddings_are_checked_against_the_articles_and_the_projection(sample_articles, tmp_path):
    path = recsys.RelatedIndex.build(sample_articles, semantic_model="lsa", semantic_weight=0.3, lsa_components=8).save(tmp_path / "lsa")
    assert recsys.RelatedIndex.load(path)._view.built.vectorizer.semantic
    embeddings, components = np.load(path / "lsa_embeddings.npy"), np.load(path / "lsa_components.npy")
    replace_array(path, "lsa_components", components[:, :-1])
    with pytest.raises(IndexFormatError, match=r"lsa_components\.npy: shape \(8, 1480\), expected \(8, 1481\)"):
        recsys.RelatedIndex.load(path)
    replace_array(path, "lsa_components", components)
    replace_array(path, "lsa_embeddings", embeddings[:-1])
    with pytest.raises(IndexFormatError, match=r"lsa_embeddings\.npy: shape \(59, 8\), expected \(60, \*\)"):
        recsys.RelatedIndex.load(path)
    replace_array(path, "lsa_embeddings", embeddings)
    assert lists(recsys.RelatedIndex.load(path)) == lists(recsys.RelatedIndex.load(path, verify=False))


def test_saving_pending_changes_needs_compact(sample_articles, tmp_path):
    from recsys.errors import PendingChangesError

    index = recsys.RelatedIndex.build(sample_articles)
    index.save(tmp_path / "news")
    index.upsert({"id": "n-1", "title": "Carrow Valley heatwave breaks another record", "body": "Heat."})
    index.delete("a-002")
    message = r"2 pending change\(s\) .*; call compacted\(\) first, or save\(path, compact=True\)"
    for target in ("news", "fresh"):
        with pytest.raises(PendingChangesError, match=message) as info:
            index.save(tmp_path / target)
        assert isinstance(info.value, ParameterError)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["news"]  # nothing written, nothing replaced
    old = recsys.RelatedIndex.load(tmp_path / "news")
    assert len(old) == 60 and "a-002" in old and "n-1" not in old
    saved = recsys.RelatedIndex.load(index.save(tmp_path / "news", compact=True))
    assert saved.pending_changes == 0 and len(saved) == 60 and "n-1" in saved and "a-002" not in saved
    assert index.pending_changes == 2 and "a-002" not in index  # the index itself is not compacted
    explicit = recsys.RelatedIndex.load(index.compacted().save(tmp_path / "explicit"))
    assert lists(explicit, ("a-001", "n-1")) == lists(saved, ("a-001", "n-1"))
    assert recsys.RelatedIndex.load(explicit.save(tmp_path / "again", compact=True)).ids == explicit.ids


def test_the_dense_index_is_checked_against_the_embeddings(sample_articles, tmp_path):
    from recsys.index.dense import DenseIndex

    path = recsys.RelatedIndex.build(sample_articles).save(tmp_path / "static")
    embeddings = np.load(path / "static_embeddings.npy")
    replace_array(path, "static_dense", DenseIndex.build(embeddings[:-1], probes=4).to_bytes())
    with pytest.raises(IndexFormatError, match=r"static_dense\.npy: indexes 59 embeddings, expected 60"):
        recsys.RelatedIndex.load(path)
    replace_array(path, "static_dense", DenseIndex.build(embeddings[:, :8].copy(), probes=4).to_bytes())
    with pytest.raises(IndexFormatError, match=r"static_dense\.npy: indexes 8-dimension embeddings"):
        recsys.RelatedIndex.load(path)
    replace_array(path, "static_dense", np.frombuffer(b"not an index" * 8, dtype=np.uint8))
    with pytest.raises(IndexFormatError, match=r"static_dense\.npy: not a nearest-neighbour index"):
        recsys.RelatedIndex.load(path)


def _limited_files(max_bytes: int):
    """For a child process: files it writes may grow to ``max_bytes`` (past that a write fails
    with EFBIG, as on a full disk it fails with ENOSPC)."""
    import resource
    import signal

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    return limit


POSIX = pytest.mark.skipif(sys.platform == "win32", reason="file size limits (RLIMIT_FSIZE) are POSIX")


@POSIX
def test_a_build_without_room_for_its_temporary_files_says_so(tmp_path):
    """The build writes the article texts and the term postings to temporary files: when they find
    no room, `recsys build` says which and where, in one line, and writes no index."""
    from benchmarks.synth import write_jsonl

    corpus = tmp_path / "corpus.jsonl"
    write_jsonl(500, str(corpus), seed=1)
    spill = tmp_path / "spill"
    spill.mkdir()
    done = subprocess.run([sys.executable, "-m", "recsys", "build", str(corpus), "-o", str(tmp_path / "news")],
                          capture_output=True, text=True, env={**os.environ, "TMPDIR": str(spill)},
                          preexec_fn=_limited_files(100_000), timeout=300)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(f"error: no room for the article texts in the temporary directory {spill} ")
    assert "TMPDIR" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "news").exists() and list(spill.iterdir()) == []


@POSIX
@pytest.mark.parametrize("what, call", [("the term postings", "impact_columns(Rows.of(m), np.diff(m.tocsc().indptr), 10)"),
                                        ("the term ids", "Rows.taken(m)")])
def test_no_room_for_the_term_ids_or_postings_is_a_temporary_space_error(tmp_path, what, call):
    """The same error from the term ids and the term postings, written after the texts (a child
    process, limited to files smaller than either)."""
    script = ("import numpy as np, scipy.sparse as sp\n"
              "from recsys.build.columns import impact_columns\n"
              "from recsys.index.rows import Rows\n"
              "from recsys import TemporarySpaceError\n"
              "m = sp.random(2000, 500, density=0.1, format='csr', random_state=0, dtype=np.float32)\n"
              "try:\n"
              f"    {call}\n"
              "except TemporarySpaceError as error:\n"
              "    print(error)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, "TMPDIR": str(tmp_path)}, preexec_fn=_limited_files(100_000), timeout=120)
    assert done.stdout.startswith(f"no room for {what} in the temporary directory {tmp_path} "), done
    assert list(tmp_path.iterdir()) == []
