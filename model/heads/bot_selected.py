"""The served bot detector chosen by cross-validation (training/heads/select_bots.py).

It holds the fitted feature builder (model/heads/bot_features.py), the chosen candidate (a
HistGradientBoosting model or random forest over some feature groups, a stack of the per-group
models, or the paper's kNN / CNN) and one model per feature group for the sub-scores, each with a
sigmoid (Platt) calibration fitted on its out-of-fold scores of the training users, and the threshold
that maximised F1 on the chosen one's calibrated out-of-fold scores. Saved as one joblib file, loaded
only after the manifest check (a pickle).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from model.heads.bot_features import GROUPS, BotUser, ContentFeatures, feature_groups

SELECTED_FILE = "bots_selected.joblib"
META_FILE = "bots.json"
PAPER_RECENT = 10
"""The paper's kNN and CNN see a user's 10 most recent tweets, as in the paper."""


@dataclass
class BotScore:
    probability: float  # calibrated P(bot)
    subscores: dict[str, float]  # feature group -> calibrated P(bot) from that group alone
    tweets_used: int


@dataclass(frozen=True)
class SigmoidCalibrator:
    """Platt scaling on the logit of a raw score: P(bot) = sigmoid(a * logit(raw) + b). Monotone, so
    a detector's ranking (its ROC AUC) is what it was before calibration."""

    a: float
    b: float

    @staticmethod
    def logit(raw: NDArray[np.floating]) -> NDArray[np.float64]:
        p = np.clip(np.asarray(raw, dtype=np.float64), 1e-6, 1 - 1e-6)
        return np.asarray(np.log(p / (1 - p)), dtype=np.float64)

    def predict(self, raw: NDArray[np.floating]) -> NDArray[np.float64]:
        return np.asarray(1.0 / (1.0 + np.exp(-(self.a * self.logit(raw) + self.b))), dtype=np.float64)


@dataclass
class FittedCandidate:
    """One detector: ``groups`` of features into a scikit-learn classifier, or (groups empty) a paper
    detector over tweet averages, or (``members`` given) a stack: ``model`` is a logistic regression
    over the logits of the members' raw scores. ``calibrator`` maps its raw score to a probability."""

    name: str
    groups: tuple[str, ...]
    model: Any
    calibrator: SigmoidCalibrator | None = None
    members: tuple[FittedCandidate, ...] = ()

    def raw(self, users: Sequence[BotUser], feats: Mapping[str, NDArray[np.float64]]) -> NDArray[np.float64]:
        if self.members:
            z = np.column_stack(
                [SigmoidCalibrator.logit(m.raw(users, feats)) for m in self.members]
            )  # (U, M)
            return np.asarray(
                self.model.predict_proba(z)[:, list(self.model.classes_).index(1)], dtype=np.float64
            )
        if not self.groups:
            return np.asarray(self.model.score([u.averages[:PAPER_RECENT] for u in users]), dtype=np.float64)
        x = np.hstack([feats[g] for g in self.groups])  # (U, F)
        proba = self.model.predict_proba(x)[:, list(self.model.classes_).index(1)]
        return np.asarray(proba, dtype=np.float64)

    def proba(
        self, users: Sequence[BotUser], feats: Mapping[str, NDArray[np.float64]]
    ) -> NDArray[np.float64]:
        raw = self.raw(users, feats)
        if self.calibrator is None:
            return raw
        return np.clip(np.asarray(self.calibrator.predict(raw), dtype=np.float64), 0.0, 1.0)


@dataclass
class SelectedBotDetector:
    dim: int
    n_recent: int  # tweets per user the features were fitted on (newest first)
    threshold: float
    chosen: FittedCandidate
    group_models: dict[str, FittedCandidate]
    content: ContentFeatures | None
    cv: dict[str, Any] = field(default_factory=dict)  # how the choice was made (CV figures)

    def features(
        self, users: Sequence[BotUser], posters: Sequence[Mapping[int, int]] | None
    ) -> dict[str, NDArray[np.float64]]:
        """Feature groups of each user's newest n_recent tweets; ``posters[i]`` the poster counts of
        user i's texts (a shared corpus counter serves every user)."""
        recent = [u.recent(self.n_recent) for u in users]
        merged: dict[int, int] | None = None
        if posters is not None:
            merged = {}
            for p in posters:
                merged.update(p)
        return feature_groups(recent, self.dim, self.content, merged)

    def explain(
        self, users: Sequence[BotUser], posters: Sequence[Mapping[int, int]] | None = None
    ) -> list[BotScore]:
        if not users:
            return []
        feats = self.features(users, posters)
        recent = [u.recent(self.n_recent) for u in users]
        prob = self.chosen.proba(recent, feats)  # (U,)
        subs = {g: m.proba(recent, feats) for g, m in self.group_models.items()}
        return [
            BotScore(float(prob[i]), {g: float(s[i]) for g, s in subs.items()}, len(recent[i].fields))
            for i in range(len(users))
        ]

    def score_users(
        self, users: Sequence[BotUser], posters: Sequence[Mapping[int, int]] | None = None
    ) -> NDArray[np.float64]:
        return np.array([s.probability for s in self.explain(users, posters)], dtype=np.float64)

    def describe(self) -> dict[str, Any]:
        """What /info and heads.json say about the detector."""
        return {
            "kind": "selected",
            "chosen": self.chosen.name,
            "threshold": self.threshold,
            "n_recent": self.n_recent,
            "calibration": "sigmoid (Platt) on out-of-fold scores",
            "groups": [g for g in GROUPS if g in self.group_models],
            "cv": self.cv,
        }

    def save(self, heads_dir: Path) -> None:
        import joblib

        joblib.dump(self, heads_dir / SELECTED_FILE, compress=3)
        (heads_dir / META_FILE).write_text(json.dumps(self.describe(), indent=2), encoding="utf-8")

    @classmethod
    def load(cls, heads_dir: Path) -> SelectedBotDetector:
        """Unpickles the detector: call only after the file's hash has been checked (see loader)."""
        import joblib

        detector = joblib.load(heads_dir / SELECTED_FILE)
        if not isinstance(detector, cls):
            raise ValueError(f"{SELECTED_FILE} does not hold a SelectedBotDetector")
        return detector
