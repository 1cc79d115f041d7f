"""The command line: every command through click's runner, and the real console script once."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from recsys.cli import main
from conftest import write_jsonl

COMMANDS = ["build", "related", "similar", "info", "demo", "serve", "editorial", "eval", "tune"]


@pytest.fixture()
def runner():
    return CliRunner()


@pytest.fixture()
def built(runner, sample_path, tmp_path):
    out = tmp_path / "idx"
    result = runner.invoke(main, ["build", str(sample_path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(runner, command):
    result = runner.invoke(main, [command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output and len(result.output.splitlines()) > 4


def test_build_prints_a_summary(runner, sample_path, tmp_path):
    result = runner.invoke(main, ["build", str(sample_path), "-o", str(tmp_path / "idx"), "--method", "bm25"])
    assert result.exit_code == 0
    assert "60 articles" in result.stderr and "terms" in result.stderr and "MB on disk" in result.stderr
    assert (tmp_path / "idx" / "manifest.json").exists()


def test_build_stops_on_the_first_bad_row_with_exit_2(runner, tmp_path):
    path = write_jsonl(tmp_path / "articles.jsonl",
                       [{"id": "a", "title": "ok"}, {"id": "b", "title": "x", "published_at": "yesterday"}])
    result = runner.invoke(main, ["build", str(path), "-o", str(tmp_path / "idx")])
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: articles.jsonl:2: published_at: not an ISO 8601 date: 'yesterday'"
    assert not (tmp_path / "idx").exists()


def test_build_skip_mode_reports_and_goes_on(runner, tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [{"id": "a", "title": "harbour ferry"}, {"title": "no id"},
                                              {"id": "b", "title": "harbour ferry times"}])
    result = runner.invoke(main, ["build", str(path), "-o", str(tmp_path / "idx"), "--on-error", "skip"])
    assert result.exit_code == 0
    assert "skipped: a.jsonl:2: id: missing" in result.stderr and "2 articles" in result.stderr


def test_build_takes_a_config_file_and_settings(runner, sample_path, tmp_path):
    config = tmp_path / "best.json"
    config.write_text(json.dumps({"method": "bm25", "k1": 1.2, "blend": {"popularity_weight": 0.0}}))
    out = tmp_path / "idx"
    result = runner.invoke(main, ["build", str(sample_path), "-o", str(out), "--config", str(config),
                                  "--set", "b=0.5", "--set", "n_neighbors=20"])
    assert result.exit_code == 0, result.output
    info = json.loads(runner.invoke(main, ["info", str(out), "--json"]).output)
    assert info["config"]["k1"] == 1.2 and info["config"]["b"] == 0.5 and info["method"] == "bm25"
    assert info["config"]["blend"]["popularity_weight"] == 0.0 and info["neighbors_per_article"] == 20


def test_related_table_and_json(runner, built):
    table = runner.invoke(main, ["related", str(built), "a-012", "-k", "3"])
    assert table.exit_code == 0 and len(table.output.splitlines()) == 3 and "a-003" in table.output
    data = json.loads(runner.invoke(main, ["related", str(built), "a-012", "-k", "3", "--json"]).output)
    assert data["article_id"] == "a-012" and len(data["results"]) == 3
    assert data["results"][0]["id"] == "a-003" and "body" not in data["results"][0]
    assert "a-012-u" not in [r["id"] for r in data["results"]]  # its own updated copy is never listed


def test_related_filters(runner, built):
    data = json.loads(runner.invoke(main, ["related", str(built), "a-001", "--section", "business",
                                           "--json"]).output)
    assert data["results"] and all(r["section"] == "business" for r in data["results"])


def test_unknown_id_is_one_line_on_stderr(runner, built):
    result = runner.invoke(main, ["related", str(built), "nope"])
    assert result.exit_code == 1 and result.stderr == "error: unknown article id: 'nope'\n"


def test_similar_reads_stdin(runner, built):
    result = runner.invoke(main, ["similar", str(built), "-", "--json", "-k", "2"],
                           input="Calder Mutual customers data breach")
    ids = [r["id"] for r in json.loads(result.output)["results"]]
    assert result.exit_code == 0 and set(ids) <= {"a-028", "a-028-u", "a-030", "a-048"} and len(ids) == 2


def test_info_on_a_foreign_directory_fails_cleanly(runner, tmp_path):
    result = runner.invoke(main, ["info", str(tmp_path)])
    assert result.exit_code == 1 and result.stderr.startswith("error: ") and "manifest.json: missing" in result.stderr
    assert "Traceback" not in result.output


def test_info(runner, built):
    result = runner.invoke(main, ["info", str(built)])
    assert result.exit_code == 0 and "articles" in result.output and "60" in result.output


def test_demo_builds_and_prints_related_lists(runner, tmp_path):
    result = runner.invoke(main, ["demo", "--no-serve", "-o", str(tmp_path / "demo"), "-n", "2", "-k", "3"])
    assert result.exit_code == 0 and "indexed 60 sample articles" in result.output
    assert result.output.count("  1  ") == 2


def test_console_script_and_python_dash_m(tmp_path, sample_path):
    out = tmp_path / "idx"
    subprocess.run([sys.executable, "-m", "recsys", "build", str(sample_path), "-o", str(out)], check=True,
                   capture_output=True)
    result = subprocess.run(["recsys", "related", str(out), "a-028", "-k", "2"], capture_output=True, text=True)
    assert result.returncode == 0 and "a-030" in result.stdout


def test_build_of_an_empty_file_is_a_clear_error(runner, tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    result = runner.invoke(main, ["build", str(path), "-o", str(tmp_path / "idx")])
    assert result.exit_code == 2
    assert result.stderr == "error: empty.jsonl: no valid articles: the corpus is empty\n"
