"""Where prepare's tweets come from: the shared readers (flat JSONL, Twitter API v1.1 / v2).

A synthetic world directory holds more than tweets (world.json, splits.json, bot labels), so for
one the tweet file itself is read.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from model.record import RecordError, Tweet
from training.prepare.splits import SPLITS_FILE

WORLD_TWEETS = "tweets.jsonl"
_IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff"})


def tweet_source(data: Path) -> Path:
    """The file or directory handed to the readers."""
    if data.is_dir() and (data / WORLD_TWEETS).is_file() and (data / SPLITS_FILE).is_file():
        return data / WORLD_TWEETS
    return data


def read_data(data: Path) -> tuple[Iterator[Tweet], Any]:
    """Tweets of DATA in file order, and the readers' report (None when the readers are absent)."""
    source = tweet_source(data)
    try:
        from training.readers import ReadReport, read_tweets
    except ImportError:  # the readers module is another area's; flat JSONL keeps prepare usable meanwhile
        return _read_flat(source), None
    report = ReadReport()
    return read_tweets(source, report=report), report


def _read_flat(source: Path) -> Iterator[Tweet]:
    files = sorted(source.rglob("*.jsonl")) if source.is_dir() else [source]
    for path in files:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                try:
                    yield Tweet.from_flat(json.loads(line), base_dir=path.parent)
                except (RecordError, json.JSONDecodeError):
                    continue


def data_stamp(data: Path) -> str:
    """A cheap identity of DATA's files (path, size, mtime), as make would use; content is hashed
    later, per split, so a touched but unchanged file reruns only the split step."""
    source = tweet_source(data)
    files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
    digest = hashlib.sha256()
    for path in files:
        if path.suffix.lower() in _IMAGE_SUFFIXES:
            continue  # images are stamped by the image step, the only one that reads pixels
        stat = path.stat()
        digest.update(f"{os.fspath(path.resolve())}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()
