"""Running the real CLI from the checkout, and copying a shared checkpoint before changing it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
E2E_TWEETS = 2000  # the synthetic world of the suite's end-to-end pipeline (tests/conftest.py)


def run_cli(*args: str | Path) -> str:
    """``tweetembed ARGS`` in a child process, from the checkout; its stdout, or a failure with its tail.

    torch gets one thread: on a 2-core machine whose cores are busy, its default of one thread per
    core waits on itself and a step takes several times longer."""
    result = subprocess.run(
        [sys.executable, "-m", "training.cli", *map(str, args)],
        cwd=ROOT,
        env=os.environ | {"OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    tail = f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert result.returncode == 0, f"tweetembed {args[0]} failed:\n{tail}"
    return result.stdout


def copy_checkpoint(ckpt: Path, to: Path) -> Path:
    """A copy of a shared checkpoint that a test may change (heads and all; training state left out)."""
    shutil.copytree(ckpt, to, ignore=shutil.ignore_patterns("train_state"))
    return to
