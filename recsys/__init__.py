"""recsys: related-articles and more-like-this lists for news sites."""

import os

# torch (the semantic extra) runs an OpenMP thread pool whose idle threads spin by default, and so
# fight the build's threads for the cores (seen: MiniLM encoding 8 to 20 times slower next to a
# parallel build); waiting threads that sleep do not. Set before torch starts its pool; an
# explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from ._version import __version__
from .analysis.analyzer import Analyzer, AnalyzerConfig
from .config import BlendConfig, IndexConfig
from .documents.article import Article
from .documents.readers import read_articles
from .errors import (DependencyError, DuplicateIdError, EmptyCorpusError, FeedbackError, IndexFormatError, InputError,
                     ParameterError, PendingChangesError, RecsysError, TemporarySpaceError, UnknownArticleError,
                     UnknownImpressionError, VariantError)
from .evaluation import evaluate, tune
from .query.hits import Hit
from .related_index import RelatedIndex

__all__ = [
    "Analyzer", "AnalyzerConfig", "Article", "BlendConfig", "DependencyError", "DuplicateIdError",
    "EmptyCorpusError", "FeedbackError", "Hit", "IndexConfig", "IndexFormatError", "InputError", "ParameterError", "PendingChangesError",
    "RecsysError",
    "RelatedIndex", "TemporarySpaceError", "UnknownArticleError", "UnknownImpressionError", "VariantError", "evaluate", "read_articles", "tune", "__version__",
]
