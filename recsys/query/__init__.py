"""Answering reads on a View of an index: vectors, candidate search, ranking, and the lists."""
