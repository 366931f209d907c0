"""The location forest on the request path, before and after shrinking it: one-row latency (as the
service makes it: the head's FlatForest, one tweet a request) and test accuracy, for the whole
fitted forest and for its first N trees (a forest of N trees fitted the same way: the trees are
independent)."""

from __future__ import annotations

import copy
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from model.embedder import TweetEmbedder
from model.heads.loader import load_heads
from model.heads.location_head import LinearLocation, LocationContext, LocationPredictor, profile_inputs
from model.record import Tweet


def compare(
    ckpt: Path, work: Path, trees: tuple[int, ...], limit: int = 1000, repeats: int = 40
) -> dict[str, Any]:
    import json

    embedder = TweetEmbedder.load(ckpt, device="cpu")
    heads = load_heads(ckpt)
    if heads.location is None:
        raise ValueError(f"{ckpt} has no location head")
    if isinstance(heads.location.forest, LinearLocation):
        return {"skipped": "build-heads chose the linear location head on validation: no trees to vary"}
    predictor = heads.location
    known = set(predictor.classes)
    records = [json.loads(line) for line in (work / "splits" / "test.jsonl").read_text().splitlines() if line]
    tweets = [Tweet.from_flat(r) for r in records if r.get("place_id") in known][:limit]
    batch = embedder.embed(tweets)
    profile, present = profile_inputs(
        [t.user_location for t in tweets], embedder.config.dim, embedder.embed_texts
    )
    truth = np.asarray([predictor.classes.index(str(t.place_id)) for t in tweets])  # (N,)
    full = predictor.forest
    out: dict[str, Any] = {"tweets": len(tweets), "rows": []}
    for n_trees in (len(full.estimators_), *trees):
        forest = copy.copy(full)
        forest.estimators_ = full.estimators_[:n_trees]
        forest.n_estimators = n_trees
        # A fresh predictor: the head lays its trees out once (FlatForest) when it is built.
        predictor = LocationPredictor(
            forest,
            heads.location.components,
            heads.location.places,
            heads.location.profile_ngrams,
            heads.location.text_ngrams,
            heads.location.authors,
        )
        texts = LocationContext.of(tweets)
        proba = predictor.predict_proba(batch, profile, present, texts)  # (N, P)
        top5 = np.argsort(-proba, axis=1)[:, :5]
        _one_row_ms(predictor, batch, profile, present, texts, 0)  # warm-up
        one = [
            _one_row_ms(predictor, batch, profile, present, texts, i % len(tweets)) for i in range(repeats)
        ]
        out["rows"].append(
            {
                "trees": n_trees,
                "depth": full.max_depth,
                "one_row_ms": statistics.median(one),
                "acc1": float(np.mean(top5[:, 0] == truth)),
                "acc5": float(np.mean((top5 == truth[:, None]).any(axis=1))),
            }
        )
    return out


def _one_row_ms(
    predictor: Any, batch: Any, profile: np.ndarray, present: np.ndarray, texts: LocationContext, i: int
) -> float:
    from model.embedding_batch import EmbeddingBatch

    row = EmbeddingBatch(
        {c: v[i : i + 1] for c, v in batch.components.items()},
        {c: p[i : i + 1] for c, p in batch.present.items()},
        batch.average[i : i + 1],
    )
    started = time.perf_counter()
    one = LocationContext(texts.profile[i : i + 1], texts.tweet[i : i + 1], texts.author[i : i + 1])
    predictor.predict_proba(row, profile[i : i + 1], present[i : i + 1], one)
    return 1000 * (time.perf_counter() - started)
