"""Frozen image features: an image shared by several tweets is encoded once, across splits, and
every tweet still gets its row (the same as encoding each tweet's image on its own)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from training.prepare import image_features


class CountingEncoder(torch.nn.Module):
    """Mean colour of each image, repeated: a deterministic feature that shows which image it saw."""

    def __init__(self) -> None:
        super().__init__()
        self.rows = 0

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        self.rows += pixels.shape[0]
        return pixels.mean(dim=(2, 3)).repeat(1, 427)[:, :1280]  # (b, 1280)


def to_tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0).permute(2, 0, 1)


def run(
    tmp: Path, items: dict[str, list[tuple[str, str]]], shared: bool
) -> tuple[int, dict[str, np.ndarray]]:
    encoder = CountingEncoder()
    out = tmp / ("shared" if shared else "alone")
    out.mkdir()
    cache: dict[str, np.ndarray | None] | None = None
    if shared:
        uses: dict[str, int] = {}
        for rows in items.values():
            for _, path in rows:
                uses[path] = uses.get(path, 0) + 1
        cache = {p: None for p, n in uses.items() if n > 1}
    for split, rows in items.items():
        image_features._split_features(
            rows, split, encoder, to_tensor, "efficientnet_lite0", out, torch.device("cpu"), 2, False, cache
        )
    got = {}
    for split in items:
        ids = json.loads((out / f"{split}_ids.json").read_text())
        matrix = np.load(out / f"{split}.npy")
        got.update({tid: matrix[i] for i, tid in enumerate(ids)})
    return encoder.rows, got


def test_shared_images_encoded_once_with_the_same_rows(tmp_path: Path) -> None:
    paths = []
    for i, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        path = tmp_path / f"{i}.png"
        Image.new("RGB", (4, 4), colour).save(path)
        paths.append(str(path))
    missing = str(tmp_path / "missing.png")
    items = {
        "train": [("a", paths[0]), ("b", paths[0]), ("c", paths[1]), ("d", paths[0]), ("e", missing)],
        "val": [("f", paths[1]), ("g", paths[2]), ("h", missing)],
        "test": [("i", paths[0]), ("j", paths[2])],
    }
    alone_rows, alone = run(tmp_path, items, shared=False)
    shared_rows, shared = run(tmp_path, items, shared=True)
    assert alone_rows == 8  # every decodable tweet image
    assert shared_rows == 3  # each distinct image once
    assert sorted(shared) == sorted(alone) == list("abcdfgij")  # the missing image gives no row
    for tid, row in alone.items():
        np.testing.assert_array_equal(shared[tid], row)
    assert not np.array_equal(shared["a"], shared["c"])
