"""The Backend over a trained checkpoint: an Embedder (model.embedder.TweetEmbedder, or the
model-process pool) plus model.heads.load_heads.

model/ is imported inside ``load`` so that the service (and its tests on the FakeBackend) import
without torch or a checkpoint; this is also the one place that knows DESIGN.md's inference API.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from app.engine.backend import HEAD_NAMES, BotExplanation, Embedder
from app.engine.errors import HeadMissingError
from model.embedding_batch import EmbeddingBatch
from model.heads.bot_features import BotUser
from model.heads.location_head import LocationContext, PlaceGuess, profile_inputs
from model.record import Tweet

if TYPE_CHECKING:
    from model.heads.bot_forest import ForestBotDetector
    from model.heads.bot_head import CnnBotDetector, KnnBotDetector
    from model.heads.bot_selected import SelectedBotDetector
    from model.heads.loader import Heads

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


def _missing(name: str) -> HeadMissingError:
    # The service checks heads_available first; this is what the types need.
    return HeadMissingError(f"this checkpoint has no '{name}' head (run `tweetembed build-heads`)")


class ModelBackend:
    kind = "model"

    def __init__(self, embedder: Embedder, heads: Heads, path: Path) -> None:
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
        """Load the checkpoint and every head it has, its manifest verified once, here.

        ``torch_threads`` (None: torch's default) is applied once, to the process that runs forward
        passes. With ``model_process`` that is each of ``model_processes`` child processes
        (app/engine/model_process.py), which receive the verified checkpoint and do not hash it again,
        and this one keeps a single torch thread for the heads; otherwise it is this process."""
        from model.checkpoint import verify_checkpoint
        from model.heads.loader import load_heads

        checkpoint = verify_checkpoint(path)
        embedder: Embedder
        if model_process:
            from app.engine.model_process import ModelProcessPool

            apply_torch_threads(1)
            pool = ModelProcessPool(
                checkpoint, model_processes, device=device, fp16=fp16, torch_threads=torch_threads
            )
            log.info(
                "%d model process(es) started; torch threads in each: %d",
                pool.processes,
                pool.torch_threads,
            )
            embedder = pool
        else:
            from model.embedder import TweetEmbedder

            if torch_threads is not None:
                in_force = apply_torch_threads(torch_threads)
                log.info("torch threads: %d", in_force)
            embedder = TweetEmbedder.load(checkpoint, device=device, fp16=fp16)
        try:
            heads = load_heads(checkpoint)
        except BaseException:
            embedder.close()
            raise
        return cls(embedder, heads, path)

    @property
    def alive(self) -> bool:
        """In-process embedders cannot die on their own; a model process can."""
        return self.embedder.alive

    def close(self) -> None:
        """Stop the model process, if the forward pass runs in one."""
        self.embedder.close()

    def embed(self, tweets: Sequence[Tweet], images: Sequence[np.ndarray | None]) -> EmbeddingBatch:
        return self.embedder.embed(tweets, images)

    def heads_available(self) -> dict[str, bool]:
        return {name: getattr(self.heads, name, None) is not None for name in HEAD_NAMES}

    def recommend_hashtags(
        self,
        batch: EmbeddingBatch,
        k: int,
        exclude: list[set[str]] | None,
        authors: list[str | None] | None = None,
    ) -> list[list[tuple[str, float]]]:
        head = self.heads.hashtags
        if head is None:
            raise _missing("hashtags")
        result = head.recommend(batch, k, exclude_own=exclude, authors=authors)
        return [[(str(tag), float(score)) for tag, score in row] for row in result]

    def predict_location(
        self, batch: EmbeddingBatch, texts: LocationContext, k: int
    ) -> list[list[PlaceGuess]]:
        has_text = "text" in self.embedder.config.components  # profiles go through the text branch
        profile, profile_present = profile_inputs(
            texts.profile, self.dim, self.embedder.embed_texts if has_text else None
        )
        location = self.heads.location
        if location is None:
            raise _missing("location")
        guesses = location.predict(batch, profile, profile_present, k, texts)
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
        return float(self._bots().threshold)

    @property
    def bot_recent_tweets(self) -> int:
        return int(self._bots().n_recent)

    def _bots(self) -> KnnBotDetector | CnnBotDetector | ForestBotDetector | SelectedBotDetector:
        bots = self.heads.bots
        if bots is None:
            raise _missing("bots")
        return bots

    def bot_scores(self, user_tweet_averages: list[np.ndarray]) -> np.ndarray:
        from model.heads.bot_selected import SelectedBotDetector

        bots = self._bots()
        if isinstance(bots, SelectedBotDetector):
            raise TypeError("the selected bot detector needs the tweets' fields: use bot_explain")
        return np.asarray(bots.score(user_tweet_averages), np.float64)

    def bot_explain(self, user: BotUser, posters: dict[int, int]) -> BotExplanation:
        from model.heads.bot_selected import SelectedBotDetector

        bots = self._bots()
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
        if head is None:
            raise _missing(f"{index}_index")
        return [[(str(i), float(s)) for i, s in row] for row in head.search(queries, k)]

    def info(self) -> dict[str, Any]:
        return {
            "config": self.embedder.config.to_json(),
            "device": self.embedder.device_name,
            "fp16": bool(self.embedder.fp16),
            "checkpoint": str(self.path),
            "model_process": self.embedder.processes > 0,
            "model_processes": self.embedder.processes,
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
