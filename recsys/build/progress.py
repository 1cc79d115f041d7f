"""What a build reports as it goes: a progress bar, and this process's peak memory."""

from __future__ import annotations

import sys


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
