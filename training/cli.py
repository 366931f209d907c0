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
    from training.inspect_cmd import inspect
    from training.synth.cli import synth

    app.command("synth")(synth)
    app.command("inspect")(inspect)


_register()

if __name__ == "__main__":
    app()
