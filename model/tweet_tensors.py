"""One batch of tweets as tensors, component by component, with only the components each tweet has.

Every component carries ``*_rows``: the batch rows (tweets) its inputs belong to. A tweet missing a
component simply has no row there, so nothing is ever zero-filled into an input that would count.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch


@dataclass
class TweetTensors:
    size: int  # B: tweets in the batch
    text_tokens: torch.Tensor | None = None  # (n_text, T) long, 0-padded
    text_lengths: torch.Tensor | None = None  # (n_text,) long, on CPU (pack_padded_sequence wants that)
    text_rows: torch.Tensor | None = None  # (n_text,) long
    text_features: torch.Tensor | None = None  # (n_text, 384) MiniLM features (minilm text branch)
    image_inputs: torch.Tensor | None = None  # (n_img, 3, H, W) pixels (convnet) or (n_img, F) features
    image_rows: torch.Tensor | None = None
    hashtag_vectors: torch.Tensor | None = None  # (n_tag, word_dim) mean fastText vector per tweet
    hashtag_rows: torch.Tensor | None = None
    user_vectors: torch.Tensor | None = None  # (n_user, user_dim) node2vec vectors
    user_rows: torch.Tensor | None = None
    # Location while training: each distinct neighbour text of the batch is encoded once, and
    # location_weights averages them per tweet (its place's texts, the tweet itself left out).
    neighbour_tokens: torch.Tensor | None = None  # (N, T) long
    neighbour_lengths: torch.Tensor | None = None  # (N,) long, CPU
    neighbour_features: torch.Tensor | None = None  # (N, 384) MiniLM features (minilm text branch)
    location_weights: torch.Tensor | None = None  # (n_loc, N) float, rows sum to 1
    # Location at inference: the checkpoint's cached encoding of each tweet's place.
    location_encodings: torch.Tensor | None = None  # (n_loc, dim)
    location_rows: torch.Tensor | None = None

    def to(self, device: torch.device) -> TweetTensors:
        """A copy on ``device``; lengths stay on the CPU."""
        moved: dict[str, torch.Tensor | None] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, torch.Tensor) and not f.name.endswith("_lengths"):
                moved[f.name] = value.to(device, non_blocking=True)
        return replace(self, **moved)  # type: ignore[arg-type]
