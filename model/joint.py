"""The joint embedding model: five branches into one space, and the tweet average over them."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from model.branches import ImageBranch, ProjectionBranch, TextEncoder, l2_normalise
from model.config import ModelConfig
from model.tweet_tensors import TweetTensors


@dataclass
class JointOutput:
    components: dict[str, torch.Tensor]  # component -> (B, dim) float32, zero rows where absent
    present: dict[str, torch.Tensor]  # component -> (B,) bool
    average: torch.Tensor  # (B, dim) L2-normalised mean of the present components; zero if none
    has_any: torch.Tensor  # (B,) bool: the tweet has at least one component


class JointEmbeddingModel(nn.Module):
    """Branches exist only for ``config.components``; a component subset trains the same model on fewer
    components (the VSE++-style ablations)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        comps = set(config.components)
        self.text: TextEncoder | None = (
            TextEncoder(config.vocab_size, config.word_dim, config.dim, config.gru_layers)
            if "text" in comps and config.text_encoder == "gru"
            else None
        )
        # The minilm text branch: frozen MiniLM features (computed outside) -> a small trained network.
        self.text_head: ProjectionBranch | None = (
            ProjectionBranch(config.text_feature_dim, config.dim, config.text_hidden)
            if "text" in comps and config.text_encoder == "minilm"
            else None
        )
        self.image: ImageBranch | None = (
            ImageBranch(config.image_feature_dim, config.dim, convnet=config.image_encoder == "convnet")
            if "image" in comps
            else None
        )
        self.hashtags: ProjectionBranch | None = (
            ProjectionBranch(config.hashtag_input_dim, config.dim) if "hashtags" in comps else None
        )
        self.user: ProjectionBranch | None = (
            ProjectionBranch(config.user_dim, config.dim) if "user" in comps else None
        )

    def encode_texts(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if self.text is None:
            raise RuntimeError("this model has no GRU text branch")
        encoded: torch.Tensor = self.text(tokens, lengths)  # (N, dim)
        return encoded

    def encode_text_features(self, features: torch.Tensor) -> torch.Tensor:
        """(N, dim) from (N, 384) MiniLM features (the minilm text branch)."""
        if self.text_head is None:
            raise RuntimeError("this model has no MiniLM text branch")
        encoded: torch.Tensor = self.text_head(features.float())
        return encoded

    def encode_locations(
        self,
        neighbour_tokens: torch.Tensor | None,
        neighbour_lengths: torch.Tensor | None,
        weights: torch.Tensor,
        neighbour_features: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(n_loc, dim): each row the normalised weighted mean of the neighbour text encodings."""
        if neighbour_features is not None:
            encoded = self.encode_text_features(neighbour_features)  # (N, dim)
        else:
            assert neighbour_tokens is not None and neighbour_lengths is not None
            encoded = self.encode_texts(neighbour_tokens, neighbour_lengths)  # (N, dim)
        return l2_normalise(weights.float() @ encoded)  # (n_loc, dim)

    def forward(self, batch: TweetTensors) -> JointOutput:
        outputs: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # component -> (rows, (n, dim))
        if self.text is not None and batch.text_tokens is not None and batch.text_rows is not None:
            assert batch.text_lengths is not None
            outputs["text"] = (batch.text_rows, self.text(batch.text_tokens, batch.text_lengths))
        if self.text_head is not None and batch.text_features is not None and batch.text_rows is not None:
            outputs["text"] = (batch.text_rows, self.text_head(batch.text_features.float()))
        if self.image is not None and batch.image_inputs is not None and batch.image_rows is not None:
            outputs["image"] = (batch.image_rows, self.image(batch.image_inputs))
        if self.hashtags is not None and batch.hashtag_vectors is not None and batch.hashtag_rows is not None:
            outputs["hashtags"] = (batch.hashtag_rows, self.hashtags(batch.hashtag_vectors))
        if self.user is not None and batch.user_vectors is not None and batch.user_rows is not None:
            outputs["user"] = (batch.user_rows, self.user(batch.user_vectors))
        if "location" in self.config.components and batch.location_rows is not None:
            if batch.location_encodings is not None:
                outputs["location"] = (batch.location_rows, l2_normalise(batch.location_encodings))
            elif batch.location_weights is not None and (
                batch.neighbour_tokens is not None or batch.neighbour_features is not None
            ):
                outputs["location"] = (
                    batch.location_rows,
                    self.encode_locations(
                        batch.neighbour_tokens,
                        batch.neighbour_lengths,
                        batch.location_weights,
                        batch.neighbour_features,
                    ),
                )
        return assemble(outputs, batch.size, self.config)


def assemble(
    outputs: dict[str, tuple[torch.Tensor, torch.Tensor]], size: int, config: ModelConfig
) -> JointOutput:
    """Scatter each component's rows into (B, dim) and average over the components each tweet has."""
    device = next(iter(outputs.values()))[1].device if outputs else torch.device("cpu")
    components: dict[str, torch.Tensor] = {}
    present: dict[str, torch.Tensor] = {}
    for name in config.components:
        mask = torch.zeros(size, dtype=torch.bool, device=device)
        dense = torch.zeros(size, config.dim, device=device)
        if name in outputs:
            rows, emb = outputs[name]
            dense = dense.index_copy(0, rows, emb.float())  # differentiable scatter
            mask[rows] = True
        components[name] = dense
        present[name] = mask
    average = tweet_average(components, present, size, config.dim)
    return JointOutput(components, present, average, torch.stack(list(present.values())).any(0))


def tweet_average(
    components: dict[str, torch.Tensor], present: dict[str, torch.Tensor], size: int, dim: int
) -> torch.Tensor:
    """(B, dim) L2-normalised mean of each tweet's present components (the paper's tweet embedding);
    zero rows where a tweet has none. Absent rows of ``components`` must be zero."""
    device = next(iter(components.values())).device if components else torch.device("cpu")
    total = torch.zeros(size, dim, device=device)  # (B, dim)
    count = torch.zeros(size, device=device)  # (B,)
    for name, dense in components.items():
        total = total + dense
        count = count + present[name].float()
    return l2_normalise(total / count.clamp(min=1.0).unsqueeze(1))
