"""A tweet's present component embeddings as the query rows of the max-over-components search."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from model.embedding_batch import EmbeddingBatch


def present_rows(batch: EmbeddingBatch, leave_out: Iterable[str] = ()) -> list[NDArray[np.float32]]:
    """Per tweet, the (m_i, dim) stack of its present component embeddings, minus ``leave_out``.

    A tweet with no present component (after leaving some out) gets its average embedding instead,
    so that every query still has one row and a result.
    """
    skip = set(leave_out)
    names = [c for c in batch.components if c not in skip]
    n = len(batch.average)
    out: list[NDArray[np.float32]] = []
    for i in range(n):
        rows = [batch.components[c][i] for c in names if bool(batch.present[c][i])]
        if not rows:
            rows = [batch.average[i]]
        out.append(np.stack(rows).astype(np.float32))  # (m_i, dim)
    return out
