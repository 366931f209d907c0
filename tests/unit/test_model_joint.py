"""The joint model's masking and averaging, featurisation (tokenizer split, location neighbours), word
vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from model.config import ModelConfig
from model.featurize import Featurizer
from model.joint import JointEmbeddingModel
from model.places import PlaceTable
from model.record import Tweet
from model.tokenizer import Vocabulary
from model.tweet_tensors import TweetTensors
from model.user_vectors import UserVectors
from model.word_vectors import WordVectors, WordVectorsError
from tests.model_fixtures import build_work

torch.set_num_threads(1)

CONFIG = ModelConfig(
    dim=12,
    word_dim=16,
    user_dim=8,
    vocab_size=30,
    image_encoder="convnet",
    image_size=16,
    image_feature_dim=16,
    place_neighbours=8,
)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_work(tmp_path_factory.mktemp("model") / "work", n_train=24, n_val=4, n_test=4)


def test_average_is_over_present_components_only() -> None:
    torch.manual_seed(0)
    model = JointEmbeddingModel(CONFIG).eval()
    batch = TweetTensors(
        size=3,
        text_tokens=torch.tensor([[2, 3, 4], [5, 0, 0]]),
        text_lengths=torch.tensor([3, 1]),
        text_rows=torch.tensor([0, 2]),
        hashtag_vectors=torch.randn(1, 16),
        hashtag_rows=torch.tensor([2]),
        user_vectors=torch.randn(2, 8),
        user_rows=torch.tensor([0, 1]),
    )
    with torch.no_grad():
        out = model(batch)
    assert out.present["text"].tolist() == [True, False, True]
    assert out.present["image"].tolist() == [False, False, False]
    assert out.present["hashtags"].tolist() == [False, False, True]
    assert out.present["user"].tolist() == [True, True, False]
    for name, emb in out.components.items():
        norms = emb.norm(dim=1)
        assert torch.allclose(norms[out.present[name]], torch.ones(int(out.present[name].sum())), atol=1e-5)
        assert torch.all(norms[~out.present[name]] == 0)
    # Tweet 1 has only a user: its average is its user embedding, not diluted by zero vectors.
    assert torch.allclose(out.average[1], out.components["user"][1], atol=1e-6)
    expected0 = F.normalize(out.components["text"][0] + out.components["user"][0], dim=0)
    expected2 = F.normalize(out.components["text"][2] + out.components["hashtags"][2], dim=0)
    assert torch.allclose(out.average[0], expected0, atol=1e-6)
    assert torch.allclose(out.average[2], expected2, atol=1e-6)
    assert out.has_any.tolist() == [True, True, True]


def test_tweet_without_components_has_zero_average() -> None:
    model = JointEmbeddingModel(CONFIG).eval()
    batch = TweetTensors(size=2, user_vectors=torch.randn(1, 8), user_rows=torch.tensor([1]))
    with torch.no_grad():
        out = model(batch)
    assert out.has_any.tolist() == [False, True]
    assert float(out.average[0].abs().sum()) == 0.0


def _featurizer(work: Path, config: ModelConfig) -> Featurizer:
    return Featurizer(
        config,
        Vocabulary.load(work / "vocab.json"),
        WordVectors.load(work / "word_vectors.bin"),
        UserVectors.load(work / "user_vectors.safetensors", work / "user_ids.json"),
        places=PlaceTable.load(work / "places.json"),
    )


def test_text_branch_sees_no_hashtags_or_mentions(work: Path) -> None:
    feat = _featurizer(work, CONFIG)
    tweet = Tweet(id="1", text="t0w1 t0w2 #Topic0 @someone", hashtags=("Topic0",))
    f = feat.features(tweet)
    words = [feat.vocab.words[i] for i in f.tokens or []]
    assert words == ["t0w1", "t0w2"]
    assert f.hashtags is not None
    wv = feat.word_vectors
    assert wv is not None
    np.testing.assert_allclose(f.hashtags, wv.get("topic0"), rtol=1e-6)  # lower-cased, '#' removed
    only_tags = feat.features(Tweet(id="2", text="#a #b @c", hashtags=("a", "b")))
    assert only_tags.tokens is None  # no body: the text component is absent, hashtags present
    assert only_tags.hashtags is not None


def test_location_excludes_the_tweet_and_encodes_each_place_once(work: Path) -> None:
    feat = _featurizer(work, CONFIG)
    places = PlaceTable.load(work / "places.json")
    place_id = next(p for p, nb in places.neighbours.items() if len(nb.texts) >= 3)
    nb = places.neighbours[place_id]
    own_id, own_text = nb.tweet_ids[0], nb.texts[0]
    assert own_id is not None
    tweets = [
        Tweet(id=own_id, text=own_text, place_id=place_id),  # a neighbour itself
        Tweet(id="999999", text="something new", place_id=place_id),  # not a neighbour
        Tweet(id="999998", text="no place"),
    ]
    batch = feat.collate([feat.features(t) for t in tweets])
    assert batch.location_rows is not None and batch.location_rows.tolist() == [0, 1]
    assert batch.neighbour_tokens is not None and batch.neighbour_tokens.shape[0] == len(nb.texts)  # once
    weights = batch.location_weights
    assert weights is not None
    assert float(weights[0, 0]) == 0.0  # its own text is left out
    assert torch.allclose(weights[0, 1:], torch.full((len(nb.texts) - 1,), 1 / (len(nb.texts) - 1)))
    assert torch.allclose(weights[1], torch.full((len(nb.texts),), 1 / len(nb.texts)))

    model = JointEmbeddingModel(CONFIG).eval()
    with torch.no_grad():
        out = model(batch)
        encoded = model.encode_texts(batch.neighbour_tokens, batch.neighbour_lengths)  # type: ignore[arg-type]
    assert torch.allclose(out.components["location"][0], F.normalize(encoded[1:].mean(0), dim=0), atol=1e-5)
    assert out.present["location"].tolist() == [True, True, False]


def test_location_without_ids_excludes_identical_text(tmp_path: Path) -> None:
    work = build_work(tmp_path / "w", n_train=16, n_val=2, n_test=2, with_ids=False)
    feat = _featurizer(work, CONFIG)
    nb = next(iter(PlaceTable.load(work / "places.json").neighbours.items()))
    place_id, texts = nb[0], nb[1].texts
    batch = feat.collate([feat.features(Tweet(id="x", text=texts[0], place_id=place_id))])
    assert batch.location_weights is not None
    assert float(batch.location_weights[0, 0]) == 0.0


def test_word_vectors_subwords_and_errors(work: Path, tmp_path: Path) -> None:
    wv = WordVectors.load(work / "word_vectors.bin")
    assert wv.dim == 16
    unseen = wv.get("t0w1xyzzy")  # not in training: built from character n-grams
    assert unseen.shape == (16,) and float(np.abs(unseen).sum()) > 0
    with pytest.raises(WordVectorsError, match="not found"):
        WordVectors.load(tmp_path / "missing.bin")
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"not a fasttext model" * 10)
    with pytest.raises(WordVectorsError, match="not a readable fastText"):
        WordVectors.load(garbage)
