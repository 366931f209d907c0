"""`tweetembed embed-batch`: embed a whole dataset offline with a checkpoint, in batches, to one .npz."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def embed_batch(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint directory written by `tweetembed train`.")],
    data: Annotated[Path, typer.Argument(help="Tweets: a file or directory the readers accept.")],
    out: Annotated[Path, typer.Option("--out", help="Output .npz file.")],
    batch_size: Annotated[int, typer.Option(min=1, max=4096, help="Tweets per forward pass.")] = 256,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
) -> None:
    """Write ids, per-component embeddings, presence masks and the tweet averages of every tweet in DATA.

    The .npz holds `ids` (N,), `average` (N, dim) and, per component C, `C` (N, dim) and `C_present` (N,).
    """
    import numpy as np
    from tqdm import tqdm

    from model.embedder import TweetEmbedder
    from training.readers import ReadReport, read_tweets

    embedder = TweetEmbedder.load(checkpoint, device=device)
    report = ReadReport()
    ids: list[str] = []
    chunks: dict[str, list[np.ndarray]] = {}
    batch = []

    def flush() -> None:
        result = embedder.embed(batch)
        ids.extend(t.id for t in batch)
        chunks.setdefault("average", []).append(result.average)
        for name, vectors in result.components.items():
            chunks.setdefault(name, []).append(vectors)
            chunks.setdefault(f"{name}_present", []).append(result.present[name])
        batch.clear()

    with tqdm(desc="embedding", unit="tweet") as bar:
        for tweet in read_tweets(data, report):
            batch.append(tweet)
            if len(batch) == batch_size:
                flush()
                bar.update(batch_size)
        if batch:
            bar.update(len(batch))
            flush()
    if not ids:
        typer.secho(f"no tweets read from {data}", fg="red", err=True)
        raise typer.Exit(1)
    arrays = {k: np.concatenate(v) for k, v in chunks.items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, ids=np.array(ids), **arrays)
    typer.echo(f"{len(ids)} tweets -> {out} (dim {arrays['average'].shape[1]})")
    typer.echo(report.summary())
