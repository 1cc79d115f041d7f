"""Index parameters: what the analyzer, weighting, candidate search and blend use, validated in one place.

The configs are frozen pydantic dataclasses, checked whenever one is made (``dataclasses.replace``
included). A bad value raises ParameterError with a message that names the parameter, an unknown
argument TypeError, as from a plain dataclass; pydantic's ValidationError never leaves this module.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, field, fields, replace
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    AfterValidator,
    AllowInfNan,
    BeforeValidator,
    ConfigDict,
    Field,
    InstanceOf,
    Strict,
    StrictBool,
    StrictInt,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic.dataclasses import dataclass

from .analysis.analyzer import AnalyzerConfig
from .errors import ParameterError

METHODS = ("tfidf", "bm25")  # term weightings (recsys.weighting)

DECAY_FUNCTIONS = ("gauss", "exp", "linear")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DEFAULT_FIELD_WEIGHTS = {"title": 2.0, "body": 1.0, "tags": 1.0, "section": 0.5}
SEMANTIC_MODELS = ("static", "lsa", "minilm")  # "minilm" needs the optional extra recsys[semantic]
DEFAULT_SEMANTIC_WEIGHT = 0.3  # chosen by cross-validation on LP50 (docs/relevance.md)
# what an index whose manifest lacks these parameters (written before they existed) was built with
_ADDED_SINCE = {"semantic_weight": 0.0, "semantic_model": "lsa", "semantic_feedback": 0.0}
MIN_SUBLINEAR_WEIGHT = math.exp(-1)  # sublinear tf, 1 + log(tf), is negative for a weighted count below 1/e

_RANGE_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}
_CONFIG = ConfigDict(strict=True, extra="forbid")  # no "1.2" for 1.2 or 1 for True; unknown names are errors


class _Invalid(ValueError):
    """A failed check, worded to follow the parameter's name, which only the caller knows
    (e.g. " must be >= 0.0, got -1"); _parameter_error puts the two together."""


def _explained(kind: Any, explain: Callable[[str, Any], str]) -> Any:
    """``kind`` whose own validation errors become ``_Invalid(explain(pydantic error type, value))``."""
    def validate(value: Any, handler: Callable[[Any], Any]) -> Any:
        try:
            return handler(value)
        except ValidationError as exc:
            error_type = exc.errors()[0]["type"]
            if error_type == "value_error":  # worded already, by a check on a part (a field weight)
                raise
            raise _Invalid(explain(error_type, value)) from None
    return Annotated[kind, WrapValidator(validate)]


def _python_scalar(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (np.int64(3) -> 3), so strict types accept it."""
    return value.item() if isinstance(value, np.generic) else value


def _number(low: float | None = None, high: float | None = None, *, open_ends: bool = False) -> Any:
    """A finite int or float, not a bool or a string, within bounds. An int stays an int:
    max_doc_freq reads 1 as a count and 1.0 as a share."""
    limits = {"gt": low, "lt": high} if open_ends else {"ge": low, "le": high}
    bounds = (f"between {low} and {high} (exclusive)" if open_ends
              else f">= {low}" if high is None else f"between {low} and {high}")

    def explain(error_type: str, value: Any) -> str:
        if error_type in _RANGE_ERRORS:
            return f" must be {bounds}, got {value!r}"
        return f" must be a finite number, got {value!r}"
    real = StrictInt | Annotated[float, Strict(), AllowInfNan(False)]
    constraints = Field(**{name: limit for name, limit in limits.items() if limit is not None})
    return _explained(Annotated[real, BeforeValidator(_python_scalar), constraints], explain)


def _integer(low: int) -> Any:
    """An int (a numpy integer too; not a bool, a float or a string) >= ``low``."""
    return _explained(Annotated[StrictInt, BeforeValidator(_python_scalar), Field(ge=low)],
                      lambda _, value: f" must be an integer >= {low}, got {value!r}")


def _one_of(choices: tuple[str, ...]) -> Any:
    """One of the strings in ``choices``."""
    return _explained(Literal[choices], lambda _, value: f" must be one of {choices}, got {value!r}")


def _title_or_body(weights: dict) -> dict:
    """Hand-written: pydantic has no constraint for "one of these keys has a value > 0"."""
    if not any(weights.get(name, 0) > 0 for name in ("title", "body")):
        raise _Invalid(": title or body must have a weight > 0")
    return weights


def _from_units(value: Any) -> Any:
    """'12h' as 43200.0 seconds, other values as they are. Hand-written: pydantic's timedelta reads
    ISO 8601 ('PT12H') and '[D,]HH:MM:SS', not unit suffixes."""
    match = _DURATION.match(value) if isinstance(value, str) else None
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)] if match else value


def _duration_problem(error_type: str, value: Any) -> str:
    """What is wrong with a duration that pydantic turned down with ``error_type``."""
    if error_type in _RANGE_ERRORS or error_type == "finite_number":
        return f": must be >= 0, got {value!r}"
    return f": not a duration: {value!r} (use seconds or e.g. '12h', '30d')"


_Flag = _explained(Annotated[StrictBool, BeforeValidator(_python_scalar)],
                   lambda _, value: f" must be true or false, got {value!r}")
_Finite = _number()
_NonNegative = _number(low=0.0)
_Fraction = _number(low=0.0, high=1.0)
_OpenFraction = _number(low=0.0, high=1.0, open_ends=True)
_FieldName = _explained(str, lambda _, value: f" must be a field name or None, got {value!r}")
_Count = _integer(1)
_Rounds = _integer(0)
_Method = _one_of(METHODS)
_SemanticModel = _one_of(SEMANTIC_MODELS)
_DecayFunction = _one_of(DECAY_FUNCTIONS)
_FieldWeights = _explained(Annotated[dict[Any, _NonNegative], Field(min_length=1), AfterValidator(_title_or_body)],
                           lambda *_: " must be a non-empty mapping of field name to weight")
_SECONDS = TypeAdapter(_explained(
    Annotated[float, Strict(), AllowInfNan(False), Field(ge=0), BeforeValidator(_from_units)], _duration_problem))


def duration_seconds(value: Any, name: str) -> float:
    """Seconds in a duration: a number of seconds, or a string such as '90s', '12h', '30d', '2w'."""
    try:
        return _known_seconds(value)
    except (TypeError, ParameterError):  # unhashable, or not a duration: the check again, naming it
        return _seconds(value, name)


@functools.lru_cache(maxsize=256, typed=True)  # typed: True is not 1 (a bool is not a duration)
def _known_seconds(value: Any) -> float:
    """duration_seconds of a hashable value, remembered: every list's freshness asks for the same
    two durations, and pydantic's check costs tens of microseconds (measured) against a lookup's one."""
    return _seconds(value, "")


def _seconds(value: Any, name: str) -> float:
    try:
        return _SECONDS.validate_python(value)
    except ValidationError as exc:
        raise _parameter_error(exc, name) from None


def _parameter_error(exc: ValidationError, name: str = "", positional: Sequence[str] = ()) -> ParameterError:
    """The first of pydantic's errors as a ParameterError that names the parameter: ``name``, or where
    pydantic found the error ("field_weights['tags']"; ``positional`` names arguments given by position)."""
    error = exc.errors()[0]
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, ParameterError):
        return cause
    parts = [name, *error["loc"]] if name else list(error["loc"])
    if parts and isinstance(parts[0], int):
        parts[0] = positional[parts[0]]
    where = "".join(str(part) if i == 0 else f"[{part!r}]" for i, part in enumerate(parts))
    if isinstance(cause, _Invalid):
        return ParameterError(f"{where}{cause}")
    return ParameterError(f"{where}: {error['msg']}, got {error['input']!r}")


def _constructor_error(cls: type, exc: ValidationError) -> Exception:
    """TypeError for an unknown argument, as a plain dataclass raises; else the first bad value's ParameterError."""
    names = [f.name for f in fields(cls)]
    for error in exc.errors():
        if error["type"] == "unexpected_keyword_argument":
            return TypeError(f"{cls.__name__}.__init__() got an unexpected keyword argument {error['loc'][0]!r}")
        if error["type"] == "unexpected_positional_argument":
            return TypeError(f"{cls.__name__}.__init__() takes at most {len(names)} positional arguments")
    return _parameter_error(exc, positional=names)


def _checked(cls: type) -> type:
    """``cls`` whose constructor raises as _constructor_error says, never pydantic's ValidationError."""
    init = cls.__init__

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            init(self, *args, **kwargs)
        except ValidationError as exc:
            raise _constructor_error(cls, exc) from None

    cls.__init__ = __init__
    return cls


@_checked
@dataclass(frozen=True, config=_CONFIG)
class BlendConfig:
    """How similarity, popularity and freshness combine: score = sim * (1 + w_pop * pop + w_fresh * fresh).

    The boosts multiply similarity, so they reorder related articles but never lift an unrelated
    one above a related one by much. Weights of 0 give pure similarity.

    Freshness is an Elasticsearch-style decay on article age: 1 within ``freshness_offset``, and
    ``freshness_decay`` at ``freshness_offset + freshness_scale``. Popularity is
    log(1 + views) / log(1 + max views).
    """

    popularity_weight: _NonNegative = 0.1
    freshness_weight: _NonNegative = 0.1
    freshness_function: _DecayFunction = "exp"
    freshness_scale: str | float = "30d"
    freshness_offset: str | float = 0
    freshness_decay: _OpenFraction = 0.5
    min_similarity: _Finite = 0.0

    @field_validator("freshness_scale", "freshness_offset", mode="plain")
    @classmethod
    def _duration(cls, value: Any, info: ValidationInfo) -> Any:
        """The duration as given (a manifest keeps '30d', not 2592000.0), once its seconds check out.
        Hand-written "> 0": a constraint would apply to the value kept, not to its seconds."""
        if duration_seconds(value, info.field_name) <= 0 and info.field_name == "freshness_scale":
            raise ParameterError("freshness_scale must be > 0")
        return value

    def validate(self) -> BlendConfig:
        """This config: it was checked when made (kept for callers of the old, hand-checked one)."""
        return self


@_checked
@dataclass(frozen=True, config=_CONFIG)
class IndexConfig:
    """Every build parameter of a RelatedIndex, with its default."""

    method: _Method = "tfidf"
    k1: _NonNegative = 1.5
    b: _Fraction = 0.75
    epsilon: _NonNegative = 0.25
    sublinear_tf: _Flag = True
    field_weights: _FieldWeights = field(default_factory=lambda: dict(DEFAULT_FIELD_WEIGHTS))
    analyzer: InstanceOf[AnalyzerConfig] = field(default_factory=lambda: AnalyzerConfig(stemmer="english"))
    max_query_terms: _Count = 50
    min_term_freq: _NonNegative = 1
    min_doc_freq: _Count = 1
    max_doc_freq: _NonNegative | None = None
    n_neighbors: _Count = 50
    n_candidates: _Count = 200
    probe_budget: _Count | None = 20_000
    live_probe_budget: _Count | None = 100_000
    live_candidates: _Count = 50
    refine_rounds: _Rounds = 20  # at most; refinement stops sooner once it converges
    refine_fan_out: _Count = 20
    near_duplicate_threshold: _NonNegative | None = 0.8
    semantic_weight: _Fraction = DEFAULT_SEMANTIC_WEIGHT
    semantic_model: _SemanticModel = "static"
    semantic_feedback: _NonNegative = 1.0
    feedback_neighbors: _Count = 10
    dense_probes: _Count = 32
    lsa_components: _Count = 128
    language_field: _FieldName | None = "language"
    blend: BlendConfig = field(default_factory=BlendConfig)

    @model_validator(mode="after")
    def _consistent(self) -> IndexConfig:
        """Hand-written: rules across parameters, which per-field constraints cannot express."""
        if self.method == "tfidf" and self.sublinear_tf:
            _check_sublinear_weights(self.field_weights)
        if self.n_candidates < self.n_neighbors:
            raise ParameterError("n_candidates must be >= n_neighbors")
        return self

    @classmethod
    def from_params(cls, **params: Any) -> IndexConfig:
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
        return cls(analyzer=replace(base, **analyzer), blend=BlendConfig(**blend), **params)

    def validate(self) -> IndexConfig:
        """This config: it was checked when made (kept for callers of the old, hand-checked one)."""
        return self

    def to_dict(self) -> dict:
        """The nested form an index manifest holds (JSON-ready), the inverse of from_dict."""
        data = asdict(self)
        data["analyzer"] = self.analyzer.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> IndexConfig:
        """Build from the nested form of to_dict; unknown names are ParameterErrors too."""
        data = {**_ADDED_SINCE, **data}
        analyzer = AnalyzerConfig.from_dict(data.pop("analyzer", {}))
        blend = BlendConfig(**data.pop("blend", {}))
        try:
            return cls(analyzer=analyzer, blend=blend, **data)
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


def _check_sublinear_weights(field_weights: dict) -> None:
    """Every weight 0 or at least 1/e: a single occurrence then weighs 1 + log(weight) >= 0."""
    for name, weight in field_weights.items():
        if 0 < weight < MIN_SUBLINEAR_WEIGHT:
            raise ParameterError(f"field_weights[{name!r}] must be 0 or >= 1/e (about 0.368) when sublinear_tf is "
                                 f"on, got {weight!r}: 1 + log(tf) of a weighted count below 1/e is negative")
