"""A/B variants: named overrides of the query-time parameters, each with a share of the traffic.

A variant may change only what a request can change on the index it is served from: the blend
(``popularity_weight``, ``freshness_weight``, the freshness decay, ``min_similarity``) and
``diversity``. Everything else (``semantic_weight``, the method, the analyzer, the candidate search)
is built into the stored lists, so a variant that sets it is refused: comparing two builds is an
offline comparison (``recsys eval``), or two services.

Assignment is deterministic: a visitor key (a random string the widget keeps in ``sessionStorage``)
hashes to a point in [0, 1) (FNV-1a over the key's UTF-16 code units and MurmurHash3's 32-bit
finaliser, as the widget computes it), and the variants own consecutive slices of [0, 1) in their order, as wide as their
shares.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from ..analysis.analyzer import AnalyzerConfig
from ..config import BlendConfig, IndexConfig
from ..errors import ParameterError, VariantError

CONTROL = "control"
NAME_PATTERN = r"^[A-Za-z0-9_-]{1,40}$"
MAX_VARIANTS = 20
QUERY_PARAMETERS = ("diversity",)  # besides the blend's
_NAME = re.compile(NAME_PATTERN)


def tunable_parameters() -> list[str]:
    """The parameters a variant may set."""
    return sorted([f.name for f in fields(BlendConfig)] + list(QUERY_PARAMETERS))


def _build_parameters() -> set[str]:
    return ({f.name for f in fields(IndexConfig)} | {f.name for f in fields(AnalyzerConfig)}) - {"analyzer", "blend"}


@dataclass(frozen=True)
class Variant:
    """One variant: its name, its share of the traffic (the shares sum to 1), and its overrides."""

    name: str
    share: float
    blend: dict[str, Any]  # BlendConfig fields
    diversity: float | None = None

    def overrides(self) -> dict[str, Any]:
        return {**self.blend, **({} if self.diversity is None else {"diversity": self.diversity})}


class Variants:
    """The variants of a service, in the order they were defined; ``control`` is always one of them."""

    def __init__(self, variants: list[Variant]) -> None:
        self.variants = variants
        self.by_name = {v.name: v for v in variants}
        self.bounds: list[float] = []
        total = 0.0
        for variant in variants:
            total += variant.share
            self.bounds.append(total)
        self.bounds[-1] = 1.0  # no gap above the last slice from rounding

    @classmethod
    def parse(cls, definition: str | Mapping[str, Any] | None) -> "Variants":
        """Variants from their JSON definition (text or already parsed), e.g. ``{"control": {},
        "fresh": {"freshness_weight": 0.5}}``; None or empty: the control alone.

        Each variant maps its name to its overrides, plus an optional ``share`` (> 0). Either every
        variant gives a share or none does (then the traffic is split equally); the shares are
        normalised to sum to 1. A variant named "control" is required: the others are tested
        against it. Raises VariantError naming the variant and the parameter."""
        if definition is None or (isinstance(definition, str) and not definition.strip()):
            return cls([Variant(CONTROL, 1.0, {})])
        if isinstance(definition, str):
            try:
                definition = json.loads(definition)
            except json.JSONDecodeError as error:
                raise VariantError(f"variants: not JSON: {error}") from None
        if not isinstance(definition, Mapping) or not definition:
            raise VariantError('variants: expected a JSON object of name -> overrides, e.g. '
                               '{"control": {}, "fresh": {"freshness_weight": 0.5}}')
        if len(definition) > MAX_VARIANTS:
            raise VariantError(f"variants: at most {MAX_VARIANTS} variants, got {len(definition)}")
        if CONTROL not in definition:
            raise VariantError(f'variants: one variant must be named "{CONTROL}" (the others are compared with it)')
        shares_given = [name for name, spec in definition.items() if isinstance(spec, Mapping) and "share" in spec]
        if shares_given and len(shares_given) != len(definition):
            missing = sorted(set(definition) - set(shares_given))
            raise VariantError(f"variants: give every variant a share, or none (equal shares); {missing} have none")
        parsed = [_variant(name, spec, bool(shares_given)) for name, spec in definition.items()]
        total = sum(v.share for v in parsed)
        return cls([replace(v, share=v.share / total) for v in parsed])

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    def __len__(self) -> int:
        return len(self.variants)

    def __getitem__(self, name: str) -> Variant:
        try:
            return self.by_name[name]
        except KeyError:
            raise VariantError(f"unknown variant {str(name)[:60]!r}; the variants are {list(self.by_name)}") from None

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.variants]

    def assign(self, visitor_key: str) -> Variant:
        """The variant of a visitor, deterministically from its key."""
        point = bucket(visitor_key)
        for variant, bound in zip(self.variants, self.bounds):
            if point < bound:
                return variant
        return self.variants[-1]

    def public(self) -> list[dict[str, Any]]:
        """Names and shares, in order (what the widget needs to assign a visitor)."""
        return [{"name": v.name, "share": v.share} for v in self.variants]


def bucket(visitor_key: str) -> float:
    """A visitor key's point in [0, 1): FNV-1a (32 bits) over its UTF-16 code units, then MurmurHash3's
    finaliser (so that keys that differ in one character land far apart), divided by 2^32."""
    value = 0x811C9DC5
    data = visitor_key.encode("utf-16-le")
    for i in range(0, len(data), 2):
        value ^= data[i] | (data[i + 1] << 8)
        value = (value * 0x01000193) & 0xFFFFFFFF
    value ^= value >> 16
    value = (value * 0x85EBCA6B) & 0xFFFFFFFF
    value ^= value >> 13
    value = (value * 0xC2B2AE35) & 0xFFFFFFFF
    value ^= value >> 16
    return value / 2**32


def _variant(name: Any, spec: Any, with_share: bool) -> Variant:
    if not isinstance(name, str) or not _NAME.match(name):
        raise VariantError(f"variants: the name {str(name)[:60]!r} must be 1 to 40 letters, digits, '_' or '-'")
    if not isinstance(spec, Mapping):
        raise VariantError(f"variant {name!r}: expected an object of parameter overrides, got {spec!r}")
    spec = dict(spec)
    share = spec.pop("share", 1.0)
    if with_share and (isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share < float("inf")):
        raise VariantError(f"variant {name!r}: share must be a number > 0, got {share!r}")
    tunable, build = tunable_parameters(), _build_parameters()
    for parameter in spec:
        if parameter in build:
            raise VariantError(f"variant {name!r}: {parameter} is a build parameter (the stored lists are built "
                               f"with it), so it cannot vary per request; a variant may set only {tunable}. "
                               "Compare two builds offline with `recsys eval`")
        if parameter not in tunable:
            raise VariantError(f"variant {name!r}: unknown parameter {str(parameter)[:60]!r}; a variant may set "
                               f"only {tunable}")
    diversity = spec.pop("diversity", None)
    if diversity is not None and (isinstance(diversity, bool) or not isinstance(diversity, (int, float))
                                  or not 0 <= diversity <= 1):
        raise VariantError(f"variant {name!r}: diversity must be a number from 0 to 1, got {diversity!r}")
    try:
        replace(BlendConfig(), **spec)  # checks every value, naming the parameter
    except ParameterError as error:
        raise VariantError(f"variant {name!r}: {error}") from None
    return Variant(name, float(share), spec, None if diversity is None else float(diversity))
