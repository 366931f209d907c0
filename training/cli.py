"""The ``tweetembed`` command line. Each command lives in its own module; heavy imports stay inside
the command functions so that ``tweetembed --help`` answers at once."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="tweetembed",
    help="Multimodal tweet embeddings: synthesise or read tweets, train the joint model, serve it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _register() -> None:
    # One line per command module; each module defines a plain function with typer annotations.
    from app.cli import serve
    from training.demo import demo
    from training.embed_batch import embed_batch
    from training.evaluation.cli import evaluate
    from training.heads.cli import build_heads
    from training.inspect_cmd import inspect
    from training.prepare.cli import prepare
    from training.synth.cli import synth
    from training.train_cli import train

    app.command("synth")(synth)
    app.command("inspect")(inspect)
    app.command("serve")(serve)
    app.command("prepare")(prepare)
    app.command("train")(train)
    app.command("demo")(demo)
    app.command("embed-batch")(embed_batch)
    app.command("build-heads")(build_heads)
    app.command("evaluate")(evaluate)


_register()

if __name__ == "__main__":
    app()
