"""Tuning: the search picks the better parameters and writes a config that `recsys build` takes."""

import json

import pytest
from click.testing import CliRunner

import recsys
from recsys.cli import main

THREADS = [["a-018", "a-026", "a-035", "a-051", "a-053"], ["a-013", "a-022", "a-034", "a-054"],
           ["a-041", "a-052", "a-056"], ["a-036", "a-040", "a-043"], ["a-020", "a-031", "a-042", "a-046"],
           ["a-011", "a-029", "a-038", "a-047"]]


@pytest.fixture()
def qrels(tmp_path):
    path = tmp_path / "qrels.jsonl"
    path.write_text("".join(json.dumps({"id": q, "related": [i for i in t if i != q]}) + "\n"
                            for t in THREADS for q in t))
    return path


def test_tune_prefers_the_better_parameters(sample_path, qrels):
    # the lexical channel, its search alone: on 60 articles, refinement makes up for a 1-term probe
    grid = {"max_query_terms": [1, 50], "method": ["tfidf"], "semantic_weight": [0.0], "refine_rounds": [0]}
    result = recsys.tune(sample_path, qrels, grid=grid, k=5, folds=3)
    assert result["best"] == {"max_query_terms": 50, "method": "tfidf", "semantic_weight": 0.0, "refine_rounds": 0}
    assert result["candidates"] == 2
    scores = [r["ndcg@5"] for r in result["results"]]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[1]
    assert 0.5 < result["cv_ndcg@5"] <= 1.0


def test_equivalent_sets_are_built_once(sample_path, qrels):
    result = recsys.tune(sample_path, qrels, grid={"method": ["tfidf"], "k1": [1.2, 2.0]}, k=5)
    assert result["candidates"] == 1  # k1 means nothing to TF-IDF


def test_tune_command_writes_a_config_build_accepts(sample_path, qrels, tmp_path):
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"method": ["tfidf", "bm25"], "sublinear_tf": [True]}))
    runner = CliRunner()
    result = runner.invoke(main, ["tune", str(sample_path), str(qrels), "--grid", str(grid), "-o",
                                  str(tmp_path / "best.json"), "-k", "5"])
    assert result.exit_code == 0, result.output
    assert "cross-validated" in result.output
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["method"] in ("tfidf", "bm25")
    built = runner.invoke(main, ["build", str(sample_path), "-o", str(tmp_path / "idx"), "--config",
                                 str(tmp_path / "best.json")])
    assert built.exit_code == 0, built.output


def test_bad_grids_are_refused(sample_path, qrels):
    with pytest.raises(recsys.ParameterError, match="non-empty list"):
        recsys.tune(sample_path, qrels, grid={"method": "tfidf"})
    with pytest.raises(recsys.ParameterError, match="folds"):
        recsys.tune(sample_path, qrels, grid={"method": ["tfidf"]}, folds=1)
