"""Measuring and tuning relevance: metrics over judged lists (metrics), the judgment formats they
read, and a parameter search with cross-validation (tuning)."""

from .metrics import click_gains, evaluate, ndcg_at_k, ranking_metrics
from .tuning import tune

__all__ = ["click_gains", "evaluate", "ndcg_at_k", "ranking_metrics", "tune"]
