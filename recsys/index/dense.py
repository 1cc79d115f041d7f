"""The approximate nearest-neighbour index over the article embeddings (faiss, inverted file):
it finds the semantic channel's own candidates at a cost that grows with the square root of the
number of articles, not with it; every similarity reported is then computed exactly."""

from __future__ import annotations

import math

import numpy as np

TRAINING_PER_LIST = 40    # k-means trains on at most this many articles per list
TRAINING_ITERATIONS = 10  # k-means rounds (faiss's default, 25, trains 2.6x as long for the same candidates)
MIN_LISTS = 1
ADD_BLOCK = 1 << 16  # embeddings encoded and added at a time


class DenseIndex:
    """Inverted lists of unit embeddings (inner product, stored as 8-bit codes), searched in their
    ``probes`` closest lists."""

    def __init__(self, index, probes: int, stored: np.ndarray | None = None) -> None:
        self._index, self.probes, self._stored = index, probes, stored
        index.nprobe = min(probes, index.nlist)

    @classmethod
    def build(cls, embeddings: np.ndarray, probes: int, threads: int = 1) -> "DenseIndex":
        """An index of ``embeddings`` (row i is article i) in about 4 * sqrt(n) lists."""
        import faiss

        faiss.omp_set_num_threads(max(1, threads))
        vectors = np.ascontiguousarray(embeddings, dtype=np.float32)
        n, d = vectors.shape
        lists = max(MIN_LISTS, min(n, round(4 * math.sqrt(n))))
        # a byte per dimension (each dimension's range in 256 steps): a quarter of the memory of
        # IndexIVFFlat and a faster scan, the same candidates in practice (their scores are exact later)
        index = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(d), d, lists, faiss.ScalarQuantizer.QT_8bit,
                                              faiss.METRIC_INNER_PRODUCT)
        index.cp.seed, index.cp.niter = 0, TRAINING_ITERATIONS
        sample = vectors
        if n > TRAINING_PER_LIST * lists:
            sample = vectors[np.sort(np.random.default_rng(0).choice(n, TRAINING_PER_LIST * lists, replace=False))]
        index.cp.min_points_per_centroid = 1
        index.train(sample)
        del sample
        for start in range(0, n, ADD_BLOCK):  # memory for the codes of a block at a time, not of all at once
            index.add(vectors[start:start + ADD_BLOCK])
        return cls(index, probes)

    @classmethod
    def from_bytes(cls, data: np.ndarray, probes: int) -> "DenseIndex":
        """The index that ``to_bytes`` wrote."""
        import faiss

        return cls(faiss.deserialize_index(np.ascontiguousarray(data, dtype=np.uint8)), probes, data)

    def to_bytes(self) -> np.ndarray:
        """The index as a uint8 array (stored as one of the index directory's arrays)."""
        import faiss

        return faiss.serialize_index(self._index) if self._stored is None else self._stored

    def __len__(self) -> int:
        return self._index.ntotal

    @property
    def dimensions(self) -> int:
        """The length of the embeddings it indexes."""
        return self._index.d

    def rows_by_list(self) -> np.ndarray:
        """Every indexed row (int64), grouped by the inverted list that holds it, lists in order."""
        import faiss

        lists = self._index.invlists
        return np.concatenate([np.zeros(0, np.int64)] + [
            faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
            for i in range(self._index.nlist) if lists.list_size(i)])

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
        """(len(queries), k) rows of the approximately closest embeddings to each query (-1: fewer
        found), among the rows ``allowed`` marks (a bool per row; None: every row)."""
        import faiss

        params = None
        if allowed is not None:
            bits = np.packbits(np.asarray(allowed, dtype=bool), bitorder="little")
            params = faiss.SearchParametersIVF(sel=faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bits)),
                                               nprobe=self._index.nprobe)
        _, rows = self._index.search(np.ascontiguousarray(queries, dtype=np.float32), min(k, len(self)),
                                     params=params)
        return rows
