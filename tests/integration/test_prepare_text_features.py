"""prepare's MiniLM feature step: one row per tweet text / hashtag set / place text / profile, each the
encoder's vector of exactly that string (a fake encoder stands in for MiniLM, so this test is fast)."""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from model.record import Tweet
from model.text_encoders import hashtag_sentence, sentence_text
from training.artifacts import WorkLayout
from training.prepare import text_features as tf


def fake_vector(text: str) -> np.ndarray:
    return np.random.default_rng(zlib.crc32(text.encode())).normal(size=384).astype(np.float32)


class FakeEncoder:
    dim = 384

    def __init__(self, device: str = "cpu", batch_size: int = 64) -> None:
        self.calls: list[str] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([fake_vector(t) for t in texts]) if texts else np.zeros((0, 384), np.float32)


class Remembering:
    def __init__(self) -> None:
        self.known: dict[str, np.ndarray] = {}

    def remember_sentences(self, sentences: Sequence[str], features: np.ndarray) -> int:
        self.known.update(zip(sentences, features, strict=True))
        return len(sentences)


def test_text_features_rows_match_their_strings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tf, "MiniLMEncoder", FakeEncoder)
    train = [
        Tweet(
            id="1",
            text="Hot day in town #summer @bob",
            hashtags=("summer",),
            place_id="p",
            user_location="Conway, AR",
        ),
        Tweet(id="2", text="#only #tags", hashtags=("only", "tags"), place_id="p"),
        Tweet(id="3", text="Hot day in town #summer @bob", hashtags=("summer",)),  # a retweet-like copy
    ]
    test = [Tweet(id="4", text="quiet night", user_location="  ")]
    places = tmp_path / "places.json"
    places.write_text(
        json.dumps(
            {"p": {"name": "P", "type": "city", "texts": ["Hot day in town #summer", ""], "ids": ["1", "9"]}}
        ),
        encoding="utf-8",
    )
    out = WorkLayout(tmp_path / "work").text_features_dir
    info = tf.compute_text_features({"train": train, "val": [], "test": test}, places, out, verbose=False)
    assert info["texts"] == {"train": 2, "val": 0, "test": 1}  # "#only #tags" has no sentence
    assert info["hashtags"] == {"train": 3, "val": 0, "test": 0}
    assert all(p.is_file() for p in WorkLayout(tmp_path / "work").text_feature_files())

    ids = json.loads((out / "train_ids.json").read_text())
    matrix = np.load(out / "train.npy")
    assert ids == ["1", "3"] and matrix.dtype == np.float16
    np.testing.assert_allclose(matrix[0], fake_vector(sentence_text(train[0].text)), atol=2e-2, rtol=1e-2)
    tags = np.load(out / "hashtags_train.npy")
    np.testing.assert_allclose(tags[1], fake_vector(hashtag_sentence(("only", "tags"))), atol=2e-2, rtol=1e-2)
    index = json.loads((out / "places_index.json").read_text())
    assert index == {"p": [0, 1]}  # the empty text has no row
    assert json.loads((out / "profiles.json").read_text()) == ["Conway, AR"]

    from training.dataset import remember_work_sentences

    (tmp_path / "work" / "splits").mkdir()
    for split, tweets in (("train", train), ("val", []), ("test", test)):
        (tmp_path / "work" / "splits" / f"{split}.jsonl").write_text(
            "".join(json.dumps(t.to_flat()) + "\n" for t in tweets), encoding="utf-8"
        )
    embedder = Remembering()
    assert remember_work_sentences(embedder, tmp_path / "work") > 0
    for sentence in ("Hot day in town", "only tags", "quiet night", "Conway, AR"):
        np.testing.assert_allclose(embedder.known[sentence], fake_vector(sentence), atol=2e-2, rtol=1e-2)

    # evaluate loads its checkpoints the same way build-heads does: with these features remembered
    from model import embedder as embedder_module
    from training.evaluation.harness import load_work_embedder

    monkeypatch.setattr(
        embedder_module.TweetEmbedder, "load", classmethod(lambda cls, *a, **k: Remembering())
    )
    loaded = load_work_embedder(tmp_path / "ckpt", tmp_path / "work", "cpu")
    assert isinstance(loaded, Remembering) and "quiet night" in loaded.known
