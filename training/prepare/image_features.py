"""Frozen pretrained image features (ResNets, EfficientNet-Lite0) of every tweet image, computed
once and stored as float16 memmaps.

With a frozen encoder (the paper's setting) the pooled features never change during training,
so computing them once saves the ResNet forward pass in every epoch. Each split gets
``{split}.npy`` (N, F) float16, readable with ``np.load(path, mmap_mode="r")``, and
``{split}_ids.json``, the tweet id of each row. Images that cannot be decoded get no row.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from model.record import Tweet
from training.artifacts import feature_pair


def image_items(tweets: Iterable[Tweet]) -> list[tuple[str, str]]:
    """(tweet id, image path) of the tweets that have an image."""
    return [(t.id, t.image) for t in tweets if t.image]


def images_stamp(items: Iterable[tuple[str, str]]) -> str:
    """Identity of the image files (path, size, mtime) for the skip key; missing files count too."""
    import hashlib

    digest = hashlib.sha256()
    for _, path in items:
        try:
            stat = os.stat(path)
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}\0missing\n".encode())
    return digest.hexdigest()


def compute_features(
    items_by_split: dict[str, list[tuple[str, str]]],
    encoder_name: str,
    image_size: int,
    out_dir: Path,
    *,
    batch_size: int = 32,
    device: str = "auto",
    threads: int = 2,
    verbose: bool = True,
) -> dict[str, Any]:
    """Write out_dir/{split}.npy and {split}_ids.json for every split; returns counts per split."""
    import torch

    from model.embedder import resolve_device
    from model.image_encoders import build_frozen_encoder, input_spec
    from model.image_encoders import transform as make_transform

    torch.set_num_threads(threads)
    dev = resolve_device(device)
    encoder = build_frozen_encoder(encoder_name).to(dev)
    transform = make_transform(input_spec(encoder_name, image_size))
    out_dir.mkdir(parents=True, exist_ok=True)
    # An image shared by many tweets (retweets, an event's few photos: 3,025 tweets and 118 images in
    # the MediaEval dev set) goes through the encoder once; only those are remembered, so a corpus of
    # distinct images keeps nothing in memory.
    uses = Counter(path for items in items_by_split.values() for _, path in items)
    shared: dict[str, np.ndarray | None] = {path: None for path, n in uses.items() if n > 1}
    counts = {
        split: _split_features(
            items, split, encoder, transform, encoder_name, out_dir, dev, batch_size, verbose, shared
        )
        for split, items in items_by_split.items()
    }
    return {"device": str(dev), "splits": counts, "distinct_images": len(uses)}


def _split_features(
    items: list[tuple[str, str]],
    split: str,
    encoder: Any,
    transform: Any,
    encoder_name: str,
    out_dir: Path,
    dev: Any,
    batch_size: int,
    verbose: bool,
    shared: dict[str, np.ndarray | None] | None = None,
) -> dict[str, int]:
    """``shared``: path -> features (None until encoded) of images used by several tweets, filled
    and read here so that each is encoded once across all splits."""
    import torch
    from PIL import Image
    from tqdm import tqdm

    from model.config import FROZEN_IMAGE_FEATURE_DIMS

    feature_dim = FROZEN_IMAGE_FEATURE_DIMS[encoder_name]
    final, ids_path = feature_pair(out_dir, split)
    if not items:  # a zero-length file cannot be memory-mapped; write an empty array instead
        np.save(final, np.zeros((0, feature_dim), dtype=np.float16))
        ids_path.write_text("[]", encoding="utf-8")
        return {"images": 0, "features": 0, "failed": 0}

    scratch = out_dir / f".{split}.all.npy"
    rows = np.lib.format.open_memmap(scratch, mode="w+", dtype=np.float16, shape=(len(items), feature_dim))
    ok = np.zeros(len(items), dtype=bool)
    bar = tqdm(total=len(items), desc=f"{encoder_name} features ({split})", unit=" img", disable=not verbose)
    shared = {} if shared is None else shared
    failed: set[str] = set()  # shared paths that could not be decoded
    done: dict[str, int] = {}  # shared path -> the row of this split that holds it
    todo: list[int] = []
    for position, (_, path) in enumerate(items):
        cached = shared.get(path)
        if cached is not None:
            rows[position] = cached
            ok[position] = True
        elif path in shared and path in done:
            continue  # filled from its first row below
        else:
            if path in shared:
                done[path] = position
            todo.append(position)
    bar.update(len(items) - len(todo))
    with torch.no_grad():
        for start in range(0, len(todo), batch_size):
            batch: list[torch.Tensor] = []
            positions: list[int] = []
            for position in todo[start : start + batch_size]:
                try:
                    with Image.open(items[position][1]) as image:
                        batch.append(transform(image))  # (3, S, S)
                    positions.append(position)
                except (OSError, ValueError):
                    failed.add(items[position][1])  # no image component for this tweet
            if batch:
                pixels = torch.stack(batch).to(dev)  # (b, 3, S, S)
                features = encoder(pixels).float().cpu().numpy()  # (b, F)
                rows[positions] = features.astype(np.float16)
                ok[positions] = True
            bar.update(len(todo[start : start + batch_size]))
    for position, (_, path) in enumerate(items):
        if path in done and not ok[position] and path not in failed:
            rows[position] = rows[done[path]]
            ok[position] = True
    for path, position in done.items():
        if path not in failed:
            shared[path] = np.array(rows[position])
    bar.close()
    rows.flush()

    kept = int(ok.sum())
    tmp = out_dir / f".{split}.tmp.npy"
    if kept == len(items):
        del rows
        scratch.replace(tmp)
    elif kept == 0:
        del rows
        scratch.unlink()
        np.save(tmp, np.zeros((0, feature_dim), dtype=np.float16))
    else:  # copy the decodable rows so that rows and ids stay parallel
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=(kept, feature_dim))
        index = np.flatnonzero(ok)
        for chunk in range(0, kept, 4096):
            out[chunk : chunk + 4096] = rows[index[chunk : chunk + 4096]]
        out.flush()
        del out, rows
        scratch.unlink()
    tmp.replace(final)
    ids_path.write_text(json.dumps([items[i][0] for i in np.flatnonzero(ok)]), encoding="utf-8")
    return {"images": len(items), "features": kept, "failed": len(items) - kept}
