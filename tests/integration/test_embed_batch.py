"""`tweetembed embed-batch`, local engine: the Parquet layout, streaming, resuming, and build-heads
reading its output. On a tiny trained checkpoint; no Ray (tests/integration/test_ray.py covers the Ray
engine)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from model.embedder import TweetEmbedder
from model.record import Tweet
from tests.batch_fixtures import tiny_checkpoint, work_tweets
from training.cli import app
from training.embed_batch.local import LocalResult, run_local
from training.embed_batch.parquet_io import EmbeddingsError, describe, load_embeddings, model_digest
from training.readers import read_tweets

BATCH = 16
SHARD = 40  # 96 tweets: shards of 40, 40, 16; three calls (16, 16, 8) fill a shard


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return tiny_checkpoint(tmp_path_factory.mktemp("batch"))


@pytest.fixture(scope="module")
def embedder(tiny: tuple[Path, Path]) -> TweetEmbedder:
    return TweetEmbedder.load(tiny[0], device="cpu")


def _run(tweets: Iterator[Tweet], embed: Any, out: Path, embedder: TweetEmbedder, ckpt: Path) -> LocalResult:
    return run_local(
        tweets,
        embed,
        out,
        components=list(embedder.config.components),
        dim=embedder.config.dim,
        digest=embedder.checkpoint_digest,
        model=model_digest(ckpt),
        batch_size=BATCH,
        shard_rows=SHARD,
    )


def test_output_holds_every_tweet_with_the_embedders_vectors(
    tiny: tuple[Path, Path], embedder: TweetEmbedder, tmp_path: Path
) -> None:
    ckpt, work = tiny
    result = _run(read_tweets(work / "splits"), embedder.embed, tmp_path, embedder, ckpt)
    tweets = work_tweets(work)
    assert (result.rows, result.shards, result.embedded) == (96, 3, 96)
    assert sorted(p.name for p in tmp_path.glob("*.parquet")) == [f"part-0000{i}.parquet" for i in range(3)]
    ids, batch = load_embeddings(tmp_path, model_digest(ckpt))
    assert ids == [t.id for t in tweets]
    expected = embedder.embed(tweets)
    for name in embedder.config.components:
        assert np.array_equal(batch.present[name], expected.present[name]), name
        assert np.allclose(batch.components[name], expected.components[name], atol=1e-6), name
    assert np.allclose(batch.average, expected.average, atol=1e-6)
    info = describe(tmp_path / "part-00000.parquet")
    assert info["checkpoint_digest"] == embedder.checkpoint_digest
    assert info["dim"] == embedder.config.dim
    table = pq.read_table(tmp_path / "part-00002.parquet")
    assert table.schema.field("text").type.list_size == embedder.config.dim
    # Absent components are nulls, and `present` names exactly the non-null vector columns.
    for row in table.to_pylist():
        assert row["present"] == [c for c in embedder.config.components if row[c] is not None]


def test_reads_the_input_a_batch_at_a_time(
    tiny: tuple[Path, Path], embedder: TweetEmbedder, tmp_path: Path
) -> None:
    ckpt, work = tiny
    pulled = 0
    ahead: list[int] = []  # tweets read but not yet embedded, at each forward pass
    embedded = 0

    def source() -> Iterator[Tweet]:
        nonlocal pulled
        for tweet in read_tweets(work / "splits"):
            pulled += 1
            yield tweet

    def embed(chunk: list[Tweet]) -> Any:
        nonlocal embedded
        ahead.append(pulled - embedded)
        embedded += len(chunk)
        return embedder.embed(chunk)

    _run(source(), embed, tmp_path, embedder, ckpt)
    assert embedded == 96
    assert max(ahead) <= BATCH + 1  # one batch, plus the first tweet of the next shard


def test_an_interrupted_run_resumes_from_its_finished_shards(
    tiny: tuple[Path, Path], embedder: TweetEmbedder, tmp_path: Path
) -> None:
    ckpt, work = tiny
    calls = 0

    def dies_in_the_second_shard(chunk: list[Tweet]) -> Any:
        nonlocal calls
        calls += 1
        if calls == 5:
            raise KeyboardInterrupt  # as a Ctrl-C or a kill would, mid-shard
        return embedder.embed(chunk)

    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        _run(read_tweets(work / "splits"), dies_in_the_second_shard, out, embedder, ckpt)
    assert [p.name for p in out.glob("part-*.parquet")] == ["part-00000.parquet"]
    assert (out / ".part-00001.parquet.tmp").exists()  # half-written, never taken for finished

    embedded: list[str] = []

    def counting(chunk: list[Tweet]) -> Any:
        embedded.extend(t.id for t in chunk)
        return embedder.embed(chunk)

    resumed = _run(read_tweets(work / "splits"), counting, out, embedder, ckpt)
    ids = [t.id for t in work_tweets(work)]
    assert resumed.kept_shards == ["part-00000.parquet"]
    assert embedded == ids[SHARD:]  # only what the first run had not finished
    assert not list(out.glob(".*.tmp"))
    fresh = tmp_path / "fresh"
    _run(read_tweets(work / "splits"), embedder.embed, fresh, embedder, ckpt)
    for name in [p.name for p in fresh.glob("*.parquet")]:
        assert pq.read_table(out / name).equals(pq.read_table(fresh / name)), name

    embedded.clear()
    again = _run(read_tweets(work / "splits"), counting, out, embedder, ckpt)
    assert embedded == [] and again.rows == 96 and len(again.kept_shards) == 3


def test_resuming_refuses_another_model_and_changed_input(
    tiny: tuple[Path, Path], embedder: TweetEmbedder, tmp_path: Path
) -> None:
    ckpt, work = tiny
    _run(read_tweets(work / "splits"), embedder.embed, tmp_path, embedder, ckpt)
    with pytest.raises(EmbeddingsError, match="another model"):
        run_local(
            read_tweets(work / "splits"),
            embedder.embed,
            tmp_path,
            components=["text"],
            dim=16,
            digest="0" * 64,
            model="1" * 64,
            batch_size=BATCH,
            shard_rows=SHARD,
        )
    with pytest.raises(EmbeddingsError, match="input changed"):
        _run(read_tweets(work / "splits" / "train.jsonl"), embedder.embed, tmp_path, embedder, ckpt)
    (tmp_path / "0357_000000-0.parquet").write_bytes((tmp_path / "part-00000.parquet").read_bytes())
    with pytest.raises(EmbeddingsError, match="did not write"):  # e.g. a Ray run's output
        _run(read_tweets(work / "splits"), embedder.embed, tmp_path, embedder, ckpt)
    (tmp_path / "0357_000000-0.parquet").unlink()
    with pytest.raises(EmbeddingsError, match="shard-rows"):
        run_local(
            read_tweets(work / "splits"),
            embedder.embed,
            tmp_path,
            components=list(embedder.config.components),
            dim=16,
            digest=embedder.checkpoint_digest,
            model=model_digest(ckpt),
            batch_size=BATCH,
            shard_rows=SHARD + 1,
        )


def _cli(*args: object) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_writes_shards_and_a_summary_and_resumes(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    ckpt, work = tiny
    args = (
        "embed-batch",
        work / "splits",
        "--checkpoint",
        ckpt,
        "--out",
        tmp_path,
        "--shard-rows",
        50,
        "--batch-size",
        32,
        "--device",
        "cpu",
    )
    first = _cli(*args)
    assert first.exit_code == 0, first.output
    summary = json.loads((tmp_path / "_embed_batch.json").read_text())
    assert (summary["rows"], summary["shards"], summary["embedded_now"]) == (96, 2, 96)
    second = _cli(*args)
    assert second.exit_code == 0, second.output
    summary = json.loads((tmp_path / "_embed_batch.json").read_text())
    assert (summary["embedded_now"], summary["kept_shards"]) == (0, 2)


def test_cli_bad_input(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    ckpt, work = tiny
    data = work / "splits"
    assert (
        _cli("embed-batch", data, "--checkpoint", ckpt, "--out", tmp_path, "--engine", "spark").exit_code == 2
    )
    no_ray = _cli("embed-batch", data, "--checkpoint", ckpt, "--out", tmp_path, "--address", "auto")
    assert no_ray.exit_code == 2 and "--engine ray" in no_ray.output
    assert _cli("embed-batch", tmp_path / "nothing", "--checkpoint", ckpt, "--out", tmp_path).exit_code == 2
    assert _cli("embed-batch", data, "--out", tmp_path).exit_code == 2  # no --checkpoint
    assert (
        _cli("embed-batch", data, "--checkpoint", ckpt, "--out", tmp_path, "--batch-size", 0).exit_code == 2
    )
    not_a_checkpoint = _cli("embed-batch", data, "--checkpoint", work, "--out", tmp_path / "o")
    assert not_a_checkpoint.exit_code != 0 and "manifest" in str(not_a_checkpoint.exception)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    nothing = _cli("embed-batch", empty, "--checkpoint", ckpt, "--out", tmp_path / "e", "--device", "cpu")
    assert nothing.exit_code == 1 and "no tweets" in nothing.output


def test_ray_engine_without_ray_names_the_extra(
    tiny: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ckpt, work = tiny
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError, as without the extra
    result = _cli("embed-batch", work / "splits", "--checkpoint", ckpt, "--out", tmp_path, "--engine", "ray")
    assert result.exit_code == 1 and "pip install -e '.[ray]'" in result.output


def test_build_heads_from_parquet_embeds_nothing_again(
    tiny: tuple[Path, Path], embedder: TweetEmbedder, tmp_path: Path
) -> None:
    from training.heads.build import BuildHeadsOptions, run_build_heads

    ckpt, work = tiny
    out = tmp_path / "emb"
    _run(read_tweets(work / "splits"), embedder.embed, out, embedder, ckpt)
    recomputed, from_parquet = tmp_path / "a", tmp_path / "b"
    shutil.copytree(ckpt, recomputed)
    shutil.copytree(ckpt, from_parquet)

    class NoEmbed:  # the batch run's vectors must be used, not a new forward pass
        config = embedder.config
        checkpoint_digest = embedder.checkpoint_digest
        embed_texts = embedder.embed_texts
        embed_hashtags = embedder.embed_hashtags

        def embed(self, *_: Any, **__: Any) -> Any:
            raise AssertionError("build-heads embedded tweets although --embeddings was given")

    labels = tmp_path / "labels.csv"
    users = sorted({t.user_id for t in work_tweets(work) if t.user_id})
    labels.write_text(
        "user_id,label\n" + "".join(f"{u},{'bot' if i % 2 else 'human'}\n" for i, u in enumerate(users))
    )
    options = BuildHeadsOptions(bot_labels=labels, device="cpu")
    a = run_build_heads(recomputed, work, options, embedder=embedder)
    b = run_build_heads(from_parquet, work, dataclasses.replace(options, embeddings=out), embedder=NoEmbed())

    def untimed(value: Any) -> Any:
        # timings (fit_s, predict_one_ms, each bot candidate's cv_seconds) differ from run to run
        if isinstance(value, dict):
            return {f: untimed(v) for f, v in value.items() if not f.endswith(("_s", "_ms", "_seconds"))}
        return value

    def stable(summary: dict[str, Any]) -> dict[str, Any]:
        return {k: untimed(info) for k, info in summary["heads"].items()}

    assert stable(a) == stable(b)
    import faiss

    for name in ("text_index", "image_index"):
        index_a = faiss.read_index(str(recomputed / "heads" / f"{name}.faiss"))
        index_b = faiss.read_index(str(from_parquet / "heads" / f"{name}.faiss"))
        assert index_a.ntotal == index_b.ntotal > 0
        vectors_a = index_a.reconstruct_n(0, index_a.ntotal)
        assert np.allclose(vectors_a, index_b.reconstruct_n(0, index_b.ntotal), atol=1e-5), name
    # Heads change the manifest, not the vectors: the same Parquet still fits the rebuilt checkpoint.
    run_build_heads(
        from_parquet, work, BuildHeadsOptions(bot_labels=labels, device="cpu", embeddings=out), NoEmbed()
    )
    other = tmp_path / "other"
    shutil.copytree(ckpt, other)
    (other / "vocab.json").write_text((other / "vocab.json").read_text() + " ")
    from model.checkpoint import write_manifest

    write_manifest(other)
    with pytest.raises(EmbeddingsError, match="another model"):
        run_build_heads(other, work, BuildHeadsOptions(device="cpu", embeddings=out), NoEmbed())
    with pytest.raises(EmbeddingsError, match="no embedding"):
        partial = tmp_path / "partial"
        _run(read_tweets(work / "splits" / "test.jsonl"), embedder.embed, partial, embedder, ckpt)
        run_build_heads(from_parquet, work, BuildHeadsOptions(device="cpu", embeddings=partial), NoEmbed())
