"""The local engine: stream tweets through one embedder into numbered Parquet shards, resumably.

Memory is one batch of tweets and vectors plus the Parquet writer's current row group, whatever the
corpus size. Shard ``k`` holds tweets ``k * shard_rows ...`` of the reading order (readers walk files
in sorted path order, so the order is the same on every run). A shard is written as a hidden
temporary file and renamed when complete, so a file named ``part-NNNNN.parquet`` is finished; its
footer also records its rows and first and last tweet id. A rerun re-reads (but does not embed) the
tweets of finished shards and checks their ids against the footer, so changed input is refused
rather than silently mixed.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from model.record import Tweet
from training.embed_batch.parquet_io import EmbeddingsError, describe, parquet_files, schema_for, table_of

KEY_SHARD_ROWS = b"tweetembed.shard_rows"
KEY_ROWS = b"tweetembed.rows"
KEY_FIRST = b"tweetembed.first_id"
KEY_LAST = b"tweetembed.last_id"
SUMMARY = "_embed_batch.json"
SHARD_NAME = re.compile(r"part-\d{5,}\.parquet")


def shard_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


@dataclass
class LocalResult:
    rows: int = 0
    shards: int = 0
    embedded: int = 0  # rows embedded in this run (the rest were in shards kept from an earlier run)
    kept_shards: list[str] = field(default_factory=list)


def finished_shard(path: Path, model: str, shard_rows: int) -> dict[str, Any] | None:
    """The footer of a finished shard written with this model digest and shard size, else None."""
    if not path.is_file():
        return None
    try:
        info = describe(path)
        meta = pq.ParquetFile(path).metadata.metadata or {}
    except (OSError, EmbeddingsError, ValueError):
        return None  # unreadable: written again
    if info["model_digest"] != model:
        raise EmbeddingsError(
            f"{path} was embedded with another model (model digest {info['model_digest'][:12]}..., "
            f"this checkpoint's is {model[:12]}...): use another --out"
        )
    if meta.get(KEY_SHARD_ROWS) != str(shard_rows).encode():
        raise EmbeddingsError(
            f"{path} was written with --shard-rows {meta.get(KEY_SHARD_ROWS, b'?').decode()}, "
            f"not {shard_rows}: resume with the same value or use another --out"
        )
    return {
        "rows": int(meta[KEY_ROWS]),
        "first": meta[KEY_FIRST].decode(),
        "last": meta[KEY_LAST].decode(),
    }


def _chunks(tweets: Iterator[Tweet], size: int) -> Iterator[list[Tweet]]:
    chunk: list[Tweet] = []
    for tweet in tweets:
        chunk.append(tweet)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run_local(
    tweets: Iterator[Tweet],
    embed: Callable[[list[Tweet]], Any],
    out: Path,
    *,
    components: list[str],
    dim: int,
    digest: str,
    model: str,
    batch_size: int = 256,
    shard_rows: int = 50_000,
    progress: Callable[[int], None] = lambda _: None,
) -> LocalResult:
    """Embed ``tweets`` with ``embed`` (a batch of Tweets -> EmbeddingBatch) into ``out``/part-*.parquet.

    ``digest`` and ``model`` are the checkpoint's manifest and model digests (parquet_io.model_digest).
    ``progress(n)`` is called with the number of tweets handled (embedded or skipped) after each batch.
    """
    out.mkdir(parents=True, exist_ok=True)
    foreign = sorted(p.name for p in parquet_files(out) if not SHARD_NAME.fullmatch(p.name))
    if foreign:  # a Ray run's files, say: read together with these shards they would repeat rows
        raise EmbeddingsError(
            f"{out} holds Parquet files this engine did not write ({foreign[0]}, ...): use another --out"
        )
    schema = schema_for(components, dim, digest, model)
    result = LocalResult()
    for index, shard in enumerate(_shard_streams(tweets, shard_rows)):
        path = out / shard_name(index)
        done = finished_shard(path, model, shard_rows)
        if done is not None:
            rows, first, last = _skip(shard, progress)
            if (rows, first, last) != (done["rows"], done["first"], done["last"]):
                raise EmbeddingsError(
                    f"{path} holds tweets {done['first']}..{done['last']} ({done['rows']}), but the "
                    f"input now gives {first}..{last} ({rows}) there: the input changed; use another --out"
                )
            result.kept_shards.append(path.name)
        else:
            rows = _write_shard(shard, embed, path, schema, batch_size, shard_rows, progress)
            result.embedded += rows
        result.rows += rows
        result.shards += 1
    # A shorter input than last time leaves shards past the end: they are no longer part of it.
    last = shard_name(result.shards - 1) if result.shards else ""
    for stale in [*out.glob("part-*.parquet"), *out.glob(".part-*.parquet.tmp")]:
        if stale.name.startswith(".") or stale.name > last:
            stale.unlink()
    return result


def _shard_streams(tweets: Iterator[Tweet], shard_rows: int) -> Iterator[Iterator[Tweet]]:
    """Consecutive sub-streams of ``shard_rows`` tweets (the last may be shorter), lazily."""
    source = iter(tweets)
    while True:
        try:
            head = next(source)
        except StopIteration:
            return
        stream = _take(head, source, shard_rows)
        yield stream
        for _ in stream:  # a consumer that stopped early still advances to the next shard
            pass


def _take(head: Tweet, source: Iterator[Tweet], n: int) -> Iterator[Tweet]:
    yield head
    for _ in range(n - 1):
        try:
            yield next(source)
        except StopIteration:
            return


def _skip(shard: Iterator[Tweet], progress: Callable[[int], None]) -> tuple[int, str, str]:
    rows, first, last = 0, "", ""
    for tweet in shard:
        first = first or tweet.id
        last = tweet.id
        rows += 1
        if rows % 4096 == 0:
            progress(4096)
    progress(rows % 4096)
    return rows, first, last


def _write_shard(
    shard: Iterator[Tweet],
    embed: Callable[[list[Tweet]], Any],
    path: Path,
    schema: Any,
    batch_size: int,
    shard_rows: int,
    progress: Callable[[int], None],
) -> int:
    tmp = path.with_name(f".{path.name}.tmp")
    rows, first, last = 0, "", ""
    with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        for chunk in _chunks(shard, batch_size):
            ids = [t.id for t in chunk]
            writer.write_table(table_of(ids, embed(chunk), schema))
            first = first or ids[0]
            last = ids[-1]
            rows += len(chunk)
            progress(len(chunk))
        writer.add_key_value_metadata(
            {
                KEY_SHARD_ROWS: str(shard_rows).encode(),
                KEY_ROWS: str(rows).encode(),
                KEY_FIRST: first.encode(),
                KEY_LAST: last.encode(),
            }
        )
    os.replace(tmp, path)  # the rename is the completion marker
    return rows


def write_summary(out: Path, summary: dict[str, Any]) -> None:
    tmp = out / f".{SUMMARY}.tmp"
    tmp.write_text(json.dumps(summary, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, out / SUMMARY)
