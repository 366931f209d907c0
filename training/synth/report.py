"""How hard a synthetic world is: simple baselines trained on its train days, scored on its test day.

The bounds are the spec's: a world where a bag of words finds the city almost always, a nearest
neighbour guesses the hashtag, or one behaviour number spots the bots, cannot tell good models
from bad ones. A world too noisy for a bag of words to find any city is no better.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model.record import Tweet
from model.tokenizer import tokenize

CITY_ACCURACY_BOUNDS = (0.20, 0.60)
HASHTAG_F1_MAX = 0.35
BOT_FEATURE_F1_MAX = 0.80


@dataclass
class Bound:
    name: str
    value: float
    rule: str
    passed: bool


def load_world_tweets(out: Path) -> tuple[dict[str, list[Tweet]], dict[str, Any]]:
    """Tweets grouped by split name ('train', 'val', 'test'), using splits.json's days."""
    splits = json.loads((out / "splits.json").read_text(encoding="utf-8"))
    split_of = {day: name for name in ("train", "val", "test") for day in splits[name]}
    grouped: dict[str, list[Tweet]] = {"train": [], "val": [], "test": []}
    with (out / "tweets.jsonl").open(encoding="utf-8") as f:
        for line in f:
            tweet = Tweet.from_flat(json.loads(line), base_dir=out)
            name = split_of.get(tweet.day or "")
            if name:
                grouped[name].append(tweet)
    return grouped, splits


def _hashtag_free(text: str | None) -> str:
    # The hashtag task gives a tweet without its hashtags; mentions go too, as the text branch drops them.
    return " ".join(tokenize(text or ""))


def city_baselines(train: list[Tweet], test: list[Tweet], seed: int) -> dict[str, Any]:
    from training.baselines.city import MajorityClass, TfidfCityClassifier

    train_c = [t for t in train if t.place_type == "city" and t.text]
    classes = {t.place_id for t in train_c}
    # As in the paper's location task: city-level places only, and only cities seen in training.
    test_c = [t for t in test if t.place_type == "city" and t.text and t.place_id in classes]
    labels = [str(t.place_id) for t in train_c]
    truth = np.array([t.place_id for t in test_c])
    majority = MajorityClass().fit(labels)
    tfidf = TfidfCityClassifier(seed=seed).fit([t.text or "" for t in train_c], labels)
    return {
        "train_tweets": len(train_c),
        "test_tweets": len(test_c),
        "classes": len(classes),
        "majority_accuracy": float((np.array(majority.predict(len(test_c))) == truth).mean()),
        "tfidf_accuracy": float((np.array(tfidf.predict([t.text or "" for t in test_c])) == truth).mean()),
    }


def hashtag_baselines(train: list[Tweet], test: list[Tweet], ks: tuple[int, ...] = (1, 5)) -> dict[str, Any]:
    from training.baselines.hashtags import PopularHashtags, TfidfNeighbourHashtags
    from training.metrics import precision_recall_f1_at_k

    train_h = [t for t in train if t.hashtags]
    test_h = [t for t in test if t.hashtags]
    truth = [{h.lower() for h in t.hashtags} for t in test_h]
    popular = PopularHashtags().fit([t.hashtags for t in train_h])
    neighbour = TfidfNeighbourHashtags().fit(
        [_hashtag_free(t.text) for t in train_h], [t.hashtags for t in train_h]
    )
    k_max = max(ks)
    predicted = {
        "popular": popular.recommend(len(test_h), k_max),
        "tfidf_nn": neighbour.recommend([_hashtag_free(t.text) for t in test_h], k_max),
    }
    out: dict[str, Any] = {"train_tweets": len(train_h), "test_tweets": len(test_h)}
    for name, preds in predicted.items():
        for k in ks:
            p, r, f1 = precision_recall_f1_at_k(preds, truth, k)
            out[f"{name}_p@{k}"], out[f"{name}_r@{k}"], out[f"{name}_f1@{k}"] = p, r, f1
    return out


def bot_baselines(tweets: list[Tweet], labels: dict[str, str], seed: int) -> dict[str, Any]:
    from sklearn.model_selection import train_test_split

    from training.baselines.bots import behaviour_features, single_feature_forest_f1

    by_user: dict[str, list[Tweet]] = defaultdict(list)
    for t in tweets:
        if t.user_id:
            by_user[t.user_id].append(t)
    users, x, names = behaviour_features(by_user)
    y = np.array([labels.get(u) == "bot" for u in users], dtype=np.int64)
    # Users, not tweets, are split: a bot's tweets must not sit on both sides.
    idx_train, idx_test = train_test_split(
        np.arange(len(users)), test_size=0.3, random_state=seed, stratify=y
    )
    f1 = single_feature_forest_f1(x[idx_train], y[idx_train], x[idx_test], y[idx_test], names, seed=seed)
    return {"users": len(users), "bots": int(y.sum()), "test_users": len(idx_test), "f1": f1}


def run_report(out: Path, seed: int = 0) -> tuple[dict[str, Any], list[Bound]]:
    grouped, _ = load_world_tweets(out)
    labels = {}
    for line in (out / "bot_labels.csv").read_text(encoding="utf-8").splitlines()[1:]:
        user, label = line.split(",")
        labels[user] = label
    everything = grouped["train"] + grouped["val"] + grouped["test"]
    result = {
        "tweets": {k: len(v) for k, v in grouped.items()},
        "city": city_baselines(grouped["train"], grouped["test"], seed),
        "hashtags": hashtag_baselines(grouped["train"], grouped["test"]),
        "bots": bot_baselines(everything, labels, seed),
    }
    lo, hi = CITY_ACCURACY_BOUNDS
    acc = result["city"]["tfidf_accuracy"]
    f1_nn = result["hashtags"]["tfidf_nn_f1@1"]
    single = {k: v for k, v in result["bots"]["f1"].items() if k != "all"}
    best = max(single, key=lambda k: single[k])
    bounds = [
        Bound("text-only city accuracy (TF-IDF + LR)", acc, f"{lo:.2f} <= x <= {hi:.2f}", lo <= acc <= hi),
        Bound("hashtag F1@1 (TF-IDF neighbours)", f1_nn, f"x < {HASHTAG_F1_MAX:.2f}", f1_nn < HASHTAG_F1_MAX),
        Bound(
            f"best single bot feature F1 ({best})",
            single[best],
            f"x <= {BOT_FEATURE_F1_MAX:.2f}",
            single[best] <= BOT_FEATURE_F1_MAX,
        ),
    ]
    return result, bounds


def format_report(result: dict[str, Any], bounds: list[Bound]) -> str:
    c, h, b = result["city"], result["hashtags"], result["bots"]
    n = result["tweets"]
    lines = [
        f"tweets: train {n['train']}  val {n['val']}  test {n['test']}",
        "",
        f"city (city-level places; train {c['train_tweets']} tweets, test {c['test_tweets']}, "
        f"{c['classes']} cities)",
        f"  majority class            accuracy {c['majority_accuracy']:.3f}",
        f"  TF-IDF + logistic regr.   accuracy {c['tfidf_accuracy']:.3f}",
        "",
        f"hashtags (tweets with hashtags; train {h['train_tweets']}, test {h['test_tweets']})",
        "                            P@1    R@1    F1@1   P@5    R@5    F1@5",
    ]
    for name, label in (("popular", "most popular"), ("tfidf_nn", "TF-IDF nearest neighbours")):
        lines.append(
            f"  {label:<26}"
            + "  ".join(f"{h[f'{name}_{m}@{k}']:.3f}" for k in (1, 5) for m in ("p", "r", "f1"))
        )
    lines += [
        "",
        f"bots ({b['users']} users, {b['bots']} bots; forest per feature, F1 of the bot class "
        f"on {b['test_users']} held-out users)",
    ]
    lines += [f"  {name:<26}F1 {score:.3f}" for name, score in b["f1"].items() if name != "all"]
    lines += [f"  {'(all features together)':<26}F1 {b['f1']['all']:.3f}", "", "difficulty bounds"]
    lines += [f"  {'PASS' if x.passed else 'FAIL'}  {x.name}: {x.value:.3f}  ({x.rule})" for x in bounds]
    return "\n".join(lines)
