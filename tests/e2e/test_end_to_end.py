"""The whole offline path through the real CLI on a 2k-tweet synthetic world, on CPU:
synth -> inspect -> prepare -> train -> build-heads -> embed-batch, then the checkpoint is loaded
the way the service loads it. Slow (about a minute on a quiet 2-core machine)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.pipeline_helpers import E2E_TWEETS, run_cli

pytestmark = pytest.mark.slow

TWEETS = E2E_TWEETS


def _cli(*args: str | Path, cwd: Path) -> str:
    del cwd  # every command runs from the checkout, as before
    return run_cli(*args)


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


@pytest.fixture(scope="module")
def pipeline(e2e_pipeline: dict[str, Path]) -> dict[str, Path]:
    return e2e_pipeline  # tests/conftest.py: built once per run


def test_inspect_counts_the_world(pipeline: dict[str, Path]) -> None:
    out = _cli("inspect", pipeline["world"], cwd=pipeline["root"])
    assert str(TWEETS) in out.replace(",", "")


def test_prepare_wrote_the_work_dir_and_skips_when_rerun(pipeline: dict[str, Path]) -> None:
    prepared = json.loads((pipeline["work"] / "prepare.json").read_text())
    counts = prepared["counts"]
    splits_dir = pipeline["work"] / "splits"
    splits = {name: _lines(splits_dir / f"{name}.jsonl") for name in ("train", "val", "test")}
    assert sum(splits.values()) == TWEETS
    assert splits["train"] > splits["val"] > 0 and splits["test"] > 0
    assert counts["tweets"] == splits  # prepare.json's counts are the split files' line counts
    assert counts["unassigned"] == counts["duplicates"] == 0
    rerun = _cli(
        "prepare", pipeline["world"], "--out", pipeline["work"], "--config", "small", cwd=pipeline["root"]
    )
    assert "skipped" in rerun


def test_training_lowered_the_loss_and_logged_validation(pipeline: dict[str, Path]) -> None:
    events = [json.loads(line) for line in (pipeline["ckpt"] / "metrics.jsonl").read_text().splitlines()]
    epochs = [e for e in events if e["event"] == "epoch"]
    vals = [e for e in events if e["event"] == "val"]
    assert len(epochs) == 2 and vals
    assert epochs[-1]["loss"] < epochs[0]["loss"]
    assert all(set(v["recalls"]) == {"text", "image", "hashtags", "location", "user"} for v in vals)


def test_checkpoint_loads_like_the_service_and_respects_presence(pipeline: dict[str, Path]) -> None:
    from model.checkpoint import verify_manifest
    from model.embedder import TweetEmbedder
    from model.heads.loader import load_heads
    from model.record import Tweet

    verify_manifest(pipeline["ckpt"])
    embedder = TweetEmbedder.load(pipeline["ckpt"], device="cpu")
    heads = load_heads(pipeline["ckpt"])
    assert heads.hashtags is not None and heads.location is not None and heads.bots is not None
    tweets = [
        Tweet.from_flat(json.loads(line))
        for line in (pipeline["work"] / "splits" / "test.jsonl").read_text().splitlines()[:64]
    ]
    batch = embedder.embed(tweets)
    for i, tweet in enumerate(tweets):
        assert batch.present["image"][i] == (tweet.image is not None)
        assert batch.present["hashtags"][i] == bool(tweet.hashtags)
        assert batch.present["user"][i] == embedder.knows_user(tweet.user_id)
        assert batch.present["location"][i] == embedder.knows_place(tweet.place_id)
    norms = np.linalg.norm(batch.average, axis=1)
    assert np.allclose(norms, 1.0, atol=1e-4)
    again = embedder.embed(tweets)
    assert np.array_equal(batch.average, again.average)
    suggestions = heads.hashtags.recommend(batch, k=3)
    assert len(suggestions) == len(tweets) and all(len(s) == 3 for s in suggestions)


def test_embed_batch_writes_every_tweet(pipeline: dict[str, Path]) -> None:
    from training.embed_batch.parquet_io import load_embeddings, model_digest

    out = pipeline["root"] / "emb"
    _cli(
        "embed-batch",
        pipeline["work"] / "splits" / "test.jsonl",
        "--checkpoint",
        pipeline["ckpt"],
        "--out",
        out,
        "--device",
        "cpu",
        cwd=pipeline["root"],
    )
    ids, batch = load_embeddings(out, model_digest(pipeline["ckpt"]))
    n = _lines(pipeline["work"] / "splits" / "test.jsonl")
    assert len(ids) == len(set(ids)) == n
    assert batch.average.shape[0] == n
    assert batch.present["image"].dtype == bool
    assert not batch.components["text"][~batch.present["text"]].any()  # absent rows stay zero
