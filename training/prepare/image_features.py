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
    counts = {
        split: _split_features(
            items, split, encoder, transform, encoder_name, out_dir, dev, batch_size, verbose
        )
        for split, items in items_by_split.items()
    }
    return {"device": str(dev), "splits": counts}


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
) -> dict[str, int]:
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
    with torch.no_grad():
        for start in range(0, len(items), batch_size):
            batch: list[torch.Tensor] = []
            positions: list[int] = []
            for position in range(start, min(start + batch_size, len(items))):
                try:
                    with Image.open(items[position][1]) as image:
                        batch.append(transform(image))  # (3, S, S)
                    positions.append(position)
                except (OSError, ValueError):
                    pass  # missing or undecodable: this tweet simply has no image component
            if batch:
                pixels = torch.stack(batch).to(dev)  # (b, 3, S, S)
                features = encoder(pixels).float().cpu().numpy()  # (b, F)
                rows[positions] = features.astype(np.float16)
                ok[positions] = True
            bar.update(min(batch_size, len(items) - start))
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
