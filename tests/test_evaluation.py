"""The evaluation harness: metrics checked by hand, and the three judgment formats."""

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.stats import rankdata

import recsys
from recsys.cli import main
from recsys.evaluation import click_gains, ranking_metrics
from brute_force import similarities


def test_ranking_metrics_by_hand():
    lists = {"q": ["a", "x", "b"]}
    gains = {"q": {"a": 1.0, "b": 0.5, "c": 1.0}}
    metrics = ranking_metrics(lists, gains, k=3)
    dcg = 1.0 / math.log2(2) + 0.5 / math.log2(4)
    idcg = 1.0 / math.log2(2) + 1.0 / math.log2(3) + 0.5 / math.log2(4)
    assert metrics["ndcg@3"] == pytest.approx(dcg / idcg)
    assert metrics["recall@3"] == pytest.approx(2 / 3) and metrics["mrr"] == 1.0 and metrics["p@3"] == pytest.approx(2 / 3)


def test_qrels_on_the_sample_threads(sample_index, tmp_path):
    threads = [["a-018", "a-026", "a-035", "a-051", "a-053"], ["a-013", "a-022", "a-034", "a-054"],
               ["a-041", "a-052", "a-056"]]
    path = tmp_path / "qrels.jsonl"
    path.write_text("".join(json.dumps({"id": q, "related": [i for i in t if i != q]}) + "\n"
                            for t in threads for q in t))
    metrics = recsys.evaluate(sample_index, path, k=5)
    assert metrics["queries"] == 12 and metrics["recall@5"] > 0.9 and metrics["ndcg@5"] > 0.9
    assert 0 < metrics["coverage"] <= 1
    random_lists = {q: list(np.random.default_rng(0).choice(sample_index.ids, 5)) for t in threads for q in t}
    gains = {q: {i: 1.0 for i in t if i != q} for t in threads for q in t}
    assert ranking_metrics(random_lists, gains, 5)["ndcg@5"] < metrics["ndcg@5"]


def test_pairwise_ratings_give_pearson_and_spearman(sample_index, tmp_path):
    ids = ["a-012", "a-003", "a-007", "a-028", "a-030", "a-040"]
    # A judge's ratings, 1 to 5: a-012, a-003 and a-007 tell the rail strike, a-028 and a-030 the
    # Calder Mutual breach, a-040 (the marathon) neither.
    ratings = np.array([[5, 5, 4, 1, 1, 1],
                        [5, 5, 4, 1, 1, 1],
                        [4, 4, 5, 1, 1, 1],
                        [1, 1, 1, 5, 4, 1],
                        [1, 1, 1, 4, 5, 1],
                        [1, 1, 1, 1, 1, 5]], dtype=float)
    rows = [sample_index.ids.index(i) for i in ids]
    upper = np.triu_indices(len(ids), 1)
    predicted = similarities(sample_index)[np.ix_(rows, rows)][upper]
    path = tmp_path / "ratings.json"
    for order, agrees in (([0, 1, 2, 3, 4, 5], True), ([5, 4, 3, 2, 1, 0], False)):  # then other pairs' ratings
        judged = ratings[np.ix_(order, order)]
        path.write_text(json.dumps({"ids": ids, "ratings": np.triu(judged).tolist()}))  # the upper triangle is enough
        metrics = recsys.evaluate(sample_index, path, k=3)
        pearson = np.corrcoef(judged[upper], predicted)[0, 1]
        spearman = np.corrcoef(rankdata(judged[upper]), rankdata(predicted))[0, 1]  # Pearson of the ranks
        assert metrics["pearson"] == pytest.approx(pearson, abs=1e-4)
        assert metrics["spearman"] == pytest.approx(spearman, abs=1e-4)
        assert (pearson > 0.8 and spearman > 0.6) if agrees else pearson < 0.5


def test_click_log_gains_are_position_debiased(tmp_path):
    path = tmp_path / "clicks.jsonl"
    rows = [{"id": "q", "impressions": ["a", "b"], "clicks": ["b"]}] * 2 + \
           [{"id": "q", "impressions": ["b", "a"], "clicks": []}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    gains = click_gains(path)
    assert gains["q"]["a"] == 0.0
    assert gains["q"]["b"] == pytest.approx(2 / (0.5 + 0.5 + 1.0))


def test_bad_judgments_name_the_line(sample_index, tmp_path):
    path = tmp_path / "qrels.jsonl"
    path.write_text('{"id": "a-001", "related": ["a-002"]}\n{"id": "a-002"}\n')
    with pytest.raises(recsys.InputError, match=r"qrels.jsonl:2: expected"):
        recsys.evaluate(sample_index, path)


def test_eval_command(sample_index, tmp_path):
    index_dir = sample_index.save(tmp_path / "news")
    path = tmp_path / "qrels.jsonl"
    path.write_text(json.dumps({"id": "a-018", "related": {"a-051": 2, "a-053": 1}}) + "\n")
    result = CliRunner().invoke(main, ["eval", str(index_dir), str(path), "-k", "5", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["recall@5"] == 1.0
