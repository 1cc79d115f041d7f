"""Checks of parameter values shared by the library's entry points."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ParameterError


def check_int(name: str, value: Any, *, low: int = 1, optional: bool = False) -> int | None:
    """``value`` as an int if it is an integer >= ``low`` (or None, when ``optional``); otherwise a
    ParameterError that names the parameter."""
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ParameterError(f"{name} must be an integer >= {low}{' or None' if optional else ''}, got {value!r}")
    return int(value)
