"""The authors' earlier places and hashtags: the table against hand-counted values, the location
head reading it through save and load, the manifest guarding its files, and the harness baselines
built on it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from model.checkpoint import CheckpointError, write_manifest
from model.embedding_batch import EmbeddingBatch
from model.heads.author_history import AUTHOR_PLACES_FILE, AuthorHistory
from model.heads.loader import load_location_head
from model.heads.location_head import (
    LocationContext,
    location_features,
)
from model.record import Tweet
from training.heads.fit_location import ForestParams, city_label, fit_forest, save_forest


def _tweet(i: int, user: str | None, place: str | None, kind: str = "city") -> Tweet:
    return Tweet(id=str(i), text=f"tweet {i}", user_id=user, place_id=place, place_type=kind)


def test_the_table_counts_city_tweets_per_author_and_blocks_them_as_shares() -> None:
    tweets = [
        _tweet(0, "ann", "a"),
        _tweet(1, "ann", "a"),
        _tweet(2, "ann", "b"),
        _tweet(3, "bob", "c"),
        _tweet(4, "bob", "x", kind="admin"),  # not a city: not counted
        _tweet(5, None, "a"),  # no author: not counted
    ]
    table = AuthorHistory.of(tweets, city_label)
    assert table.counts == {"ann": {"a": 2, "b": 1}, "bob": {"c": 1}}
    assert table.repeat_authors() == 1
    assert table.most_frequent("ann") == "a" and table.most_frequent("carol") is None
    block = table.block(["ann", "bob", "carol", None], ["a", "b"])
    expected = np.array(
        [
            [2 / 3, 1 / 3, np.log1p(3)],
            [0.0, 0.0, np.log1p(1)],  # bob's one tweet is at a place that is not a class
            [0.0, 0.0, 0.0],
            [0.0, 0.0, 0.0],
        ],
        dtype=np.float32,
    )
    np.testing.assert_allclose(block, expected, rtol=1e-6)
    # a training row leaves its own tweet out: ann's tweet at b sees only her two at a
    left_out = table.block(["ann", "bob"], ["a", "b"], leave_out=["b", "c"])
    np.testing.assert_allclose(left_out, [[1.0, 0.0, np.log1p(2)], [0.0, 0.0, 0.0]], rtol=1e-6)


def test_ties_go_to_the_smaller_place_id_and_the_table_survives_save_and_load(tmp_path: Path) -> None:
    table = AuthorHistory({"ann": {"b": 2, "a": 2, "c": 1}, "empty": {}})
    assert table.most_frequent("ann") == "a"
    assert len(table) == 1  # an author without places is not kept
    table.save(tmp_path / "t.json")
    assert AuthorHistory.load(tmp_path / "t.json").counts == table.counts


def _author_world(n: int, rng: np.random.Generator) -> tuple[EmbeddingBatch, list[str], list[str]]:
    """Embeddings that say nothing about the place; each author tweets from one city."""
    dim = 4
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    batch = EmbeddingBatch({"text": vectors}, {"text": np.ones(n, bool)}, vectors)
    authors = [f"u{int(rng.integers(30))}" for _ in range(n)]
    cities = [f"city{int(author[1:]) % 3}" for author in authors]
    return batch, authors, cities


def test_a_head_fitted_with_the_block_follows_the_author_through_save_and_load(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    batch, authors, cities = _author_world(400, rng)
    train = [_tweet(i, a, c) for i, (a, c) in enumerate(zip(authors[:300], cities[:300], strict=True))]
    table = AuthorHistory.of(train, city_label)
    classes = sorted(set(cities[:300]))
    dim = batch.average.shape[1]
    block = table.block(authors[:300], classes, leave_out=cities[:300])
    features = location_features(
        batch.rows(np.arange(300)), np.zeros((300, dim)), np.zeros(300, bool), author_block=block
    )
    forest = fit_forest(features, cities[:300], ForestParams(n_estimators=20, n_jobs=1))
    heads = tmp_path / "ckpt" / "heads"
    heads.mkdir(parents=True)
    info = save_forest(heads, forest, {}, ForestParams(n_estimators=20), authors=table)
    assert info["author_places"] == len(table) and (heads / AUTHOR_PLACES_FILE).is_file()
    write_manifest(tmp_path / "ckpt")
    head = load_location_head(tmp_path / "ckpt")
    assert head is not None and head.authors is not None
    test = batch.rows(np.arange(300, 400))
    context = LocationContext([None] * 100, [None] * 100, authors[300:])
    guesses = head.predict(test, np.zeros((100, dim)), np.zeros(100, bool), texts=context)
    known = [i for i, a in enumerate(authors[300:]) if table.most_frequent(a)]
    accuracy = np.mean([guesses[i][0].place_id == cities[300 + i] for i in known])
    assert len(known) > 80 and accuracy > 0.95
    with pytest.raises(ValueError, match="earlier places"):
        head.predict_proba(test, np.zeros((100, dim)), np.zeros(100, bool))
    # refitted without authors, the stale table goes and the head no longer reads it
    save_forest(
        heads, fit_forest(features[:, :-4], cities[:300], ForestParams(n_estimators=5)), {}, ForestParams()
    )
    assert not (heads / AUTHOR_PLACES_FILE).exists()
    assert json.loads((heads / "location.json").read_text())["author_places"] == 0


def test_an_author_table_not_in_the_manifest_is_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    batch, _, cities = _author_world(60, rng)
    dim = batch.average.shape[1]
    features = location_features(batch, np.zeros((60, dim)), np.zeros(60, bool))
    heads = tmp_path / "ckpt" / "heads"
    heads.mkdir(parents=True)
    save_forest(
        heads, fit_forest(features, cities, ForestParams(n_estimators=5, n_jobs=1)), {}, ForestParams()
    )
    write_manifest(tmp_path / "ckpt")
    AuthorHistory({"u1": {"city1": 3}}).save(heads / AUTHOR_PLACES_FILE)  # slipped in after the manifest
    with pytest.raises(CheckpointError, match=AUTHOR_PLACES_FILE):
        load_location_head(tmp_path / "ckpt")


def test_the_author_baseline_answers_with_the_authors_city_and_falls_back_on_tf_idf() -> None:
    from training.evaluation.location import AUTHOR_ELSE_TFIDF, TFIDF_LR, baseline_predictions

    def tweet(i: int, user: str, place: str, text: str) -> Tweet:
        return Tweet(id=str(i), text=text, user_id=user, place_id=place, place_type="city")

    train = [tweet(i, f"u{i % 4}", f"c{i % 2}", f"words of c{i % 2} here") for i in range(40)]
    val = [tweet(100 + i, "v", f"c{i % 2}", f"words of c{i % 2}") for i in range(6)]
    # u1 always tweeted from c1; here u1 writes c0's words: the rule answers c1, TF-IDF c0
    test = [tweet(200, "u1", "c0", "words of c0 here"), tweet(201, "new", "c0", "words of c0 here")]
    predicted, _ = baseline_predictions(train, val, test)
    assert predicted[TFIDF_LR] == ["c0", "c0"]
    assert predicted[AUTHOR_ELSE_TFIDF] == ["c1", "c0"]
    unknown = [tweet(300, "new", "c0", "words of c0 here")]
    assert AUTHOR_ELSE_TFIDF not in baseline_predictions(train, val, unknown)[0]


def test_a_table_of_hashtags_counts_each_tag_once_a_tweet_and_shares_by_tagged_tweets(tmp_path: Path) -> None:
    def tagged(i: int, user: str | None, *tags: str) -> Tweet:
        return Tweet(id=str(i), text="t", user_id=user, hashtags=tags)

    tweets = [
        tagged(0, "ann", "jobs", "Jobs", "hiring"),  # the same tag twice in one tweet counts once
        tagged(1, "ann", "jobs"),
        tagged(2, "ann"),  # no tags: not one of ann's labelled tweets
        tagged(3, None, "jobs"),
        tagged(4, "bob", "Coffee"),
    ]
    table = AuthorHistory.of(tweets, lambda t: [h.lower() for h in t.hashtags])
    assert table.counts == {"ann": {"jobs": 2, "hiring": 1}, "bob": {"coffee": 1}}
    assert table.tweets == {"ann": 2, "bob": 1}
    assert table.shares("ann") == {"jobs": 1.0, "hiring": 0.5} and table.shares(None) == {}
    assert table.ranked("ann") == ["jobs", "hiring"] and table.ranked("carol") == []
    table.save(tmp_path / "t.json")
    again = AuthorHistory.load(tmp_path / "t.json")
    assert again.counts == table.counts and again.tweets == table.tweets
    # a table saved before "tweets" was stored reads one label a tweet
    (tmp_path / "old.json").write_text(json.dumps({"counts": {"ann": {"a": 2, "b": 1}}}))
    assert AuthorHistory.load(tmp_path / "old.json").shares("ann") == {"a": 2 / 3, "b": 1 / 3}


def test_the_hashtag_author_baseline_puts_the_authors_tags_before_the_tf_idf_votes() -> None:
    from training.evaluation.hashtags import AUTHOR_ELSE_VOTES, TFIDF_VOTES, baseline_recommendations

    def tweet(i: int, user: str, text: str, *tags: str) -> Tweet:
        return Tweet(id=str(i), text=text, user_id=user, hashtags=tags)

    train = [tweet(i, f"u{i % 3}", f"talk of t{i % 2}", f"t{i % 2}") for i in range(30)]
    train += [tweet(50, "fan", "talk of t0", "mine"), tweet(51, "fan", "talk of t1", "mine", "other")]
    val = [tweet(100 + i, "v", f"talk of t{i % 2}", f"t{i % 2}") for i in range(4)]
    test = [tweet(200, "fan", "talk of t0", "mine"), tweet(201, "new", "talk of t0", "t0")]
    makers = baseline_recommendations(train, val, test, [0, 1])
    votes, _ = makers[TFIDF_VOTES]()
    ruled, _ = makers[AUTHOR_ELSE_VOTES]()
    assert votes[0][0] == "t0" and votes[1][0] == "t0"
    assert (
        ruled[0][:2] == ["mine", "other"]
        and ruled[0][2:] == [t for t in votes[0] if t not in ruled[0][:2]][:3]
    )
    assert ruled[1] == votes[1]  # an author without tagged training tweets gets the votes
    assert AUTHOR_ELSE_VOTES not in baseline_recommendations(train, val, test[1:], [0])


def test_a_hashtag_author_table_not_in_the_manifest_is_refused(tmp_path: Path) -> None:
    from model.heads.author_history import AUTHOR_HASHTAGS_FILE
    from model.heads.hashtag_neighbours import INDEX_FILE, NeighbourHashtagRecommender
    from model.heads.loader import load_neighbour_hashtags
    from model.heads.vector_index import build_index, save_index

    heads = tmp_path / "ckpt" / "heads"
    heads.mkdir(parents=True)
    index = build_index(np.eye(3, dtype=np.float32))
    save_index(index, heads / INDEX_FILE)
    NeighbourHashtagRecommender(index, [["a"], ["b"], ["c"]]).save_meta(heads)
    write_manifest(tmp_path / "ckpt")
    assert load_neighbour_hashtags(tmp_path / "ckpt") is not None
    AuthorHistory({"u1": {"a": 3}}).save(heads / AUTHOR_HASHTAGS_FILE)  # slipped in after the manifest
    with pytest.raises(CheckpointError, match=AUTHOR_HASHTAGS_FILE):
        load_neighbour_hashtags(tmp_path / "ckpt")


def test_location_scores_split_by_whether_the_author_has_training_cities() -> None:
    from training.evaluation.location import known_authors, scores

    train = [_tweet(0, "ann", "a"), _tweet(1, "bob", "x", kind="admin")]  # bob has no city tweet
    test = [_tweet(10, "ann", "a"), _tweet(11, "ann", "b"), _tweet(12, "bob", "a"), _tweet(13, None, "b")]
    known = known_authors(train, test)
    assert known == [True, True, False, False]
    got = scores(["a", "a", "a", "a"], test, {}, known)
    assert got["accuracy"] == 50.0
    assert got["by_author"] == {
        "known": {"tweets": 2, "accuracy": 50.0},
        "new": {"tweets": 2, "accuracy": 50.0},
    }
    assert "by_author" not in scores(["a"] * 4, test, {}, [False] * 4)
