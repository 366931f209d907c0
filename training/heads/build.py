"""``tweetembed build-heads CKPT DATA``: fit every head the data allows and write CKPT/heads/.

Heads without what they need (no images, no city places, no bot labels) are skipped with the
reason recorded in heads/heads.json; the manifest is rewritten so that every head file is listed
with its sha256 and a tampered one is refused when loading.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Annotated, Any

import typer


def build_heads(
    ckpt: Annotated[Path, typer.Argument(help="Checkpoint directory written by `tweetembed train`.")],
    data: Annotated[
        Path,
        typer.Argument(
            help="Prepared WORK directory (preferred: the exact splits the "
            "model was trained on), or raw data (synthetic world / Twitter JSON)."
        ),
    ],
    bot_labels: Annotated[
        Path | None,
        typer.Option(
            help="user_id,label CSV or PAN truth.txt; default DATA/bot_labels.csv or DATA/truth.txt."
        ),
    ] = None,
    bot_method: Annotated[
        str,
        typer.Option(
            help="Bot head: 'select' (the best of the paper's kNN and CNN and HistGradientBoosting over "
            "behaviour, content and embedding features, chosen by cross-validation on the labelled users, "
            "calibrated), or one fixed: 'knn' (paper, k=--bot-k), 'cnn' (Kim CNN, paper) or 'forest' "
            "(random forest over statistics of the user's recent tweet embeddings)."
        ),
    ] = "select",
    bot_k: Annotated[int, typer.Option(help="Neighbours of the kNN bot head (paper: 1).")] = 1,
    hashtag_method: Annotated[
        str,
        typer.Option(
            help="Served hashtag recommender: 'neighbours' (hashtags of the nearest training tweets in the "
            "joint space) or 'tags' (paper: max cosine to hashtag embeddings). Both are built."
        ),
    ] = "neighbours",
    hashtag_neighbours: Annotated[
        int, typer.Option(help="Training tweets voting in 'neighbours' mode.")
    ] = 50,
    bot_recent: Annotated[
        int | None,
        typer.Option(
            help="Most recent tweets per user (default: 100 for 'select', whose paper candidates still "
            "see 10; the paper's 10 for the fixed methods)."
        ),
    ] = None,
    hnsw_threshold: Annotated[
        int, typer.Option(help="Indexes larger than this use HNSW, else exact search.")
    ] = 50_000,
    forest_trees: Annotated[int, typer.Option(help="Location forest: number of trees.")] = 100,
    forest_depth: Annotated[int, typer.Option(help="Location forest: max depth (0 = unlimited).")] = 40,
    forest_leaf: Annotated[int, typer.Option(help="Location forest: min samples per leaf.")] = 1,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    embeddings: Annotated[
        Path | None,
        typer.Option(
            help="Take the tweets' embeddings from this `tweetembed embed-batch` output "
            "(Parquet, same checkpoint) instead of embedding them again."
        ),
    ] = None,
) -> None:
    """Fit the hashtag index, image/text retrieval indexes, location forest and bot head into CKPT/heads/."""
    from training.heads.fit_location import ForestParams

    params = ForestParams(
        n_estimators=forest_trees, max_depth=forest_depth or None, min_samples_leaf=forest_leaf
    )
    summary = run_build_heads(
        ckpt,
        data,
        bot_labels,
        bot_method,
        bot_k,
        bot_recent,
        hnsw_threshold,
        params,
        device,
        hashtag_method=hashtag_method,
        hashtag_neighbours=hashtag_neighbours,
        embeddings=embeddings,
    )
    for name, info in summary["heads"].items():
        typer.echo(f"{name:12s} {json.dumps(info, sort_keys=True)}")
    typer.echo(f"heads written to {ckpt / 'heads'} in {summary['seconds']:.0f} s")


def run_build_heads(
    ckpt: Path,
    data: Path,
    bot_labels: Path | None = None,
    bot_method: str = "select",
    bot_k: int = 1,
    bot_recent: int | None = None,
    hnsw_threshold: int = 50_000,
    params: Any = None,
    device: str = "auto",
    embedder: Any = None,
    hashtag_method: str = "neighbours",
    hashtag_neighbours: int = 50,
    embeddings: Path | None = None,
) -> dict[str, Any]:
    import numpy as np

    from model.heads.retrieval_index import IMAGE_INDEX, TEXT_INDEX
    from training.heads.data import load_splits
    from training.heads.embedding import embed_all, profile_embeddings
    from training.heads.fit_bots import fit_cnn, fit_knn
    from training.heads.fit_bots import fit_forest as fit_bot_forest
    from training.heads.fit_indexes import (
        embed_hashtags,
        hashtag_counts,
        write_hashtag_index,
        write_neighbour_hashtags,
        write_retrieval_index,
    )
    from training.heads.fit_location import (
        ForestParams,
        choose_location_head,
        city_label,
        place_metadata,
        save_forest,
        single_row_latency_ms,
    )
    from training.heads.users import user_tweet_rows

    if bot_method not in {"select", "knn", "cnn", "forest"}:
        raise typer.BadParameter("--bot-method must be select, knn, cnn or forest")
    if bot_recent is None:
        bot_recent = 100 if bot_method == "select" else 10
    if hashtag_method not in {"neighbours", "tags"}:
        raise typer.BadParameter("--hashtag-method must be neighbours or tags")
    params = params or ForestParams()
    started = time.perf_counter()
    if embedder is None:
        from model.embedder import TweetEmbedder

        embedder = TweetEmbedder.load(ckpt, device=device)
    if (Path(data) / "text_features").is_dir():
        from training.dataset import remember_work_sentences

        remember_work_sentences(embedder, Path(data))
    dim = int(embedder.config.dim)
    splits = load_splits(data, bot_labels)
    heads_dir = ckpt / "heads"
    if heads_dir.exists():
        shutil.rmtree(heads_dir)
    heads_dir.mkdir(parents=True)
    heads: dict[str, Any] = {}
    train = splits.train
    embed_rows: Any = embed_all
    if embeddings is not None:  # a batch run's Parquet: rows looked up by tweet id, nothing re-embedded
        from training.embed_batch.parquet_io import embedder_from_parquet, model_digest

        embed_rows = embedder_from_parquet(embeddings, model_digest(ckpt))
    batch = embed_rows(embedder, train, desc="embed train")

    counts = hashtag_counts(train)
    tags = sorted(counts)
    if not tags:
        heads["hashtags"] = {"skipped": "no hashtags in the training split"}
    elif "hashtags" not in embedder.config.components:
        heads["hashtags"] = {"skipped": "the model has no hashtag branch to embed hashtags with"}
    else:
        heads["hashtags"] = write_hashtag_index(
            heads_dir, tags, embed_hashtags(embedder, tags), counts, hnsw_threshold
        )
    if tags:
        heads["hashtag_neighbours"] = write_neighbour_hashtags(
            heads_dir, train, batch, hashtag_neighbours, hnsw_threshold
        )

    for component, name in (("image", IMAGE_INDEX), ("text", TEXT_INDEX)):
        present = batch.present.get(component)
        rows = np.flatnonzero(present) if present is not None else np.zeros(0, dtype=np.int64)
        if len(rows):
            ids = [train[i].id for i in rows]
            heads[name] = write_retrieval_index(
                heads_dir, name, ids, batch.components[component][rows], hnsw_threshold
            )
        else:
            heads[name] = {"skipped": f"no {component} embeddings in the training split"}

    labelled = [i for i, t in enumerate(train) if city_label(t)]
    if len({city_label(train[i]) for i in labelled}) >= 2:
        from model.heads.location_head import location_features
        from training.heads.embedding import select_rows

        sub = [train[i] for i in labelled]
        profile, has_profile = profile_embeddings(embedder, sub)
        features = location_features(select_rows(batch, labelled), profile, has_profile)
        classes = {city_label(t) for t in sub}
        val_sub = [t for t in splits.val if city_label(t) in classes]
        val_features = location_features(
            embed_rows(embedder, val_sub, desc="embed val (location)"), *profile_embeddings(embedder, val_sub)
        )
        t0 = time.perf_counter()
        forest, choice = choose_location_head(
            features,
            [city_label(t) or "" for t in sub],
            val_features,
            [city_label(t) or "" for t in val_sub],
            params,
        )
        fit_s = time.perf_counter() - t0
        places_path = ckpt / "places.json"
        ckpt_places = json.loads(places_path.read_text(encoding="utf-8")) if places_path.is_file() else {}
        info = save_forest(heads_dir, forest, place_metadata(splits.all_tweets(), ckpt_places), params)
        info.update(
            rows=len(sub),
            val_rows=len(val_sub),
            # timings at the top level, beside fit_s, so that the selection itself is reproducible
            **{k: choice.pop(k) for k in ("forest_fit_s", "linear_fit_s") if k in choice},
            selection=choice,
            fit_s=round(fit_s, 1),
            predict_one_ms=round(single_row_latency_ms(forest, features), 2),
        )
        heads["location"] = info
    else:
        heads["location"] = {"skipped": "fewer than 2 city-level places in the training split"}

    if splits.bot_labels:
        everything = splits.all_tweets()
        users = sorted(u for u in splits.bot_labels if u)
        user_batch = embed_rows(
            embedder, [t for t in everything if t.user_id in splits.bot_labels], desc="embed users' tweets"
        )
        owned = [t for t in everything if t.user_id in splits.bot_labels]
        kept, rows_u = user_tweet_rows(owned, user_batch.average, users, bot_recent)
        labels = np.array([splits.bot_labels[u] for u in kept])
        if bot_method == "select" and len(kept) >= 4 and min(np.bincount(labels, minlength=2)) >= 2:
            from training.heads.select_bots import fit_selected_head

            detector, info = fit_selected_head(
                everything, owned, user_batch.average, kept, splits.bot_labels, dim, bot_recent
            )
            detector.save(heads_dir)
            heads["bots"] = info
        elif bot_method != "select" and len(kept) >= 2 and len(set(labels.tolist())) == 2:
            detector: Any
            if bot_method == "knn":
                detector = fit_knn(rows_u, labels, dim, k=bot_k, n_recent=bot_recent)
            elif bot_method == "forest":
                detector = fit_bot_forest(rows_u, labels, dim, n_recent=bot_recent)
            else:
                detector = fit_cnn(rows_u, labels, dim, n_recent=bot_recent)
            detector.save(heads_dir)
            heads["bots"] = {
                "method": bot_method,
                "users": len(kept),
                "bots": int(labels.sum()),
                "k": bot_k if bot_method == "knn" else None,
                "n_recent": bot_recent,
                "threshold": float(detector.threshold),  # the forest's is chosen out-of-bag, others 0.5
            }
        else:
            heads["bots"] = {"skipped": "labelled users need tweets and both classes"}
    else:
        heads["bots"] = {"skipped": "no bot labels (DATA/bot_labels.csv or --bot-labels)"}

    summary = {
        "data": splits.description,
        "bot_labels": splits.bot_labels_source,
        "heads": heads,
        "hashtag_method": hashtag_method,
        "seconds": round(time.perf_counter() - started, 1),
    }
    (heads_dir / "heads.json").write_text(json.dumps(summary, indent=2, sort_keys=True), encoding="utf-8")
    from model.checkpoint import write_manifest

    write_manifest(ckpt)
    return summary
