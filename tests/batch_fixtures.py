"""A tiny trained checkpoint (no heads) and its WORK dir, for the batch-embedding and Ray tests."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from model.record import Tweet


def tiny_checkpoint(root: Path) -> tuple[Path, Path]:
    from model.config import SMALL
    from tests.model_fixtures import build_work
    from training.trainer import train

    work = build_work(root / "work", n_train=64, n_val=16, n_test=16)
    model = dataclasses.replace(SMALL.model, dim=16, image_feature_dim=16)
    config = dataclasses.replace(SMALL, epochs=1, batch_size=16, val_every=1000, model=model)
    train(work, root / "ckpt", config, device="cpu", progress=False, echo=lambda _: None)
    return root / "ckpt", work


def work_tweets(work: Path) -> list[Tweet]:
    """Every tweet of the WORK splits, in the order the readers give them (sorted file names)."""
    out = []
    for name in ("test", "train", "val"):
        for line in (work / "splits" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
            out.append(Tweet.from_flat(json.loads(line)))
    return out
