"""``tweetembed build-heads CKPT DATA``: fit every head the data allows and write CKPT/heads/.

One fit function per head, each taking the shared inputs and ``BuildHeadsOptions``; heads without
what they need (no images, no city places, no bot labels) are skipped with the reason recorded in
heads/heads.json. The manifest is rewritten so that every head file is listed with its sha256 and a
tampered one is refused when loading. The command line is in training/heads/cli.py.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from model import checkpoint as ck
from model.embedding_batch import EmbeddingBatch
from model.heads.loader import HEADS_DIR, HEADS_META
from model.record import Tweet
from training.artifacts import WorkLayout
from training.heads.data import Splits
from training.heads.fit_location import ForestParams

BOT_METHODS = ("select", "knn", "cnn", "forest")
HASHTAG_METHODS = ("neighbours", "tags")

EmbedRows = Callable[..., EmbeddingBatch]  # (embedder, tweets, desc=...) -> their embeddings


class HeadsError(ValueError):
    """build-heads was asked for something it cannot do; the message names the option."""


@dataclass(frozen=True)
class BuildHeadsOptions:
    bot_labels: Path | None = None  # default: DATA/bot_labels.csv or DATA/truth.txt
    bot_method: str = "select"
    bot_k: int = 1
    bot_recent: int | None = None  # None: 100 for 'select', the paper's 10 for the fixed methods
    hnsw_threshold: int = 50_000
    forest: ForestParams = field(default_factory=ForestParams)
    device: str = "auto"
    hashtag_method: str = "neighbours"
    hashtag_neighbours: int = 0  # 0: the number and the vote weighting chosen on validation
    embeddings: Path | None = None  # an embed-batch Parquet of the same checkpoint

    def __post_init__(self) -> None:
        if self.bot_method not in BOT_METHODS:
            raise HeadsError("--bot-method must be select, knn, cnn or forest")
        if self.hashtag_method not in HASHTAG_METHODS:
            raise HeadsError("--hashtag-method must be neighbours or tags")

    @property
    def recent(self) -> int:
        """Most recent tweets per user the bot head sees."""
        if self.bot_recent is not None:
            return self.bot_recent
        return 100 if self.bot_method == "select" else 10


def run_build_heads(
    ckpt: Path, data: Path, options: BuildHeadsOptions | None = None, embedder: Any = None
) -> dict[str, Any]:
    """Fit every head into CKPT/heads/ and rewrite the manifest; returns what heads.json says."""
    from training.heads.data import load_splits
    from training.heads.embedding import embed_all

    options = options or BuildHeadsOptions()
    started = time.perf_counter()
    if embedder is None:
        from model.embedder import TweetEmbedder

        embedder = TweetEmbedder.load(ckpt, device=options.device)
    if WorkLayout(Path(data)).text_features_dir.is_dir():
        from training.dataset import remember_work_sentences

        remember_work_sentences(embedder, Path(data))
    splits = load_splits(data, options.bot_labels)
    heads_dir = ckpt / HEADS_DIR
    if heads_dir.exists():
        shutil.rmtree(heads_dir)
    heads_dir.mkdir(parents=True)
    embed_rows: EmbedRows = embed_all
    if (
        options.embeddings is not None
    ):  # a batch run's Parquet: rows looked up by tweet id, nothing re-embedded
        from training.embed_batch.parquet_io import embedder_from_parquet, model_digest

        embed_rows = embedder_from_parquet(options.embeddings, model_digest(ckpt))
    batch = embed_rows(embedder, splits.train, desc="embed train")

    heads: dict[str, Any] = {}
    heads.update(fit_hashtag_heads(heads_dir, embedder, splits, batch, embed_rows, options))
    heads.update(fit_retrieval_heads(heads_dir, splits.train, batch, options))
    heads["location"] = fit_location_head(heads_dir, ckpt, embedder, splits, batch, embed_rows, options)
    heads["bots"] = fit_bot_head(heads_dir, embedder, splits, embed_rows, options)

    summary = {
        "data": splits.description,
        "bot_labels": splits.bot_labels_source,
        "heads": heads,
        "hashtag_method": options.hashtag_method,
        "seconds": round(time.perf_counter() - started, 1),
    }
    (heads_dir / HEADS_META).write_text(json.dumps(summary, indent=2, sort_keys=True), encoding="utf-8")
    ck.write_manifest(ckpt)
    return summary


def fit_hashtag_heads(
    heads_dir: Path,
    embedder: Any,
    splits: Splits,
    batch: EmbeddingBatch,
    embed_rows: EmbedRows,
    options: BuildHeadsOptions,
) -> dict[str, Any]:
    """The paper's hashtag index (max cosine to hashtag embeddings) and the neighbours' hashtags."""
    from training.heads.fit_indexes import (
        HashtagValidation,
        embed_hashtags,
        hashtag_counts,
        write_hashtag_index,
        write_neighbour_hashtags,
    )

    heads: dict[str, Any] = {}
    train = splits.train
    counts = hashtag_counts(train)
    tags = sorted(counts)
    if not tags:
        heads["hashtags"] = {"skipped": "no hashtags in the training split"}
    elif "hashtags" not in embedder.config.components:
        heads["hashtags"] = {"skipped": "the model has no hashtag branch to embed hashtags with"}
    else:
        heads["hashtags"] = write_hashtag_index(
            heads_dir, tags, embed_hashtags(embedder, tags), counts, options.hnsw_threshold
        )
    if tags:
        validation = None
        val_tagged = [t for t in splits.val if t.hashtags]
        if options.hashtag_neighbours <= 0 and val_tagged:
            val_batch = embed_rows(embedder, val_tagged, desc="embed val (hashtags)")
            validation = HashtagValidation(
                val_batch,
                [{h.lower() for h in t.hashtags} for t in val_tagged],
                [t.user_id for t in val_tagged],
            )
        heads["hashtag_neighbours"] = write_neighbour_hashtags(
            heads_dir,
            list(train),
            batch,
            options.hashtag_neighbours,
            options.hnsw_threshold,
            validation,
            later=splits.val,
        )
    return heads


def fit_retrieval_heads(
    heads_dir: Path, train: Sequence[Tweet], batch: EmbeddingBatch, options: BuildHeadsOptions
) -> dict[str, Any]:
    """An index of the training tweets' image embeddings and one of their text embeddings."""
    from model.heads.retrieval_index import IMAGE_INDEX, TEXT_INDEX
    from training.heads.fit_indexes import write_retrieval_index

    heads: dict[str, Any] = {}
    for component, name in (("image", IMAGE_INDEX), ("text", TEXT_INDEX)):
        present = batch.present.get(component)
        rows = np.flatnonzero(present) if present is not None else np.zeros(0, dtype=np.int64)
        if len(rows):
            ids = [train[int(i)].id for i in rows]
            heads[name] = write_retrieval_index(
                heads_dir, name, ids, batch.components[component][rows], options.hnsw_threshold
            )
        else:
            heads[name] = {"skipped": f"no {component} embeddings in the training split"}
    return heads


def fit_location_head(
    heads_dir: Path,
    ckpt: Path,
    embedder: Any,
    splits: Splits,
    batch: EmbeddingBatch,
    embed_rows: EmbedRows,
    options: BuildHeadsOptions,
) -> dict[str, Any]:
    """The location head over the city-labelled training tweets' embeddings: the paper's forest or a
    logistic regression, whichever scores better on the validation split (choose_location_head).
    Where some authors have two or more of these tweets, the validation split also decides whether
    and how strongly each author's earlier places (AuthorHistory of the training split) update the
    head's prediction (location_head.author_posterior); the table served then counts the validation
    split's tweets too."""
    from model.heads.author_history import AuthorHistory
    from model.heads.location_head import (
        FEATURE_COMPONENTS,
        PROFILE_NGRAM_FEATURES,
        TEXT_NGRAM_FEATURES,
        LocationContext,
        location_features,
    )
    from training.heads.embedding import profile_embeddings, select_rows
    from training.heads.fit_location import (
        choose_location_head,
        city_label,
        place_metadata,
        save_forest,
        single_row_latency_ms,
    )

    train = splits.train
    labelled = [i for i, t in enumerate(train) if city_label(t)]
    if len({city_label(train[i]) for i in labelled}) < 2:
        return {"skipped": "fewer than 2 city-level places in the training split"}
    sub = [train[i] for i in labelled]
    profile, has_profile = profile_embeddings(embedder, sub)
    widths = PROFILE_NGRAM_FEATURES, TEXT_NGRAM_FEATURES  # profile char, tweet word n-gram blocks
    classes = sorted({city_label(t) or "" for t in sub})  # the order of the fitted head's classes_
    table = AuthorHistory.of(sub, city_label)
    features = location_features(
        select_rows(batch, labelled),
        profile,
        has_profile,
        FEATURE_COMPONENTS,
        LocationContext.of(sub),
        *widths,
    )
    known = set(classes)
    val_sub = [t for t in splits.val if city_label(t) in known]
    val_features = location_features(
        embed_rows(embedder, val_sub, desc="embed val (location)"),
        *profile_embeddings(embedder, val_sub),
        FEATURE_COMPONENTS,
        LocationContext.of(val_sub),
        *widths,
    )
    # nobody tweets twice: no validation author can have earlier places either
    val_counts = table.class_counts([t.user_id for t in val_sub], classes) if table.repeat_authors() else None
    t0 = time.perf_counter()
    head, choice = choose_location_head(
        features,
        [city_label(t) or "" for t in sub],
        val_features,
        [city_label(t) or "" for t in val_sub],
        options.forest,
        # The tweet-text block is last in location_features; whether it adds to what the text branch
        # already carries depends on the branch (a pretrained encoder carries the words), so the
        # validation split decides.
        optional_tail=TEXT_NGRAM_FEATURES,
        val_counts=val_counts,
    )
    if [str(c) for c in head.classes_] != classes:
        raise RuntimeError("the location head's classes are not in the order its author counts were built")
    prior = choice.pop("author_prior")
    # Chosen on validation with the training split's table; served with the validation split's city
    # tweets counted too, the most recent the checkpoint knows (the evaluation's rules count them alike).
    authors = AuthorHistory.of([*sub, *val_sub], city_label) if prior else None
    if choice.pop("dropped_tail"):
        widths = PROFILE_NGRAM_FEATURES, 0
        features = features[:, : features.shape[1] - TEXT_NGRAM_FEATURES]
    fit_s = time.perf_counter() - t0
    places_path = ckpt / ck.PLACES
    ckpt_places = json.loads(places_path.read_text(encoding="utf-8")) if places_path.is_file() else {}
    info = save_forest(
        heads_dir,
        head,
        place_metadata(splits.all_tweets(), ckpt_places),
        options.forest,
        *widths,
        authors,
        prior,
    )
    info.update(
        rows=len(sub),
        val_rows=len(val_sub),
        # timings at the top level, beside fit_s, so that the selection itself is reproducible
        **{k: choice.pop(k) for k in ("forest_fit_s", "linear_fit_s") if k in choice},
        selection=choice,
        fit_s=round(fit_s, 1),
        predict_one_ms=round(single_row_latency_ms(head, features), 2),
    )
    return info


def fit_bot_head(
    heads_dir: Path, embedder: Any, splits: Splits, embed_rows: EmbedRows, options: BuildHeadsOptions
) -> dict[str, Any]:
    """The bot detector of ``options.bot_method`` over the labelled users' recent tweets."""
    from training.heads.fit_bots import fit_cnn, fit_knn
    from training.heads.fit_bots import fit_forest as fit_bot_forest
    from training.heads.users import user_tweet_rows

    if not splits.bot_labels:
        return {"skipped": "no bot labels (DATA/bot_labels.csv or --bot-labels)"}
    method, recent, dim = options.bot_method, options.recent, int(embedder.config.dim)
    everything = splits.all_tweets()
    users = sorted(u for u in splits.bot_labels if u)
    owned = [t for t in everything if t.user_id in splits.bot_labels]
    user_batch = embed_rows(embedder, owned, desc="embed users' tweets")
    kept, rows_u = user_tweet_rows(owned, user_batch.average, users, recent)
    labels = np.array([splits.bot_labels[u] for u in kept])
    if method == "select" and len(kept) >= 4 and min(np.bincount(labels, minlength=2)) >= 2:
        from training.heads.select_bots import fit_selected_head

        selected, info = fit_selected_head(
            everything, owned, user_batch.average, kept, splits.bot_labels, dim, recent
        )
        selected.save(heads_dir)
        return info
    if method == "select" or len(kept) < 2 or len(set(labels.tolist())) != 2:
        return {"skipped": "labelled users need tweets and both classes"}
    detector: Any
    if method == "knn":
        detector = fit_knn(rows_u, labels, dim, k=options.bot_k, n_recent=recent)
    elif method == "forest":
        detector = fit_bot_forest(rows_u, labels, dim, n_recent=recent)
    else:
        detector = fit_cnn(rows_u, labels, dim, n_recent=recent)
    detector.save(heads_dir)
    return {
        "method": method,
        "users": len(kept),
        "bots": int(labels.sum()),
        "k": options.bot_k if method == "knn" else None,
        "n_recent": recent,
        "threshold": float(detector.threshold),  # the forest's is chosen out-of-bag, others 0.5
    }
