"""The per-component networks that map each tweet component into the joint space."""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence


def l2_normalise(x: torch.Tensor) -> torch.Tensor:
    # In float32 so that mixed precision never returns vectors that are only roughly unit length.
    return F.normalize(x.float(), p=2.0, dim=-1)


class TextEncoder(nn.Module):
    """Word embeddings (initialised from fastText) -> GRU; the last hidden state is the embedding.

    Also encodes the location component: the paper runs a place's neighbour texts through the same
    text network and averages them.
    """

    def __init__(self, vocab_size: int, word_dim: int, dim: int, layers: int = 1) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, word_dim, padding_idx=0)
        self.gru = nn.GRU(word_dim, dim, num_layers=layers, batch_first=True)

    def init_word_embeddings(self, matrix: torch.Tensor) -> None:
        """Initialise the embedding layer from fastText vectors (vocab_size, word_dim).

        The vectors are centred on their mean and scaled to RMS norm 1 (cosines between centred vectors
        are kept): small fastText models give tiny vectors sharing one direction, which makes every
        text start with nearly the same GRU state.
        """
        if tuple(matrix.shape) != tuple(self.embedding.weight.shape):
            raise ValueError(f"word matrix {tuple(matrix.shape)} != {tuple(self.embedding.weight.shape)}")
        with torch.no_grad():
            words = matrix[2:] if matrix.shape[0] > 3 else matrix  # leave <pad>, <unk> out of the stats
            centred = matrix - words.mean(dim=0)
            rms = centred[2:].pow(2).sum(dim=1).mean().sqrt() if matrix.shape[0] > 3 else torch.tensor(1.0)
            self.embedding.weight.copy_(centred / rms.clamp(min=1e-12))
            self.embedding.weight[0].zero_()

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # tokens (N, T) long, lengths (N,) long on CPU, every length >= 1
        words = self.embedding(tokens)  # (N, T, word_dim)
        packed = pack_padded_sequence(words, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, hidden = self.gru(packed)  # (layers, N, dim), already back in input order
        return l2_normalise(hidden[-1])  # (N, dim)


class SmallConvNet(nn.Module):
    """A small CNN trained jointly from raw pixels: the offline stand-in for ImageNet ResNet features.

    GroupNorm rather than BatchNorm because a batch may hold a single image.
    """

    def __init__(self, out_dim: int) -> None:
        super().__init__()
        widths = [3, 32, 64, 128, out_dim]
        layers: list[nn.Module] = []
        for c_in, c_out in itertools.pairwise(widths):
            layers += [
                nn.Conv2d(c_in, c_out, kernel_size=3, stride=2, padding=1, bias=False),
                nn.GroupNorm(8, c_out),
                nn.ReLU(inplace=True),
            ]
        self.features = nn.Sequential(*layers)
        self.out_dim = out_dim

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        # pixels (N, 3, H, W) normalised
        pooled: torch.Tensor = self.features(pixels).mean(dim=(2, 3))  # (N, out_dim) global average pool
        return pooled


class ProjectionBranch(nn.Module):
    """Fixed features -> one fully connected layer (or a small MLP) -> unit vector (hashtags, user,
    image features, MiniLM text features).

    The inputs are first standardised with statistics of the training set (buffers saved with the
    weights): fastText and node2vec vectors share a large common direction and can be tiny, so
    without it every tweet's embedding starts out nearly the same, the layer's bias dominates, and
    hardest-negative training stalls at the collapsed solution (loss = 2 x margin per tweet).
    """

    def __init__(self, in_dim: int, dim: int, hidden: int = 0) -> None:
        super().__init__()
        # hidden > 0: a two-layer MLP (the network on top of frozen MiniLM features), else one layer.
        self.fc: nn.Module = (
            nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
            if hidden > 0
            else nn.Linear(in_dim, dim)
        )
        self.input_mean: torch.Tensor
        self.input_scale: torch.Tensor
        self.register_buffer("input_mean", torch.zeros(in_dim))
        self.register_buffer("input_scale", torch.ones(()))

    @torch.no_grad()
    def set_input_statistics(self, features: torch.Tensor) -> None:
        """Centre on the features' mean and scale their RMS norm to 1 (one scalar keeps the geometry)."""
        # features (N, in_dim), N >= 1
        mean = features.float().mean(dim=0)
        rms = (features.float() - mean).pow(2).sum(dim=1).mean().sqrt()
        self.input_mean.copy_(mean)
        self.input_scale.fill_(1.0 / float(rms) if float(rms) > 1e-12 else 1.0)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        standardised = (features - self.input_mean) * self.input_scale  # (N, in_dim)
        return l2_normalise(self.fc(standardised))  # (N, dim)


class ImageBranch(nn.Module):
    """Image -> features -> fc. With ``convnet`` the features come from a CNN trained here; with a
    frozen pretrained encoder (ResNet, EfficientNet-Lite0) the inputs already are its pooled features
    (precomputed for training, computed by ``model.image_encoders`` at inference), so the frozen
    encoder is not part of this module's state."""

    def __init__(self, feature_dim: int, dim: int, convnet: bool) -> None:
        super().__init__()
        self.cnn: SmallConvNet | None = SmallConvNet(feature_dim) if convnet else None
        self.project = ProjectionBranch(feature_dim, dim)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        features = self.cnn(inputs) if self.cnn is not None else inputs  # (N, F)
        projected: torch.Tensor = self.project(features)
        return projected
