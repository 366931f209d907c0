"""The baselines depend on the splits alone: with --baseline-cache a second preset on the same
splits reuses their metrics, and a change of split is fitted again."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from training.evaluation.harness import EvalOptions, _cached_baselines, baseline_key


class StubEvaluation:
    def __init__(self) -> None:
        self.calls = 0
        self.timings: dict[str, float] = {}
        self.splits = SimpleNamespace(bot_labels_source=None)

    def baselines(self) -> dict[str, Any]:
        self.calls += 1
        self.timings["baselines: location"] = 1.5
        return {"location": {"TF-IDF": {"accuracy": 50.0 + self.calls}}}


def _work(root: Path, test_text: str) -> Path:
    splits = root / "splits"
    splits.mkdir(parents=True)
    for name in ("train", "val"):
        (splits / f"{name}.jsonl").write_text('{"id": "1", "text": "a"}\n')
    (splits / "test.jsonl").write_text(test_text)
    return root


def test_second_preset_reuses_the_baselines_and_a_new_split_does_not(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    options = EvalOptions(baseline_cache=cache)
    paper, real = _work(tmp_path / "paper", '{"id": "2"}\n'), _work(tmp_path / "real", '{"id": "2"}\n')
    first = StubEvaluation()
    got = _cached_baselines(first, paper, options, lambda _: None)  # type: ignore[arg-type]
    second = StubEvaluation()
    again = _cached_baselines(second, real, options, lambda _: None)  # type: ignore[arg-type]
    assert first.calls == 1 and second.calls == 0
    assert again == got == {"location": {"TF-IDF": {"accuracy": 51.0}}}
    assert second.timings == {"baselines: location (reused)": 0.0}
    other = _work(tmp_path / "other", '{"id": "3"}\n')
    assert baseline_key(other, None) != baseline_key(paper, None)
    third = StubEvaluation()
    _cached_baselines(third, other, options, lambda _: None)  # type: ignore[arg-type]
    assert third.calls == 1


def test_without_a_cache_or_a_work_dir_the_baselines_always_run(tmp_path: Path) -> None:
    work = _work(tmp_path / "w", '{"id": "2"}\n')
    for options, data in ((EvalOptions(), work), (EvalOptions(baseline_cache=tmp_path / "c"), tmp_path)):
        stub = StubEvaluation()
        _cached_baselines(stub, data, options, lambda _: None)  # type: ignore[arg-type]
        _cached_baselines(stub, data, options, lambda _: None)  # type: ignore[arg-type]
        assert stub.calls == 2
