"""`make eval`: the default synthetic world end to end, report into docs/evaluation/.

synth (20k tweets, seed 0) -> prepare (small) -> train (small) -> build-heads -> evaluate, each as
its own `tweetembed` process, echoed first; finished steps are reused (delete --dir to redo them).
Comparison models (VSE++, VSE++ with hashtags as text, ablations) are trained by `evaluate`
itself with the same recipe, into WORK/eval_models.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import shutil
import subprocess
import sys
from pathlib import Path


def run(args: list[str]) -> None:
    print("$ tweetembed " + shlex.join(args), file=sys.stderr, flush=True)
    result = subprocess.run([sys.executable, "-m", "training.cli", *args], check=False)
    if result.returncode != 0:
        raise SystemExit(f"step failed (exit {result.returncode}): tweetembed {shlex.join(args)}")


def _trained_with(ckpt: Path, preset: str, seed: int) -> bool:
    """Whether ``ckpt`` was trained with ``preset`` and ``seed`` (a preset's recipe can change)."""
    from model.config import PRESETS
    from training.evaluation.variants import same_recipe, train_config_of

    wanted = dataclasses.replace(PRESETS[preset], seed=seed)
    return same_recipe(train_config_of(ckpt), wanted, same_data=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--dir", type=Path, default=Path("work/eval_default"), help="world, WORK, checkpoints"
    )
    parser.add_argument("--out", type=Path, default=Path("docs/evaluation"), help="report directory")
    parser.add_argument("--tweets", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", default="small")
    parser.add_argument("--device", default="auto")
    parser.add_argument("extra", nargs="*", help="extra options passed to `tweetembed evaluate`")
    args = parser.parse_args(argv)
    from model.checkpoint import MANIFEST
    from training.prepare.source import WORLD_TWEETS

    world, work, ckpt = args.dir / "world", args.dir / "work", args.dir / "checkpoint"
    steps: list[list[str]] = []
    if not (world / WORLD_TWEETS).exists():
        steps.append(["synth", "--out", str(world), "--tweets", str(args.tweets), "--seed", str(args.seed)])
    steps.append(["prepare", str(world), "--out", str(work), "--config", args.config])
    if (ckpt / MANIFEST).exists() and not _trained_with(ckpt, args.config, args.seed):
        print(f"{ckpt} was trained with another recipe: training it again", flush=True)
        shutil.rmtree(ckpt)
    if not (ckpt / MANIFEST).exists():
        steps.append(
            [
                "train",
                str(work),
                "--config",
                args.config,
                "--out",
                str(ckpt),
                "--seed",
                str(args.seed),
                "--device",
                args.device,
            ]
        )
    steps.append(["build-heads", str(ckpt), str(work), "--device", args.device])
    evaluate = [
        "evaluate",
        str(ckpt),
        str(work),
        "--out",
        str(args.out),
        "--device",
        args.device,
        *args.extra,
    ]
    made_by = "make eval   # = python -m training.evaluation.run_default, i.e.\n" + "\n".join(
        "tweetembed " + shlex.join(s)
        for s in [
            ["synth", "--out", str(world), "--tweets", str(args.tweets), "--seed", str(args.seed)],
            ["prepare", str(world), "--out", str(work), "--config", args.config],
            ["train", str(work), "--config", args.config, "--out", str(ckpt), "--seed", str(args.seed)],
            ["build-heads", str(ckpt), str(work)],
            evaluate,
        ]
    )
    for step in steps:
        run(step)
    run([*evaluate, "--made-by", made_by])


if __name__ == "__main__":
    main()
