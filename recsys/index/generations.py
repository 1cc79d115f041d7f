"""Versioned index directories behind one configured path, switched by an atomic pointer file.

The index directory an operator configures (say ``indexes/news``, as ``recsys build`` wrote it) stays
where it is. Compaction writes each new generation N beside it, to ``indexes/news/generations/<N>/``
(complete and fsynced under a temporary name, then renamed: see ``storage.save_index``), then
switches the small pointer file ``indexes/news/CURRENT`` to name it (written to a temporary file,
fsynced, then ``os.replace``d). Readers ask ``current(path)`` which directory to load, so at every
moment ``indexes/news`` stands for one complete index: the old generation until the switch, the new
one after. Without a pointer the configured directory itself is the index.

The previous generation is kept (a worker may still be loading it); older ones, and orphans of a
compaction that was killed, are deleted by the next compaction (``prune``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath

from .._files import replace_atomically
from ..errors import IndexFormatError

POINTER = "CURRENT"
GENERATIONS = "generations"


def current(path: str | os.PathLike) -> Path:
    """The directory to load for the index at ``path``: the generation its CURRENT file names, or
    ``path`` itself when it has none. A pointer that leads out of ``path`` (absolute, ``..``, a
    symbolic link out) is refused with IndexFormatError."""
    path = Path(path)
    pointer = path / POINTER
    try:
        if pointer.is_symlink():
            raise IndexFormatError(f"{pointer}: is a symbolic link; refusing to follow it")
        text = pointer.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return path
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexFormatError(f"{pointer}: unreadable: {exc}") from None
    name = text.strip()
    relative = PurePosixPath(name)
    if not name or "\n" in name or "\x00" in name or relative.is_absolute() or ".." in relative.parts:
        raise IndexFormatError(f"{pointer}: must name a directory inside {path}, got {name[:200]!r}")
    target = path.joinpath(*relative.parts)
    root, resolved = path.resolve(), target.resolve()
    if resolved == root or not resolved.is_relative_to(root):
        raise IndexFormatError(f"{pointer}: {name[:200]!r} leads out of {path}; refusing to follow it")
    return target


def numbered(path: str | os.PathLike) -> dict[int, Path]:
    """The generation directories under ``path``, by number."""
    folder = Path(path) / GENERATIONS
    if not folder.is_dir():
        return {}
    return {int(entry.name): entry for entry in folder.iterdir() if entry.name.isdigit()}


def next_directory(path: str | os.PathLike) -> Path:
    """Where to write the next generation: one past the highest number present (orphans included)."""
    return Path(path) / GENERATIONS / str(max(numbered(path), default=0) + 1)


def switch(path: str | os.PathLike, directory: str | os.PathLike) -> None:
    """Point ``path``'s CURRENT file at ``directory`` (a complete index inside ``path``), atomically and durably."""
    path, directory = Path(path), Path(directory)
    replace_atomically(path / POINTER, directory.relative_to(path).as_posix() + "\n")


def prune(path: str | os.PathLike, keep: set[Path]) -> list[Path]:
    """Delete everything under ``path``/generations but the directories in ``keep`` (and stale
    temporary pointer files); the paths deleted."""
    path = Path(path)
    keep_names = {Path(k).name for k in keep if Path(k).parent == path / GENERATIONS}
    removed = []
    folder = path / GENERATIONS
    for entry in sorted(folder.iterdir()) if folder.is_dir() else ():
        if entry.name in keep_names:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    for stale in path.glob(f".{POINTER}.*.tmp"):
        stale.unlink(missing_ok=True)
    return removed

