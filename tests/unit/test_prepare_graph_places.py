"""The mention graph's weights and the per-place reservoir samples."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from model.record import Tweet
from training.prepare.places import sample_places, write_places
from training.prepare.user_graph import Node2VecParams, build_user_vectors, mention_counts


def _random_tweets(n: int, seed: int) -> list[Tweet]:
    rng = random.Random(seed)
    users = [f"u{i}" for i in range(12)]
    tweets = []
    for i in range(n):
        author = rng.choice([*users, None])
        mentions = tuple(rng.choices(users, k=rng.randint(0, 3)))  # repeats and self-mentions included
        tweets.append(Tweet(id=str(i), text="x", user_id=author, mentions=mentions))
    return tweets


def test_mention_weights_match_a_brute_force_count() -> None:
    tweets = _random_tweets(400, seed=3)
    counts = mention_counts(tweets)
    users = {t.user_id for t in tweets if t.user_id} | {m for t in tweets for m in t.mentions}
    for u in users:
        for v in users:
            expected = sum(1 for t in tweets if t.user_id == u and v in t.mentions and u != v)
            assert counts.get((u, v), 0) == expected, (u, v)
    assert all(u != v for u, v in counts)


def test_node2vec_vectors_cover_graph_users_only(tmp_path: Path) -> None:
    tweets = [
        Tweet(id="1", text="a", user_id="alice", mentions=("bob",)),
        Tweet(id="2", text="a", user_id="bob", mentions=("carol", "alice")),
        Tweet(id="3", text="a", user_id="dave"),  # never mentions, never mentioned: no vector
        Tweet(id="4", text="a", user_id="erin", mentions=("erin",)),  # self-mention only: no vector
        Tweet(id="5", text="a", user_id="carol", mentions=("alice",)),
    ]
    params = Node2VecParams(dim=8, walk_length=6, walks_per_node=3, seed=1)
    info = build_user_vectors(
        tweets, params, tmp_path / "v.safetensors", tmp_path / "ids.json", verbose=False
    )
    ids = json.loads((tmp_path / "ids.json").read_text())
    vectors = load_file(str(tmp_path / "v.safetensors"))["vectors"]
    assert ids == ["alice", "bob", "carol"]
    assert info["users"] == 3 and info["edges"] == 4
    assert vectors.shape == (3, 8) and vectors.dtype == np.float32
    assert np.all(np.linalg.norm(vectors, axis=1) > 0)

    build_user_vectors(tweets, params, tmp_path / "w.safetensors", tmp_path / "ids2.json", verbose=False)
    np.testing.assert_array_equal(load_file(str(tmp_path / "w.safetensors"))["vectors"], vectors)


def test_place_samples_are_bounded_seeded_and_uniform() -> None:
    tweets = [
        Tweet(id=str(i), text=f"t{i}", place_id="p", place_name="P", place_type="city") for i in range(50)
    ]
    sample = sample_places(tweets, max_texts=5, seed=0)["p"]
    assert len(sample.texts) == 5 and sample.seen == 50
    assert sample.texts == [f"t{i}" for i in map(int, sample.ids)]  # ids parallel to texts
    assert sample_places(tweets, max_texts=5, seed=0)["p"].ids == sample.ids
    # Every tweet is kept with probability M/n = 0.1 (not just the first five).
    hits = np.zeros(50)
    for seed in range(400):
        for tid in sample_places(tweets, max_texts=5, seed=seed)["p"].ids:
            hits[int(tid)] += 1
    assert np.all(np.abs(hits / 400 - 0.1) < 0.06), hits / 400


def test_place_metadata_first_name_and_centroid(tmp_path: Path) -> None:
    tweets = [
        Tweet(id="1", text="a", place_id="p", place_name="Paris", place_type="city", lat=48.0, lon=2.0),
        Tweet(id="2", place_id="p", place_name="Paris (renamed)", image="/x.png", lat=50.0, lon=4.0),
        Tweet(id="3", text="b", place_id="q", place_name="Region", place_type="admin"),
        Tweet(id="4", text="c"),
    ]
    places = sample_places(tweets, max_texts=3)
    write_places(places, tmp_path / "places.json")
    out = json.loads((tmp_path / "places.json").read_text())
    assert set(out) == {"p", "q"}
    assert out["p"]["name"] == "Paris" and out["p"]["type"] == "city"
    assert out["p"]["lat"] == pytest.approx(49.0) and out["p"]["lon"] == pytest.approx(3.0)
    assert out["p"]["texts"] == ["a"] and out["p"]["ids"] == ["1"]  # the image-only tweet has no text
    assert out["q"]["lat"] is None and out["q"]["type"] == "admin"
    with pytest.raises(ValueError):
        sample_places(tweets, max_texts=0)
