"""What the benchmarks need, built when missing (a fresh clone works): a synthetic world, its WORK
directories for the small and paper presets, a briefly trained small checkpoint with its heads (the
demo-size model), and an untrained paper-size checkpoint (dim 1024, 300-d words: speed does not
depend on the weights' values)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.service_proc import ROOT


@dataclass
class Artifacts:
    world: Path
    work_small: Path
    work_paper: Path
    ckpt_small: Path
    ckpt_paper: Path
    # The real-data preset (MiniLM text, EfficientNet-Lite0 images) on its own, smaller synthetic world:
    # its prepare runs MiniLM over every text, and serving speed does not depend on the corpus size.
    world_real: Path | None = None
    work_real: Path | None = None
    ckpt_real: Path | None = None
    train_tweets_per_s: float | None = None  # small preset, measured while building ckpt_small
    built: dict[str, float] = dataclasses.field(default_factory=dict)  # step -> seconds, this run


BOT_METHOD = "forest"
"""The bot head the bench's checkpoints are built with. build-heads' default, ``select``,
cross-validates every candidate detector (tens of minutes per checkpoint on a 2-core machine); the
bench measures serving, so it fits one detector, the forest over behaviour and embedding features,
and its report says so beside the /bot-score row."""


def tweetembed(args: list[str], log: Path) -> float:
    """Run one `tweetembed` command (as a user would); returns its wall time. Raises on failure."""
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with open(log, "ab") as handle:
        handle.write(("$ tweetembed " + " ".join(args) + "\n").encode())
        handle.flush()
        result = subprocess.run(
            [sys.executable, "-m", "training.cli", *args],
            cwd=ROOT,
            stdout=handle,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"`tweetembed {' '.join(args)}` failed ({result.returncode}):\n{tail}")
    return time.perf_counter() - started


def train_briefly(
    work: Path,
    out: Path,
    preset: str,
    iterations: int,
    batch_size: int | None = None,
    echo: Callable[[str], None] = print,
    device: str = "cpu",
) -> float:
    """A servable checkpoint after ``iterations`` optimizer steps of the preset's recipe (0 is not
    allowed by the trainer: one step at least); returns the training throughput in tweets/s."""
    from model.config import PRESETS
    from training.trainer import train

    config = PRESETS[preset]
    if batch_size is not None:
        config = dataclasses.replace(config, batch_size=batch_size)
    result = train(
        work,
        out,
        config,
        device=device,
        max_val=200,
        progress=False,
        echo=echo,
        max_iterations=max(1, iterations),
    )
    return result.train_tweets_per_s


def ensure(
    base: Path,
    world: Path | None = None,
    work_small: Path | None = None,
    work_paper: Path | None = None,
    ckpt_small: Path | None = None,
    tweets: int = 20_000,
    train_iterations: int = 12,
    echo: Callable[[str], None] = print,
    real_tweets: int = 5_000,
) -> Artifacts:
    """Everything under ``base`` unless given; each missing piece is built and its time recorded."""
    log = base / "build.log"
    art = Artifacts(
        world or base / "world",
        work_small or base / "work-small",
        work_paper or base / "work-paper",
        ckpt_small or base / "ckpt-small",
        base / "ckpt-paper",
    )
    if real_tweets > 0:
        art.world_real, art.work_real, art.ckpt_real = (
            base / f"world-real-{real_tweets}",
            base / f"work-real-{real_tweets}",
            base / f"ckpt-real-{real_tweets}",
        )
    if not (art.world / "tweets.jsonl").is_file():
        echo(f"building a {tweets}-tweet synthetic world in {art.world}")
        art.built["synth"] = tweetembed(["synth", "--out", str(art.world), "--tweets", str(tweets)], log)
    for preset, work in (("small", art.work_small), ("paper", art.work_paper)):
        if not (work / "prepare.json").is_file():
            echo(f"preparing {work} (--config {preset})")
            art.built[f"prepare {preset}"] = tweetembed(
                ["prepare", str(art.world), "--out", str(work), "--config", preset], log
            )
    if not (art.ckpt_small / "manifest.json").is_file():
        echo(f"training the small checkpoint {art.ckpt_small} ({train_iterations} steps)")
        started = time.perf_counter()
        art.train_tweets_per_s = train_briefly(
            art.work_small, art.ckpt_small, "small", train_iterations, echo=echo
        )
        art.built["train small"] = time.perf_counter() - started
    if ckpt_small is not None and not (ckpt_small / "heads" / "heads.json").is_file():
        # never write into a checkpoint the user gave
        raise ValueError(f"{ckpt_small} has no heads: run `tweetembed build-heads` on it first")
    if not (art.ckpt_small / "heads" / "heads.json").is_file():
        echo(f"building the heads of {art.ckpt_small}")
        art.built["build-heads small"] = tweetembed(
            ["build-heads", str(art.ckpt_small), str(art.work_small), "--bot-method", BOT_METHOD], log
        )
    if not (art.ckpt_paper / "manifest.json").is_file():
        echo(f"writing the paper-size checkpoint {art.ckpt_paper} (1 step, untrained)")
        started = time.perf_counter()
        train_briefly(art.work_paper, art.ckpt_paper, "paper", 1, batch_size=16, echo=echo)
        art.built["write paper checkpoint"] = time.perf_counter() - started
    if art.world_real is not None and art.work_real is not None and art.ckpt_real is not None:
        _ensure_real(
            art.world_real, art.work_real, art.ckpt_real, real_tweets, train_iterations, log, art, echo
        )
    return art


def _ensure_real(
    world: Path,
    work: Path,
    ckpt: Path,
    tweets: int,
    iterations: int,
    log: Path,
    art: Artifacts,
    echo: Callable[[str], None],
) -> None:
    if not (world / "tweets.jsonl").is_file():
        echo(f"building a {tweets}-tweet synthetic world for the real preset in {world}")
        art.built["synth real"] = tweetembed(["synth", "--out", str(world), "--tweets", str(tweets)], log)
    if not (work / "prepare.json").is_file():
        echo(f"preparing {work} (--config real --image-encoder efficientnet_lite0)")
        art.built["prepare real"] = tweetembed(
            [
                "prepare",
                str(world),
                "--out",
                str(work),
                "--config",
                "real",
                "--image-encoder",
                "efficientnet_lite0",
            ],
            log,
        )
    if not (ckpt / "manifest.json").is_file():
        echo(f"training the real checkpoint {ckpt} ({iterations} steps)")
        started = time.perf_counter()
        train_briefly(work, ckpt, "real", iterations, echo=echo)
        art.built["train real"] = time.perf_counter() - started
    if not (ckpt / "heads" / "heads.json").is_file():
        echo(f"building the heads of {ckpt}")
        art.built["build-heads real"] = tweetembed(
            ["build-heads", str(ckpt), str(work), "--bot-method", BOT_METHOD], log
        )


def time_pipeline(base: Path, tweets: int, echo: Callable[[str], None] = print) -> dict[str, float]:
    """Wall time of `synth` and `prepare --config small` for ``tweets`` tweets, from scratch."""
    import shutil

    out = base / f"pipeline-{tweets}"
    shutil.rmtree(out, ignore_errors=True)
    log = base / "pipeline.log"
    echo(f"timing synth + prepare on {tweets} tweets in {out}")
    times = {"synth": tweetembed(["synth", "--out", str(out / "world"), "--tweets", str(tweets)], log)}
    times["prepare"] = tweetembed(
        ["prepare", str(out / "world"), "--out", str(out / "work"), "--config", "small"], log
    )
    shutil.rmtree(out, ignore_errors=True)
    return times
