"""What a build reports as it goes (a progress bar, and this process's peak memory), and how it
keeps that peak down between its steps."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import lru_cache


def peak_rss_mb() -> float | None:
    """This process's peak resident set size so far, in MB (None where the platform cannot tell)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def progress_bar(items, enabled: bool, label: str):
    """``items``, with a tqdm progress bar on stderr when ``enabled``."""
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=label, unit=" articles", mininterval=0.5)


def release_freed_memory() -> None:
    """Give back to the system the memory that a step freed but the C library's allocator kept
    (glibc's malloc_trim: freed blocks below one still in use stay in the process otherwise, and
    count towards the next step's peak). Does nothing where there is no malloc_trim."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@lru_cache(maxsize=1)
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None
