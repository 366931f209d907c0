"""Embedding many tweets through a checkpoint, in batches, and editing the resulting batches.

Branches embed their component independently, so "the tweet without its image" is the embedded
tweet with the image row dropped and the average recomputed: one embedding pass serves every
leave-one-out query of the evaluation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from model.embedding_batch import EmbeddingBatch
from model.record import Tweet


class Embedder(Protocol):
    """What the heads need of model.embedder.TweetEmbedder (tests use a numpy stand-in)."""

    config: Any

    def embed(self, tweets: Sequence[Tweet], images: Any = None) -> Any: ...
    def embed_texts(self, texts: Sequence[str]) -> NDArray[np.float32]: ...
    def embed_hashtags(self, tags: Sequence[str]) -> NDArray[np.float32]: ...


def make_batch(
    components: dict[str, NDArray[np.float32]],
    present: dict[str, NDArray[np.bool_]],
    average: NDArray[np.float32],
) -> Any:
    return EmbeddingBatch(components=components, present=present, average=average)


def concat_batches(batches: Sequence[Any], dim: int) -> Any:
    if not batches:
        return make_batch({}, {}, np.zeros((0, dim), dtype=np.float32))
    names = list(batches[0].components)
    return make_batch(
        {c: np.concatenate([b.components[c] for b in batches]).astype(np.float32) for c in names},
        {c: np.concatenate([b.present[c] for b in batches]).astype(bool) for c in names},
        np.concatenate([b.average for b in batches]).astype(np.float32),
    )


def embed_all(embedder: Embedder, tweets: Sequence[Tweet], batch_size: int = 256, desc: str = "embed") -> Any:
    """Every tweet embedded; an image that several tweets share goes through the image branch once
    (branches are independent, so its row is copied and the averages recomputed)."""
    dim = int(embedder.config.dim)
    uses: dict[str, int] = {}
    for t in tweets:
        if t.image:
            uses[t.image] = uses.get(t.image, 0) + 1
    shared = {path for path, n in uses.items() if n > 1}
    if not shared or "image" not in embedder.config.components:
        return concat_batches(_embed_batches(embedder, tweets, batch_size, desc), dim)
    firsts: dict[str, int] = {}
    rest = list(tweets)
    for i, t in enumerate(tweets):
        if t.image in shared:
            if t.image in firsts:
                rest[i] = t.with_image(None)  # filled from the first tweet with this image
            else:
                firsts[t.image] = i
    batch = concat_batches(_embed_batches(embedder, rest, batch_size, desc), dim)
    image, present = batch.components["image"].copy(), batch.present["image"].copy()
    for i, t in enumerate(tweets):
        if t.image in shared and firsts[t.image] != i:
            image[i], present[i] = image[firsts[t.image]], present[firsts[t.image]]
    components = {**batch.components, "image": image}
    presence = {**batch.present, "image": present}
    return EmbeddingBatch.from_components(components, presence)


def _embed_batches(embedder: Embedder, tweets: Sequence[Tweet], batch_size: int, desc: str) -> list[Any]:
    return [
        embedder.embed(tweets[i : i + batch_size])
        for i in tqdm(range(0, len(tweets), batch_size), desc=desc, unit="batch", leave=False)
    ]


def embed_texts_batched(
    embedder: Embedder, texts: Sequence[str], batch_size: int = 512, desc: str = "embed texts"
) -> NDArray[np.float32]:
    dim = int(embedder.config.dim)
    if not texts:
        return np.zeros((0, dim), dtype=np.float32)
    parts = [
        embedder.embed_texts(list(texts[i : i + batch_size]))
        for i in tqdm(range(0, len(texts), batch_size), desc=desc, unit="batch", leave=False)
    ]
    return np.concatenate(parts).astype(np.float32)


def drop_components(batch: Any, names: Iterable[str]) -> Any:
    """The same batch with ``names`` absent everywhere (rows zeroed, average recomputed)."""
    drop = set(names)
    components = {c: (np.zeros_like(v) if c in drop else v) for c, v in batch.components.items()}
    present = {
        c: (np.zeros_like(p, dtype=bool) if c in drop else p.astype(bool)) for c, p in batch.present.items()
    }
    return EmbeddingBatch.from_components(components, present)


def select_rows(batch: Any, rows: NDArray[np.integer] | Sequence[int]) -> Any:
    idx = np.asarray(rows, dtype=np.int64)
    return make_batch(
        {c: v[idx] for c, v in batch.components.items()},
        {c: p[idx] for c, p in batch.present.items()},
        batch.average[idx],
    )


def profile_embeddings(
    embedder: Embedder, tweets: Sequence[Tweet]
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """(N, dim) text-branch embedding of each author's profile location, and (N,) whether there is one.

    Distinct strings are embedded once: many tweets share an author, and authors share places. A
    model trained without the text branch (an ablation) has no way to embed them: all absent.
    """
    dim = int(embedder.config.dim)
    if "text" not in embedder.config.components:
        return np.zeros((len(tweets), dim), dtype=np.float32), np.zeros(len(tweets), dtype=bool)
    texts = [(t.user_location or "").strip() for t in tweets]
    distinct = sorted({s for s in texts if s})
    vectors = embed_texts_batched(embedder, distinct, desc="embed profiles")
    row = {s: i for i, s in enumerate(distinct)}
    out = np.zeros((len(tweets), dim), dtype=np.float32)
    present = np.zeros(len(tweets), dtype=bool)
    for i, s in enumerate(texts):
        if s:
            out[i] = vectors[row[s]]
            present[i] = bool(np.linalg.norm(vectors[row[s]]) > 0)
    return out, present
