"""``tweetembed train WORK --config small|paper --out CKPT``: train the joint embedding model."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

Command = typing.TypeVar("Command", bound=Callable[..., None])

CONFIG_HELP = (
    "Preset: 'paper' (the paper's recipe), 'small' (the synthetic world and the demo, a few CPU "
    "minutes) or 'real' (real corpora on a CPU: frozen MiniLM and EfficientNet-Lite0)."
)


def build_train_config(config: str, overrides: dict[str, Any], model_overrides: dict[str, Any]) -> Any:
    """The preset with the given fields replaced; raises ValueError on an invalid combination."""
    from model.config import PRESETS, TrainConfig

    if config not in PRESETS:
        raise ValueError(f"--config must be one of {sorted(PRESETS)}, got {config!r}")
    preset: TrainConfig = PRESETS[config]
    model = dataclasses.replace(preset.model, **{k: v for k, v in model_overrides.items() if v is not None})
    train_config = dataclasses.replace(
        preset, model=model, **{k: v for k, v in overrides.items() if v is not None}
    )
    if train_config.epochs < 1 or train_config.batch_size < 2 or train_config.val_every < 1:
        raise ValueError("--epochs and --val-every must be >= 1, --batch-size >= 2")
    if train_config.lr <= 0 or train_config.margin < 0 or train_config.grad_clip <= 0:
        raise ValueError("--lr and --grad-clip must be positive, --margin non-negative")
    if train_config.loss not in ("max_violation", "sum_violation"):
        raise ValueError("--loss must be max_violation (VSE++, the paper) or sum_violation (VSE0)")
    if train_config.loss_target not in ("average", "others"):
        raise ValueError("--loss-target must be average (the paper) or others (leave-one-out average)")
    return train_config


def _recipe_fields() -> Iterator[tuple[str, dataclasses.Field[Any], Any]]:
    """("train" | "model", field, its type) of every TrainConfig / ModelConfig field that has a help."""
    from model.config import ModelConfig, TrainConfig

    for scope, cls in (("train", TrainConfig), ("model", ModelConfig)):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if "help" in f.metadata:
                yield scope, f, hints[f.name]


def _option_type(kind: Any) -> Any:
    """The command-line type of a config field: Literals and tuples are typed as text."""
    return str if typing.get_origin(kind) in (Literal, tuple) else kind


def _from_option(kind: Any, value: Any) -> Any:
    if value is not None and typing.get_origin(kind) is tuple:  # "text,image" -> ("text", "image")
        return tuple(part.strip() for part in str(value).split(",") if part.strip())
    return value


def _with_recipe_options(command: Command) -> Command:
    """``command`` with one option per recipe field (``_recipe_fields``), each None by default (the
    preset's value), placed after --config: a new TrainConfig field with a help is an option at once."""
    signature = inspect.signature(command, eval_str=True)
    fixed = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    annotations = typing.get_type_hints(command, include_extras=True)
    generated = []
    for _, f, kind in _recipe_fields():
        option = typer.Option(help=f.metadata["help"])
        annotation: Any = Annotated[_option_type(kind) | None, option]
        generated.append(
            inspect.Parameter(
                f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=annotation
            )
        )
        annotations[f.name] = annotation
    at = [p.name for p in fixed].index("config") + 1
    # typer reads the signature through inspect, which honours __signature__.
    parameters = [*fixed[:at], *generated, *fixed[at:]]
    command.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {**annotations, "return": None}
    return command


@_with_recipe_options
def train(
    work: Annotated[Path, typer.Argument(help="WORK directory written by `tweetembed prepare`.")],
    out: Annotated[Path, typer.Option("--out", help="Checkpoint directory (best model by val rsum).")],
    config: Annotated[str, typer.Option("--config", help=CONFIG_HELP)] = "small",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda (mixed precision on CUDA).")] = "auto",
    resume: Annotated[bool, typer.Option("--resume", help="Continue the interrupted run in --out.")] = False,
    max_val: Annotated[int, typer.Option(help="Validation tweets scored (fixed subset).")] = 1000,
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch (default: torch's).")] = None,
    max_iterations: Annotated[
        int | None,
        typer.Option(
            help="Stop after this many optimizer steps (a time budget; the checkpoint is the best validated "
            "model so far, or the last one when none was validated yet).",
            min=1,
        ),
    ] = None,
    **recipe: Any,
) -> None:
    """Train the five-branch joint embedding model (paper Eq. 2-3) and write a servable checkpoint."""
    import torch

    from model.checkpoint import CheckpointError
    from training.dataset import WorkDirError
    from training.trainer import train as run_training

    overrides: dict[str, dict[str, Any]] = {"train": {}, "model": {}}
    for scope, f, kind in _recipe_fields():
        overrides[scope][f.name] = _from_option(kind, recipe.get(f.name))
    try:
        train_config = build_train_config(config, overrides["train"], overrides["model"])
    except (ValueError, TypeError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    if device not in ("auto", "cpu", "cuda"):
        raise typer.BadParameter("--device must be auto, cpu or cuda")
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        result = run_training(
            work,
            out,
            train_config,
            device=device,
            resume=resume,
            max_val=max_val,
            echo=typer.echo,
            max_iterations=max_iterations,
        )
    except (WorkDirError, CheckpointError, FileNotFoundError, ValueError, RuntimeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    except KeyboardInterrupt as exc:
        raise typer.Exit(code=130) from exc
    typer.echo(f"checkpoint: {result.out_dir} (best val rsum {result.best_rsum:.1f})")
    for name, recalls in result.best_recalls.items():
        shown = "  ".join(f"R@{k[1:]} {100 * v:5.1f}" for k, v in recalls.items())
        typer.echo(f"  {name:<9} {shown}")
    typer.echo(
        f"training speed: {result.train_tweets_per_s:.0f} tweets/s on {result.device} "
        f"({result.iterations} iterations, {result.train_seconds:.1f} s of training steps)"
    )
