"""Reading articles: valid input, and every kind of bad input, named by file, line and field."""

import json

import pytest

import recsys
from recsys import DuplicateIdError, EmptyCorpusError, InputError, read_articles
from conftest import write_jsonl

GOOD = {"id": "a1", "title": "Rail strike", "body": "Drivers walk out.", "published_at": "2026-10-01T08:00:00"}


def test_jsonl_fields_are_parsed_and_unknown_fields_kept(tmp_path):
    row = {**GOOD, "tags": ["rail", "strike"], "views": 12, "section": "business", "paywalled": True}
    (article,) = read_articles(write_jsonl(tmp_path / "a.jsonl", [row]))
    assert article.tags == ("rail", "strike") and article.views == 12 and article.section == "business"
    assert article.published_at.utcoffset().total_seconds() == 0  # naive counts as UTC
    assert article.published_at.hour == 8
    assert article.meta == {"paywalled": True}


def test_offset_times_are_converted_to_utc(tmp_path):
    (article,) = read_articles(write_jsonl(tmp_path / "a.jsonl", [{**GOOD, "published_at": "2026-10-01T10:00:00+02:00"}]))
    assert article.published_at.hour == 8


def test_csv_reads_comma_separated_tags_and_integer_views(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text('id,title,body,tags,views,desk\na1,Rail strike,"Drivers, guards walk out",rail, strike,5,metro\n'
                    .replace("rail, strike", '"rail, strike"'), encoding="utf-8")
    (article,) = read_articles(path)
    assert article.tags == ("rail", "strike") and article.views == 5 and article.meta == {"desk": "metro"}
    assert article.body == "Drivers, guards walk out"


def test_bad_date_names_file_line_and_field(tmp_path):
    rows = [{**GOOD, "id": f"a{i}"} for i in range(16)] + [{**GOOD, "id": "a16", "published_at": "yesterday"}]
    path = write_jsonl(tmp_path / "articles.jsonl", rows)
    with pytest.raises(InputError, match=r"^articles\.jsonl:17: published_at: not an ISO 8601 date: 'yesterday'$"):
        list(read_articles(path))


@pytest.mark.parametrize("row, field, message", [
    ({"title": "x"}, "id", "missing"),
    ({"id": "a", "title": "", "body": "  "}, "title", "at least one is required"),
    ({**GOOD, "views": -3}, "views", "integer from 0 to 9007199254740991"),
    ({**GOOD, "views": "many"}, "views", "integer from 0 to 9007199254740991"),
    ({**GOOD, "tags": 7}, "tags", "list of strings"),
    ({**GOOD, "title": 5}, "title", "must be a string"),
])
def test_invalid_fields_are_named(tmp_path, row, field, message):
    with pytest.raises(InputError, match=rf"^a\.jsonl:1: {field}: .*{message}"):
        list(read_articles(write_jsonl(tmp_path / "a.jsonl", [row])))


def test_malformed_json_line(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [GOOD, '{"id": "a2", "title": '])
    with pytest.raises(InputError, match=r"^a\.jsonl:2: invalid JSON"):
        list(read_articles(path))


def test_duplicate_id_names_both_lines(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [GOOD, {**GOOD, "id": "b"}, GOOD])
    with pytest.raises(DuplicateIdError, match=r"^a\.jsonl:3: id: duplicate id 'a1', first seen at line 1$"):
        list(read_articles(path))


def test_empty_file_gets_a_clear_message(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(EmptyCorpusError, match="no valid articles"):
        list(read_articles(path))


def test_non_utf8_is_an_error_not_mojibake(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(json.dumps(GOOD).encode() + b"\n" + '{"id": "a2", "title": "Caf\xe9"}\n'.encode("latin-1"))
    with pytest.raises(InputError, match=r"^a\.jsonl:2: not valid UTF-8"):
        list(read_articles(path))


def test_non_utf8_csv_is_an_error(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(b"id,title\na1,ok\na2,Caf\xe9\n")
    with pytest.raises(InputError, match=r"^a\.csv:\d+: not valid UTF-8"):
        list(read_articles(path))


def test_skip_mode_reports_each_bad_row_and_keeps_the_good_ones(tmp_path):
    rows = [GOOD, {"title": "no id"}, {**GOOD, "id": "a2", "published_at": "soon"}, GOOD, {**GOOD, "id": "a3"}]
    skipped = []
    articles = list(read_articles(write_jsonl(tmp_path / "a.jsonl", rows), on_error="skip", on_skip=skipped.append))
    assert [a.id for a in articles] == ["a1", "a3"]
    assert [(e.line, e.field) for e in skipped] == [(2, "id"), (3, "published_at"), (4, "id")]


def test_build_from_python_dicts_checks_duplicates():
    with pytest.raises(DuplicateIdError, match="duplicate id 'a1'"):
        recsys.RelatedIndex.build([GOOD, GOOD])


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        list(read_articles(tmp_path / "nope.jsonl"))
