"""FAISS inner-product index over L2-normalised vectors, shared by the hashtag and retrieval heads.

Exact search (IndexFlatIP) up to a size threshold, HNSW above it: exact search over tens of
thousands of vectors is still fast enough for one query, and HNSW's build time only pays off beyond.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from numpy.typing import NDArray

DEFAULT_HNSW_THRESHOLD = 50_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 64


def normalise_rows(vectors: NDArray[np.floating]) -> NDArray[np.float32]:
    """Rows scaled to unit length (zero rows stay zero), float32 C-contiguous as FAISS wants."""
    out = np.ascontiguousarray(vectors, dtype=np.float32)  # (N, D)
    norms = np.linalg.norm(out, axis=1, keepdims=True)  # (N, 1)
    return np.ascontiguousarray(out / np.maximum(norms, 1e-12), dtype=np.float32)


def build_index(vectors: NDArray[np.floating], hnsw_threshold: int = DEFAULT_HNSW_THRESHOLD) -> Any:
    """An inner-product index over the normalised rows (cosine similarity)."""
    data = normalise_rows(vectors)  # (N, D)
    dim = data.shape[1]
    index: Any
    if len(data) > hnsw_threshold:
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        index = faiss.IndexFlatIP(dim)
    index.add(data)
    return index


def save_index(index: Any, path: Path) -> None:
    faiss.write_index(index, str(path))


def load_index(path: Path) -> Any:
    index = faiss.read_index(str(path))
    if isinstance(index, faiss.IndexHNSWFlat):
        index.hnsw.efSearch = max(index.hnsw.efSearch, HNSW_EF_SEARCH)
    return index


def search_max_over_rows(
    index: Any, queries: Sequence[NDArray[np.floating]], k: int
) -> list[list[tuple[int, float]]]:
    """Top-k items per query, each item scored by its best cosine over the query's rows (paper).

    Searching every row for its own top k and merging by max is exact for the max-score top k: an
    item in the true top k is, in the row that gives its best score, beaten only by items whose
    max-score is also higher, so fewer than k of them, so it is in that row's top k.
    """
    if k <= 0 or index.ntotal == 0:
        return [[] for _ in queries]
    k_row = min(k, int(index.ntotal))
    rows = [np.asarray(q, dtype=np.float32).reshape(-1, index.d) for q in queries]
    counts = [len(r) for r in rows]
    results: list[list[tuple[int, float]]] = [[] for _ in queries]
    if sum(counts) == 0:
        return results
    stacked = normalise_rows(np.concatenate(rows, axis=0))  # (sum m_i, D)
    scores, ids = index.search(stacked, k_row)  # (sum m_i, k_row) each
    start = 0
    for qi, m in enumerate(counts):
        best: dict[int, float] = {}
        for row_ids, row_scores in zip(ids[start : start + m], scores[start : start + m], strict=True):
            for item, score in zip(row_ids.tolist(), row_scores.tolist(), strict=True):
                if item >= 0 and score > best.get(item, -np.inf):
                    best[item] = float(score)
        start += m
        results[qi] = sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
    return results
