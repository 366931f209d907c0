"""Train / validation / test assignment of tweets and the split files every later step reads.

Four rules: the synthetic world's own ``splits.json`` (days listed per split); a chronological
80/10/10 split of the tweets in time order (the default for any other data: train on the past, test
on the future, whatever the number of days); the paper's date split (the last day is test, the one
before validation, the rest training); and a seeded random 80/10/10 split keyed on a hash of the
tweet id, so a tweet lands in the same split whatever order or subset of the data it is read in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from model.record import Tweet
from training.artifacts import SPLITS, split_path

SPLITS_FILE = "splits.json"


class SplitError(ValueError):
    """The data cannot be split as asked."""


@dataclass(frozen=True)
class DaySplit:
    """Split by calendar day: every listed day belongs to exactly one split."""

    days: dict[str, str]  # "YYYY-MM-DD" -> split name

    def assign(self, tweet: Tweet) -> str | None:
        day = tweet.day
        return self.days.get(day) if day else None

    def describe(self) -> dict[str, Any]:
        by_split: dict[str, list[str]] = {name: [] for name in SPLITS}
        for day, name in sorted(self.days.items()):
            by_split[name].append(day)
        return {"method": "date", **by_split}


@dataclass(frozen=True)
class RandomSplit:
    """Seeded 80/10/10 split on a hash of the tweet id (stable across runs and orders)."""

    seed: int
    fractions: tuple[float, float] = (0.8, 0.9)  # cumulative: train below 0.8, val below 0.9

    def assign(self, tweet: Tweet) -> str:
        digest = hashlib.sha256(f"{self.seed}:{tweet.id}".encode()).digest()
        u = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
        if u < self.fractions[0]:
            return "train"
        return "val" if u < self.fractions[1] else "test"

    def describe(self) -> dict[str, Any]:
        return {"method": "random", "seed": self.seed, "fractions": [0.8, 0.1, 0.1]}


# A tweet's place in time: (seconds since the epoch, numeric id, id). Snowflake ids grow with time, so
# among tweets of the same second the numeric id is the finer order; non-numeric ids sort as text.
TimeKey = tuple[float, int, str]


def time_key(tweet: Tweet) -> TimeKey | None:
    """Where ``tweet`` sits in time order, or None when it has no readable date."""
    if not tweet.created_at:
        return None
    try:
        moment = datetime.fromisoformat(tweet.created_at.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    numeric = int(tweet.id) if tweet.id.isdigit() else -1
    return (moment.timestamp(), numeric, tweet.id)


@dataclass(frozen=True)
class ChronoSplit:
    """Train on the earliest 80% of the dated tweets, validate on the next 10%, test on the last 10%.

    The cut points are time keys (see ``time_key``): a tweet goes to train when its key is below
    ``val_from``, to test when it is at or above ``test_from``, else to validation. Tweets of the same
    second are ordered by id, so the split has the asked sizes even when many share a timestamp, and
    deciding a tweet needs only its own key (the split streams).
    """

    val_from: TimeKey
    test_from: TimeKey
    sizes: tuple[int, int, int]
    fractions: tuple[float, float] = (0.8, 0.9)  # cumulative

    def assign(self, tweet: Tweet) -> str | None:
        key = time_key(tweet)
        if key is None:
            return None
        if key < self.val_from:
            return "train"
        return "val" if key < self.test_from else "test"

    def describe(self) -> dict[str, Any]:
        def when(key: TimeKey) -> str:
            return datetime.fromtimestamp(key[0], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

        train_f, val_f = self.fractions
        return {
            "method": "chrono",
            "fractions": [round(train_f, 4), round(val_f - train_f, 4), round(1 - val_f, 4)],
            "val_from": {"time": when(self.val_from), "id": self.val_from[2]},
            "test_from": {"time": when(self.test_from), "id": self.test_from[2]},
            "sizes": dict(zip(SPLITS, self.sizes, strict=True)),
        }


def rule_from_times(keys: Iterable[TimeKey], fractions: tuple[float, float] = (0.8, 0.9)) -> ChronoSplit:
    """The chronological split of the tweets whose time keys are ``keys`` (one per distinct tweet id).

    Train gets the first floor(0.8 n) tweets in time order, validation up to floor(0.9 n), test the
    rest; every split must get at least one tweet.
    """
    ordered = sorted(set(keys))
    n = len(ordered)
    n_train, n_upto_val = int(n * fractions[0]), int(n * fractions[1])
    if n_train < 1 or n_upto_val <= n_train or n_upto_val >= n:
        raise SplitError(
            f"a chronological split needs enough dated tweets for a non-empty train, val and test "
            f"split, found {n}. Use --split random --seed S instead."
        )
    return ChronoSplit(
        val_from=ordered[n_train],
        test_from=ordered[n_upto_val],
        sizes=(n_train, n_upto_val - n_train, n - n_upto_val),
        fractions=fractions,
    )


def tweet_time_keys(tweets: Iterable[Tweet]) -> list[TimeKey]:
    """The time key of each distinct tweet id (first copy), undated tweets left out."""
    seen: set[str] = set()
    keys: list[TimeKey] = []
    for tweet in tweets:
        if tweet.id in seen:
            continue
        seen.add(tweet.id)
        if (key := time_key(tweet)) is not None:
            keys.append(key)
    return keys


SplitRule = DaySplit | RandomSplit | ChronoSplit


def split_rule(
    mode: str, world_file: Path | None, scan: Callable[[str], Iterable[Tweet]], seed: int
) -> SplitRule:
    """The rule of a resolved split mode (world, random, chrono or date; see ``resolve_auto``).

    ``scan(desc)`` reads the tweets again for the rules that look at all of them first.
    """
    if mode == "world" and world_file is not None:
        return rule_from_splits_file(world_file)
    if mode == "random":
        return RandomSplit(seed)
    if mode == "chrono":
        return rule_from_times(tweet_time_keys(scan("scanning times")))
    return rule_from_days(distinct_days(scan("scanning days")))


def resolve_auto(data: Path) -> str:
    """What ``--split auto`` means for DATA: a synthetic world's own split file, else chronological."""
    return "world" if world_splits_file(data) is not None else "chrono"


def world_splits_file(data: Path) -> Path | None:
    """The synthetic world's ``splits.json`` when DATA is a directory that has one."""
    candidate = data / SPLITS_FILE
    return candidate if data.is_dir() and candidate.is_file() else None


def rule_from_splits_file(path: Path) -> DaySplit:
    """The split a synthetic world ships: {"method": "date", "train": [days], "val": [...], "test": [...]}."""
    obj = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(obj, dict) or obj.get("method") != "date":
        raise SplitError(
            f"{path}: expected {{'method': 'date', 'train': [...], 'val': [...], 'test': [...]}}"
        )
    days: dict[str, str] = {}
    for name in SPLITS:
        listed = obj.get(name)
        if not isinstance(listed, list) or not listed or not all(isinstance(d, str) for d in listed):
            raise SplitError(f"{path}: '{name}' must be a non-empty list of YYYY-MM-DD days")
        for day in listed:
            if day in days:
                raise SplitError(f"{path}: day {day} is listed in both '{days[day]}' and '{name}'")
            days[day] = name
    return DaySplit(days)


def rule_from_days(days: Iterable[str]) -> DaySplit:
    """The paper's date split: last day test, the day before validation, all earlier days training."""
    ordered = sorted(set(days))
    if len(ordered) < 3:
        raise SplitError(
            f"a date split needs tweets from at least 3 distinct days (train, val, test), "
            f"found {len(ordered)}: {', '.join(ordered) or 'none'}. Use --split random --seed S instead."
        )
    assignment = dict.fromkeys(ordered[:-2], "train")
    assignment[ordered[-2]] = "val"
    assignment[ordered[-1]] = "test"
    return DaySplit(assignment)


def distinct_days(tweets: Iterable[Tweet]) -> set[str]:
    return {day for t in tweets if (day := t.day)}


@dataclass
class SplitCounts:
    tweets: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    unassigned: int = 0  # no date under a date split, or a day outside the listed ones
    duplicates: int = 0  # same tweet id seen again (first copy kept)


def assign_splits(
    tweets: Iterable[Tweet], rule: SplitRule, counts: SplitCounts | None = None
) -> Iterator[tuple[str, Tweet]]:
    """(split, tweet) of each tweet the rule assigns; a repeated tweet id keeps its first copy."""
    seen: set[str] = set()
    for tweet in tweets:
        if tweet.id in seen:
            if counts is not None:
                counts.duplicates += 1
            continue
        seen.add(tweet.id)
        name = rule.assign(tweet)
        if name is None:
            if counts is not None:
                counts.unassigned += 1
            continue
        yield name, tweet


def write_splits(
    tweets: Iterable[Tweet],
    rule: SplitRule,
    out_dir: Path,
    progress: Callable[[Iterable[Tweet]], Iterator[Tweet]] | None = None,
) -> tuple[SplitCounts, dict[str, str]]:
    """Stream ``tweets`` into out_dir/{train,val,test}.jsonl; returns counts and each file's sha256.

    Lines are the flat form with absolute image paths and sorted keys, so the fingerprint of a split
    depends on its content only. Files are written under a temporary name and renamed at the end,
    so an interrupted run never leaves a half split that looks finished.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = SplitCounts()
    hashes = {name: hashlib.sha256() for name in SPLITS}
    temp = {name: out_dir / f".{name}.jsonl.tmp" for name in SPLITS}
    handles = {name: temp[name].open("w", encoding="utf-8") for name in SPLITS}
    try:
        stream = progress(tweets) if progress else tweets
        for name, tweet in assign_splits(stream, rule, counts):
            line = json.dumps(tweet.to_flat(), ensure_ascii=False, sort_keys=True) + "\n"
            handles[name].write(line)
            hashes[name].update(line.encode("utf-8"))
            counts.tweets[name] += 1
    finally:
        for handle in handles.values():
            handle.close()
    for name in SPLITS:
        temp[name].replace(split_path(out_dir, name))
    return counts, {name: h.hexdigest() for name, h in hashes.items()}
