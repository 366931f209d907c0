"""``tweetembed train WORK --config small|paper --out CKPT``: train the joint embedding model."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer

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


def train(
    work: Annotated[Path, typer.Argument(help="WORK directory written by `tweetembed prepare`.")],
    out: Annotated[Path, typer.Option("--out", help="Checkpoint directory (best model by val rsum).")],
    config: Annotated[str, typer.Option("--config", help=CONFIG_HELP)] = "small",
    epochs: Annotated[int | None, typer.Option(help="Training epochs.")] = None,
    lr: Annotated[float | None, typer.Option(help="Adam learning rate.")] = None,
    lr_decay_epoch: Annotated[int | None, typer.Option(help="Epoch from which lr is x0.1.")] = None,
    grad_clip: Annotated[float | None, typer.Option(help="Gradient L2-norm clip.")] = None,
    margin: Annotated[float | None, typer.Option(help="Hinge margin.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Tweets per batch (in-batch negatives).")] = None,
    val_every: Annotated[int | None, typer.Option(help="Validate every N iterations and each epoch.")] = None,
    loss: Annotated[str | None, typer.Option(help="max_violation (VSE++) or sum_violation (VSE0).")] = None,
    loss_target: Annotated[
        str | None,
        typer.Option(
            help="Positive of each component: average (paper, the tweet average) or others "
            "(mean of the tweet's other components)."
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (CPU runs are reproducible).")] = None,
    dim: Annotated[int | None, typer.Option(help="Joint embedding dimension.")] = None,
    gru_layers: Annotated[int | None, typer.Option(help="GRU layers of the text branch.")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Tokens kept per text.")] = None,
    image_feature_dim: Annotated[int | None, typer.Option(help="Small-CNN feature width.")] = None,
    components: Annotated[
        str | None,
        typer.Option(help="Comma-separated subset of text,image,hashtags,location,user (ablations)."),
    ] = None,
    hashtag_encoder: Annotated[
        str | None,
        typer.Option(
            help="Hashtag branch input: fasttext (mean vector of the tags) or minilm (MiniLM of the tags' "
            "words; needs a WORK prepared with the MiniLM text encoder)."
        ),
    ] = None,
    text_hidden: Annotated[
        int | None,
        typer.Option(help="MiniLM text branch: hidden width of the MLP on top (0: one linear layer)."),
    ] = None,
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
) -> None:
    """Train the five-branch joint embedding model (paper Eq. 2-3) and write a servable checkpoint."""
    import torch

    from model.checkpoint import CheckpointError
    from training.dataset import WorkDirError
    from training.trainer import train as run_training

    comps = tuple(c.strip() for c in components.split(",") if c.strip()) if components else None
    try:
        train_config = build_train_config(
            config,
            {
                "epochs": epochs,
                "lr": lr,
                "lr_decay_epoch": lr_decay_epoch,
                "grad_clip": grad_clip,
                "margin": margin,
                "batch_size": batch_size,
                "val_every": val_every,
                "loss": loss,
                "seed": seed,
                "loss_target": loss_target,
            },
            {
                "dim": dim,
                "gru_layers": gru_layers,
                "max_tokens": max_tokens,
                "image_feature_dim": image_feature_dim,
                "components": comps,
                "hashtag_encoder": hashtag_encoder,
                "text_hidden": text_hidden,
            },
        )
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
