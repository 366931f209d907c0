"""The ResNet feature extractor loads ImageNet weights only from the torch cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from model.resnet import (
    WeightsUnavailableError,
    build_resnet_features,
    image_transform,
    weights_path,
)


@pytest.fixture
def torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "torch_home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    torch.set_num_threads(1)
    return home


def test_missing_weights_raise_a_clear_error(torch_home: Path) -> None:
    with pytest.raises(WeightsUnavailableError) as info:
        build_resnet_features("resnet152")
    message = str(info.value)
    expected = weights_path("resnet152")
    assert str(torch_home) in str(expected)
    assert expected.name in message  # the exact file needed
    assert "resnet152(weights='IMAGENET1K_V1')" in message
    assert "--image-encoder convnet" in message


def test_unknown_name_is_rejected(torch_home: Path) -> None:
    with pytest.raises(ValueError, match="unknown ResNet"):
        build_resnet_features("resnet34")


def test_cached_weights_are_loaded_frozen_and_pooled(torch_home: Path) -> None:
    # A randomly initialised resnet18 under the real file name stands in for the ImageNet download.
    torch.manual_seed(0)
    reference = torchvision.models.resnet18(weights=None)
    target = weights_path("resnet18")
    target.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), target)

    features = build_resnet_features("resnet18")
    assert not features.training
    assert all(not p.requires_grad for p in features.parameters())
    images = torch.randn(3, 3, 64, 64)  # (B, 3, H, W)
    with torch.no_grad():
        out = features(images)  # (B, 512)
        reference.eval()
        reference.fc = torch.nn.Identity()
        expected = reference(images)
    assert out.shape == (3, 512)
    # Same numbers as the saved model: the cached file, not fresh random weights, was loaded.
    torch.testing.assert_close(out, expected)


def test_image_transform_shapes_and_normalises() -> None:
    transform = image_transform(32)
    grey = Image.fromarray(np.full((40, 80), 255, dtype=np.uint8), mode="L")
    tensor = transform(grey)
    assert tensor.shape == (3, 32, 32)
    # White through ImageNet normalisation: (1 - mean) / std per channel.
    expected = (1 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    torch.testing.assert_close(tensor[:, 0, 0], expected)
    with pytest.raises(ValueError):
        image_transform(0)
