"""Split rules: the paper's date split, the seeded random split, the synthetic world's splits.json."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from model.record import Tweet
from training.prepare.splits import (
    DaySplit,
    RandomSplit,
    SplitError,
    file_sha256,
    read_split,
    rule_from_days,
    rule_from_splits_file,
    split_path,
    world_splits_file,
    write_splits,
)


def _tweet(i: int, day: str | None = "2020-03-01") -> Tweet:
    return Tweet(id=str(i), text=f"text {i}", created_at=f"{day}T10:00:00Z" if day else None)


def test_date_split_uses_the_last_two_days_for_val_and_test() -> None:
    days = ["2020-03-05", "2020-03-01", "2020-03-03", "2020-03-02", "2020-03-04", "2020-03-01"]
    rule = rule_from_days(days)
    assert rule.describe() == {"method": "date", "train": ["2020-03-01", "2020-03-02", "2020-03-03"],
                               "val": ["2020-03-04"], "test": ["2020-03-05"]}
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
    spec = {"method": "date", "train": ["2020-01-01", "2020-01-03"], "val": ["2020-01-02"],
            "test": ["2020-01-04"]}
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
    tweets = [_tweet(1, "2020-03-01"), _tweet(2, "2020-03-02"), _tweet(3, "2020-03-03"),
              _tweet(1, "2020-03-01"), _tweet(4, "2020-03-09"), _tweet(5, "2020-03-01")]
    counts, fingerprints = write_splits(iter(tweets), rule, tmp_path)
    assert counts.tweets == {"train": 2, "val": 1, "test": 1}
    assert counts.duplicates == 1 and counts.unassigned == 1
    for name in ("train", "val", "test"):
        assert fingerprints[name] == file_sha256(split_path(tmp_path, name))
    assert [t.id for t in read_split(tmp_path, "train")] == ["1", "5"]
    # Content-only fingerprint: writing the same tweets again gives the same hash.
    _, again = write_splits(iter(tweets), rule, tmp_path / "again")
    assert again == fingerprints
