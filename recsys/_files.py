"""Durable file writes: synced files, synced directories, and atomic replacement of a small file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def sync(handle) -> None:
    """Flush an open file to disk."""
    handle.flush()
    os.fsync(handle.fileno())


def write_synced(file: Path, text: str) -> None:
    """Write ``text`` to ``file`` and flush it to disk."""
    with open(file, "w", encoding="utf-8") as handle:
        handle.write(text)
        sync(handle)


def sync_directory(path: Path) -> None:
    """Make renames in a directory durable (a no-op where directories cannot be opened)."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def replace_atomically(file: Path, text: str) -> None:
    """Replace ``file`` with ``text``: a reader sees the old content or the new, never a mix, and
    the new content survives a crash once this returns."""
    handle, name = tempfile.mkstemp(prefix=f".{file.name}.", suffix=".tmp", dir=file.parent)
    os.close(handle)
    tmp = Path(name)
    try:
        write_synced(tmp, text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the service's user reads it too
        os.replace(tmp, file)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    sync_directory(file.parent)
