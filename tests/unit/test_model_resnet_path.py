"""ResNet image encoders: training reads WORK/image_features, inference runs model.resnet on the image."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from model import resnet
from model.config import SMALL
from model.embedder import TweetEmbedder
from tests.model_fixtures import build_work
from training.artifacts import read_split
from training.trainer import train

torch.set_num_threads(1)
FEATURES = 512  # resnet18


class FakeResnet(nn.Module):
    """Stands in for the ImageNet ResNet (no weights offline): (B, 3, H, W) -> (B, 512)."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, FEATURES, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.proj(x)).mean(dim=(2, 3))


def _add_features(work: Path) -> None:
    rng = np.random.default_rng(0)
    (work / "image_features").mkdir()
    for split in ("train", "val", "test"):
        ids = [t.id for t in read_split(work / "splits", split) if t.image]
        np.save(work / "image_features" / f"{split}.npy", rng.random((len(ids), FEATURES)).astype(np.float16))
        (work / "image_features" / f"{split}_ids.json").write_text(json.dumps(ids))
    prepared = json.loads((work / "prepare.json").read_text())
    prepared["image_encoder"] = "resnet18"
    (work / "prepare.json").write_text(json.dumps(prepared))


def test_resnet_features_train_and_embed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = build_work(tmp_path / "work", n_train=32, n_val=8, n_test=8)
    _add_features(work)
    config = dataclasses.replace(
        SMALL, epochs=1, batch_size=16, model=dataclasses.replace(SMALL.model, dim=16)
    )
    train(work, tmp_path / "ckpt", config, device="cpu", progress=False, echo=lambda _: None)
    saved = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert saved["image_encoder"] == "resnet18" and saved["image_feature_dim"] == FEATURES
    records = [json.loads(x) for x in (tmp_path / "ckpt" / "metrics.jsonl").read_text().splitlines()]
    assert "image" in records[0]["recalls"]  # image features took part in training

    # Without ImageNet weights in the torch cache, loading says so instead of failing later.
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty_torch_home" / "hub"))
    with pytest.raises(resnet.WeightsUnavailableError, match="not in the torch cache"):
        TweetEmbedder.load(tmp_path / "ckpt", device="cpu")

    fake = FakeResnet().eval()
    monkeypatch.setattr(resnet, "build_resnet_features", lambda name: fake)
    embedder = TweetEmbedder.load(tmp_path / "ckpt", device="cpu")
    tweets = [t for t in read_split(work / "splits", "test") if t.image][:3]
    batch = embedder.embed(tweets)
    assert batch.present["image"].all()
    np.testing.assert_allclose(np.linalg.norm(batch.components["image"], axis=1), 1.0, atol=1e-5)
