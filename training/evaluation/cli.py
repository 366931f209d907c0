"""``tweetembed evaluate CKPT DATA --out REPORT_DIR``: metrics.json, report.md and PNG figures."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer


def evaluate(
    ckpt: Annotated[Path, typer.Argument(help="Joint-model checkpoint (from `tweetembed train`).")],
    data: Annotated[
        Path,
        typer.Argument(
            help="Prepared WORK directory the checkpoint was trained on "
            "(needed to train comparison models), or raw data."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Report directory (metrics.json, report.md, *.png).")],
    bot_labels: Annotated[
        Path | None,
        typer.Option(
            help="user_id,label CSV or PAN truth.txt; default DATA/bot_labels.csv or DATA/truth.txt."
        ),
    ] = None,
    bot_test_labels: Annotated[
        Path | None,
        typer.Option(
            help="Separate test users' labels; without it, bots are scored by 5-fold cross-validation."
        ),
    ] = None,
    vsepp: Annotated[
        Path | None, typer.Option(help="Trained text+image checkpoint (VSE++ baseline).")
    ] = None,
    vsepp_hashtags: Annotated[
        Path | None, typer.Option(help="Trained text+image checkpoint whose text was the hashtags.")
    ] = None,
    ablation: Annotated[
        list[str] | None,
        typer.Option(help="COMPONENT=CKPT: the joint model trained without COMPONENT (repeatable)."),
    ] = None,
    train_missing: Annotated[
        bool,
        typer.Option(help="Train comparison models not given as checkpoints (same code and recipe as CKPT)."),
    ] = True,
    ablations: Annotated[bool, typer.Option(help="Evaluate the leave-one-component-out models.")] = True,
    comparison: Annotated[
        list[str] | None,
        typer.Option(
            help="Run only these comparison models (repeatable): vsepp, vsepp_hashtags, "
            "text_image_joint_loss, paper_loss, without_<component>. Default: all."
        ),
    ] = None,
    max_iterations: Annotated[
        int | None,
        typer.Option(
            help="Stop each comparison model's training after this many optimizer steps (give the joint "
            "model's own `train --max-iterations`, so that both had the same budget).",
            min=1,
        ),
    ] = None,
    models_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where trained comparison models go (default DATA/eval_models; reused when present)."
        ),
    ] = None,
    larger_forest: Annotated[
        bool,
        typer.Option(
            help="Also fit the larger location forest once to report the accuracy cost of the head's."
        ),
    ] = True,
    cnn: Annotated[bool, typer.Option(help="Also evaluate the Kim-CNN bot head.")] = True,
    forest_trees: Annotated[int, typer.Option(help="Location forest of the head: trees.")] = 100,
    forest_depth: Annotated[
        int, typer.Option(help="Location forest of the head: max depth (0 = unlimited).")
    ] = 40,
    forest_leaf: Annotated[int, typer.Option(help="Location forest of the head: min samples per leaf.")] = 1,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    baseline_cache: Annotated[
        Path | None,
        typer.Option(
            help="Keep the baselines' metrics here, keyed by the split files and the baseline code, "
            "and reuse them (another preset on the same corpus and split)."
        ),
    ] = None,
    made_by: Annotated[
        str | None, typer.Option(hidden=True, help="Command line to quote in the report.")
    ] = None,
) -> None:
    """Evaluate the joint model on retrieval, hashtags, location and bots against baselines and ablations."""
    from training.cli_common import options_from
    from training.evaluation.harness import EvalOptions, run_evaluation
    from training.evaluation.report import write_report
    from training.heads.fit_location import LARGER_FOREST, ForestParams

    parsed: dict[str, Path] = {}
    for item in ablation or []:
        name, sep, path = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"--ablation wants COMPONENT=CKPT, got {item!r}")
        parsed[name.strip()] = Path(path)
    # ablations and larger_forest are also parameters here, meaning something else: overridden
    options = options_from(
        EvalOptions,
        locals(),
        ablations=parsed,
        run_ablations=ablations,
        forest=ForestParams.from_options(forest_trees, forest_depth, forest_leaf),
        larger_forest=LARGER_FOREST if larger_forest else None,
        comparisons=tuple(comparison) if comparison else None,
    )
    metrics = run_evaluation(ckpt, data, options, echo=typer.echo)
    command = (
        "tweetembed evaluate " + " ".join(shlex.quote(a) for a in sys.argv[2:])
        if len(sys.argv) > 1 and sys.argv[1] == "evaluate"
        else None
    )
    report = write_report(metrics, out, made_by or command)
    typer.echo(report.read_text(encoding="utf-8").split("## Image retrieval")[0])
    typer.echo(f"report: {report}  metrics: {out / 'metrics.json'}")
