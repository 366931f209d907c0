"""Heads of a small trained checkpoint: build-heads through the CLI, load, predict, refuse tampering."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from model.heads.location_head import LocationContext

pytest.importorskip("training.synth.writer")
pytest.importorskip("training.trainer")


@pytest.mark.slow
def test_tiny_trained_checkpoint_heads_round_trip(e2e_pipeline: dict[str, Path], tmp_path: Path) -> None:
    """build-heads (CNN bot head, a small forest) on a copy of the suite's end-to-end checkpoint."""
    from typer.testing import CliRunner

    from model.checkpoint import CheckpointError
    from model.embedder import TweetEmbedder
    from model.heads.loader import load_heads
    from tests.pipeline_helpers import copy_checkpoint
    from training.cli import app
    from training.heads.data import load_splits

    torch.set_num_threads(2)
    work = e2e_pipeline["work"]
    ckpt = copy_checkpoint(e2e_pipeline["ckpt"], tmp_path / "ckpt")

    result = CliRunner().invoke(
        app,
        [
            "build-heads",
            str(ckpt),
            str(work),
            "--forest-trees",
            "10",
            "--bot-method",
            "cnn",
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "heads written" in result.output
    heads = load_heads(ckpt)
    assert heads.hashtags is not None and heads.text_index is not None and heads.bots is not None
    embedder = TweetEmbedder.load(ckpt, device="cpu")
    test = load_splits(work).test[:8]
    batch = embedder.embed(test)
    recs = heads.hashtags.recommend(batch, k=3)
    assert all(len(r) == 3 for r in recs)
    # A training tweet's own text finds itself first in the text index (it was indexed from the same model).
    train_tweet = next(t for t in load_splits(work).train if t.text)
    own = embedder.embed([train_tweet])
    hit = heads.text_index.search([own.components["text"][:1]], 1)[0][0]
    assert hit[1] == pytest.approx(1.0, abs=1e-3)
    scores = heads.bots.score([batch.average[i : i + 1] for i in range(len(test))])
    assert scores.shape == (len(test),) and np.all((scores >= 0) & (scores <= 1))
    if heads.location is not None:
        profile = embedder.embed_texts([t.user_location or "" for t in test])
        present = np.array([bool(t.user_location) for t in test])
        guesses = heads.location.predict(batch, profile, present, k=2, texts=LocationContext.of(test))
        assert all(len(g) == 2 and g[0].probability >= g[1].probability for g in guesses)

    index_file = ckpt / "heads" / "hashtags.faiss"
    index_file.write_bytes(index_file.read_bytes() + b"\0")
    with pytest.raises(CheckpointError, match=r"hashtags\.faiss"):
        load_heads(ckpt)
