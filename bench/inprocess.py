"""The in-process reference: the same checkpoint's batched ``TweetEmbedder.embed`` called directly,
with no HTTP, no JSON and no queue: the most this machine can do, and what the service is divided by."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from bench.workload import Workload
from model.embedder import TweetEmbedder


@dataclass(frozen=True)
class BatchSpeed:
    batch_size: int
    tweets_per_s: float
    cpu_ms_per_tweet: float  # process CPU time (all threads) per tweet


def embed_speed(
    embedder: TweetEmbedder,
    workload: Workload,
    batch_size: int,
    min_seconds: float,
    min_batches: int = 3,
    max_batches: int = 100_000,
) -> BatchSpeed:
    """Tweets/s of ``embed`` on consecutive batches of the workload (featurising included: the
    service does it too), after one warm-up batch."""
    n = len(workload)

    def batch(k: int) -> tuple[list, list]:  # type: ignore[type-arg]
        idx = [(k * batch_size + j) % n for j in range(batch_size)]
        return [workload.tweets[i] for i in idx], [workload.images[i] for i in idx]

    embedder.embed(*batch(0))
    done = 0
    cpu0, t0 = time.process_time(), time.perf_counter()
    while done < max_batches and (done < min_batches or time.perf_counter() - t0 < min_seconds):
        embedder.embed(*batch(done + 1))
        done += 1
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    tweets = done * batch_size
    return BatchSpeed(batch_size, tweets / wall, 1000 * cpu / tweets)


def speeds(
    embedder: TweetEmbedder, workload: Workload, batch_sizes: Sequence[int], min_seconds: float
) -> list[BatchSpeed]:
    return [embed_speed(embedder, workload, b, min_seconds) for b in batch_sizes]


@dataclass(frozen=True)
class FeaturizeCost:
    featurize_ms: float  # tokenising, vocabulary / vector lookups, image to pixels: per tweet, CPU
    forward_ms: float  # collate + model forward + to numpy, per tweet at ``batch_size``, CPU


@torch.no_grad()
def featurize_cost(
    embedder: TweetEmbedder, workload: Workload, batch_size: int, min_seconds: float
) -> FeaturizeCost:
    """Splits ``embed`` into its Python part (features per tweet) and its torch part, in CPU time."""
    n = len(workload)
    feats_ms, fwd_ms, tweets = 0.0, 0.0, 0
    t0 = time.perf_counter()
    k = 0
    while k < 3 or time.perf_counter() - t0 < min_seconds:
        idx = [(k * batch_size + j) % n for j in range(batch_size)]
        tweets_k = [workload.tweets[i] for i in idx]
        # The frozen pretrained encoders (MiniLM on the texts, the image CNN) are forward passes too.
        m0 = time.process_time()
        sentences, tag_features = embedder._sentence_features(tweets_k)
        m1 = time.process_time()
        c0 = time.process_time()
        feats = [
            embedder.featurizer.features(
                t, embedder._image_input(t, workload.images[i]), sentences[j], tag_features[j]
            )
            for j, (t, i) in enumerate(zip(tweets_k, idx, strict=True))
        ]
        c1 = time.process_time()
        tensors = embedder.featurizer.collate(feats).to(embedder.device)
        if embedder._resnet is not None and tensors.image_inputs is not None:
            tensors.image_inputs = embedder._resnet(tensors.image_inputs).float()  # (n_img, F)
        out = embedder.model(tensors)
        _ = out.average.float().cpu().numpy()
        c2 = time.process_time()
        if k > 0:  # the first batch warms up
            feats_ms += 1000 * (c1 - c0)
            fwd_ms += 1000 * (c2 - c1 + m1 - m0)
            tweets += batch_size
        k += 1
    return FeaturizeCost(feats_ms / tweets, fwd_ms / tweets)
