"""`tweetembed demo`: the whole path on a small synthetic world, each step skipped when already done.

Steps run as separate `tweetembed` processes so that what the demo prints is exactly what a user sees
when running the same commands by hand (they are echoed first).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer


def _run(args: list[str], threads: int | None = None) -> None:
    cmd = [sys.executable, "-m", "training.cli", *args]
    typer.secho("$ tweetembed " + shlex.join(args), fg=typer.colors.CYAN, err=True)
    # torch's default thread count for the steps without a --threads option (build-heads).
    env = os.environ | {"OMP_NUM_THREADS": str(threads)} if threads else None
    result = subprocess.run(cmd, check=False, env=env)
    if result.returncode != 0:
        typer.secho(
            f"step failed (exit {result.returncode}): tweetembed {shlex.join(args)}", fg="red", err=True
        )
        raise typer.Exit(result.returncode)


def demo(
    dir: Annotated[Path, typer.Option("--dir", help="Output folder.")] = Path("demo"),
    tweets: Annotated[int, typer.Option(help="Tweets in the synthetic world.")] = 4000,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic world and of training.")] = 0,
    config: Annotated[str, typer.Option(help="Training preset: small (CPU minutes) or paper.")] = "small",
    epochs: Annotated[
        int,
        typer.Option(
            help="Training epochs (the demo trains briefly; `tweetembed train` takes the preset's)."
        ),
    ] = 3,
    threads: Annotated[
        int,
        typer.Option(
            help="torch CPU threads for training and build-heads: 1 by default, because on a machine "
            "whose cores are busy torch's one thread per core waits on itself."
        ),
    ] = 1,
    host: Annotated[str, typer.Option(help="Address the service binds to.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the service.")] = 8000,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Start the service at the end.")] = True,
) -> None:
    """Synthesise a world, prepare it, train, build the heads and serve the checkpoint."""
    from model.checkpoint import MANIFEST
    from model.heads.loader import HEADS_DIR
    from training.prepare.source import WORLD_TWEETS

    world, work, ckpt = dir / "world", dir / "work", dir / "checkpoint"
    if (world / WORLD_TWEETS).exists():
        typer.echo(f"world: {world} exists, skipped")
    else:
        _run(["synth", "--out", str(world), "--tweets", str(tweets), "--seed", str(seed)])
    _run(["prepare", str(world), "--out", str(work), "--config", config])
    if (ckpt / MANIFEST).exists():
        typer.echo(f"checkpoint: {ckpt} exists, training skipped (delete it to retrain)")
    else:
        _run(
            [
                "train",
                str(work),
                "--config",
                config,
                "--out",
                str(ckpt),
                "--seed",
                str(seed),
                "--epochs",
                str(epochs),
                "--threads",
                str(threads),
            ]
        )
    if (ckpt / HEADS_DIR).is_dir():
        typer.echo(f"heads: {ckpt / HEADS_DIR} exist, skipped")
    else:
        _run(["build-heads", str(ckpt), str(world)], threads)
    if serve:
        typer.echo(f"serving on http://{host}:{port}  (OpenAPI at /docs; Ctrl-C stops)")
        _run(["serve", str(ckpt), "--host", host, "--port", str(port)])
