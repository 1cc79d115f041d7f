"""Index parameters: defaults, checks and their messages, durations, and the round trips a manifest makes."""

import dataclasses
import json
import math

import numpy as np
import pytest
from pydantic import ValidationError

from recsys import AnalyzerConfig, BlendConfig, IndexConfig, ParameterError
from recsys.config import (
    DEFAULT_FIELD_WEIGHTS,
    METHODS,
    duration_seconds,
    load_config_file,
)


def test_defaults():
    config = IndexConfig()
    assert (config.method, config.k1, config.b, config.epsilon) == ("tfidf", 1.5, 0.75, 0.25) and config.sublinear_tf
    assert config.field_weights == DEFAULT_FIELD_WEIGHTS and config.field_weights is not IndexConfig().field_weights
    assert config.analyzer == AnalyzerConfig(stemmer="english")
    assert (config.n_neighbors, config.n_candidates, config.probe_budget, config.max_doc_freq) == (50, 200, 20_000, None)
    assert (config.live_probe_budget, config.live_candidates) == (100_000, 50)
    assert (config.semantic_model, config.language_field, config.near_duplicate_threshold) == ("static", "language", 0.8)
    assert (config.semantic_weight, config.semantic_feedback, config.feedback_neighbors) == (0.3, 1.0, 10)
    assert config.blend == BlendConfig() == BlendConfig(0.1, 0.1, "exp", "30d", 0, 0.5, 0.0)
    assert IndexConfig.from_params() == config and config.validate() is config


@pytest.mark.parametrize("params, message", [
    ({"method": "lsi"}, f"method must be one of {METHODS}, got 'lsi'"),
    ({"k1": -1}, "k1 must be >= 0.0, got -1"),
    ({"k1": "1.2"}, "k1 must be a finite number, got '1.2'"),
    ({"epsilon": math.inf}, "epsilon must be a finite number, got inf"),
    ({"b": 2}, "b must be between 0.0 and 1.0, got 2"),
    ({"b": True}, "b must be a finite number, got True"),
    ({"sublinear_tf": "yes"}, "sublinear_tf must be true or false, got 'yes'"),
    ({"n_neighbors": 0}, "n_neighbors must be an integer >= 1, got 0"),
    ({"max_query_terms": 2.0}, "max_query_terms must be an integer >= 1, got 2.0"),
    ({"probe_budget": 0}, "probe_budget must be an integer >= 1, got 0"),
    ({"refine_rounds": -1}, "refine_rounds must be an integer >= 0, got -1"),
    ({"max_doc_freq": -0.5}, "max_doc_freq must be >= 0.0, got -0.5"),
    ({"semantic_weight": 1.5}, "semantic_weight must be between 0.0 and 1.0, got 1.5"),
    ({"semantic_model": "bert"}, "semantic_model must be one of ('static', 'lsa', 'minilm'), got 'bert'"),
    ({"language_field": 3}, "language_field must be a field name or None, got 3"),
    ({"field_weights": []}, "field_weights must be a non-empty mapping of field name to weight"),
    ({"field_weights": {}}, "field_weights must be a non-empty mapping of field name to weight"),
    ({"field_weights": {"body": 1, "tags": -1}}, "field_weights['tags'] must be >= 0.0, got -1"),
    ({"field_weights": {"body": 1, "tags": "x"}}, "field_weights['tags'] must be a finite number, got 'x'"),
    ({"field_weights": {"tags": 1}}, "field_weights: title or body must have a weight > 0"),
    ({"field_weights": {"body": 1, "section": 0.2}},
     ("field_weights['section'] must be 0 or >= 1/e (about 0.368) when sublinear_tf is on, got 0.2: "
      "1 + log(tf) of a weighted count below 1/e is negative")),
    ({"n_neighbors": 30, "n_candidates": 20}, "n_candidates must be >= n_neighbors"),
    ({"popularity_weight": -0.1}, "popularity_weight must be >= 0.0, got -0.1"),
    ({"min_similarity": math.nan}, "min_similarity must be a finite number, got nan"),
    ({"freshness_function": "step"}, "freshness_function must be one of ('gauss', 'exp', 'linear'), got 'step'"),
    ({"freshness_decay": 1.0}, "freshness_decay must be between 0.0 and 1.0 (exclusive), got 1.0"),
    ({"freshness_scale": "soon"}, "freshness_scale: not a duration: 'soon' (use seconds or e.g. '12h', '30d')"),
    ({"freshness_scale": 0}, "freshness_scale must be > 0"),
    ({"freshness_offset": -1}, "freshness_offset: must be >= 0, got -1"),
])
def test_a_bad_value_is_a_parameter_error_that_names_it(params, message):
    with pytest.raises(ParameterError) as info:
        IndexConfig.from_params(**params)
    assert str(info.value) == message
    assert not isinstance(info.value, ValidationError) and info.value.__cause__ is None


def test_the_checks_that_only_apply_together():
    for params in ({"sublinear_tf": False}, {"method": "bm25"}):  # no logarithm: a small weight is fine
        config = IndexConfig.from_params(field_weights={"body": 1, "section": 0.2}, **params)
        assert config.field_weights["section"] == 0.2
    assert IndexConfig.from_params(field_weights={"body": 1, "section": math.exp(-1)}).sublinear_tf
    assert IndexConfig.from_params(n_neighbors=20, n_candidates=20).n_candidates == 20


def test_unknown_names():
    with pytest.raises(ParameterError, match=r"unknown parameter\(s\) \['colour'\]; known: \[.*'k1'"):
        IndexConfig.from_params(colour="red")
    with pytest.raises(TypeError, match="BlendConfig.__init__\\(\\) got an unexpected keyword argument 'wobble'"):
        BlendConfig(wobble=1)
    with pytest.raises(TypeError, match="at most 7 positional arguments"):
        BlendConfig(*range(8))
    with pytest.raises(ParameterError, match="invalid configuration: .*unexpected keyword argument 'colour'"):
        IndexConfig.from_dict({"colour": "red"})


def test_an_argument_given_by_position_is_named_too():
    with pytest.raises(ParameterError, match=r"^popularity_weight must be >= 0.0, got -1$"):
        BlendConfig(-1)


def test_types_and_numpy_scalars():
    config = IndexConfig.from_params(max_doc_freq=1, n_neighbors=np.int64(30), k1=np.float64(1.25),
                                     sublinear_tf=np.bool_(False))
    assert type(config.max_doc_freq) is int  # a count: 1.0 would be a share of all articles
    assert type(IndexConfig.from_params(max_doc_freq=1.0).max_doc_freq) is float
    assert (config.n_neighbors, type(config.n_neighbors)) == (30, int)
    assert (config.k1, type(config.k1), config.sublinear_tf) == (1.25, float, False)
    assert type(IndexConfig().min_term_freq) is int


def test_configs_are_frozen():
    config = IndexConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.k1 = 2.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.blend.popularity_weight = 1.0


def test_round_trips_keep_every_value_and_its_type():
    config = IndexConfig.from_params(method="bm25", k1=1, b=0.5, max_doc_freq=0.5, field_weights={"title": 3},
                                     stemmer=None, stop_words=("a", "b"), char_ngrams=(2, 3), probe_budget=1000,
                                     freshness_scale="36h", freshness_offset=3600, min_similarity=-0.5)
    manifest = json.loads(json.dumps(config.to_dict()))
    assert manifest["blend"]["freshness_scale"] == "36h" and manifest["analyzer"]["stop_words"] == ["a", "b"]
    again = IndexConfig.from_dict(manifest)
    assert again == config and again.to_dict() == config.to_dict()
    assert type(again.k1) is int and type(again.max_doc_freq) is float
    flat = json.loads(json.dumps(config.flat()))
    assert IndexConfig.from_params(**flat).flat() == config.flat()  # flat() holds analyzer tuples as lists
    assert IndexConfig.from_params(**flat).blend == config.blend and type(flat["k1"]) is int


@pytest.mark.parametrize("value, seconds", [
    (90, 90.0), (2.5, 2.5), (0, 0.0), ("90", 90.0), ("90s", 90.0), ("5m", 300.0), ("36h", 129600.0),
    ("2d", 172800.0), ("1.5d", 129600.0), (" 2 w ", 1209600.0), (np.int64(60), 60.0),
])
def test_duration_seconds(value, seconds):
    assert duration_seconds(value, "scale") == seconds and type(duration_seconds(value, "scale")) is float


@pytest.mark.parametrize("value, message", [
    ("soon", "window: not a duration: 'soon' (use seconds or e.g. '12h', '30d')"),
    ("-5h", "window: not a duration: '-5h' (use seconds or e.g. '12h', '30d')"),
    ("2 days", "window: not a duration: '2 days' (use seconds or e.g. '12h', '30d')"),
    (True, "window: not a duration: True (use seconds or e.g. '12h', '30d')"),
    (None, "window: not a duration: None (use seconds or e.g. '12h', '30d')"),
    (-1, "window: must be >= 0, got -1"),
    (math.inf, "window: must be >= 0, got inf"),
    ("9" * 400 + "d", f"window: must be >= 0, got '{'9' * 400}d'"),  # too many seconds for a float
])
def test_a_bad_duration_names_the_parameter(value, message):
    with pytest.raises(ParameterError) as info:
        duration_seconds(value, "window")
    assert str(info.value) == message


def test_durations_are_kept_as_given():
    blend = BlendConfig(freshness_scale="2d", freshness_offset="12h")
    assert (blend.freshness_scale, blend.freshness_offset) == ("2d", "12h")
    assert duration_seconds(blend.freshness_scale, "freshness_scale") == 2 * 86400


def test_replace_on_a_blend_config_still_checks():
    blend = BlendConfig()
    changed = dataclasses.replace(blend, popularity_weight=0.5, freshness_scale="7d").validate()
    assert (changed.popularity_weight, changed.freshness_scale, changed.freshness_weight) == (0.5, "7d", 0.1)
    assert blend.popularity_weight == 0.1
    with pytest.raises(ParameterError, match=r"^popularity_weight must be >= 0.0, got -1$"):
        dataclasses.replace(blend, popularity_weight=-1)
    with pytest.raises(ParameterError, match=r"^freshness_scale must be > 0$"):
        dataclasses.replace(blend, freshness_scale="0d")
    with pytest.raises(TypeError, match="unexpected keyword argument 'wobble'"):  # RelatedIndex._blend relies on it
        dataclasses.replace(blend, wobble=1)
    assert set(BlendConfig.__dataclass_fields__) == {f.name for f in dataclasses.fields(BlendConfig)}


def test_load_config_file_flattens_the_manifest_form(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"config": IndexConfig.from_params(k1=1.2).to_dict()}))
    assert IndexConfig.from_params(**load_config_file(path)) == IndexConfig.from_params(k1=1.2)
    path.write_text("[1, 2]")
    with pytest.raises(ParameterError, match="must hold a JSON object"):
        load_config_file(path)
    with pytest.raises(ParameterError, match="no such config file"):
        load_config_file(tmp_path / "missing.json")
