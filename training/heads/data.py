"""The tweets and labels the heads are fitted and evaluated on.

DATA is either a prepared WORK directory (``tweetembed prepare``'s splits, the same ones the model
was trained on) or raw data (a synthetic world or Twitter API JSON), which is then split in memory
by prepare's own rules (the world's splits.json, else the chronological 80/10/10 split, else a
seeded random split), so the heads never see a test tweet the checkpoint was not also kept away from.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from model.record import Tweet
from training.artifacts import BOT_LABELS, SPLITS, PrepareManifest, WorkLayout, read_split


@dataclass
class Splits:
    train: list[Tweet]
    val: list[Tweet]
    test: list[Tweet]
    raw_data: Path | None  # where bot_labels.csv may live
    description: str
    bot_labels: dict[str, int] = field(default_factory=dict)  # user id -> 1 bot / 0 human
    bot_labels_source: str | None = None

    def all_tweets(self) -> list[Tweet]:
        return [*self.train, *self.val, *self.test]


def load_splits(data: Path, bot_labels: Path | None = None) -> Splits:
    data = Path(data)
    layout = WorkLayout(data)
    if layout.is_prepared():
        parts = {name: list(read_split(layout.splits_dir, name, desc=f"read {name}")) for name in SPLITS}
        prepared_from = PrepareManifest.load(data).data
        raw = Path(prepared_from) if prepared_from else None
        description = f"prepared splits in {data}"
    else:
        parts = _split_raw(data)
        raw = data
        description = f"raw data {data}, split in memory"
    splits = Splits(parts["train"], parts["val"], parts["test"], raw, description)
    label_path = bot_labels or _default_bot_labels(data, raw)
    if label_path is not None:
        splits.bot_labels = read_bot_label_file(label_path)
        splits.bot_labels_source = str(label_path)
    return splits


def _default_bot_labels(data: Path, raw: Path | None) -> Path | None:
    for base in (data, raw):
        for name in (BOT_LABELS, "truth.txt"):  # truth.txt: a PAN author-profiling corpus
            if base is not None and base.is_dir() and (base / name).is_file():
                return base / name
    return None


def _split_raw(data: Path) -> dict[str, list[Tweet]]:
    """The tweets of raw DATA split by the rule ``prepare --split auto`` would use, falling back to
    the seeded random split when the data has too few dated tweets for a chronological one."""
    from training.prepare.source import read_data
    from training.prepare.splits import (
        RandomSplit,
        SplitError,
        SplitRule,
        assign_splits,
        resolve_auto,
        split_rule,
        world_splits_file,
    )

    tweets = list(read_data(data)[0])
    mode = resolve_auto(data)
    rule: SplitRule
    try:
        rule = split_rule(mode, world_splits_file(data), lambda _desc: tweets, seed=0)
    except SplitError:
        if mode != "chrono":  # a broken splits.json is an error, not a reason to split otherwise
            raise
        rule = RandomSplit(seed=0)
    parts: dict[str, list[Tweet]] = {name: [] for name in SPLITS}
    for name, tweet in assign_splits(tweets, rule):
        parts[name].append(tweet)
    return parts


def read_bot_label_file(path: Path) -> dict[str, int]:
    """user id -> 1 for bots, 0 for humans, via the shared reader (bad rows are skipped there)."""
    from training.readers.bot_labels import read_bot_labels

    return {user: int(label == "bot") for user, label in read_bot_labels(path).items()}


def recent_tweets_by_user(
    tweets: list[Tweet], n: int, users: set[str] | None = None
) -> dict[str, list[Tweet]]:
    """Each user's n most recent tweets, newest first (undated tweets count as oldest)."""
    by_user: dict[str, list[Tweet]] = defaultdict(list)
    for tweet in tweets:
        if tweet.user_id and (users is None or tweet.user_id in users):
            by_user[tweet.user_id].append(tweet)
    return {
        u: sorted(ts, key=lambda t: (t.created_at or "", t.id), reverse=True)[:n] for u, ts in by_user.items()
    }
