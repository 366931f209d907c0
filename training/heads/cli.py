"""``tweetembed build-heads CKPT DATA``: the command line of training/heads/build.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

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
        int,
        typer.Option(
            help="Training tweets voting in 'neighbours' mode, with cosine votes; 0 (default): the number "
            "(5-100) and the vote weighting (cosine or 1/rank) chosen by F1@1 on the validation split."
        ),
    ] = 0,
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
    from model.heads.loader import HEADS_DIR
    from training.cli_common import options_from
    from training.heads.build import BuildHeadsOptions, HeadsError, run_build_heads
    from training.heads.fit_location import ForestParams

    try:
        options = options_from(
            BuildHeadsOptions,
            locals(),
            forest=ForestParams.from_options(forest_trees, forest_depth, forest_leaf),
        )
    except HeadsError as error:
        raise typer.BadParameter(str(error)) from error
    summary = run_build_heads(ckpt, data, options)
    for name, info in summary["heads"].items():
        typer.echo(f"{name:12s} {json.dumps(info, sort_keys=True)}")
    typer.echo(f"heads written to {ckpt / HEADS_DIR} in {summary['seconds']:.0f} s")
