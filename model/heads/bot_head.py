"""Bot detection from a user's recent tweets (paper, "Bot detection").

A user is up to ``n_recent`` of their most recent tweets, each as its tweet-average embedding, an
(n_u, dim) matrix. Two detectors, selectable when fitting:
- kNN (paper's simpler method): the user's mean vector against labelled training users by cosine;
  the score is the similarity-weighted share of bots among the k nearest (k=1 in the paper);
- CNN (paper's other method): Kim's sentence CNN with the tweets in place of words;
- forest (not in the paper): a random forest over statistics of the user's tweets, see bot_forest.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from model.heads.vector_index import normalise_rows

if TYPE_CHECKING:
    from model.heads.bot_forest import ForestBotDetector
    from model.heads.bot_selected import SelectedBotDetector

META_FILE = "bots.json"
KNN_FILE = "bots_knn.npz"
CNN_FILE = "bots_cnn.safetensors"
DEFAULT_N_RECENT = 10


class BotDetector(Protocol):
    threshold: float
    n_recent: int

    def score(self, user_tweet_averages: Sequence[NDArray[np.floating]]) -> NDArray[np.float64]: ...


def user_mean_vectors(user_tweet_averages: Sequence[NDArray[np.floating]], dim: int) -> NDArray[np.float32]:
    """(U, dim) unit-length mean of each user's tweet vectors (zero rows for users without tweets)."""
    out = np.zeros((len(user_tweet_averages), dim), dtype=np.float32)
    for i, rows in enumerate(user_tweet_averages):
        m = np.asarray(rows, dtype=np.float32).reshape(-1, dim)
        if len(m):
            mean = m.mean(axis=0)
            out[i] = mean / max(float(np.linalg.norm(mean)), 1e-12)
    return out


class KnnBotDetector:
    def __init__(
        self,
        user_vectors: NDArray[np.floating],
        labels: NDArray[np.integer],
        k: int = 1,
        n_recent: int = DEFAULT_N_RECENT,
        threshold: float = 0.5,
    ) -> None:
        if len(user_vectors) != len(labels) or len(labels) == 0:
            raise ValueError("kNN bot head needs one label per training user, and at least one user")
        self.vectors = normalise_rows(user_vectors)  # (U_train, dim)
        self.labels = np.asarray(labels, dtype=np.int64)  # (U_train,) 1 = bot
        self.k = max(1, min(int(k), len(self.labels)))
        self.n_recent = n_recent
        self.threshold = threshold

    def score(self, user_tweet_averages: Sequence[NDArray[np.floating]]) -> NDArray[np.float64]:
        queries = user_mean_vectors(user_tweet_averages, self.vectors.shape[1])  # (U, dim)
        sims = queries @ self.vectors.T  # (U, U_train)
        top = np.argpartition(-sims, self.k - 1, axis=1)[:, : self.k]  # (U, k)
        top_sims = np.take_along_axis(sims, top, axis=1)  # (U, k)
        # Negative cosines would flip a neighbour's vote, so weights are clipped at a small positive floor.
        weights = np.clip(top_sims, 1e-6, None).astype(np.float64)
        votes = self.labels[top].astype(np.float64)  # (U, k)
        return np.asarray((weights * votes).sum(axis=1) / weights.sum(axis=1), dtype=np.float64)

    def save(self, heads_dir: Path) -> None:
        np.savez(heads_dir / KNN_FILE, vectors=self.vectors, labels=self.labels)
        meta = {"kind": "knn", "k": self.k, "n_recent": self.n_recent, "threshold": self.threshold}
        (heads_dir / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, heads_dir: Path, meta: dict[str, Any]) -> KnnBotDetector:
        with np.load(heads_dir / KNN_FILE, allow_pickle=False) as data:
            return cls(
                data["vectors"],
                data["labels"],
                int(meta["k"]),
                int(meta["n_recent"]),
                float(meta["threshold"]),
            )


class KimCnn(nn.Module):
    """Kim (2014) text CNN over a user's (n, dim) tweet matrix: parallel convolutions along the
    tweet axis, max-pooled over time, concatenated, dropout, one logit (bot)."""

    def __init__(
        self, dim: int, windows: Sequence[int] = (2, 3, 4), feature_maps: int = 300, dropout: float = 0.5
    ) -> None:
        super().__init__()
        self.windows = tuple(windows)
        self.convs = nn.ModuleList(nn.Conv1d(dim, feature_maps, w) for w in self.windows)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(feature_maps * len(self.windows), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.transpose(1, 2)  # (B, dim, n)
        pooled = [torch.relu(conv(x)).amax(dim=2) for conv in self.convs]  # each (B, maps)
        logits: torch.Tensor = self.out(self.dropout(torch.cat(pooled, dim=1)))  # (B, 1)
        return logits.squeeze(1)  # (B,)


def pad_users(user_tweet_averages: Sequence[NDArray[np.floating]], n: int, dim: int) -> NDArray[np.float32]:
    """(U, n, dim): each user's first n tweet vectors (most recent first), zero-padded at the end."""
    out = np.zeros((len(user_tweet_averages), n, dim), dtype=np.float32)
    for i, rows in enumerate(user_tweet_averages):
        m = np.asarray(rows, dtype=np.float32).reshape(-1, dim)[:n]
        out[i, : len(m)] = m
    return out


class CnnBotDetector:
    def __init__(
        self, net: KimCnn, dim: int, n_recent: int = DEFAULT_N_RECENT, threshold: float = 0.5
    ) -> None:
        self.net = net.eval()
        self.dim = dim
        self.n_recent = n_recent
        self.threshold = threshold
        # The widest window must fit, so short histories are padded up to it.
        self.length = max(n_recent, max(net.windows))

    @torch.no_grad()
    def score(self, user_tweet_averages: Sequence[NDArray[np.floating]]) -> NDArray[np.float64]:
        if not user_tweet_averages:
            return np.zeros(0, dtype=np.float64)
        x = torch.from_numpy(pad_users(user_tweet_averages, self.length, self.dim))  # (U, n, dim)
        return torch.sigmoid(self.net(x)).double().numpy()

    def save(self, heads_dir: Path) -> None:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in self.net.state_dict().items()}, str(heads_dir / CNN_FILE))
        meta = {
            "kind": "cnn",
            "dim": self.dim,
            "n_recent": self.n_recent,
            "threshold": self.threshold,
            "windows": list(self.net.windows),
            "feature_maps": self.net.out.in_features // len(self.net.windows),
        }
        (heads_dir / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, heads_dir: Path, meta: dict[str, Any]) -> CnnBotDetector:
        from safetensors.torch import load_file

        net = KimCnn(int(meta["dim"]), tuple(meta["windows"]), int(meta["feature_maps"]))
        net.load_state_dict(load_file(str(heads_dir / CNN_FILE)))
        return cls(net, int(meta["dim"]), int(meta["n_recent"]), float(meta["threshold"]))


def load_bot_detector(
    heads_dir: Path,
) -> KnnBotDetector | CnnBotDetector | ForestBotDetector | SelectedBotDetector:
    """The detector bots.json names ("kind"; files written before the key existed are kNN)."""
    meta = json.loads((heads_dir / META_FILE).read_text(encoding="utf-8"))
    kind = meta.get("kind", "knn")
    if kind == "selected":
        from model.heads.bot_selected import SelectedBotDetector

        return SelectedBotDetector.load(heads_dir)
    if kind == "cnn":
        return CnnBotDetector.load(heads_dir, meta)
    if kind == "forest":
        # Imported here: bot_forest imports this module's constants.
        from model.heads.bot_forest import ForestBotDetector

        return ForestBotDetector.load(heads_dir, meta)
    if kind == "knn":
        return KnnBotDetector.load(heads_dir, meta)
    raise ValueError(f"unknown bot head kind in {META_FILE}: {kind!r}")
