"""The frozen ImageNet ResNet image encoder of the paper and the image preprocessing shared by
training and inference.

The weights come only from the torch hub cache: this code never downloads, because the machines
it runs on are often offline, and a silent fallback to random weights would train a model on noise
features without anyone noticing. A missing file is an error that says how to get it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torchvision
from PIL import Image
from torch import nn
from torchvision import transforms

from model.config import RESNET_FEATURE_DIMS

RESNET_NAMES: tuple[str, ...] = tuple(RESNET_FEATURE_DIMS)
# ImageNet statistics the torchvision weights were trained with.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


class WeightsUnavailableError(RuntimeError):
    """The ImageNet weights of a ResNet are not in the torch hub cache."""


def _weights(name: str) -> Any:
    if name not in RESNET_FEATURE_DIMS:
        raise ValueError(f"unknown ResNet {name!r}; expected one of {', '.join(RESNET_NAMES)}")
    # IMAGENET1K_V1 is the original ImageNet recipe, the weights VSE++-era work (and the paper) used.
    return torchvision.models.get_model_weights(name).IMAGENET1K_V1


def weights_path(name: str) -> Path:
    """Where torchvision looks for ``name``'s ImageNet weights (honours $TORCH_HOME)."""
    url: str = _weights(name).url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def check_weights(name: str) -> Path:
    """The cached weights file of ``name``; raises WeightsUnavailableError saying how to get it."""
    path = weights_path(name)
    if path.is_file():
        return path
    raise WeightsUnavailableError(
        f"the ImageNet weights of {name} are not in the torch cache: {path} is missing.\n"
        f"To get them, on a machine with internet run\n"
        f"    python -c \"import torchvision; torchvision.models.{name}(weights='IMAGENET1K_V1')\"\n"
        f"then copy ~/.cache/torch/hub/checkpoints/{path.name} to {path.parent}/ here "
        f"(or point TORCH_HOME at a directory whose hub/checkpoints/ holds it).\n"
        f"To train without ImageNet weights, use --image-encoder convnet "
        f"(a small CNN trained from scratch with the rest of the model)."
    )


def build_resnet_features(name: str) -> nn.Module:
    """ResNet ``name`` with ImageNet weights, classifier removed: images (B, 3, H, W) -> (B, F).

    F is RESNET_FEATURE_DIMS[name]. The module is in eval mode with gradients off (frozen).
    """
    check_weights(name)
    model: nn.Module = torchvision.models.get_model(name, weights=_weights(name))
    # Identity in place of the classifier leaves the global-average-pooled features.
    model.fc = nn.Identity()
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def _to_rgb(image: Image.Image) -> Image.Image:
    # Tweets carry palette, grey and RGBA images; the networks take three channels.
    return image if image.mode == "RGB" else image.convert("RGB")


def image_transform(image_size: int) -> transforms.Compose:
    """PIL image -> normalised tensor (3, image_size, image_size), for every image encoder.

    The shorter side is resized to ``image_size`` and the centre cropped, so the whole short side
    is kept; normalisation uses ImageNet statistics, which the ResNets need and the small CNN
    does not mind.
    """
    if image_size <= 0:
        raise ValueError("image_size must be positive")
    return transforms.Compose(
        [
            transforms.Lambda(_to_rgb),
            transforms.Resize(image_size),
            transforms.CenterCrop(image_size),
            transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
