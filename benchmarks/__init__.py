"""Benchmark helpers for recsys (synthetic corpora, timing scripts)."""
