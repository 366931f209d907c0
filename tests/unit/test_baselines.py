"""The simple baselines, checked against brute-force references on tiny hand-made data."""

from __future__ import annotations

import numpy as np
import pytest

from model.record import Tweet
from training.baselines.bots import FEATURE_NAMES, behaviour_features, single_feature_forest_f1
from training.baselines.city import MajorityClass, TfidfCityClassifier, tune_city_classifier
from training.baselines.hashtags import (
    PopularHashtags,
    TfidfNeighbourHashtags,
    TfidfVotingHashtags,
    tune_voting_hashtags,
)
from training.baselines.selection import next_c
from training.metrics import precision_recall_f1_at_k


def test_majority_class_takes_the_most_frequent_and_breaks_ties_by_name() -> None:
    assert MajorityClass().fit(["b", "a", "b", "c"]).predict(2) == ["b", "b"]
    assert MajorityClass().fit(["y", "x"]).predict(1) == ["x"]
    with pytest.raises(ValueError):
        MajorityClass().fit([])


def test_tfidf_city_classifier_learns_local_words_and_beats_the_majority() -> None:
    rng = np.random.default_rng(0)
    local = {"nyc": ["knicks", "bodega"], "la": ["lakers", "freeway"], "chi": ["cubs", "deepdish"]}
    filler = ["the", "game", "today", "love", "this"]
    labels = [str(c) for c in rng.choice(["nyc", "nyc", "la", "chi"], 300)]
    texts = [" ".join([*rng.choice(filler, 4), str(rng.choice(local[c]))]) for c in labels]
    model = TfidfCityClassifier().fit(texts[:200], labels[:200])
    predicted = model.predict(texts[200:])
    accuracy = np.mean([p == t for p, t in zip(predicted, labels[200:], strict=True)])
    majority = np.mean([t == MajorityClass().fit(labels[:200]).predict(1)[0] for t in labels[200:]])
    assert accuracy > 0.95 > majority + 0.3
    proba = model.predict_proba(texts[200:])
    assert proba.shape == (100, 3) and np.allclose(proba.sum(axis=1), 1.0)
    assert sorted(model.classes_) == ["chi", "la", "nyc"]


def test_popular_hashtags_counts_once_per_tweet_and_lower_cases() -> None:
    popular = PopularHashtags().fit([["Coffee", "coffee", "tea"], ["tea"], ["TEA", "news"], ["coffee"]])
    assert popular.recommend(2, 2) == [["tea", "coffee"], ["tea", "coffee"]]


def test_tfidf_neighbours_walk_down_similarity_and_deduplicate() -> None:
    train = ["coffee latte morning", "coffee espresso", "football goal match", "football derby goal"]
    tags = [["Coffee", "morning"], ["coffee", "espresso"], ["soccer"], ["soccer", "derby"]]
    model = TfidfNeighbourHashtags().fit(train, tags)
    # Brute-force reference: cosine of L2-normalised TF-IDF rows.
    q = model.vectorizer.transform(["latte coffee"]).toarray()[0]
    x = model.matrix.toarray()
    order = np.argsort(-(x @ q), kind="stable")
    expected: list[str] = []
    for j in order:
        if (x @ q)[j] <= 0:
            break
        expected += [t for t in model.tags[j] if t not in expected]
    assert model.recommend(["latte coffee"], 3) == [expected[:3]]
    assert model.recommend(["latte coffee"], 3)[0][0] == "coffee"
    # No shared word: filled with the most popular tags, still k of them.
    assert model.recommend(["zzz"], 2) == [PopularHashtags().fit(tags).recommend(1, 2)[0]]


def _city_data(n: int, seed: int) -> tuple[list[str], list[str], list[str]]:
    rng = np.random.default_rng(seed)
    local = {"nyc": ["knicks", "bodega"], "la": ["lakers", "freeway"], "chi": ["cubs", "deepdish"]}
    labels = [str(c) for c in rng.choice(["nyc", "nyc", "la", "chi"], n)]
    texts = [" ".join(["the", "game", str(rng.choice(local[c]))]) for c in labels]
    return texts, labels, [""] * n


def test_city_tuning_keeps_the_c_with_the_best_validation_accuracy_and_nothing_else() -> None:
    train = _city_data(120, 0)
    val_like_train = _city_data(40, 1)
    # A validation split where the answer is always the majority city whatever the words: only the
    # heavily regularised model (which predicts the majority) does well there.
    texts, _, profiles = _city_data(40, 2)
    val_majority = (texts, ["nyc"] * 40, profiles)
    grid = (0.001, 100.0)
    for val, expected in ((val_like_train, 100.0), (val_majority, 0.001)):
        model, selection = tune_city_classifier(train, val, grid=grid, max_c=100.0, min_c=0.001)
        # Brute force: each C fitted on train alone, scored on val by hand.
        by_hand = {}
        for c in grid:
            m = TfidfCityClassifier(c=c).fit(train[0], train[1], train[2])
            by_hand[str(c)] = round(
                float(np.mean([p == t for p, t in zip(m.predict(val[0]), val[1], strict=True)])), 4
            )
        assert selection.validation == by_hand
        assert selection.chosen == model.c == expected == float(max(by_hand, key=lambda k: by_hand[k]))
    with pytest.raises(TypeError):
        tune_city_classifier(train, val_like_train, grid, 0, train)  # type: ignore[call-arg]


def test_city_tuning_goes_past_the_grid_while_its_largest_c_is_best() -> None:
    train = _city_data(120, 0)
    texts, labels, profiles = _city_data(40, 1)
    noisy = list(labels)
    noisy[::5] = ["chi"] * len(noisy[::5])  # some validation tweets no C can get right
    val = (texts, noisy, profiles)

    def by_hand(c: float) -> float:
        m = TfidfCityClassifier(c=c).fit(train[0], train[1], train[2])
        return round(float(np.mean([p == t for p, t in zip(m.predict(texts), noisy, strict=True)])), 4)

    # Brute force over the decades the rule may visit: go on while the newest C is strictly best.
    decades = [1e-4 * 10**i for i in range(7)]  # 1e-4 ... 100
    scores = {str(c): by_hand(c) for c in decades}
    expected_tried = [decades[0]]
    for c in decades[1:]:
        last, earlier = expected_tried[-1], expected_tried[:-1]
        if earlier and scores[str(last)] <= max(scores[str(t)] for t in earlier):
            break  # the newest C did not beat the others: stop
        expected_tried.append(c)
    model, selection = tune_city_classifier(train, val, grid=(1e-4,), max_c=100.0, min_c=1e-4)
    assert list(selection.validation) == [str(c) for c in expected_tried]
    assert selection.validation == {str(c): scores[str(c)] for c in expected_tried}
    best = max(expected_tried, key=lambda c: (scores[str(c)], -c))
    assert model.c == best
    assert len(expected_tried) > 1  # the data makes the rule go past the one-value grid


def test_the_c_grid_widens_towards_whichever_edge_is_best() -> None:
    assert next_c({0.1: 0.5, 1.0: 0.6}, 1e-4, 100.0) == 10.0  # largest strictly best: up
    assert next_c({0.1: 0.6, 1.0: 0.5}, 1e-4, 100.0) == 0.01  # smallest strictly best: down
    assert next_c({0.01: 0.7, 0.1: 0.6, 1.0: 0.5}, 1e-4, 100.0) == 0.001  # a clean decade, not 0.0009999
    assert next_c({0.1: 0.5, 1.0: 0.6, 10.0: 0.5}, 1e-4, 100.0) is None  # best inside: stop
    assert next_c({0.1: 0.6, 1.0: 0.6}, 1e-4, 100.0) is None  # a tie at the edge is not "best"
    assert next_c({1e-4: 0.6, 1e-3: 0.5}, 1e-4, 100.0) is None  # at the lower bound
    assert next_c({10.0: 0.5, 100.0: 0.6}, 1e-4, 100.0) is None  # at the upper bound
    assert next_c({1.0: 0.5}, 1e-4, 100.0) == 10.0  # one value is both edges: up first
    assert next_c({1.0: 0.5, 10.0: 0.4}, 1e-4, 100.0) == 0.1  # then down once up did worse


def test_city_tuning_goes_below_the_grid_while_its_smallest_c_is_best() -> None:
    train = _city_data(120, 0)
    texts, _, profiles = _city_data(40, 2)
    val = (texts, ["nyc"] * 40, profiles)  # only a heavily regularised model (the majority) gets these
    model, selection = tune_city_classifier(train, val, grid=(0.01, 1.0), max_c=100.0, min_c=1e-4)
    tried = [float(c) for c in selection.validation]
    assert min(tried) < 0.01  # the rule went below the grid
    for c in tried:  # each score is that C fitted on train alone, scored on val by hand
        m = TfidfCityClassifier(c=c).fit(train[0], train[1], train[2])
        by_hand = float(np.mean([p == t for p, t in zip(m.predict(texts), val[1], strict=True)]))
        assert selection.validation[str(c)] == round(by_hand, 4)
    best = max(tried, key=lambda c: (selection.validation[str(c)], -c))
    assert model.c == selection.chosen == best < 0.01


def test_city_classifier_reads_the_profile_location_by_character_n_grams() -> None:
    spellings = {
        "lr": ["Little Rock, AR", "little rock", "LITTLE ROCK ARKANSAS"],
        "mem": ["Memphis, TN", "memphis", "MEMPHIS TENNESSEE"],
    }
    rng = np.random.default_rng(0)
    labels = [str(c) for c in rng.choice(["lr", "mem"], 60)]
    profiles = [str(rng.choice(spellings[c][:2])) for c in labels]
    texts = ["good morning"] * 60  # the text says nothing
    model = TfidfCityClassifier().fit(texts, labels, profiles)
    # Unseen spellings (upper case, a state name) still share character n-grams with the seen ones.
    assert model.predict(["hello", "hi"], ["LITTLE ROCK ARKANSAS", "MEMPHIS TENNESSEE"]) == ["lr", "mem"]
    assert model.predict(["hello"]) in (["lr"], ["mem"])  # no profile column: still answers


def test_voting_neighbours_match_a_brute_force_rank_weighted_vote() -> None:
    train = [
        "coffee latte morning",
        "coffee espresso",
        "coffee beans morning",
        "football goal match",
        "coffee morning news",
    ]
    tags = [["Coffee", "morning"], ["espresso"], ["beans", "coffee"], ["soccer"], ["news"]]
    model = TfidfVotingHashtags(neighbours=4).fit(train, tags)
    q = model.vectorizer.transform(["morning coffee"]).toarray()[0]
    sims = model.matrix.toarray() @ q
    order = [j for j in np.argsort(-sims, kind="stable") if sims[j] > 0][:4]
    votes: dict[str, float] = {}
    for rank, j in enumerate(order, start=1):
        for tag in model.tags[j]:
            votes[tag] = votes.get(tag, 0.0) + 1 / rank
    seen = list(votes)
    expected = sorted(votes, key=lambda t: (-votes[t], seen.index(t)))
    assert model.recommend(["morning coffee"], 3) == [expected[:3]]
    # No shared word: the most popular tags, k of them.
    assert model.recommend(["zzz"], 2) == [PopularHashtags().fit(tags).recommend(1, 2)[0]]


def test_voting_neighbour_count_is_chosen_on_validation_only() -> None:
    # The nearest neighbour of "alpha beta" says #a; the next four, a little farther, all say #b:
    # one neighbour answers a, five answer b (1/2 + 1/3 + 1/4 + 1/5 > 1).
    train = ["alpha beta", "alpha x1", "alpha x2", "alpha x3", "alpha x4"]
    tags = [["a"], ["b"], ["b"], ["b"], ["b"]]
    queries = ["alpha beta", "beta alpha"]
    grid = (1, 5)
    for truth, expected in (("a", 1), ("b", 5)):
        val = (queries, [[truth], [truth]])
        model, selection = tune_voting_hashtags((train, tags), val, grid=grid)
        by_hand = {}
        for k in grid:
            predicted = TfidfVotingHashtags(neighbours=k).fit(train, tags).recommend(queries, 1)
            by_hand[str(k)] = round(precision_recall_f1_at_k(predicted, [{truth}, {truth}], 1)[2], 4)
        assert selection.validation == by_hand
        assert selection.chosen == model.neighbours == expected
        assert model.recommend(["alpha beta"], 1) == [[truth]]


def _tweet(i: int, text: str, day: int = 1, **kw: object) -> Tweet:
    return Tweet(id=str(i), text=text, created_at=f"2020-03-0{day}T10:00:00Z", **kw)  # type: ignore[arg-type]


def test_behaviour_features_match_hand_counts() -> None:
    tweets = {
        "a": [
            _tweet(1, "hello #x #y https://t.co/abc", hashtags=("x", "y"), image="/i.png"),
            _tweet(2, "hello #x #y https://t.co/def", hashtags=("x", "y"), day=2),
            _tweet(3, "RT shared words", mentions=("b",), place_id="p"),
        ],
        "b": [_tweet(4, "shared words"), _tweet(5, "@a @c hi", mentions=("a", "c"))],
        "c": [],
    }
    users, x, names = behaviour_features(tweets)
    assert users == ["a", "b"] and names == list(FEATURE_NAMES) and x.shape == (2, len(FEATURE_NAMES))
    a = dict(zip(names, x[0], strict=True))
    b = dict(zip(names, x[1], strict=True))
    assert a["url_share"] == pytest.approx(2 / 3)
    assert a["hashtags_per_tweet"] == pytest.approx(4 / 3)
    assert a["mentions_per_tweet"] == pytest.approx(1 / 3) and b["distinct_mentioned"] == 2
    # "hello #x #y" twice once URLs are removed: one repeat in three tweets.
    assert a["duplicate_text_share"] == pytest.approx(1 / 3)
    # "shared words" is posted by a (as a retweet) and by b.
    assert a["shared_text_share"] == pytest.approx(1 / 3) and b["shared_text_share"] == pytest.approx(1 / 2)
    assert a["retweet_share"] == pytest.approx(1 / 3)
    assert a["tweets_per_day"] == pytest.approx(3 / 2)  # the data span two days
    assert a["image_share"] == pytest.approx(1 / 3) and a["place_share"] == pytest.approx(1 / 3)
    assert b["mean_text_length"] == pytest.approx((len("shared words") + len("@a @c hi")) / 2)


def test_single_feature_forest_separates_only_with_the_informative_feature() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.3).astype(np.int64)
    informative = y + rng.normal(0, 0.1, 400)
    noise = rng.normal(0, 1, 400)
    x = np.column_stack([informative, noise])
    scores = single_feature_forest_f1(
        x[:300], y[:300], x[300:], y[300:], ["informative", "noise"], n_estimators=20
    )
    assert scores["informative"] > 0.95
    assert scores["noise"] < 0.6
    assert set(scores) == {"informative", "noise", "all"}


def test_location_classes_are_the_training_cities_alone() -> None:
    # The served head is fitted on every city of the training split, so the harness scores every
    # method on that label set; the test split's cities must not narrow it (the service cannot know them).
    from model.record import Tweet
    from training.evaluation.location import city_classes

    def at(tweet_id: str, place: str, kind: str = "city") -> Tweet:
        return Tweet(id=tweet_id, text="t", place_id=place, place_type=kind)

    train = [at("1", "a"), at("2", "b"), at("3", "only-train"), at("4", "region", "admin")]
    assert city_classes(train) == {"a", "b", "only-train"}
