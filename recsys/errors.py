"""The recsys exception hierarchy: every error the library raises derives from RecsysError."""

from __future__ import annotations


class RecsysError(Exception):
    """Base class for every error raised by recsys."""


class InputError(RecsysError):
    """An article or an input file is invalid.

    ``source``, ``line`` and ``field`` say where; any of them may be None.
    """

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.source, self.line, self.field, self.reason = source, line, field, message
        super().__init__(_locate(message, source, line, field))


class DuplicateIdError(InputError):
    """Two articles share one id."""


class EmptyCorpusError(InputError):
    """No valid article was given."""


class UnknownArticleError(RecsysError, KeyError):
    """An article id is not in the index."""

    def __init__(self, article_id: str) -> None:
        self.article_id = article_id
        super().__init__(f"unknown article id: {article_id!r}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]


class ParameterError(RecsysError, ValueError):
    """A parameter has an invalid value."""


class IndexFormatError(RecsysError):
    """An index directory is missing, foreign, of an unknown format version, or corrupted."""


class TemporarySpaceError(RecsysError, OSError):
    """A build's temporary files (in TMPDIR) found no room: the disk is full, a quota or a file size
    limit was reached."""


class DependencyError(RecsysError, ImportError):
    """An optional feature needs packages that are not installed (an extra such as recsys[semantic])."""


def _locate(message: str, source: str | None, line: int | None, field: str | None) -> str:
    where = ":".join(str(p) for p in (source, line) if p is not None)
    parts = [p for p in (where, field) if p]
    return ": ".join([*parts, message])


class PendingChangesError(ParameterError):
    """An index with upserts or deletes not yet folded in was to be saved without compacting."""


class VariantError(ParameterError):
    """A/B variants: a bad RECSYS_VARIANTS definition, or a variant name that is not defined."""


class FeedbackError(InputError):
    """An impression or click report that does not match what was shown (a target that was not at
    that position of the impression, another article, another variant)."""


class UnknownImpressionError(FeedbackError):
    """A click names an impression that was never reported (or is older than the retention)."""
