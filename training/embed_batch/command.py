"""`tweetembed embed-batch DATA --checkpoint CKPT --out OUT`: embed a whole corpus into sharded Parquet.

Two engines write the same layout (training/embed_batch/parquet_io.py): ``local`` streams through one
process and resumes; ``ray`` runs the same embedder on Ray Data actors, on this machine or a cluster.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Literal

import typer

Engine = Literal["local", "ray"]


def embed_batch(
    data: Annotated[Path, typer.Argument(help="Tweets: a file or directory the readers accept.")],
    checkpoint: Annotated[
        Path, typer.Option("--checkpoint", help="Checkpoint directory written by `tweetembed train`.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Output directory of part-*.parquet shards.")],
    engine: Annotated[
        str, typer.Option(help="local: one process, streaming and resumable; ray: Ray Data actors.")
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(
            help="Ray cluster to run on (ray engine; 'auto' = the one this node belongs to). "
            "Default: a Ray started on this machine for the run."
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=4096, help="Tweets per forward pass.")] = 256,
    shard_rows: Annotated[
        int, typer.Option(min=1, help="Tweets per Parquet shard (local engine; also the resume unit).")
    ] = 50_000,
    actors: Annotated[
        int, typer.Option(min=0, help="Embedder actors (ray engine; 0 = one per CPU, or per GPU).")
    ] = 0,
    device: Annotated[
        str, typer.Option(help="auto, cpu or cuda (local engine; Ray actors use their GPU).")
    ] = "auto",
    threads: Annotated[int, typer.Option(min=1, help="torch threads per process / actor.")] = 1,
) -> None:
    """Write id, present components, one vector column per component and the tweet average of every
    tweet in DATA to OUT/*.parquet; the checkpoint's manifest digest is in every file's metadata."""
    if engine not in ("local", "ray"):
        raise typer.BadParameter("--engine must be local or ray")
    if address is not None and engine != "ray":
        raise typer.BadParameter("--address needs --engine ray")
    if not data.exists():
        raise typer.BadParameter(f"no such file or directory: {data}", param_hint="DATA")
    started = time.perf_counter()
    if engine == "local":
        summary = _local(data, checkpoint, out, batch_size, shard_rows, device, threads)
    else:
        from training.embed_batch.ray_engine import import_ray, run_ray

        try:
            import_ray()
        except RuntimeError as exc:  # the optional extra is not installed
            typer.secho(str(exc), fg="red", err=True)
            raise typer.Exit(1) from None
        summary = run_ray(
            data, checkpoint, out, batch_size=batch_size, address=address, actors=actors, threads=threads
        )
    summary["seconds"] = round(time.perf_counter() - started, 1)
    from training.embed_batch.local import write_summary

    write_summary(out, summary)
    if summary["rows"] == 0:
        typer.secho(f"no tweets read from {data}", fg="red", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps({k: v for k, v in summary.items() if k != "read_report"}))


def _local(
    data: Path, checkpoint: Path, out: Path, batch_size: int, shard_rows: int, device: str, threads: int
) -> dict[str, object]:
    import torch
    from tqdm import tqdm

    from model.embedder import TweetEmbedder
    from training.embed_batch.local import run_local
    from training.embed_batch.parquet_io import model_digest
    from training.readers import ReadReport, read_tweets

    torch.set_num_threads(threads)
    embedder = TweetEmbedder.load(checkpoint, device=device)
    report = ReadReport()
    with tqdm(desc="embed-batch", unit="tweet", smoothing=0.05) as bar:

        def advance(rows: int) -> None:
            bar.update(rows)

        result = run_local(
            read_tweets(data, report),
            embedder.embed,
            out,
            components=list(embedder.config.components),
            dim=int(embedder.config.dim),
            digest=embedder.checkpoint_digest,
            model=model_digest(checkpoint),
            batch_size=batch_size,
            shard_rows=shard_rows,
            progress=advance,
        )
    typer.echo(report.summary(), err=True)
    return {
        "engine": "local",
        "rows": result.rows,
        "shards": result.shards,
        "embedded_now": result.embedded,
        "kept_shards": len(result.kept_shards),
        "checkpoint_digest": embedder.checkpoint_digest,
        "read_report": report.summary(),
    }
