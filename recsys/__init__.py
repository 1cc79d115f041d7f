"""recsys: related-articles and more-like-this lists for news sites."""

import os

# torch (the semantic extra) runs an OpenMP thread pool whose idle threads spin by default, and so
# fight the build's threads for the cores (seen: MiniLM encoding 8 to 20 times slower next to a
# parallel build); waiting threads that sleep do not. Set before either pool starts; an
# explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .article import Article
from .config import BlendConfig, IndexConfig
from .corpus import read_articles
from .evaluation import evaluate
from .errors import (DependencyError, DuplicateIdError, EmptyCorpusError, IndexFormatError, InputError,
                     ParameterError, PendingChangesError, RecsysError, UnknownArticleError)
from .hits import Hit
from .index import RelatedIndex
from .text import Analyzer, AnalyzerConfig
from .tuning import tune

__version__ = "0.1.0"

__all__ = [
    "Analyzer", "AnalyzerConfig", "Article", "BlendConfig", "DependencyError", "DuplicateIdError",
    "EmptyCorpusError", "Hit", "IndexConfig", "IndexFormatError", "InputError", "ParameterError", "PendingChangesError",
    "RecsysError",
    "RelatedIndex", "UnknownArticleError", "evaluate", "read_articles", "tune", "__version__",
]
