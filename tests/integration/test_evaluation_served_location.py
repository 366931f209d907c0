"""`evaluate` scores the location head the checkpoint serves, not one of its own: on the tiny seeded
world, the served row equals what the service's own code (ModelBackend.predict_location) answers
with the checkpoint's head, whatever that head is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.engine.model_backend import ModelBackend
from model.checkpoint import write_manifest
from model.heads.loader import HEADS_DIR, load_heads
from model.heads.location_head import LocationContext, location_features
from tests.heads_support import DIM, FakeEmbedder, tiny_tweets, write_work_dir
from training.evaluation.harness import JOINT, EvalOptions, run_evaluation
from training.evaluation.location import NO_SERVED_HEAD, city_classes, place_coordinates, scores
from training.evaluation.report import PAPER_FOREST, write_report
from training.heads.build import BuildHeadsOptions, run_build_heads
from training.heads.data import load_splits
from training.heads.embedding import embed_all, profile_embeddings
from training.heads.fit_location import ForestParams, city_label, fit_linear, save_forest

FOREST = ForestParams(n_estimators=10, n_jobs=1)


def _options() -> EvalOptions:
    return EvalOptions(
        train_missing=False, run_ablations=False, forest=FOREST, larger_forest=None, cnn=False, comparisons=()
    )


@pytest.fixture()
def world(tmp_path: Path) -> tuple[Path, Path]:
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps({"dim": DIM}))
    write_manifest(ckpt)
    work = write_work_dir(tmp_path, tiny_tweets(300))
    (work / "bot_labels.csv").unlink()  # bots are not what this measures
    return ckpt, work


def _service_accuracy(ckpt: Path, work: Path) -> dict[str, Any]:
    """The served head on the evaluation's location test tweets, through the service's code path."""
    splits = load_splits(work, None)
    classes = city_classes(splits.train)
    test = [t for t in splits.test if city_label(t) in classes]
    embedder = FakeEmbedder()
    embedder.checkpoint_digest = "fake"  # type: ignore[attr-defined]  # what ModelBackend records
    backend = ModelBackend(embedder, load_heads(ckpt), ckpt)  # type: ignore[arg-type]
    guesses = backend.predict_location(embed_all(embedder, test), LocationContext.of(test), k=1)
    return scores([g[0].place_id for g in guesses], test, place_coordinates(splits.all_tweets()))


def _evaluate(ckpt: Path, work: Path) -> dict[str, Any]:
    return run_evaluation(ckpt, work, _options(), embedder=FakeEmbedder(), echo=lambda _: None)


def test_the_location_row_is_the_head_the_checkpoint_serves(world: tuple[Path, Path]) -> None:
    ckpt, work = world
    run_build_heads(ckpt, work, BuildHeadsOptions(forest=FOREST), FakeEmbedder())
    built = json.loads((ckpt / HEADS_DIR / "heads.json").read_text())["heads"]["location"]
    loc = _evaluate(ckpt, work)["joint"]["location"]
    served = loc["served_head"]
    want = _service_accuracy(ckpt, work)
    assert {k: served[k] for k in want} == want
    assert served["source"] == "checkpoint" and served["selection"] == built["selection"]
    assert served["kind"] == built["kind"] and served["classes"] == built["classes"]


def test_the_row_follows_the_checkpoints_head_not_a_refitted_one(world: tuple[Path, Path]) -> None:
    # A served head unlike anything evaluate would fit: a linear head trained to answer the next
    # topic's city. The row must follow the checkpoint's head, not a refitted one.
    ckpt, work = world
    run_build_heads(ckpt, work, BuildHeadsOptions(forest=FOREST), FakeEmbedder())
    splits = load_splits(work, None)
    train = [t for t in splits.train if city_label(t)]
    embedder = FakeEmbedder()
    x = location_features(embed_all(embedder, train), *profile_embeddings(embedder, train))
    shifted = [f"city{(int((city_label(t) or '')[4:]) + 1) % 4}" for t in train]
    places = {f"city{k}": {"name": f"City {k}", "lat": 10.0 * k, "lon": 5.0 * k} for k in range(4)}
    save_forest(ckpt / HEADS_DIR, fit_linear(x, shifted, c=1.0), places, FOREST)
    write_manifest(ckpt)
    metrics = _evaluate(ckpt, work)
    loc = metrics["joint"]["location"]
    want = _service_accuracy(ckpt, work)
    assert want["accuracy"] < 10  # the service really answers the wrong city here
    assert {k: loc["served_head"][k] for k in want} == want
    assert loc["chosen_forest"]["accuracy"] > 90  # the paper's forest, fitted by evaluate, its own row
    text = write_report(metrics, ckpt.parent / "report").read_text()
    assert "| Joint model (ours), served head (linear, chosen by build-heads on validation) |" in text
    assert f"| Joint model (ours), {PAPER_FOREST} |" in text
    assert "Served head: the linear head `build-heads` wrote into the checkpoint" in text
    assert "not scored" not in text


def test_without_a_location_head_the_report_says_so(world: tuple[Path, Path]) -> None:
    ckpt, work = world
    metrics = _evaluate(ckpt, work)
    loc = metrics["joint"]["location"]
    assert loc["served_head"] == {"skipped": NO_SERVED_HEAD}
    assert loc["chosen_forest"]["accuracy"] > 90
    text = write_report(metrics, ckpt.parent / "report").read_text()
    assert f"{JOINT}, served head" not in text  # no other row stands in for it
    assert f"location: no comparison for the product. Served head: not scored: {NO_SERVED_HEAD}" in text
