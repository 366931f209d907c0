"""Image and text retrieval on the test split (paper, Tables 2-3).

Image retrieval: each test tweet minus its image ranks every test image; text retrieval likewise
with texts. A candidate's score is its best cosine over the query's remaining component embeddings
(for a text+image model that is just the text, or just the image).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from model.heads.query_rows import present_rows
from model.heads.vector_index import normalise_rows
from training.heads.embedding import drop_components
from training.metrics import median_rank, ranks_of_targets, recall_at_k

RECALL_KS = (1, 5, 10)


def max_over_rows_scores(
    queries: list[NDArray[np.float32]], targets: NDArray[np.float32], chunk: int = 256
) -> NDArray[np.float32]:
    """(Q, N): per query, the max over its rows of the cosine to each target."""
    unit = normalise_rows(targets)  # (N, D)
    out = np.empty((len(queries), len(unit)), dtype=np.float32)
    for start in range(0, len(queries), chunk):
        part = queries[start : start + chunk]
        counts = [len(q) for q in part]
        stacked = np.concatenate(part).astype(np.float32)  # (R, D)
        scores = stacked @ unit.T  # (R, N)
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
        out[start : start + len(part)] = np.maximum.reduceat(scores, offsets, axis=0)
    return out


COUNTERPART = {"image": "text", "text": "image"}


def retrieval_metrics(batch: Any, target: str) -> dict[str, Any]:
    """Recall@1/5/10 (%) and median rank for retrieving ``target`` embeddings of the batch's tweets.

    Queries and candidates are the tweets that have both text and image, as in the paper's data
    (every tweet had all components) and VSE++'s protocol, so that every model answers the same
    queries; the joint model still uses all the other components those tweets have.
    """
    other = COUNTERPART[target]
    if target not in batch.present or other not in batch.present:
        return {"skipped": f"the model has no {target} or {other} branch"}
    rows = np.flatnonzero(batch.present[target] & batch.present[other])
    if len(rows) < 2:
        return {"skipped": f"fewer than 2 test tweets with both {target} and {other}"}
    sub = batch.rows(rows)
    targets = sub.components[target]  # (N, D)
    queries = present_rows(drop_components(sub, {target}), leave_out={target})
    scores = max_over_rows_scores(queries, targets)  # (N, N)
    ranks = ranks_of_targets(scores, np.arange(len(rows)))
    out: dict[str, Any] = {f"R@{k}": round(100 * recall_at_k(ranks, k), 2) for k in RECALL_KS}
    out["median_rank"] = median_rank(ranks)
    out["candidates"] = len(rows)
    return out
