"""Editorial control: per-article pins (shown first) and blocks (never shown), kept with the index."""

import json

import pytest

import recsys
from recsys import IndexFormatError, ParameterError, UnknownArticleError
from recsys.cli import main
from click.testing import CliRunner

NOW = "2026-11-25T00:00:00Z"


@pytest.fixture()
def index(sample_articles):
    return recsys.RelatedIndex.build(sample_articles)


def test_pins_come_first_and_blocks_never_show(index):
    plain = [h.id for h in index.related("a-012", k=5, now=NOW)]
    index.set_editorial("a-012", pins=["a-041", "a-020"], blocks=[plain[0]])
    hits = index.related("a-012", k=5, now=NOW)
    assert [h.id for h in hits[:2]] == ["a-041", "a-020"] and {h.reason for h in hits[:2]} == {"pinned"}
    assert plain[0] not in [h.id for h in hits] and len(hits) == 5
    assert [h.id for h in hits[2:]] == [i for i in plain[1:] if i not in ("a-041", "a-020")][:3]
    assert index.related("a-012", k=1, now=NOW)[0].id == "a-041"
    assert index.editorial("a-012") == {"pins": ["a-041", "a-020"], "blocks": [plain[0]]}
    assert [h.id for h in index.related("a-003", k=5, now=NOW)][:1] != ["a-041"]  # other lists untouched


def test_pins_of_unknown_or_excluded_articles_are_skipped(index):
    index.set_editorial("a-012", pins=["no-such-id", "a-041", "a-012"])
    assert index.related("a-012", k=3)[0].id == "a-041"
    assert "a-041" not in [h.id for h in index.related("a-012", k=3, exclude=["a-041"])]
    index.set_editorial("a-012", pins=[])
    assert index.editorial("a-012") == {}


def test_rules_are_saved_with_the_index_and_changed_without_a_rebuild(index, tmp_path):
    path = index.save(tmp_path / "news")
    loaded = recsys.RelatedIndex.load(path)
    loaded.set_editorial("a-001", blocks=["a-006"])
    before = (path / "manifest.json").read_bytes()
    loaded.save_editorial(path)
    assert (path / "manifest.json").read_bytes() == before  # no rebuild, checksums untouched
    again = recsys.RelatedIndex.load(path)
    assert "a-006" not in [h.id for h in again.related("a-001", k=10)]
    assert again.compacted().editorial("a-001") == {"blocks": ["a-006"]}


def test_bad_rules_are_refused(index, tmp_path):
    with pytest.raises(UnknownArticleError):
        index.set_editorial("nope", pins=["a-001"])
    with pytest.raises(ParameterError, match="list of article ids"):
        index.set_editorial("a-001", pins="a-002")
    path = index.save(tmp_path / "news")
    (path / "editorial.json").write_text(json.dumps({"a-001": {"pins": "a-002"}}))
    with pytest.raises(IndexFormatError, match="editorial.json"):
        recsys.RelatedIndex.load(path)


def test_the_editorial_command(index, tmp_path):
    path = index.save(tmp_path / "news")
    runner = CliRunner()
    result = runner.invoke(main, ["editorial", str(path), "a-012", "--pin", "a-041", "--block", "a-003"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"pins": ["a-041"], "blocks": ["a-003"]}
    assert recsys.RelatedIndex.load(path).related("a-012", k=1)[0].id == "a-041"
    cleared = runner.invoke(main, ["editorial", str(path), "a-012", "--clear"])
    assert json.loads(cleared.output) == {}
