"""Split rules: the paper's date split, the seeded random split, the synthetic world's splits.json."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest

from model.checkpoint import sha256_file
from model.record import Tweet
from training.artifacts import read_split, split_path
from training.prepare.splits import (
    ChronoSplit,
    DaySplit,
    RandomSplit,
    SplitError,
    resolve_auto,
    rule_from_days,
    rule_from_splits_file,
    rule_from_times,
    tweet_time_keys,
    world_splits_file,
    write_splits,
)


def _tweet(i: int, day: str | None = "2020-03-01") -> Tweet:
    return Tweet(id=str(i), text=f"text {i}", created_at=f"{day}T10:00:00Z" if day else None)


def test_date_split_uses_the_last_two_days_for_val_and_test() -> None:
    days = ["2020-03-05", "2020-03-01", "2020-03-03", "2020-03-02", "2020-03-04", "2020-03-01"]
    rule = rule_from_days(days)
    assert rule.describe() == {
        "method": "date",
        "train": ["2020-03-01", "2020-03-02", "2020-03-03"],
        "val": ["2020-03-04"],
        "test": ["2020-03-05"],
    }
    assert rule.assign(_tweet(1, "2020-03-05")) == "test"
    assert rule.assign(_tweet(1, "2020-03-04")) == "val"
    assert rule.assign(_tweet(1, "2020-03-02")) == "train"
    assert rule.assign(_tweet(1, None)) is None  # undated tweets cannot be placed by date


def test_date_split_with_too_few_days_suggests_random() -> None:
    with pytest.raises(SplitError, match="--split random"):
        rule_from_days(["2020-03-01", "2020-03-02"])


def test_random_split_is_stable_seeded_and_80_10_10() -> None:
    tweets = [_tweet(i) for i in range(4000)]
    rule = RandomSplit(seed=7)
    first = {t.id: rule.assign(t) for t in tweets}
    shuffled = tweets[:]
    random.Random(1).shuffle(shuffled)
    # Same answer whatever the order, and from a fresh rule object.
    assert {t.id: RandomSplit(seed=7).assign(t) for t in shuffled} == first
    other_seed = {t.id: RandomSplit(seed=8).assign(t) for t in tweets}
    assert sum(first[k] != other_seed[k] for k in first) > 500
    shares = {name: sum(v == name for v in first.values()) / len(first) for name in ("train", "val", "test")}
    assert abs(shares["train"] - 0.8) < 0.03
    assert abs(shares["val"] - 0.1) < 0.02
    assert abs(shares["test"] - 0.1) < 0.02


def test_world_splits_file_is_honoured(tmp_path: Path) -> None:
    world = tmp_path / "world"
    world.mkdir()
    spec = {
        "method": "date",
        "train": ["2020-01-01", "2020-01-03"],
        "val": ["2020-01-02"],
        "test": ["2020-01-04"],
    }
    (world / "splits.json").write_text(json.dumps(spec))
    found = world_splits_file(world)
    assert found is not None
    rule = rule_from_splits_file(found)
    # Not the date rule's answer (which would make 01-03 validation): the file decides.
    assert rule.assign(_tweet(1, "2020-01-03")) == "train"
    assert rule.assign(_tweet(1, "2020-01-02")) == "val"
    assert rule.assign(_tweet(1, "2020-01-09")) is None
    assert world_splits_file(found) is None  # a file is not a world directory

    spec["val"] = ["2020-01-01"]
    (world / "splits.json").write_text(json.dumps(spec))
    with pytest.raises(SplitError, match="both"):
        rule_from_splits_file(world / "splits.json")


def test_write_splits_streams_dedupes_and_fingerprints(tmp_path: Path) -> None:
    rule = DaySplit({"2020-03-01": "train", "2020-03-02": "val", "2020-03-03": "test"})
    tweets = [
        _tweet(1, "2020-03-01"),
        _tweet(2, "2020-03-02"),
        _tweet(3, "2020-03-03"),
        _tweet(1, "2020-03-01"),
        _tweet(4, "2020-03-09"),
        _tweet(5, "2020-03-01"),
    ]
    counts, fingerprints = write_splits(iter(tweets), rule, tmp_path)
    assert counts.tweets == {"train": 2, "val": 1, "test": 1}
    assert counts.duplicates == 1 and counts.unassigned == 1
    for name in ("train", "val", "test"):
        assert fingerprints[name] == sha256_file(split_path(tmp_path, name))
    assert [t.id for t in read_split(tmp_path, "train")] == ["1", "5"]
    # Content-only fingerprint: writing the same tweets again gives the same hash.
    _, again = write_splits(iter(tweets), rule, tmp_path / "again")
    assert again == fingerprints


def _brute_force_chrono(tweets: list[Tweet]) -> dict[str, str]:
    """Reference: sort the distinct dated tweets by (time, numeric id), cut at floor(0.8 n), floor(0.9 n)."""
    from datetime import datetime

    first: dict[str, Tweet] = {}
    for t in tweets:
        first.setdefault(t.id, t)
    dated = [t for t in first.values() if t.created_at]
    dated.sort(key=lambda t: (datetime.fromisoformat(t.created_at or ""), int(t.id)))
    n = len(dated)
    cut1, cut2 = int(n * 0.8), int(n * 0.9)
    return {t.id: "train" if i < cut1 else "val" if i < cut2 else "test" for i, t in enumerate(dated)}


def test_chrono_split_matches_a_brute_force_sort_with_ties_by_id() -> None:
    rng = random.Random(3)
    tweets = []
    for i in range(57):
        # Few distinct seconds, so many tweets share a timestamp, also across the cut points;
        # ids of different widths, so numeric order differs from text order (9 < 10).
        second = rng.choice([0, 0, 0, 5, 5, 30, 59])
        minute = rng.choice([0, 1, 2])
        tweets.append(
            Tweet(
                id=str(rng.choice([7, 95, 1000]) * 1000 + i),
                text="x",
                created_at=f"2020-03-0{rng.choice([1, 2])}T10:{minute:02d}:{second:02d}Z",
            )
        )
    tweets.append(Tweet(id="5000", text="undated"))
    tweets.append(dataclasses.replace(tweets[3], text="duplicate id"))  # first copy decides
    expected = _brute_force_chrono(tweets)
    rng.shuffle(tweets)  # the rule does not depend on the reading order
    rule = rule_from_times(tweet_time_keys(tweets))
    got = {t.id: rule.assign(t) for t in tweets if t.text != "duplicate id"}
    assert got.pop("5000") is None  # undated: unassigned
    assert got == expected
    sizes = {name: sum(v == name for v in got.values()) for name in ("train", "val", "test")}
    assert sizes == {"train": 45, "val": 6, "test": 6}  # floor(0.8 * 57), floor(0.9 * 57) - 45, the rest
    assert rule.describe()["sizes"] == sizes
    # The cut really falls inside a group of equal timestamps here (else the ties would not be tested).
    by_time: dict[str, set[str]] = {}
    for t in tweets:
        if t.created_at and t.text != "duplicate id":
            by_time.setdefault(t.created_at, set()).add(expected[t.id])
    assert any(len(v) > 1 for v in by_time.values())


def test_chrono_split_orders_by_time_not_text_and_reads_offsets() -> None:
    tweets = [Tweet(id=str(i), text="x", created_at=f"2020-03-01T10:00:{i:02d}Z") for i in range(10)]
    # Same instant written with an offset: 12:00:05+02:00 is 10:00:05Z, after 10:00:04Z.
    tweets.append(Tweet(id="99", text="x", created_at="2020-03-01T12:00:04.5+02:00"))
    rule = rule_from_times(tweet_time_keys(tweets))
    assert isinstance(rule, ChronoSplit)
    order = sorted(tweets, key=lambda t: tweet_time_keys([t])[0])
    assert [t.id for t in order][4:7] == ["4", "99", "5"]
    assert [rule.assign(t) for t in order] == ["train"] * 8 + ["val"] + ["test"] * 2
    assert rule.assign(Tweet(id="7", text="x", created_at="not a date")) is None


def test_chrono_split_with_too_few_tweets_suggests_random() -> None:
    few = [Tweet(id=str(i), text="x", created_at="2020-03-01T10:00:00Z") for i in range(5)]
    with pytest.raises(SplitError, match="--split random"):
        rule_from_times(tweet_time_keys(few))


def test_auto_is_the_world_file_for_a_world_and_chronological_otherwise(tmp_path: Path) -> None:
    world = tmp_path / "world"
    world.mkdir()
    assert resolve_auto(world) == "chrono"
    (world / "splits.json").write_text("{}")
    assert resolve_auto(world) == "world"
    assert resolve_auto(world / "splits.json") == "chrono"  # a file is never a world


def test_build_heads_splits_raw_data_by_the_same_chronological_rule(tmp_path: Path) -> None:
    from tests.prepare_helpers import write_dataset  # tests/ helper module
    from training.heads.data import load_splits

    data = write_dataset(tmp_path / "raw")
    splits = load_splits(data)
    tweets = [Tweet.from_flat(json.loads(line)) for line in data.read_text().splitlines()]
    rule = rule_from_times(tweet_time_keys(tweets))
    for name in ("train", "val", "test"):
        assert [t.id for t in getattr(splits, name)] == [t.id for t in tweets if rule.assign(t) == name]
    assert (len(splits.train), len(splits.val), len(splits.test)) == (72, 9, 9)
