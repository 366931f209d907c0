"""The Backend over a trained checkpoint: model.embedder.TweetEmbedder plus model.heads.load_heads.

model/ is imported inside ``load`` so that the service (and its tests on the FakeBackend) import
without torch or a checkpoint; this is also the one place that knows DESIGN.md's inference API.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from app.backend import HEAD_NAMES, BotExplanation, EmbeddingResult
from model.heads.bot_features import BotUser
from model.heads.location_head import PlaceGuess
from model.record import Tweet

log = logging.getLogger(__name__)


def apply_torch_threads(threads: int) -> int:
    """Set torch's intra-op (and, where still possible, inter-op) thread count; returns the intra-op
    count in force. The service loads on its forward thread, so this runs there before the first forward
    pass; threads torch starts later read the same global count."""
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError as exc:
        # Allowed once per process and only before any inter-op work: a second app in one process (tests)
        # or an earlier torch call already fixed it, and the intra-op count is what the forward pass uses.
        log.debug("torch inter-op threads left as they are: %s", exc)
    return int(torch.get_num_threads())


class ModelBackend:
    kind = "model"

    def __init__(self, embedder: Any, heads: Any, path: Path) -> None:
        self.embedder = embedder
        self.heads = heads
        self.path = path
        self.components: tuple[str, ...] = tuple(embedder.config.components)
        self.dim = int(embedder.config.dim)
        self.checkpoint_digest = str(embedder.checkpoint_digest)

    @classmethod
    def load(
        cls,
        path: Path,
        device: str = "auto",
        fp16: bool = False,
        torch_threads: int | None = None,
        model_process: bool = False,
        model_processes: int = 1,
    ) -> ModelBackend:
        """Load the checkpoint (its manifest verified by the loaders) and every head it has.

        ``torch_threads`` (None: torch's default) is applied once, to the process that runs forward
        passes. With ``model_process`` that is each of ``model_processes`` child processes
        (app/model_process.py) and this one keeps a single torch thread for the heads; otherwise it is
        this process."""
        from model.heads.loader import load_heads

        embedder: Any
        if model_process:
            from app.model_process import ModelProcessPool

            apply_torch_threads(1)
            embedder = ModelProcessPool(
                path, model_processes, device=device, fp16=fp16, torch_threads=torch_threads
            )
            log.info(
                "%d model process(es) started; torch threads in each: %d",
                embedder.processes,
                embedder.torch_threads,
            )
        else:
            from model.embedder import TweetEmbedder

            if torch_threads is not None:
                in_force = apply_torch_threads(torch_threads)
                log.info("torch threads: %d", in_force)
            embedder = TweetEmbedder.load(path, device=device, fp16=fp16)
        try:
            heads = load_heads(path)
        except BaseException:
            cls._close_embedder(embedder)
            raise
        return cls(embedder, heads, path)

    @staticmethod
    def _close_embedder(embedder: Any) -> None:
        close = getattr(embedder, "close", None)
        if close is not None:
            close()

    @property
    def alive(self) -> bool:
        """In-process embedders cannot die on their own; a model process can."""
        return bool(getattr(self.embedder, "alive", True))

    def close(self) -> None:
        """Stop the model process, if the forward pass runs in one."""
        self._close_embedder(self.embedder)

    def _model_batch(self, batch: EmbeddingResult) -> Any:
        # The heads are typed on the model's EmbeddingBatch; the service's rows may come from the cache.
        from model.embedding_batch import EmbeddingBatch

        return EmbeddingBatch(components=batch.components, present=batch.present, average=batch.average)

    def embed(self, tweets: Sequence[Tweet], images: Sequence[np.ndarray | None]) -> EmbeddingResult:
        out = self.embedder.embed(list(tweets), list(images))
        return EmbeddingResult(
            components={c: np.asarray(v, np.float32) for c, v in out.components.items()},
            present={c: np.asarray(p, bool) for c, p in out.present.items()},
            average=np.asarray(out.average, np.float32),
        )

    def heads_available(self) -> dict[str, bool]:
        return {name: getattr(self.heads, name, None) is not None for name in HEAD_NAMES}

    def recommend_hashtags(
        self, batch: EmbeddingResult, k: int, exclude: list[set[str]] | None
    ) -> list[list[tuple[str, float]]]:
        result = self.heads.hashtags.recommend(self._model_batch(batch), k, exclude_own=exclude)
        return [[(str(tag), float(score)) for tag, score in row] for row in result]

    def predict_location(
        self, batch: EmbeddingResult, profile_locations: Sequence[str | None], k: int
    ) -> list[list[PlaceGuess]]:
        n = len(batch)
        profile = np.zeros((n, self.dim), np.float32)  # (N, dim)
        profile_present = np.zeros(n, bool)  # (N,)
        rows = [i for i, text in enumerate(profile_locations) if text and text.strip()]
        if rows and "text" in self.embedder.config.components:  # profiles go through the text branch
            profile[rows] = self.embedder.embed_texts([profile_locations[i] for i in rows])  # (R, dim)
            profile_present[rows] = True
        guesses = self.heads.location.predict(self._model_batch(batch), profile, profile_present, k)
        return [
            [
                PlaceGuess(
                    str(g.place_id),
                    str(g.name),
                    float(g.probability),
                    None if g.lat is None else float(g.lat),
                    None if g.lon is None else float(g.lon),
                )
                for g in row
            ]
            for row in guesses
        ]

    @property
    def bot_threshold(self) -> float:
        return float(self.heads.bots.threshold)

    @property
    def bot_recent_tweets(self) -> int:
        return int(self.heads.bots.n_recent)

    def bot_scores(self, user_tweet_averages: list[np.ndarray]) -> np.ndarray:
        from model.heads.bot_selected import SelectedBotDetector

        if isinstance(self.heads.bots, SelectedBotDetector):
            raise TypeError("the selected bot detector needs the tweets' fields: use bot_explain")
        return np.asarray(self.heads.bots.score(user_tweet_averages), np.float64)

    def bot_explain(self, user: BotUser, posters: dict[int, int]) -> BotExplanation:
        from model.heads.bot_selected import SelectedBotDetector

        bots = self.heads.bots
        n = int(bots.n_recent)
        if isinstance(bots, SelectedBotDetector):
            scored = bots.explain([user], [posters])[0]
            return BotExplanation(
                scored.probability, scored.subscores, scored.tweets_used, n, bots.chosen.name, True
            )
        score = float(bots.score([user.averages[:n]])[0])
        kind = type(bots).__name__.removesuffix("BotDetector").lower()
        return BotExplanation(score, {}, min(n, len(user.fields)), n, kind, False)

    def search(self, index: str, queries: list[np.ndarray], k: int) -> list[list[tuple[str, float]]]:
        head = self.heads.image_index if index == "image" else self.heads.text_index
        return [[(str(i), float(s)) for i, s in row] for row in head.search(queries, k)]

    def info(self) -> dict[str, Any]:
        return {
            "config": self.embedder.config.to_json(),
            "device": str(self.embedder.device),
            "fp16": bool(getattr(self.embedder, "fp16", False)),
            "checkpoint": str(self.path),
            "model_process": hasattr(self.embedder, "close"),
            "model_processes": int(getattr(self.embedder, "processes", 0)),
            "bot_detector": self._bot_detector(),
        }

    def _bot_detector(self) -> dict[str, Any] | None:
        bots = self.heads.bots
        if bots is None:
            return None
        describe = getattr(bots, "describe", None)
        if describe is not None:
            return dict(describe())
        return {
            "kind": type(bots).__name__,
            "threshold": float(bots.threshold),
            "n_recent": int(bots.n_recent),
        }
