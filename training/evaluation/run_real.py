"""`make eval-real`: every corpus given, end to end, for each preset, into one side-by-side report.

For each CORPUS and each preset: prepare (the default `--split auto`, so chronological 80/10/10 on
real data) -> train -> build-heads -> evaluate, each as its own `tweetembed` process, echoed first.
Finished steps are reused when their command line and inputs are unchanged (evaluate: also the
evaluation code); delete --dir to redo them. The comparison model is VSE++ (text +
image, trained by the same code with the joint model's TrainConfig); it is skipped with the reason
where it cannot apply (no images). Nothing here knows the corpora: every figure comes from the data.

The time budget is set by ``--max-iterations``: each model trains for as many whole epochs as fit in
that many optimizer steps (at most the preset's), and where one epoch is longer than that, for that
many steps of the first epoch; the report says what each model got.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_PRESETS_WITH_REAL = ("paper", "real")
DEFAULT_PRESETS = ("paper", "small")
FIG_PREFIX = "fig_"


def default_presets() -> tuple[str, ...]:
    """paper and the real-data preset, or paper and small where no real-data preset exists yet."""
    from model.config import PRESETS

    return DEFAULT_PRESETS_WITH_REAL if "real" in PRESETS else DEFAULT_PRESETS


class StepMissing(RuntimeError):
    """--report-only met a step that has not run (or ran with other inputs)."""


class Runner:
    def __init__(self, threads: int, log: list[dict[str, Any]], report_only: bool = False) -> None:
        self.env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        self.log = log
        self.report_only = report_only

    def run(
        self,
        args: list[str],
        label: str,
        stamp: Path | None = None,
        outputs: list[Path] | None = None,
        inputs: str = "",
    ) -> float:
        """Run ``tweetembed ARGS``; with ``stamp``, skip it when the same command (and ``inputs``)
        already produced ``outputs``. Returns the wall time in seconds (0 when skipped)."""
        key = hashlib.sha256((shlex.join(args) + "\n" + inputs).encode()).hexdigest()
        if stamp is not None and stamp.is_file() and all(p.exists() for p in outputs or []):
            done = json.loads(stamp.read_text(encoding="utf-8"))
            if done.get("key") == key:
                print(f"[{label}] up to date: tweetembed {shlex.join(args)}", file=sys.stderr, flush=True)
                self.log.append(
                    {
                        "step": label,
                        "seconds": 0.0,
                        "reused": True,
                        "first_seconds": float(done.get("seconds", 0.0)),
                        **({"first_cpu_s": float(done["cpu_s"])} if "cpu_s" in done else {}),
                    }
                )
                return 0.0
        if self.report_only:
            raise StepMissing(label)
        print("$ tweetembed " + shlex.join(args), file=sys.stderr, flush=True)
        started = time.perf_counter()
        cpu_before = _children_cpu_s()
        result = subprocess.run([sys.executable, "-m", "training.cli", *args], check=False, env=self.env)
        seconds = round(time.perf_counter() - started, 1)
        cpu_s = round(_children_cpu_s() - cpu_before, 1)
        if result.returncode != 0:
            raise SystemExit(f"step failed (exit {result.returncode}): tweetembed {shlex.join(args)}")
        if stamp is not None:
            stamp.parent.mkdir(parents=True, exist_ok=True)
            stamp.write_text(
                json.dumps({"key": key, "seconds": seconds, "cpu_s": cpu_s}) + "\n", encoding="utf-8"
            )
        self.log.append({"step": label, "seconds": seconds, "cpu_s": cpu_s, "reused": False})
        return seconds


def _children_cpu_s() -> float:
    """User + system CPU seconds of this process's finished children so far."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return children.ru_utime + children.ru_stime


def image_encoder_for(preset: str) -> tuple[str | None, str | None]:
    """The preset's image encoder, or the small CNN when its ImageNet weights are not in the torch
    cache (never downloaded here); the second item says why it was replaced."""
    from model.config import PRESETS

    encoder = PRESETS[preset].model.image_encoder
    if encoder.startswith("resnet"):
        from model.resnet import WeightsUnavailableError, check_weights

        try:
            check_weights(encoder)
        except WeightsUnavailableError:
            return "convnet", f"the ImageNet weights of {encoder} are not in the torch cache"
    return None, None


def training_budget(preset: str, train_tweets: int, max_iterations: int | None) -> tuple[int, int | None]:
    """Whole epochs within ``max_iterations`` optimizer steps (at least 1, at most the preset's), and
    the step limit to pass to ``train`` when even one epoch is longer than the budget (else None).
    ``None``: the preset's own recipe, all its epochs."""
    from model.config import PRESETS

    config = PRESETS[preset]
    if max_iterations is None:
        return config.epochs, None
    per_epoch = max(1, math.ceil(train_tweets / config.batch_size))
    epochs = max(1, min(config.epochs, max_iterations // per_epoch))
    return epochs, (max_iterations if per_epoch > max_iterations else None)


def corpus_pipeline(
    corpus: Path, preset: str, root: Path, out: Path, runner: Runner, args: argparse.Namespace
) -> dict[str, Any]:
    """prepare -> train -> build-heads -> evaluate one corpus with one preset; returns what was run."""
    base = root / corpus.name / preset
    work, ckpt, report = base / "work", base / "checkpoint", out / corpus.name / preset
    encoder, why = image_encoder_for(preset)
    prepare = [
        "prepare",
        str(corpus),
        "--out",
        str(work),
        "--config",
        preset,
        "--threads",
        str(args.threads),
        "-q",
    ]
    if encoder:
        prepare += ["--image-encoder", encoder]
    seconds: dict[str, float] = {}
    from model import checkpoint as ck
    from model.heads.loader import HEADS_DIR
    from training.artifacts import WorkLayout
    from training.prepare.source import data_stamp

    seconds["prepare"] = runner.run(
        prepare,
        f"{corpus.name}/{preset}: prepare",
        base / "prepare.stamp",
        [WorkLayout(work).prepare_json],
        json.dumps(data_stamp(corpus), sort_keys=True, default=str),
    )
    manifest = json.loads(WorkLayout(work).prepare_json.read_text(encoding="utf-8"))
    tweets = manifest["counts"]["tweets"]
    budget = args.budgets.get(preset, args.max_iterations)
    epochs, step_limit = training_budget(preset, int(tweets["train"]), budget)
    train = [
        "train",
        str(work),
        "--config",
        preset,
        "--out",
        str(ckpt),
        "--epochs",
        str(epochs),
        "--seed",
        str(args.seed),
        "--device",
        args.device,
        "--threads",
        str(args.threads),
    ]
    if step_limit is not None:
        train += ["--max-iterations", str(step_limit)]
    fingerprint = json.dumps(manifest["fingerprints"], sort_keys=True) + json.dumps(
        manifest.get("steps", {}), sort_keys=True
    )
    seconds["train"] = runner.run(
        train, f"{corpus.name}/{preset}: train", base / "train.stamp", [ckpt / ck.MANIFEST], fingerprint
    )
    # The trained weights identify the checkpoint (its manifest changes when build-heads adds heads/).
    ckpt_id = ck.sha256_file(ckpt / ck.MODEL_WEIGHTS)
    heads = ["build-heads", str(ckpt), str(work), "--device", args.device]
    seconds["build_heads"] = runner.run(
        heads,
        f"{corpus.name}/{preset}: build-heads",
        base / "heads.stamp",
        [ckpt / HEADS_DIR],
        ckpt_id + _code_digest("training/heads", "training/baselines", "model/heads"),
    )
    evaluate = [
        "evaluate",
        str(ckpt),
        str(work),
        "--out",
        str(report),
        "--device",
        args.device,
        "--no-ablations",
        "--no-larger-forest",
        "--no-cnn",
        # Every preset of one corpus gets the same split, so the baselines are fitted once per corpus.
        "--baseline-cache",
        str(root / corpus.name / "baselines"),
        *[arg for c in args.comparison for arg in ("--comparison", c)],
        *(["--max-iterations", str(step_limit)] if step_limit is not None else []),
    ]
    seconds["evaluate"] = runner.run(
        [
            *evaluate,
            "--made-by",
            "python -m training.evaluation.run_real   # make eval-real\n"
            + "\n".join("tweetembed " + shlex.join(a) for a in (prepare, train, heads, evaluate)),
        ],
        f"{corpus.name}/{preset}: evaluate",
        base / "evaluate.stamp",
        [report / "metrics.json"],
        # The manifest lists the heads' hashes: evaluate scores the served location head, so new
        # heads rerun it.
        ckpt_id + ck.manifest_digest(ckpt) + _evaluation_code_digest(),
    )
    return {
        "corpus": corpus.name,
        "data": str(corpus),
        "preset": preset,
        "epochs": epochs,
        "step_limit": step_limit,
        "budget": budget,
        "image_encoder_note": why,
        "tweets": tweets,
        "seconds": seconds,
        "commands": [shlex.join(a) for a in (prepare, train, heads, evaluate)],
        "metrics": str(report / "metrics.json"),
        "report": str(report / "report.md"),
    }


def _code_digest(*packages: str) -> str:
    """The content of PACKAGE/*.py (from the repository root) for each package: changed head code,
    fitting (training/heads; the location head's choice uses the baselines' grid rule) or the heads
    themselves (model/heads), refits the heads."""
    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for package in packages:
        for path in sorted((root / package).glob("*.py")):
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _evaluation_code_digest() -> str:
    """The evaluation and baseline code's content: a changed harness reruns evaluate, a rerun of the
    same code on the same checkpoint reuses its metrics.json."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted([*(root / "evaluation").glob("*.py"), *(root / "baselines").glob("*.py")]):
        if path.name not in {"run_real.py", "real_report.py"}:  # these do not change metrics.json
            digest.update(path.read_bytes())
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("corpora", nargs="+", type=Path, help="data directories or files (any reader format)")
    parser.add_argument("--out", type=Path, default=Path("docs/evaluation/real"), help="report directory")
    parser.add_argument("--dir", type=Path, default=Path("work/eval_real"), help="WORK dirs and checkpoints")
    parser.add_argument(
        "--presets",
        default=None,
        help="comma-separated presets (default: paper,real, or paper,small without real)",
    )
    parser.add_argument(
        "--max-iterations",
        type=int,
        default=60,
        help="optimizer steps each model may take: whole epochs within it, or that many steps of the first",
    )
    parser.add_argument(
        "--iterations",
        action="append",
        default=None,
        metavar="PRESET=N",
        help="another step budget for one preset (repeatable), e.g. paper=6 where its steps are slow; "
        "PRESET=full: the preset's own epochs, no step limit",
    )
    parser.add_argument(
        "--comparison",
        action="append",
        default=None,
        help="comparison models evaluate trains (repeatable; default vsepp)",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: write the report from the finished steps, naming the rows still missing",
    )
    parser.add_argument(
        "--budget-minutes",
        type=float,
        default=40.0,
        help="the wall-time budget the report checks the run against (issue 12: 40 min on 2 cores)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    args.comparison = args.comparison or ["vsepp"]
    args.budgets = {}
    for item in args.iterations or []:
        name, sep, value = item.partition("=")
        if sep and value == "full":
            args.budgets[name] = None
            continue
        if not sep or not value.isdigit() or int(value) < 1:
            raise SystemExit(f"--iterations wants PRESET=N with N >= 1 or PRESET=full, got {item!r}")
        args.budgets[name] = int(value)
    presets = tuple(p for p in (args.presets.split(",") if args.presets else default_presets()) if p)
    from model.config import PRESETS

    unknown = [p for p in presets if p not in PRESETS]
    if unknown:
        raise SystemExit(f"unknown preset(s) {', '.join(unknown)}; known: {', '.join(PRESETS)}")
    missing = [str(c) for c in args.corpora if not c.exists()]
    if missing:
        raise SystemExit(f"no such corpus: {', '.join(missing)}")
    log: list[dict[str, Any]] = []
    runner = Runner(args.threads, log, report_only=args.report_only)
    started = time.perf_counter()
    load_start = os.getloadavg()
    runs = []
    for corpus in args.corpora:
        for preset in presets:
            try:
                runs.append(corpus_pipeline(corpus.resolve(), preset, args.dir, args.out, runner, args))
            except StepMissing as missing_step:
                runs.append({"corpus": corpus.resolve().name, "preset": preset, "missing": str(missing_step)})
    from training.evaluation.real_report import write_real_report

    summary = {
        "presets": list(presets),
        "max_iterations": args.max_iterations,
        "budgets": args.budgets,
        "report_only": args.report_only,
        "threads": args.threads,
        "device": args.device,
        "wall_s": round(time.perf_counter() - started, 1),
        "load_average": {
            "start": [round(x, 2) for x in load_start],
            "end": [round(x, 2) for x in os.getloadavg()],
        },
        "cpus": os.cpu_count(),
        "budget_minutes": args.budget_minutes,
        # user + system time of every step process (skipped steps add nothing)
        "cpu_s": round(_children_cpu_s(), 1),
        "steps": log,
        "runs": runs,
        "command": "python -m training.evaluation.run_real "
        + shlex.join(sys.argv[1:] if argv is None else argv),
    }
    path = write_real_report(summary, args.out)
    print(f"report: {path} ({summary['wall_s']} s)", flush=True)


if __name__ == "__main__":
    main()
