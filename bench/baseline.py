"""Another commit's source tree, for before/after figures measured in the same `make bench` run.

The tree is `git archive` of the commit, unpacked once under the bench directory (no worktree, so
nothing in .git changes); its service runs from there with this checkout's virtual environment and
serves this run's checkpoints, so only the code differs between the two rows.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

from bench.service_proc import ROOT


def resolve(ref: str) -> str:
    """The full commit id of ``ref`` (a clear error when it is not a commit of this repository)."""
    done = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--verify", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"--baseline {ref!r} is not a commit of {ROOT}: {done.stderr.strip()}")
    return done.stdout.strip()


def source_tree(ref: str, base: Path) -> Path:
    """The tree of ``ref``, unpacked under ``base`` (reused when already there)."""
    commit = resolve(ref)
    out = base / f"baseline-{commit[:12]}"
    if (out / ".complete").exists():
        return out
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit], capture_output=True, check=True
    ).stdout
    out.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(out, filter="data")
    (out / ".complete").write_text(commit + "\n")
    return out
