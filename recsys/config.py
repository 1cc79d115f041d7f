"""Index parameters: what the analyzer, weighting, candidate search and blend use, validated in one place."""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ._checks import check_int
from .errors import ParameterError
from .text import AnalyzerConfig
from .weighting import METHODS

DECAY_FUNCTIONS = ("gauss", "exp", "linear")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DEFAULT_FIELD_WEIGHTS = {"title": 2.0, "body": 1.0, "tags": 1.0, "section": 0.5}
SEMANTIC_MODELS = ("lsa", "minilm")  # "minilm" needs the optional extra recsys[semantic]
MIN_SUBLINEAR_WEIGHT = math.exp(-1)  # sublinear tf, 1 + log(tf), is negative for a weighted count below 1/e


def duration_seconds(value: Any, name: str) -> float:
    """Seconds in a duration: a number of seconds, or a string such as '90s', '12h', '30d', '2w'."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ParameterError(f"{name}: not a duration: {value!r} (use seconds or e.g. '12h', '30d')")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if not math.isfinite(seconds) or seconds < 0:
        raise ParameterError(f"{name}: must be >= 0, got {value!r}")
    return seconds


@dataclass(frozen=True)
class BlendConfig:
    """How similarity, popularity and freshness combine: score = sim * (1 + w_pop * pop + w_fresh * fresh).

    The boosts multiply similarity, so they reorder related articles but never lift an unrelated
    one above a related one by much. Weights of 0 give pure similarity.

    Freshness is an Elasticsearch-style decay on article age: 1 within ``freshness_offset``, and
    ``freshness_decay`` at ``freshness_offset + freshness_scale``. Popularity is
    log(1 + views) / log(1 + max views).
    """

    popularity_weight: float = 0.1
    freshness_weight: float = 0.1
    freshness_function: str = "exp"
    freshness_scale: str | float = "30d"
    freshness_offset: str | float = 0
    freshness_decay: float = 0.5
    min_similarity: float = 0.0

    def validate(self) -> "BlendConfig":
        for name in ("popularity_weight", "freshness_weight"):
            _check_number(name, getattr(self, name), low=0.0)
        _check_number("min_similarity", self.min_similarity)
        if self.freshness_function not in DECAY_FUNCTIONS:
            raise ParameterError(f"freshness_function must be one of {DECAY_FUNCTIONS}, got {self.freshness_function!r}")
        if duration_seconds(self.freshness_scale, "freshness_scale") <= 0:
            raise ParameterError("freshness_scale must be > 0")
        duration_seconds(self.freshness_offset, "freshness_offset")
        _check_number("freshness_decay", self.freshness_decay, low=0.0, high=1.0, open_ends=True)
        return self


@dataclass(frozen=True)
class IndexConfig:
    """Every build parameter of a RelatedIndex, with its default."""

    method: str = "tfidf"
    k1: float = 1.5
    b: float = 0.75
    epsilon: float = 0.25
    sublinear_tf: bool = True
    field_weights: dict = field(default_factory=lambda: dict(DEFAULT_FIELD_WEIGHTS))
    analyzer: AnalyzerConfig = field(default_factory=lambda: AnalyzerConfig(stemmer="english"))
    max_query_terms: int = 50
    min_term_freq: float = 1
    min_doc_freq: int = 1
    max_doc_freq: float | None = None
    n_neighbors: int = 50
    n_candidates: int = 200
    probe_budget: int | None = None
    refine_rounds: int = 4
    refine_fan_out: int = 20
    near_duplicate_threshold: float | None = 0.8
    semantic_weight: float = 0.0
    semantic_model: str = "lsa"
    lsa_components: int = 128
    language_field: str | None = "language"
    blend: BlendConfig = field(default_factory=BlendConfig)

    @classmethod
    def from_params(cls, **params: Any) -> "IndexConfig":
        """Build from flat keyword parameters (analyzer and blend keys included); unknown names are errors."""
        analyzer_names = {f.name for f in fields(AnalyzerConfig)}
        blend_names = {f.name for f in fields(BlendConfig)}
        own_names = {f.name for f in fields(cls)} - {"analyzer", "blend"}
        analyzer = {k: params.pop(k) for k in list(params) if k in analyzer_names}
        blend = {k: params.pop(k) for k in list(params) if k in blend_names}
        unknown = sorted(set(params) - own_names)
        if unknown:
            known = sorted(own_names | analyzer_names | blend_names)
            raise ParameterError(f"unknown parameter(s) {unknown}; known: {known}")
        base = AnalyzerConfig(stemmer="english")
        config = cls(analyzer=replace(base, **analyzer), blend=BlendConfig(**blend), **params)
        return config.validate()

    def validate(self) -> "IndexConfig":
        if self.method not in METHODS:
            raise ParameterError(f"method must be one of {METHODS}, got {self.method!r}")
        _check_number("k1", self.k1, low=0.0)
        _check_number("b", self.b, low=0.0, high=1.0)
        _check_number("epsilon", self.epsilon, low=0.0)
        if not isinstance(self.field_weights, dict) or not self.field_weights:
            raise ParameterError("field_weights must be a non-empty mapping of field name to weight")
        for name, weight in self.field_weights.items():
            _check_number(f"field_weights[{name!r}]", weight, low=0.0)
        if not any(self.field_weights.get(n, 0) > 0 for n in ("title", "body")):
            raise ParameterError("field_weights: title or body must have a weight > 0")
        if self.method == "tfidf" and self.sublinear_tf:
            _check_sublinear_weights(self.field_weights)
        for name in ("max_query_terms", "n_neighbors", "n_candidates"):
            check_int(name, getattr(self, name), low=1)
        _check_number("min_term_freq", self.min_term_freq, low=0.0)
        check_int("min_doc_freq", self.min_doc_freq, low=1)
        if self.probe_budget is not None:
            check_int("probe_budget", self.probe_budget, low=1)
        check_int("refine_rounds", self.refine_rounds, low=0)
        check_int("refine_fan_out", self.refine_fan_out, low=1)
        if self.max_doc_freq is not None:
            _check_number("max_doc_freq", self.max_doc_freq, low=0.0)
        _check_number("semantic_weight", self.semantic_weight, low=0.0, high=1.0)
        if self.semantic_model not in SEMANTIC_MODELS:
            raise ParameterError(f"semantic_model must be one of {SEMANTIC_MODELS}, got {self.semantic_model!r}")
        check_int("lsa_components", self.lsa_components, low=1)
        if self.near_duplicate_threshold is not None:
            _check_number("near_duplicate_threshold", self.near_duplicate_threshold, low=0.0)
        if self.n_candidates < self.n_neighbors:
            raise ParameterError("n_candidates must be >= n_neighbors")
        self.blend.validate()
        return self

    def to_dict(self) -> dict:
        data = asdict(self)
        data["analyzer"] = self.analyzer.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "IndexConfig":
        data = dict(data)
        analyzer = AnalyzerConfig.from_dict(data.pop("analyzer", {}))
        blend = BlendConfig(**data.pop("blend", {}))
        try:
            return cls(analyzer=analyzer, blend=blend, **data).validate()
        except TypeError as exc:
            raise ParameterError(f"invalid configuration: {exc}") from None

    def flat(self) -> dict:
        """Flat keyword parameters, the inverse of from_params."""
        data = self.to_dict()
        return {**data.pop("analyzer"), **data.pop("blend"), **data}


def load_config_file(path: str | Path) -> dict:
    """Flat build parameters from a JSON file (a flat object, or the nested form an index manifest holds)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParameterError(f"{path}: no such config file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParameterError(f"{path}: not a JSON config file: {exc}") from None
    if not isinstance(data, dict):
        raise ParameterError(f"{path}: a config file must hold a JSON object")
    data = dict(data.get("config", data))
    for nested in ("analyzer", "blend"):
        data.update(data.pop(nested, {}) or {})
    return data


def _check_number(name: str, value: Any, *, low: float | None = None, high: float | None = None,
                  open_ends: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ParameterError(f"{name} must be a finite number, got {value!r}")
    if open_ends:
        if (low is not None and value <= low) or (high is not None and value >= high):
            raise ParameterError(f"{name} must be between {low} and {high} (exclusive), got {value!r}")
    elif (low is not None and value < low) or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"between {low} and {high}"
        raise ParameterError(f"{name} must be {bounds}, got {value!r}")


def _check_sublinear_weights(field_weights: dict) -> None:
    """Every weight 0 or at least 1/e: a single occurrence then weighs 1 + log(weight) >= 0."""
    for name, weight in field_weights.items():
        if 0 < weight < MIN_SUBLINEAR_WEIGHT:
            raise ParameterError(f"field_weights[{name!r}] must be 0 or >= 1/e (about 0.368) when sublinear_tf is "
                                 f"on, got {weight!r}: 1 + log(tf) of a weighted count below 1/e is negative")
