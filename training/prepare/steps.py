"""Skip-if-done bookkeeping: each prepare step is keyed by a hash of everything it reads.

The key of a step holds its options and the content fingerprints of the splits it reads, so a
rerun with the same inputs skips it and a changed option reruns exactly the steps that depend on
that option. The state lives in WORK/prepare.json and is saved after every step, so an interrupted
prepare keeps the steps it finished.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATE_FILE = "prepare.json"
STATE_VERSION = 1


def input_hash(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class StepOutcome:
    name: str
    skipped: bool
    seconds: float
    info: dict[str, Any]  # counts and fingerprints the step produced (kept from the earlier run when skipped)


class PrepareState:
    """WORK/prepare.json: per-step input hashes and results, plus the run's summary fields."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.path = work / STATE_FILE
        self.data: dict[str, Any] = {}
        if self.path.is_file():
            try:
                loaded = json.loads(self.path.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                loaded = {}
            if isinstance(loaded, dict) and loaded.get("version") == STATE_VERSION:
                self.data = loaded
        self.data["version"] = STATE_VERSION
        self.data.setdefault("steps", {})

    @property
    def steps(self) -> dict[str, Any]:
        steps: dict[str, Any] = self.data["steps"]
        return steps

    def save(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data, indent=2, sort_keys=True), encoding="utf-8")
        tmp.replace(self.path)

    def run(
        self,
        name: str,
        key: dict[str, Any],
        outputs: Sequence[Path],
        work: Callable[[], dict[str, Any]],
        echo: Callable[[str], None] = print,
    ) -> StepOutcome:
        """Run ``work`` unless the step last ran with the same key and its outputs still exist."""
        digest = input_hash(key)
        previous = self.steps.get(name)
        if (
            isinstance(previous, dict)
            and previous.get("input_hash") == digest
            and all(p.exists() for p in outputs)
        ):
            echo(f"[{name}] skipped (up to date)")
            return StepOutcome(name, True, 0.0, dict(previous.get("info", {})))
        echo(f"[{name}] running")
        # Forget the old result first: if this run dies, the step must not look done next time.
        self.steps.pop(name, None)
        self.save()
        start = time.perf_counter()
        info = work()
        seconds = time.perf_counter() - start
        self.steps[name] = {"input_hash": digest, "key": key, "info": info, "seconds": round(seconds, 3)}
        self.save()
        echo(f"[{name}] done in {seconds:.1f} s")
        return StepOutcome(name, False, seconds, info)
