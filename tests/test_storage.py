"""The on-disk index: round trip, memory mapping, atomic replacement, and refusal of bad directories."""

import json

import numpy as np
import pytest

import recsys
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


def test_arrays_are_memory_mapped_and_there_is_no_pickle(sample_index, tmp_path):
    path = sample_index.save(tmp_path / "news")
    loaded = recsys.RelatedIndex.load(path)
    for array in (loaded._data.rows.data, loaded._data.neighbor_rows, loaded._data.store.bodies):
        assert isinstance(array.base, np.memmap) and not array.flags.writeable
    assert {p.suffix for p in path.iterdir()} == {".npy", ".json"}
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["format"] == "recsys-index" and manifest["version"] == 2
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
