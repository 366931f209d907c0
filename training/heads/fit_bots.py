"""Fitting the bot head: kNN over user mean vectors (paper, k=1) or Kim's CNN (paper's other method)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from numpy.typing import NDArray
from tqdm import tqdm

from model.heads.bot_head import CnnBotDetector, KimCnn, KnnBotDetector, pad_users, user_mean_vectors


def fit_knn(
    user_rows: Sequence[NDArray[np.floating]],
    labels: NDArray[np.integer],
    dim: int,
    k: int = 1,
    n_recent: int = 10,
) -> KnnBotDetector:
    return KnnBotDetector(user_mean_vectors(user_rows, dim), np.asarray(labels), k=k, n_recent=n_recent)


def fit_cnn(
    user_rows: Sequence[NDArray[np.floating]],
    labels: NDArray[np.integer],
    dim: int,
    n_recent: int = 10,
    windows: Sequence[int] = (2, 3, 4),
    feature_maps: int = 300,
    epochs: int = 30,
    lr: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
    progress: bool = True,
) -> CnnBotDetector:
    """Adam on binary cross-entropy. The paper balanced classes by duplicating minority users with
    other tweets; with at most n recent tweets per user here, the loss is class-weighted instead."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = KimCnn(dim, windows, feature_maps)
    length = max(n_recent, max(windows))
    x = torch.from_numpy(pad_users(user_rows, length, dim))  # (U, n, dim)
    y = torch.from_numpy(np.asarray(labels, dtype=np.float32))  # (U,)
    positives = float(y.sum())
    pos_weight = torch.tensor((len(y) - positives) / max(positives, 1.0))
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    optimiser = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=1e-4)
    net.train()
    for _ in tqdm(range(epochs), desc="bot CNN", unit="epoch", leave=False, disable=not progress):
        order = rng.permutation(len(y))
        for start in range(0, len(order), batch_size):
            idx = torch.from_numpy(order[start : start + batch_size])
            optimiser.zero_grad()
            loss = loss_fn(net(x[idx]), y[idx])
            loss.backward()
            optimiser.step()
    return CnnBotDetector(net, dim, n_recent=n_recent)
