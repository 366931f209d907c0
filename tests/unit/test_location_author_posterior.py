"""The location head's author posterior: the Dirichlet update against hand-computed values, the
validation choice of its content weight (used where only the author decides, left out where the
author says nothing), the head serving it through save and load, and the harness's TF-IDF row that
applies the same update without the embeddings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from model.checkpoint import write_manifest
from model.embedding_batch import EmbeddingBatch
from model.heads.author_history import AUTHOR_PLACES_FILE, AuthorHistory
from model.heads.loader import load_location_head
from model.heads.location_head import LocationContext, author_posterior, location_features
from model.record import Tweet
from training.heads.fit_location import (
    AUTHOR_PRIOR_GRID,
    AUTHOR_PRIOR_NONE,
    ForestParams,
    accuracy_by_prior,
    best_prior,
    choose_location_head,
    city_label,
    save_forest,
)


def _tweet(i: int, user: str | None, place: str | None, text: str = "", kind: str = "city") -> Tweet:
    return Tweet(id=str(i), text=text or f"tweet {i}", user_id=user, place_id=place, place_type=kind)


def test_class_counts_count_the_authors_tweets_per_class_and_leave_other_places_out() -> None:
    table = AuthorHistory.of(
        [_tweet(0, "ann", "a"), _tweet(1, "ann", "a"), _tweet(2, "ann", "z"), _tweet(3, "bob", "b")],
        city_label,
    )
    counts = table.class_counts(["ann", "bob", "carol", None], ["a", "b"])
    np.testing.assert_array_equal(counts, [[2, 0], [0, 1], [0, 0], [0, 0]])


def test_the_posterior_is_the_dirichlet_mean_by_hand() -> None:
    proba = np.array([[0.7, 0.2, 0.1], [0.5, 0.25, 0.25]])
    counts = np.array([[0.0, 2.0, 0.0], [0.0, 0.0, 0.0]])  # the second author is unknown
    got = author_posterior(proba, counts, content_weight=1.0)
    # (n_c + w q_c) / (n + w) with n = 2, w = 1: (0.7, 2.2, 0.1) / 3
    np.testing.assert_allclose(got[0], [0.7 / 3, 2.2 / 3, 0.1 / 3])
    np.testing.assert_allclose(got[1], proba[1])  # an unknown author keeps the content prediction
    np.testing.assert_allclose(got.sum(axis=1), 1.0)
    # the limits: a tiny weight is the author's most frequent city, a huge one the content model
    assert np.argmax(author_posterior(proba, counts, 1e-6)[0]) == 1
    assert np.argmax(author_posterior(proba, counts, 1e6)[0]) == 0
    with pytest.raises(ValueError, match="positive"):
        author_posterior(proba, counts, 0.0)


def test_accuracy_by_prior_scores_every_weight_and_ties_go_to_no_table() -> None:
    proba = np.array([[0.6, 0.4], [0.6, 0.4]])
    counts = np.array([[0.0, 1.0], [0.0, 0.0]])
    scores = accuracy_by_prior(proba, ["a", "b"], ["b", "a"], counts, grid=(0.1, 10.0))
    # w = 0.1: row 0 follows its author to b (right), row 1 keeps a (right); w = 10: row 0 stays a
    assert scores == {AUTHOR_PRIOR_NONE: 0.5, 0.1: 1.0, 10.0: 0.5}
    assert best_prior(scores) == 0.1
    assert best_prior({AUTHOR_PRIOR_NONE: 0.5, 0.1: 0.5, 10.0: 0.5}) == AUTHOR_PRIOR_NONE
    assert accuracy_by_prior(proba, ["a", "b"], ["b", "a"], None) == {AUTHOR_PRIOR_NONE: 0.5}


def _world(n: int, seed: int, authors_decide: bool) -> tuple[np.ndarray, list[str], list[str]]:
    """Features that point weakly at the city (one direction per city, much noise) and authors that
    either always tweet from one city (``authors_decide``) or from anywhere."""
    rng = np.random.default_rng(seed)
    users = [f"u{int(u)}" for u in rng.integers(0, 40, n)]
    cities = (
        [f"c{int(u[1:]) % 4}" for u in users]
        if authors_decide
        else [f"c{int(k)}" for k in rng.integers(0, 4, n)]
    )
    x = rng.normal(size=(n, 8)).astype(np.float32)
    for i, city in enumerate(cities):
        x[i, int(city[1:])] += 0.8
    return x, users, cities


@pytest.mark.parametrize("authors_decide", [True, False])
def test_the_content_weight_is_chosen_on_validation(authors_decide: bool) -> None:
    x, users, cities = _world(600, 0, authors_decide)
    train = [_tweet(i, u, c) for i, (u, c) in enumerate(zip(users[:400], cities[:400], strict=True))]
    table = AuthorHistory.of(train, city_label)
    classes = sorted(set(cities[:400]))
    counts = table.class_counts(users[400:], classes)
    _, info = choose_location_head(
        x[:400],
        cities[:400],
        x[400:],
        cities[400:],
        ForestParams(n_estimators=10, n_jobs=1),
        val_counts=counts,
    )
    prior = info["author_prior"]
    curve = info["author_prior_validation"]
    assert set(curve) == {"none", *(f"{w:g}" for w in AUTHOR_PRIOR_GRID)}
    if authors_decide:
        assert prior in AUTHOR_PRIOR_GRID
        assert curve[f"{prior:g}"] > curve["none"] + 0.2
    else:  # the author's earlier cities say nothing: the update must not be chosen for a lucky row
        assert curve["none"] >= max(curve.values()) - 0.03
    # with no counts at all there is nothing to choose
    _, plain = choose_location_head(
        x[:400], cities[:400], x[400:], cities[400:], ForestParams(n_estimators=10, n_jobs=1)
    )
    assert plain["author_prior"] == AUTHOR_PRIOR_NONE and "author_prior_validation" not in plain


def test_a_head_with_the_posterior_serves_it_through_save_and_load(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n, dim = 300, 4
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    batch = EmbeddingBatch({"text": vectors}, {"text": np.ones(n, bool)}, vectors)
    users = [f"u{int(u)}" for u in rng.integers(0, 30, n)]
    cities = [f"c{int(u[1:]) % 3}" for u in users]
    train = [_tweet(i, u, c) for i, (u, c) in enumerate(zip(users[:200], cities[:200], strict=True))]
    table = AuthorHistory.of(train, city_label)
    features = location_features(batch.rows(np.arange(200)), np.zeros((200, dim)), np.zeros(200, bool))
    from training.heads.fit_location import fit_linear

    head = fit_linear(features, cities[:200], c=1.0)
    heads = tmp_path / "ckpt" / "heads"
    heads.mkdir(parents=True)
    info = save_forest(heads, head, {}, ForestParams(), authors=table, author_prior=0.5)
    assert info["author_prior"] == 0.5 and (heads / AUTHOR_PLACES_FILE).is_file()
    assert json.loads((heads / "location.json").read_text())["author_prior"] == 0.5
    write_manifest(tmp_path / "ckpt")
    served = load_location_head(tmp_path / "ckpt")
    assert served is not None and served.author_prior == 0.5
    test = batch.rows(np.arange(200, 300))
    zeros, absent = np.zeros((100, dim)), np.zeros(100, bool)
    context = LocationContext([None] * 100, [None] * 100, users[200:])
    got = served.predict_proba(test, zeros, absent, texts=context)
    content = head.predict_proba(location_features(test, zeros, absent))
    expected = author_posterior(content, table.class_counts(users[200:], served.classes), 0.5)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    # embeddings carry no city here: only the authors can answer, and the served head does
    known = [i for i, u in enumerate(users[200:]) if table.most_frequent(u)]
    guesses = served.predict(test, zeros, absent, texts=context)
    assert len(known) > 80
    assert np.mean([guesses[i][0].place_id == cities[200 + i] for i in known]) > 0.95
    # an author the table never saw gets the content prediction unchanged
    stranger = LocationContext([None] * 100, [None] * 100, ["nobody"] * 100)
    np.testing.assert_allclose(served.predict_proba(test, zeros, absent, texts=stranger), content, rtol=1e-5)


def test_the_harness_row_applies_the_update_to_tf_idf() -> None:
    from training.evaluation.location import AUTHOR_POSTERIOR_TFIDF, TFIDF_LR, baseline_predictions

    # authors u0..u3 each tweet from one city, with words that name the other city half the time
    def tweet(i: int, user: str, place: str, words: str) -> Tweet:
        return _tweet(i, user, place, text=words)

    train = [tweet(i, f"u{i % 4}", f"c{i % 4 % 2}", f"words of c{(i // 4 + i) % 2} here") for i in range(80)]
    val = [tweet(100 + i, f"u{i % 4}", f"c{i % 4 % 2}", f"words of c{(i % 4 + 1) % 2}") for i in range(8)]
    test = [tweet(200, "u1", "c1", "words of c0 here"), tweet(201, "new", "c0", "words of c0 here")]
    predicted, chosen = baseline_predictions(train, val, test)
    assert predicted[TFIDF_LR] == ["c0", "c0"]
    assert predicted[AUTHOR_POSTERIOR_TFIDF] == ["c1", "c0"]  # u1 always tweeted from c1
    assert chosen[AUTHOR_POSTERIOR_TFIDF]["chosen"] > 0
