"""Inference: load a verified checkpoint and embed tweets, texts and hashtags (CPU or GPU).

Imports nothing from training/. Place encodings are read from the checkpoint, never recomputed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from model import checkpoint as ck
from model import image_encoders
from model.config import ModelConfig
from model.embedding_batch import EmbeddingBatch
from model.featurize import (
    Featurizer,
    TweetFeatures,
    image_pixels,
    open_image,
    pad_tokens,
)
from model.image_input import check_encoder_pixels
from model.joint import JointEmbeddingModel
from model.places import PlaceEncodings
from model.pretrained import check_record
from model.record import Tweet
from model.text_encoders import MINILM, MiniLMEncoder, has_sentence, hashtag_sentence, sentence_text
from model.tokenizer import Vocabulary
from model.user_vectors import UserVectors
from model.word_vectors import WordVectors


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when available; asking for CUDA without one is an error, not a fallback."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but CUDA is not available")
    return resolved


class TweetEmbedder:
    config: ModelConfig
    device: torch.device
    checkpoint_digest: str

    def __init__(
        self,
        model: JointEmbeddingModel,
        featurizer: Featurizer,
        device: torch.device,
        checkpoint_digest: str,
        fp16: bool = False,
        batch_size: int = 128,
    ) -> None:
        self.model = model.to(device).eval()
        self.featurizer = featurizer
        self.config = model.config
        self.device = device
        self.checkpoint_digest = checkpoint_digest
        self.fp16 = fp16 and device.type == "cuda"  # CPU half precision is slower, not faster
        self.batch_size = batch_size
        self.image_input = image_encoders.input_spec(self.config.image_encoder, self.config.image_size)
        # A frozen pretrained image encoder (ResNet, EfficientNet-Lite0) runs here; the small CNN is
        # part of the model.
        self._resnet: torch.nn.Module | None = None
        self._resnet_transform: Callable[[Image.Image], torch.Tensor] | None = None
        if "image" in self.config.components and self.config.image_encoder != "convnet":
            if self.config.image_encoder == "efficientnet_lite0":
                check_record(image_encoders.EFFICIENTNET_LITE0, self.config.image_weights)
            self._resnet = image_encoders.build_frozen_encoder(self.config.image_encoder).to(device).eval()
            self._resnet_transform = image_encoders.transform(self.image_input)
        # The minilm text branch: the frozen MiniLM runs here on request texts, from the verified
        # package (the checkpoint records which weights; it does not copy them).
        self._minilm: MiniLMEncoder | None = None
        if self.config.text_encoder == "minilm" and (
            "text" in self.config.components or self.config.hashtag_encoder == "minilm"
        ):
            check_record(MINILM, self.config.text_weights)
            self._minilm = MiniLMEncoder(device=device)

    @classmethod
    def load(
        cls, checkpoint: Path | ck.VerifiedCheckpoint, device: str = "auto", fp16: bool = False
    ) -> TweetEmbedder:
        """A plain path is verified first, before anything else is read; a VerifiedCheckpoint was."""
        verified = ck.verify_checkpoint(checkpoint)
        path = verified.path
        try:
            config = ModelConfig.load(path / ck.CONFIG)
        except (OSError, ValueError, TypeError) as exc:
            raise ck.CheckpointError(f"{path / ck.CONFIG}: {exc}") from exc
        comps = set(config.components)
        vocab = Vocabulary.load(path / ck.VOCAB)
        word_vectors = (
            WordVectors.load(path / ck.WORD_VECTORS)
            if "hashtags" in comps and config.hashtag_encoder == "fasttext"
            else None
        )
        user_vectors = (
            UserVectors.load(path / ck.USER_VECTORS, path / ck.USER_IDS) if "user" in comps else None
        )
        place_encodings = (
            PlaceEncodings.load(path / ck.PLACE_ENCODINGS, path / ck.PLACE_IDS)
            if "location" in comps
            else None
        )
        resolved = resolve_device(device)
        model = JointEmbeddingModel(config)
        ck.load_weights(model, path / ck.MODEL_WEIGHTS)
        featurizer = Featurizer(
            config, vocab, word_vectors, user_vectors, places=None, place_encodings=place_encodings
        )
        return cls(model, featurizer, resolved, verified.digest, fp16=fp16)

    # What a server asks of any embedder (in this process or behind a pipe): app/engine/backend.py.
    processes = 0  # the forward pass runs in the caller's process
    alive = True  # nothing here can die on its own

    @property
    def device_name(self) -> str:
        return str(self.device)

    def close(self) -> None:
        """Nothing to release: the model lives and goes with this process."""

    # ---- queries ---------------------------------------------------------------------------------
    def knows_user(self, user_id: str | None) -> bool:
        vectors = self.featurizer.user_vectors
        return vectors is not None and vectors.row(user_id) is not None

    def knows_place(self, place_id: str | None) -> bool:
        return self.featurizer.knows_place(place_id)

    @torch.no_grad()
    def embed(
        self, tweets: Sequence[Tweet], images: Sequence[Image.Image | np.ndarray | None] | None = None
    ) -> EmbeddingBatch:
        """Embed tweets; ``images[i]``, when given and not None, overrides ``tweets[i].image``: a PIL
        image, or uint8 (S, S, 3) pixels already at the encoder's size (model.image_input)."""
        if images is not None and len(images) != len(tweets):
            raise ValueError(f"{len(images)} images for {len(tweets)} tweets")
        parts = []
        for start in range(0, len(tweets), self.batch_size):
            chunk = tweets[start : start + self.batch_size]
            chunk_images = images[start : start + self.batch_size] if images is not None else None
            parts.append(self._embed_chunk(chunk, chunk_images))
        if not parts:
            dim = self.config.dim
            return EmbeddingBatch(
                {c: np.zeros((0, dim), np.float32) for c in self.config.components},
                {c: np.zeros(0, bool) for c in self.config.components},
                np.zeros((0, dim), np.float32),
            )
        return EmbeddingBatch.concat(parts)

    @torch.no_grad()
    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(N, dim) text-branch embeddings (an empty text embeds as the unknown word)."""
        if self._minilm is not None and self.model.text_head is not None:
            return self._minilm_texts([sentence_text(t) for t in texts])
        if self.model.text is None:
            raise ValueError("this checkpoint has no text branch")
        out = []
        for start in range(0, len(texts), self.batch_size):
            tokens, lengths = pad_tokens(
                [
                    self.featurizer.vocab.encode(t, self.config.max_tokens)
                    for t in texts[start : start + self.batch_size]
                ]
            )
            with self._autocast():
                out.append(self.model.encode_texts(tokens.to(self.device), lengths).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.config.dim), np.float32)

    @torch.no_grad()
    def embed_hashtags(self, tags: Sequence[str]) -> np.ndarray:
        """(N, dim) hashtag-branch embeddings, one tag a row (unseen tags via fastText subwords)."""
        if self.model.hashtags is None:
            raise ValueError("this checkpoint has no hashtag branch")
        if not tags:
            return np.zeros((0, self.config.dim), np.float32)
        if self.config.hashtag_encoder == "minilm" and self._minilm is not None:
            features = self._minilm.encode([hashtag_sentence([t]) for t in tags])  # (N, 384)
            with self._autocast():
                tag_emb: torch.Tensor = self.model.hashtags(torch.from_numpy(features).to(self.device))
            tag_out: np.ndarray = tag_emb.float().cpu().numpy()
            return tag_out
        if self.featurizer.word_vectors is None:
            raise ValueError("this checkpoint has no hashtag branch")
        wv = self.featurizer.word_vectors
        rows = [wv.hashtag_mean([t]) for t in tags]
        vectors = np.stack([r if r is not None else np.zeros(wv.dim, np.float32) for r in rows])
        with self._autocast():
            emb: torch.Tensor = self.model.hashtags(torch.from_numpy(vectors).to(self.device))
        out: np.ndarray = emb.float().cpu().numpy()
        return out

    def remember_sentences(self, sentences: Sequence[str], features: np.ndarray) -> int:
        """Seed the MiniLM branch with features computed earlier (prepare's); returns how many.
        A checkpoint without MiniLM ignores them."""
        if self._minilm is None:
            return 0
        self._minilm.remember(sentences, features)
        return len(sentences)

    # ---- internals -------------------------------------------------------------------------------
    def _minilm_texts(self, sentences: Sequence[str]) -> np.ndarray:
        assert self._minilm is not None
        out = []
        for start in range(0, len(sentences), self.batch_size):
            features = self._minilm.encode(sentences[start : start + self.batch_size])  # (n, 384)
            with self._autocast():
                out.append(
                    self.model.encode_text_features(torch.from_numpy(features).to(self.device))
                    .float()
                    .cpu()
                    .numpy()
                )
        return np.concatenate(out) if out else np.zeros((0, self.config.dim), np.float32)

    def _sentence_features(
        self, tweets: Sequence[Tweet]
    ) -> tuple[list[np.ndarray | None], list[np.ndarray | None]]:
        """MiniLM features of each tweet's text and of its hashtags (None where absent), one batch each."""
        texts: list[np.ndarray | None] = [None] * len(tweets)
        tags: list[np.ndarray | None] = [None] * len(tweets)
        if self._minilm is None:
            return texts, tags
        if "text" in self.config.components:
            rows = [i for i, t in enumerate(tweets) if has_sentence(t.text)]
            for i, vector in zip(
                rows, self._minilm.encode([sentence_text(tweets[i].text) for i in rows]), strict=True
            ):
                texts[i] = vector
        if "hashtags" in self.config.components and self.config.hashtag_encoder == "minilm":
            rows = [i for i, t in enumerate(tweets) if t.hashtags]
            for i, vector in zip(
                rows, self._minilm.encode([hashtag_sentence(tweets[i].hashtags) for i in rows]), strict=True
            ):
                tags[i] = vector
        return texts, tags

    def _autocast(self) -> contextlib.AbstractContextManager[None]:
        if self.fp16:
            return torch.autocast(device_type="cuda", dtype=torch.float16)
        return contextlib.nullcontext()

    def _image_input(
        self, tweet: Tweet, override: Image.Image | np.ndarray | None
    ) -> np.ndarray | torch.Tensor | None:
        if "image" not in self.config.components:
            return None
        if isinstance(override, np.ndarray):
            pixels = check_encoder_pixels(override, self.config)  # (3, S, S) uint8
            if self._resnet_transform is not None:  # normalised as the encoder's transform would have
                spec = self.image_input
                mean = torch.tensor(spec.mean).view(3, 1, 1)
                std = torch.tensor(spec.std).view(3, 1, 1)
                return (torch.from_numpy(pixels).float() / 255.0 - mean) / std  # (3, S, S)
            return pixels
        image = open_image(override if override is not None else tweet.image)
        if image is None:
            return None
        if self._resnet_transform is not None:
            return self._resnet_transform(image)  # (3, H, W) float, normalised
        return image_pixels(image, self.config.image_size)  # (3, H, W) uint8

    def _embed_chunk(
        self, tweets: Sequence[Tweet], images: Sequence[Image.Image | np.ndarray | None] | None
    ) -> EmbeddingBatch:
        text_features, tag_features = self._sentence_features(tweets)
        feats: list[TweetFeatures] = [
            self.featurizer.features(
                t,
                self._image_input(t, images[i] if images is not None else None),
                text_features[i],
                tag_features[i],
            )
            for i, t in enumerate(tweets)
        ]
        batch = self.featurizer.collate(feats).to(self.device)
        with self._autocast():
            if self._resnet is not None and batch.image_inputs is not None:
                batch.image_inputs = self._resnet(batch.image_inputs).float()  # (n_img, F)
            out = self.model(batch)
        return EmbeddingBatch(
            components={k: v.float().cpu().numpy() for k, v in out.components.items()},
            present={k: v.cpu().numpy() for k, v in out.present.items()},
            average=out.average.float().cpu().numpy(),
        )
