"""Heads on seeded random embeddings: brute-force references, hand-worked cases, save/load, tampering."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from model.checkpoint import CheckpointError, write_manifest
from model.embedding_batch import EmbeddingBatch
from model.heads.bot_head import KimCnn, KnnBotDetector
from model.heads.hashtag_index import HashtagRecommender
from model.heads.hashtag_neighbours import NeighbourHashtagRecommender
from model.heads.loader import load_heads, load_neighbour_hashtags
from model.heads.location_head import (
    FEATURE_COMPONENTS,
    LocationContext,
    LocationPredictor,
    location_features,
)
from model.heads.vector_index import build_index, normalise_rows
from tests.heads_support import DIM, FakeEmbedder, tiny_tweets, write_work_dir
from training.heads.build import BuildHeadsOptions, run_build_heads
from training.heads.fit_bots import fit_cnn
from training.heads.fit_location import ForestParams, fit_forest


def random_batch(n: int, rng: np.random.Generator, dim: int = 8) -> EmbeddingBatch:
    comps = {c: normalise_rows(rng.standard_normal((n, dim))) for c in ("text", "image", "hashtags")}
    present = {c: rng.random(n) < 0.7 for c in comps}
    present["text"][:] = True
    for c in comps:
        comps[c][~present[c]] = 0
    avg = normalise_rows(sum(comps.values()))
    return EmbeddingBatch(comps, present, avg)


def test_hashtag_recommendation_is_max_cosine_over_present_components() -> None:
    rng = np.random.default_rng(0)
    tags = [f"tag{i}" for i in range(60)]
    tag_vecs = rng.standard_normal((60, 8)).astype(np.float32)
    batch = random_batch(30, rng)
    got = HashtagRecommender(build_index(tag_vecs), tags).recommend(batch, k=5)
    unit = normalise_rows(tag_vecs)
    for i in range(30):
        rows = np.stack([batch.components[c][i] for c in batch.components if batch.present[c][i]])
        scores = (rows @ unit.T).max(axis=0)
        assert [t for t, _ in got[i]] == [tags[j] for j in np.argsort(-scores)[:5]]


def test_hashtag_exclude_own_still_returns_k() -> None:
    rng = np.random.default_rng(1)
    tags = [f"Tag{i}" for i in range(20)]
    batch = random_batch(4, rng)
    rec = HashtagRecommender(build_index(rng.standard_normal((20, 8))), tags)
    plain = rec.recommend(batch, k=3)
    own = [{plain[i][0][0].lower(), plain[i][1][0]} for i in range(4)]  # case-insensitive match
    excluded = rec.recommend(batch, k=3, exclude_own=own)
    for i in range(4):
        names = [t for t, _ in excluded[i]]
        assert len(names) == 3 and not ({n.lower() for n in names} & {o.lower() for o in own[i]})
        assert names[0] == plain[i][2][0]


def test_neighbour_hashtags_by_hand() -> None:
    # Training tweets (average without hashtags): (1,0) #a #b, (0,1) #b, (-1,0) #c.
    train = np.array([[1, 0], [0, 1], [-1, 0]], dtype=np.float32)
    rec = NeighbourHashtagRecommender(build_index(train), [["a", "b"], ["b"], ["c"]], neighbours=3)
    query = EmbeddingBatch(
        {"text": np.array([[0.8, 0.6]], np.float32), "hashtags": np.array([[0.0, -1.0]], np.float32)},
        {"text": np.array([True]), "hashtags": np.array([True])},
        np.zeros((1, 2), np.float32),
    )
    # The hashtag component is ignored; cosines 0.8, 0.6, -0.8 -> weights a 0.8, b 1.4, c 0 of total 1.4.
    got = rec.recommend(query, k=3)[0]
    assert [t for t, _ in got] == ["b", "a", "c"]
    np.testing.assert_allclose([s for _, s in got], [1.0, 0.8 / 1.4, 0.0], rtol=1e-5)
    assert [t for t, _ in rec.recommend(query, k=2, exclude_own=[{"B"}])[0]] == ["a", "c"]
    # Rank votes: the neighbours in cosine order (a b), (b), (c) vote 1, 1/2, 1/3 of total 11/6:
    # a 1, b 1.5, c 1/3.
    ranked = NeighbourHashtagRecommender(rec.index, rec.row_tags, neighbours=3, weighting="rank")
    got = ranked.recommend(query, k=3)[0]
    assert [t for t, _ in got] == ["b", "a", "c"]
    np.testing.assert_allclose([s for _, s in got], np.array([1.5, 1.0, 1 / 3]) / (11 / 6), rtol=1e-5)
    with pytest.raises(ValueError, match="vote weighting"):
        NeighbourHashtagRecommender(rec.index, rec.row_tags, weighting="votes")


def test_neighbour_votes_chosen_on_validation_by_brute_force() -> None:
    from training.heads.fit_indexes import HashtagValidation, choose_neighbour_votes
    from training.metrics import precision_recall_f1_at_k

    rng = np.random.default_rng(4)
    train = rng.normal(size=(60, 4)).astype(np.float32)  # (60, 4)
    row_tags = [[f"t{i % 5}"] + ([f"u{i % 3}"] if i % 2 else []) for i in range(60)]
    rec = NeighbourHashtagRecommender(build_index(train), row_tags)
    val = rng.normal(size=(25, 4)).astype(np.float32)
    val_batch = EmbeddingBatch({"text": val}, {"text": np.ones(25, bool)}, val)
    truth = [{f"t{i % 5}"} for i in range(25)]
    validation = HashtagValidation(val_batch, truth, [None] * 25)
    chosen, scores = choose_neighbour_votes(rec, validation, grid=(1, 3, 10))
    by_hand = {}
    for w in ("cosine", "rank"):
        for n in (1, 3, 10):
            top = [
                [tag for tag, _ in row]
                for row in NeighbourHashtagRecommender(rec.index, row_tags, n, w).recommend(val_batch, 1)
            ]
            by_hand[f"{w} votes, {n} neighbours"] = round(precision_recall_f1_at_k(top, truth, 1)[2], 4)
    assert scores == by_hand
    best = max(by_hand.values())
    first = next(name for name, f1 in by_hand.items() if f1 == best)  # cosine before rank, fewer first
    assert first == f"{chosen.weighting} votes, {chosen.neighbours} neighbours"
    assert chosen.author_weight == 0.0 and chosen.authors is None


def test_neighbour_hashtags_add_the_authors_earlier_hashtags_by_hand() -> None:
    from model.heads.author_history import AuthorHistory
    from model.record import Tweet

    train = np.array([[1, 0], [0, 1], [-1, 0]], dtype=np.float32)
    history = [
        Tweet(id=str(i), text="x", user_id="ann", hashtags=tuple(tags))
        for i, tags in enumerate([["Pets"], ["pets", "dogs"], ["dogs"], []])
    ]
    history.append(Tweet(id="9", text="x", user_id="bob", hashtags=("c",)))
    authors = AuthorHistory.of(history, lambda t: [h.lower() for h in t.hashtags])
    # ann: 3 tagged tweets, pets in 2, dogs in 2; bob: c in his only one.
    assert authors.shares("ann") == {"pets": 2 / 3, "dogs": 2 / 3} and authors.shares("zed") == {}
    rec = NeighbourHashtagRecommender(
        build_index(train), [["a", "b"], ["b"], ["c"]], 3, "cosine", authors, author_weight=0.5
    )
    query = EmbeddingBatch(
        {"text": np.array([[0.8, 0.6], [0.8, 0.6]], np.float32)},
        {"text": np.array([True, True])},
        np.zeros((2, 2), np.float32),
    )
    # Votes as in test_neighbour_hashtags_by_hand: b 1, a 0.8/1.4, c 0; ann adds 0.5 * 2/3 to pets, dogs.
    got = rec.recommend(query, k=5, authors=["ann", "unknown"])
    assert [t for t, _ in got[0]] == ["b", "a", "dogs", "pets", "c"]
    np.testing.assert_allclose([s for _, s in got[0]], [1.0, 0.8 / 1.4, 1 / 3, 1 / 3, 0.0], rtol=1e-5)
    assert [t for t, _ in got[1]] == ["b", "a", "c"]  # an unknown author adds nothing
    assert rec.recommend(query, k=5) == rec.recommend(query, k=5, authors=[None, None])
    heavy = NeighbourHashtagRecommender(rec.index, rec.row_tags, 3, "cosine", authors, author_weight=4.0)
    assert heavy.recommend(query, k=1, authors=["ann", "bob"]) == [
        [("dogs", pytest.approx(8 / 3))],
        [("c", pytest.approx(4.0))],
    ]
    assert [
        t for t, _ in heavy.recommend(query, k=1, exclude_own=[{"DOGS"}, set()], authors=["ann", None])[0]
    ] == ["pets"]
    with pytest.raises(ValueError, match="author_weight"):
        NeighbourHashtagRecommender(rec.index, rec.row_tags, 3, "cosine", authors, author_weight=-1)


def test_author_weight_chosen_on_validation_where_the_author_decides(tmp_path: Path) -> None:
    from model.heads.author_history import AUTHOR_HASHTAGS_FILE, AuthorHistory
    from model.record import Tweet
    from training.heads.fit_indexes import HashtagValidation, choose_neighbour_votes

    rng = np.random.default_rng(7)
    train = rng.normal(size=(40, 4)).astype(np.float32)  # (40, 4): neighbours' tags are noise
    row_tags = [[f"t{i % 4}"] for i in range(40)]
    users = [f"u{i % 4}" for i in range(40)]
    history = AuthorHistory.of(
        [Tweet(id=str(i), text="x", user_id=users[i], hashtags=(f"own{i % 4}",)) for i in range(40)],
        lambda t: list(t.hashtags),
    )
    rec = NeighbourHashtagRecommender(build_index(train), row_tags)
    val = rng.normal(size=(20, 4)).astype(np.float32)
    val_batch = EmbeddingBatch({"text": val}, {"text": np.ones(20, bool)}, val)
    truth = [{f"own{i % 4}"} for i in range(20)]  # each validation tweet carries its author's tag
    validation = HashtagValidation(val_batch, truth, [f"u{i % 4}" for i in range(20)])
    chosen, scores = choose_neighbour_votes(rec, validation, history, grid=(1, 5))
    name = f"{chosen.weighting} votes, {chosen.neighbours} neighbours"
    assert chosen.author_weight > 0 and scores[f"{name}, author weight {chosen.author_weight:g}"] == 1.0
    assert max(f1 for name, f1 in scores.items() if "author weight" not in name) == 0.0
    from model.heads.hashtag_neighbours import INDEX_FILE
    from model.heads.vector_index import save_index

    save_index(chosen.index, tmp_path / INDEX_FILE)
    chosen.save_meta(tmp_path)
    loaded = NeighbourHashtagRecommender.load(tmp_path)
    assert loaded.author_weight == chosen.author_weight and loaded.authors is not None
    assert loaded.authors.counts == history.counts and (tmp_path / AUTHOR_HASHTAGS_FILE).is_file()
    rec.save_meta(tmp_path)  # a head without the table removes a stale one
    assert not (tmp_path / AUTHOR_HASHTAGS_FILE).exists()


def test_location_features_zero_absent_parts_and_flag_them() -> None:
    rng = np.random.default_rng(2)
    batch = random_batch(5, rng)  # has no 'user' component at all
    profile = rng.standard_normal((5, 8)).astype(np.float32)
    has_profile = np.array([True, False, True, False, True])
    x = location_features(batch, profile, has_profile)
    c = len(FEATURE_COMPONENTS)
    assert x.shape == (5, (c + 1) * 8 + c + 1)
    flags = x[:, (c + 1) * 8 :]
    np.testing.assert_array_equal(flags[:, 0], batch.present["text"])
    np.testing.assert_array_equal(flags[:, 1], batch.present["image"])
    np.testing.assert_array_equal(flags[:, 3], 0)  # user absent everywhere
    np.testing.assert_array_equal(flags[:, 4], has_profile)
    np.testing.assert_array_equal(x[~has_profile, c * 8 : (c + 1) * 8], 0)
    np.testing.assert_allclose(x[has_profile, c * 8 : (c + 1) * 8], profile[has_profile])


def test_location_predictor_learns_topic_places() -> None:
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((3, 8))
    labels = rng.integers(3, size=300)
    batch = random_batch(300, rng)
    batch.components["text"] = normalise_rows(centres[labels] + 0.3 * rng.standard_normal((300, 8)))
    profile, has_profile = np.zeros((300, 8), np.float32), np.zeros(300, bool)
    features = location_features(batch, profile, has_profile)
    names = [f"p{j}" for j in labels]
    forest = fit_forest(features[:200], names[:200], ForestParams(n_estimators=20, n_jobs=1))
    places = {f"p{j}": {"name": f"P{j}", "lat": float(j), "lon": 0.0} for j in range(3)}
    pred = LocationPredictor(forest, FEATURE_COMPONENTS, places)
    test = batch.rows(np.arange(200, 300))
    guesses = pred.predict(test, profile[200:], has_profile[200:], k=2)
    assert all(g[0].probability >= g[1].probability for g in guesses)
    accuracy = np.mean([g[0].place_id == n for g, n in zip(guesses, names[200:], strict=True)])
    assert accuracy > 0.9
    assert guesses[0][0].name == places[guesses[0][0].place_id]["name"]


def test_knn_bot_scores_by_hand() -> None:
    train = np.array([[1, 0], [0.8, 0.6], [0, 1]], dtype=np.float32)  # bot, human, bot
    labels = np.array([1, 0, 1])
    query = [np.array([[1.0, 0.1]]), np.array([[0.0, 1.0], [0.1, 1.0]])]
    one = KnnBotDetector(train, labels, k=1).score(query)
    np.testing.assert_allclose(one, [1.0, 1.0])
    # k=2, first query (1, 0.1)/|.|: cos to bot (1,0) = 0.995, to human (0.8,0.6) = 0.856 -> 0.995/1.851
    two = KnnBotDetector(train, labels, k=2).score(query[:1])
    q = np.array([1.0, 0.1]) / np.linalg.norm([1.0, 0.1])
    s_bot, s_human = q @ train[0], q @ train[1]
    np.testing.assert_allclose(two, [s_bot / (s_bot + s_human)], rtol=1e-5)


def test_kim_cnn_shapes_and_learns_a_separable_toy_problem() -> None:
    torch.manual_seed(0)
    net = KimCnn(dim=6, windows=(2, 3, 4), feature_maps=300)
    assert net(torch.zeros(5, 10, 6)).shape == (5,)
    rng = np.random.default_rng(4)
    labels = rng.integers(2, size=120)
    rows = [
        rng.standard_normal((int(rng.integers(1, 11)), 6)).astype(np.float32) + (2 * y - 1) * 0.8
        for y in labels
    ]
    det = fit_cnn(rows[:80], labels[:80], dim=6, epochs=15, progress=False)
    scores = det.score(rows[80:])
    assert scores.shape == (40,) and ((scores >= 0) & (scores <= 1)).all()
    assert np.mean((scores >= 0.5) == labels[80:]) > 0.9


@pytest.fixture()
def built_checkpoint(tmp_path: Path) -> tuple[Path, Path, FakeEmbedder]:
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps({"dim": DIM}))
    write_manifest(ckpt)
    work = write_work_dir(tmp_path, tiny_tweets())
    embedder = FakeEmbedder()
    params = ForestParams(n_estimators=10, n_jobs=1)
    run_build_heads(ckpt, work, BuildHeadsOptions(forest=params, bot_method="knn", bot_k=3), embedder)
    return ckpt, work, embedder


def test_built_heads_round_trip_through_save_and_load(
    built_checkpoint: tuple[Path, Path, FakeEmbedder],
) -> None:
    ckpt, _, embedder = built_checkpoint
    heads = load_heads(ckpt)
    assert set(heads.available()) == {"hashtags", "location", "bots", "image_index", "text_index"}
    tweets = tiny_tweets(20, seed=9)
    batch = embedder.embed(tweets)
    assert heads.hashtags is not None and heads.location is not None and heads.bots is not None
    assert isinstance(heads.hashtags, NeighbourHashtagRecommender)  # build-heads' default method
    alone = load_neighbour_hashtags(ckpt)
    assert alone is not None and (alone.neighbours, alone.weighting, alone.author_weight) == (
        heads.hashtags.neighbours,
        heads.hashtags.weighting,
        heads.hashtags.author_weight,
    )
    chosen = json.loads((ckpt / "heads" / "heads.json").read_text())["heads"]["hashtag_neighbours"]
    assert chosen["author_weight"] == alone.author_weight
    assert (chosen["authors"] > 0) == (alone.authors is not None) == (alone.author_weight > 0)
    assert chosen["selection"]["metric"] == "validation F1@1"  # the default: chosen on validation
    assert (
        f"{chosen['weighting']} votes, {chosen['neighbours']} neighbours" in chosen["selection"]["validation"]
    )
    assert isinstance(heads.hashtags_paper, HashtagRecommender)
    recs = heads.hashtags.recommend(batch, k=3)
    assert all(r[0][0].startswith(f"tag{t.hashtags[0][3]}") for r, t in zip(recs, tweets, strict=True))
    profile = embedder.embed_texts([t.user_location or "" for t in tweets])
    guesses = heads.location.predict(batch, profile, np.ones(20, bool), k=1, texts=LocationContext.of(tweets))
    with pytest.raises(ValueError, match="pass texts"):  # it reads their n-grams and authors
        heads.location.predict(batch, profile, np.ones(20, bool), k=1)
    assert np.mean([g[0].place_id == t.place_id for g, t in zip(guesses, tweets, strict=True)]) > 0.8
    assert guesses[0][0].lat is not None
    # tiny_tweets' users tweet from one city again and again, but their words already name it: the
    # author table is served exactly where validation chose a content weight for it
    located = json.loads((ckpt / "heads" / "heads.json").read_text())["heads"]["location"]
    assert "author_prior_validation" in located["selection"]  # the authors were a candidate
    assert (heads.location.authors is not None) == (located["author_prior"] > 0)
    assert heads.location.author_prior == located["author_prior"]
    scores = heads.bots.score([batch.average[i : i + 1] for i in range(20)])
    assert ((scores >= 0) & (scores <= 1)).all()
    assert heads.image_index is not None
    hits = heads.image_index.search([batch.components["text"][:1]], 3)
    assert len(hits[0]) == 3


def test_tampered_head_is_refused(built_checkpoint: tuple[Path, Path, FakeEmbedder]) -> None:
    ckpt, _, _ = built_checkpoint
    forest = ckpt / "heads" / "location_forest.joblib"
    data = bytearray(forest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    forest.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"location_forest\.joblib"):
        load_heads(ckpt)


def test_unlisted_head_file_is_refused(built_checkpoint: tuple[Path, Path, FakeEmbedder]) -> None:
    ckpt, _, _ = built_checkpoint
    (ckpt / "heads" / "extra.faiss").write_bytes(b"not listed")
    with pytest.raises(CheckpointError, match=r"extra\.faiss"):
        load_heads(ckpt)


def test_flat_forest_equals_scikit_learn_predict_proba() -> None:
    from sklearn.ensemble import RandomForestClassifier

    from model.heads.location_head import FlatForest

    rng = np.random.default_rng(7)
    x = rng.normal(size=(300, 12)).astype(np.float32)  # (N, F)
    y = (x[:, 0] > 0).astype(int) + 2 * (x[:, 1] > 0.5).astype(int)  # 4 classes
    forest = RandomForestClassifier(
        n_estimators=15, max_depth=6, class_weight="balanced_subsample", random_state=0
    ).fit(x, y)
    queries = rng.normal(size=(40, 12)).astype(np.float32)
    flat = FlatForest(forest)
    np.testing.assert_allclose(flat.predict_proba(queries), forest.predict_proba(queries), atol=1e-12)
    one = queries[:1]
    np.testing.assert_allclose(flat.predict_proba(one), forest.predict_proba(one), atol=1e-12)
    deep = RandomForestClassifier(n_estimators=5, random_state=1).fit(x, y)  # fully grown, uneven depths
    deep_proba = FlatForest(deep).predict_proba(queries)
    np.testing.assert_allclose(deep_proba, deep.predict_proba(queries), atol=1e-12)


def test_profiles_of_a_model_without_text_are_absent_not_an_error() -> None:
    """An ablation trained without the text branch cannot embed profile locations: they are absent."""
    from model.record import Tweet
    from tests.heads_support import FakeEmbedder
    from training.heads.embedding import profile_embeddings

    tweets = [Tweet(id="1", text="hi", user_location="NYC"), Tweet(id="2", text="yo")]
    vectors, present = profile_embeddings(FakeEmbedder(("image", "hashtags", "user")), tweets)
    assert vectors.shape[0] == 2 and not present.any() and not vectors.any()
    vectors, present = profile_embeddings(FakeEmbedder(), tweets)
    assert present.tolist() == [True, False] and vectors[0].any()


def test_profile_char_ngrams_by_hand() -> None:
    # " ab " (char_wb pads words with spaces): 2-grams " a", "ab", "b "; 3-grams " ab", "ab "; the
    # 4-gram " ab ": six distinct n-grams, each counted once, so 1/sqrt(6) after L2 normalisation.
    from model.heads.location_head import profile_char_ngrams

    rows = profile_char_ngrams(["ab", "AB", "  ", None], 2**20)
    assert rows.shape == (4, 2**20)
    assert np.count_nonzero(rows[0]) == 6
    np.testing.assert_allclose(rows[0][rows[0] > 0], 1 / np.sqrt(6), rtol=1e-6)
    np.testing.assert_array_equal(rows[0], rows[1])  # case does not matter
    assert not rows[2].any() and not rows[3].any()  # blank or missing: a zero row


def test_tweet_word_ngrams_by_hand() -> None:
    # "Go go Hogs": tokens go, go, hogs (lower-cased); 1-grams go x2, hogs; 2-grams "go go", "go hogs":
    # counts (2, 1, 1, 1), L2 norm sqrt(7).
    from model.heads.location_head import tweet_word_ngrams

    rows = tweet_word_ngrams(["Go go Hogs", "GO GO HOGS", None], 2**20)
    assert rows.shape == (3, 2**20)
    values = np.sort(rows[0][rows[0] > 0])
    np.testing.assert_allclose(values, np.array([1, 1, 1, 2]) / np.sqrt(7), rtol=1e-6)
    np.testing.assert_array_equal(rows[0], rows[1])
    assert not rows[2].any()


def test_location_features_lay_the_text_blocks_out_in_order() -> None:
    from model.embedding_batch import EmbeddingBatch
    from model.heads.location_head import (
        LocationContext,
        location_features,
        profile_char_ngrams,
        tweet_word_ngrams,
    )

    dim = 3
    batch = EmbeddingBatch(
        {"text": np.ones((2, dim), np.float32)},
        {"text": np.array([True, True])},
        np.ones((2, dim), np.float32),
    )
    texts = LocationContext(["Conway, AR", None], ["lunch @ Conway", "hello"])
    x = location_features(
        batch, np.zeros((2, dim)), np.zeros(2, bool), texts=texts, profile_ngrams=8, text_ngrams=16
    )
    base = (len(FEATURE_COMPONENTS) + 1) * dim + len(FEATURE_COMPONENTS) + 1
    assert x.shape == (2, base + 8 + 16)
    np.testing.assert_array_equal(x[:, base : base + 8], profile_char_ngrams(texts.profile, 8))
    np.testing.assert_array_equal(x[:, base + 8 :], tweet_word_ngrams(texts.tweet, 16))
    assert location_features(batch, np.zeros((2, dim)), np.zeros(2, bool)).shape == (2, base)


def test_the_evaluated_neighbour_head_says_whether_the_service_answers_with_it(
    built_checkpoint: tuple[Path, Path, FakeEmbedder],
) -> None:
    from training.evaluation.hashtags import PAPER_METHOD, served_neighbour_recommendations
    from training.evaluation.real_report import hashtag_choice_line
    from training.evaluation.report import served_hashtag_note

    ckpt, _, embedder = built_checkpoint
    batch = embedder.embed(tiny_tweets(6, seed=3))
    scored = served_neighbour_recommendations(ckpt, batch, range(6))
    assert scored is not None and scored[1]["served"] is True
    summary_file = ckpt / "heads" / "heads.json"
    summary = json.loads(summary_file.read_text())
    summary["hashtag_method"] = "tags"  # as `build-heads --hashtag-method tags` writes it
    summary_file.write_text(json.dumps(summary))
    write_manifest(ckpt)
    assert not isinstance(load_heads(ckpt).hashtags, NeighbourHashtagRecommender)
    scored = served_neighbour_recommendations(ckpt, batch, range(6))
    assert scored is not None and scored[1]["served"] is False
    metrics = {"joint": {"hashtag_head": scored[1]}}
    note = served_hashtag_note(metrics)
    assert note is not None and note.startswith(f"Served head: {PAPER_METHOD}")
    line = hashtag_choice_line(metrics, "corpus", "preset")
    assert line is not None and line.endswith("but the paper's max-cosine head is served")


def test_the_strongest_hashtag_baseline_is_judged_against_the_head_the_service_answers_with() -> None:
    from training.evaluation.hashtags import NEIGHBOUR_METHOD, PAPER_METHOD
    from training.evaluation.report import strongest_baselines

    def metrics(neighbours_served: bool) -> dict[str, object]:
        return {
            "baselines": {"hashtags": {"Most popular hashtags": {"f1": [0.1]}}, "location": {"skipped": "-"}},
            "joint": {
                "hashtags": {NEIGHBOUR_METHOD: {"f1": [0.3]}, PAPER_METHOD: {"f1": [0.05]}},
                "hashtag_head": {"served": neighbours_served},
                "retrieval": {"image": {}, "text": {}},
            },
            "variants": {},
        }

    served = strongest_baselines(metrics(True))["hashtags"]
    assert (served["ours"], served["ours_value"]) == ("served head (joint-space neighbours)", 0.3)
    paper = strongest_baselines(metrics(False))["hashtags"]  # build-heads --hashtag-method tags
    assert (paper["ours"], paper["ours_value"]) == ("served head (paper's max cosine)", 0.05)
    assert paper["baseline"] == "Most popular hashtags" and paper["baseline_value"] == 0.1


def test_the_reports_name_the_chosen_hashtag_head_and_its_best_validation_candidates() -> None:
    from training.evaluation.report import neighbour_head_settings, top_validation_scores

    scores = {"a": 0.1, "b": 0.3, "c": 0.2, "d": 0.3}
    # ties in the order given
    assert top_validation_scores(scores, top=2) == "best 2 of 4: b 0.3000, d 0.3000"
    assert top_validation_scores({"a": 0.1}) == "a 0.1000"
    head = {"weighting": "rank", "neighbours": 20, "author_weight": 0.0}
    assert neighbour_head_settings(head) == "rank votes, 20 neighbours"
    head |= {"author_weight": 0.5, "known_authors": 7}
    assert neighbour_head_settings(head) == (
        "rank votes, 20 neighbours, the author's earlier hashtags at weight 0.5 "
        "(7 test queries by an author in its table)"
    )
