"""Checkpoint format: round trip gives identical embeddings, tampering is refused, loading needs no
training/ code, and the embedder's presence rules."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model.checkpoint import CheckpointError, manifest_digest, verify_manifest, write_manifest
from model.embedder import TweetEmbedder
from model.record import Tweet
from tests.pipeline_helpers import copy_checkpoint
from training.artifacts import read_split

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trained(tiny_trained: tuple[Path, Path]) -> tuple[Path, Path]:
    """(WORK, checkpoint): the suite's tiny checkpoint (tests/conftest.py); tests change copies only."""
    ckpt, work = tiny_trained
    return work, ckpt


def test_round_trip_gives_identical_embeddings(trained: tuple[Path, Path], tmp_path: Path) -> None:
    work, ckpt = trained
    tweets = list(read_split(work / "splits", "test"))
    first = TweetEmbedder.load(ckpt, device="cpu").embed(tweets)
    copy = copy_checkpoint(ckpt, tmp_path / "copy")
    second = TweetEmbedder.load(copy, device="cpu").embed(tweets)
    assert first.present.keys() == second.present.keys()
    for name in first.components:
        np.testing.assert_array_equal(first.components[name], second.components[name])
        np.testing.assert_array_equal(first.present[name], second.present[name])
    np.testing.assert_array_equal(first.average, second.average)
    assert manifest_digest(ckpt) == manifest_digest(copy)
    # Every component occurs in the test split, so the comparison covered all five branches.
    assert all(first.present[name].any() for name in first.components)


def test_embeddings_are_normalised_and_absent_rows_zero(trained: tuple[Path, Path]) -> None:
    work, ckpt = trained
    batch = TweetEmbedder.load(ckpt, device="cpu").embed(list(read_split(work / "splits", "test")))
    for name, emb in batch.components.items():
        norms = np.linalg.norm(emb, axis=1)
        np.testing.assert_allclose(norms[batch.present[name]], 1.0, atol=1e-5)
        assert np.all(norms[~batch.present[name]] == 0)
    np.testing.assert_allclose(np.linalg.norm(batch.average, axis=1)[batch.has_any], 1.0, atol=1e-5)


def test_embedder_presence_rules_and_helpers(trained: tuple[Path, Path], tmp_path: Path) -> None:
    work, ckpt = trained
    embedder = TweetEmbedder.load(ckpt, device="cpu")
    known = next(
        t for t in read_split(work / "splits", "train") if t.user_id and t.place_id and t.image and t.hashtags
    )
    assert embedder.knows_user(known.user_id) and not embedder.knows_user("no-such-user")
    assert embedder.knows_place(known.place_id) and not embedder.knows_place("nowhere")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    tweets = [
        known,
        dataclasses.replace(
            known, id="x1", user_id="no-such-user", place_id="nowhere", image=str(broken), hashtags=()
        ),
        Tweet(id="x2", text="#onlytags", hashtags=("onlytags",)),
    ]
    batch = embedder.embed(tweets)
    all_five = ("text", "image", "hashtags", "location", "user")
    assert [bool(batch.present[c][0]) for c in all_five] == [True] * 5
    assert [bool(batch.present[c][1]) for c in ("image", "hashtags", "location", "user")] == [False] * 4
    assert batch.present["text"][1]
    assert not batch.present["text"][2] and batch.present["hashtags"][2]
    # An image given in memory overrides the tweet's path.
    with Image.open(known.image or "") as img:
        override = embedder.embed([tweets[1]], images=[img.copy()])
    assert override.present["image"][0]
    np.testing.assert_allclose(override.components["image"][0], batch.components["image"][0], atol=1e-6)
    # embed_texts / embed_hashtags agree with the branches inside embed().
    text_only = embedder.embed_texts([known.text or ""])
    np.testing.assert_allclose(text_only[0], batch.components["text"][0], atol=1e-5)
    tag_rows = embedder.embed_hashtags(["onlytags", "neverseenbefore"])
    np.testing.assert_allclose(tag_rows[0], batch.components["hashtags"][2], atol=1e-5)
    assert tag_rows.shape == (2, embedder.config.dim)
    np.testing.assert_allclose(np.linalg.norm(tag_rows, axis=1), 1.0, atol=1e-5)


def test_tampered_file_is_refused(trained: tuple[Path, Path], tmp_path: Path) -> None:
    _, ckpt = trained
    copy = copy_checkpoint(ckpt, tmp_path / "tampered")
    TweetEmbedder.load(copy, device="cpu")  # intact copy loads
    weights = bytearray((copy / "model.safetensors").read_bytes())
    weights[-1] ^= 0x01
    (copy / "model.safetensors").write_bytes(bytes(weights))
    with pytest.raises(CheckpointError, match=r"model\.safetensors"):
        TweetEmbedder.load(copy, device="cpu")


def test_missing_file_and_unlisted_pickle_are_refused(trained: tuple[Path, Path], tmp_path: Path) -> None:
    _, ckpt = trained
    copy = copy_checkpoint(ckpt, tmp_path / "c")
    (copy / "heads" / "evil.joblib").write_bytes(b"\x80\x04N.")
    with pytest.raises(CheckpointError, match=r"heads/evil\.joblib"):
        verify_manifest(copy)
    write_manifest(copy)  # once listed, it is part of the checkpoint
    assert "heads/evil.joblib" in verify_manifest(copy)
    (copy / "place_ids.json").unlink()
    with pytest.raises(CheckpointError, match=r"place_ids\.json.*missing"):
        verify_manifest(copy)


def test_training_bookkeeping_is_outside_the_manifest(trained: tuple[Path, Path]) -> None:
    _, ckpt = trained
    listed = json.loads((ckpt / "manifest.json").read_text())["files"]
    assert "metrics.jsonl" not in listed and not any(k.startswith("train_state/") for k in listed)
    for required in (
        "config.json",
        "model.safetensors",
        "vocab.json",
        "word_vectors.bin",
        "user_vectors.safetensors",
        "user_ids.json",
        "places.json",
        "place_encodings.safetensors",
        "place_ids.json",
        "train_config.json",
    ):
        assert required in listed


def test_loading_imports_no_training_code(trained: tuple[Path, Path]) -> None:
    _, ckpt = trained
    code = (
        "import sys\n"
        "from model.embedder import TweetEmbedder\n"
        f"e = TweetEmbedder.load({str(ckpt)!r}, device='cpu')\n"
        "e.embed_texts(['hello'])\n"
        "bad = sorted(m for m in sys.modules if m == 'training' or m.startswith('training.'))\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_a_verified_checkpoint_is_hashed_once(
    trained: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service verifies once (model.checkpoint.verify_checkpoint) and its loaders do not hash again;
    a plain path handed to a loader is still verified."""
    import model.checkpoint
    from model.checkpoint import verify_checkpoint
    from model.heads.loader import load_heads

    _, ckpt = trained
    verified = verify_checkpoint(ckpt)
    assert verified.digest == manifest_digest(ckpt) and verified.files == verify_manifest(ckpt)
    calls: list[Path] = []

    def counting(path: Path) -> dict[str, str]:
        calls.append(Path(path))
        return verified.files

    monkeypatch.setattr(model.checkpoint, "verify_manifest", counting)
    embedder = TweetEmbedder.load(verified, device="cpu")
    load_heads(verified)
    assert calls == [] and embedder.checkpoint_digest == verified.digest
    TweetEmbedder.load(ckpt, device="cpu")
    assert calls == [ckpt]
