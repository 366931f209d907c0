"""The Parquet form of embedded tweets, shared by both engines and read back by ``build-heads``.

One row a tweet: ``id``, ``present`` (the names of the components the tweet has), one
``fixed_size_list<float32, dim>`` column per component of the checkpoint (null where the tweet lacks
it) and ``average`` (null when no component is present). The schema's key-value metadata names the
checkpoint: its manifest digest (what the service reports in /info) and its model digest, the hash of
the manifest's entries outside ``heads/``. Building heads rewrites the manifest but not the vectors, so
reading back (build-heads, a resumed run) checks the model digest: vectors of two models are never
mixed, and a batch run stays usable after `build-heads`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from model.embedding_batch import EmbeddingBatch
from model.record import Tweet

FORMAT_VERSION = "1"
KEY_FORMAT = b"tweetembed.format_version"
KEY_DIGEST = b"tweetembed.checkpoint_digest"
KEY_MODEL_DIGEST = b"tweetembed.model_digest"
KEY_DIM = b"tweetembed.dim"
KEY_COMPONENTS = b"tweetembed.components"


class EmbeddingsError(ValueError):
    """Parquet embeddings that cannot be used: another checkpoint, another format, missing ids."""


def model_digest(ckpt_dir: Path) -> str:
    """sha256 over the manifest's entries outside heads/: what the vectors depend on."""
    from model.checkpoint import read_manifest

    files = {k: v for k, v in read_manifest(ckpt_dir).items() if not k.startswith("heads/")}
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


def schema_for(components: Sequence[str], dim: int, digest: str, model: str) -> pa.Schema:
    vector = pa.list_(pa.float32(), dim)
    fields = [pa.field("id", pa.string(), nullable=False), pa.field("present", pa.list_(pa.string()))]
    fields += [pa.field(name, vector) for name in (*components, "average")]
    metadata = {
        KEY_FORMAT: FORMAT_VERSION.encode(),
        KEY_DIGEST: digest.encode(),
        KEY_MODEL_DIGEST: model.encode(),
        KEY_DIM: str(dim).encode(),
        KEY_COMPONENTS: json.dumps(list(components)).encode(),
    }
    return pa.schema(fields, metadata=metadata)


def _vectors(rows: np.ndarray, mask: np.ndarray, dim: int) -> pa.FixedSizeListArray:
    """(N, dim) float32 rows as a fixed-size list array, null where ``mask`` is False."""
    values = pa.array(np.ascontiguousarray(rows, dtype=np.float32).reshape(-1))
    return pa.FixedSizeListArray.from_arrays(values, dim, mask=pa.array(~mask.astype(bool)))


def table_of(ids: Sequence[str], batch: EmbeddingBatch, schema: pa.Schema) -> pa.Table:
    """One row per tweet of ``batch`` in the layout of ``schema``."""
    components = json.loads(schema.metadata[KEY_COMPONENTS])
    dim = int(schema.metadata[KEY_DIM])
    present = [[c for c in components if batch.present[c][i]] for i in range(len(ids))]
    columns: list[pa.Array] = [pa.array(list(ids), pa.string()), pa.array(present, pa.list_(pa.string()))]
    columns += [_vectors(batch.components[c], batch.present[c], dim) for c in components]
    columns.append(_vectors(batch.average, batch.has_any, dim))
    return pa.Table.from_arrays(columns, schema=schema)


def parquet_files(out: Path) -> list[Path]:
    """The data files of an output directory (or the one file given), sorted by name."""
    if out.is_file():
        return [out]
    return sorted(p for p in out.glob("*.parquet") if not p.name.startswith((".", "_")))


def describe(path: Path) -> dict[str, Any]:
    """What a file's metadata says: checkpoint digest, dim, components (EmbeddingsError if not ours)."""
    meta = pq.read_schema(path).metadata or {}
    if meta.get(KEY_FORMAT) != FORMAT_VERSION.encode():
        raise EmbeddingsError(f"{path}: not a tweetembed embeddings file (format {meta.get(KEY_FORMAT)!r})")
    return {
        "checkpoint_digest": meta[KEY_DIGEST].decode(),
        "model_digest": meta[KEY_MODEL_DIGEST].decode(),
        "dim": int(meta[KEY_DIM]),
        "components": json.loads(meta[KEY_COMPONENTS]),
    }


def _dense(column: pa.ChunkedArray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """A (nullable) fixed-size list column as (N, dim) float32 with zero rows where null, and (N,) valid."""
    valid = column.is_valid().to_numpy(zero_copy_only=False).astype(bool)
    out = np.zeros((len(column), dim), dtype=np.float32)
    offset = 0
    for chunk in column.chunks:
        n = len(chunk)
        # The child array holds a (possibly garbage) slot for null rows too: mask them after.
        flat = chunk.flatten() if chunk.null_count == 0 else None
        if flat is not None:
            out[offset : offset + n] = flat.to_numpy(zero_copy_only=False).reshape(n, dim)
        else:
            values = chunk.values.slice(chunk.offset * dim, n * dim).to_numpy(zero_copy_only=False)
            out[offset : offset + n] = values.reshape(n, dim)
        offset += n
    out[~valid] = 0.0
    return out, valid


def read_batches(out: Path, columns_batch_rows: int = 65_536) -> Iterator[tuple[list[str], EmbeddingBatch]]:
    """Stream (ids, EmbeddingBatch) over every file of an output, a record batch at a time."""
    for path in parquet_files(out):
        info = describe(path)
        dim, components = info["dim"], info["components"]
        handle = pq.ParquetFile(path)
        for record_batch in handle.iter_batches(batch_size=columns_batch_rows):
            table = pa.Table.from_batches([record_batch])
            vectors = {c: _dense(table.column(c), dim) for c in components}
            average, _ = _dense(table.column("average"), dim)
            yield (
                table.column("id").to_pylist(),
                EmbeddingBatch(
                    components={c: v for c, (v, _) in vectors.items()},
                    present={c: p for c, (_, p) in vectors.items()},
                    average=average,
                ),
            )


def _check_digest(files: Sequence[Path], digest: str | None) -> None:
    for path in files:
        found = describe(path)["model_digest"]
        if digest is not None and found != digest:
            raise EmbeddingsError(
                f"{path}: embedded with another model (model digest {found[:12]}..., this checkpoint's "
                f"is {digest[:12]}...): run `tweetembed embed-batch` again with this checkpoint"
            )


def load_embeddings(out: Path, digest: str | None = None) -> tuple[list[str], EmbeddingBatch]:
    """Every row of an output (ids in file order and one EmbeddingBatch); ``digest``: the model digest
    it must have been written with."""
    files = parquet_files(out)
    if not files:
        raise EmbeddingsError(f"{out}: no .parquet files")
    _check_digest(files, digest)
    ids: list[str] = []
    parts: list[EmbeddingBatch] = []
    for chunk_ids, batch in read_batches(out):
        ids.extend(chunk_ids)
        parts.append(batch)
    return ids, EmbeddingBatch.concat(parts)


def select_embeddings(out: Path, ids: Sequence[str], digest: str | None = None) -> EmbeddingBatch:
    """The rows of ``ids`` (in that order) from an output, keeping only those while streaming it.

    Raises EmbeddingsError when an id is missing (the output is of other data) or when the files were
    written with another model than ``digest`` (a model digest).
    """
    files = parquet_files(out)
    if not files:
        raise EmbeddingsError(f"{out}: no .parquet files")
    _check_digest(files, digest)
    if not ids:
        info = describe(files[0])
        empty = np.zeros((0, info["dim"]), dtype=np.float32)
        names = info["components"]
        return EmbeddingBatch({c: empty for c in names}, {c: np.zeros(0, bool) for c in names}, empty)
    wanted = set(ids)
    row_of: dict[str, int] = {}
    parts: list[EmbeddingBatch] = []
    for chunk_ids, batch in read_batches(out):
        rows = []
        for i, tweet_id in enumerate(chunk_ids):
            if tweet_id in wanted and tweet_id not in row_of:
                row_of[tweet_id] = len(row_of)
                rows.append(i)
        if rows:
            parts.append(batch.rows(np.asarray(rows, dtype=np.int64)))
    missing = [t for t in ids if t not in row_of]
    if missing:
        raise EmbeddingsError(
            f"{out}: {len(set(missing))} of {len(wanted)} tweets have no embedding there "
            f"(e.g. {missing[0]}): embed the same data the heads are built from"
        )
    return EmbeddingBatch.concat(parts).rows(np.asarray([row_of[t] for t in ids], dtype=np.int64))


def embedder_from_parquet(out: Path, digest: str | None) -> Callable[..., EmbeddingBatch]:
    # digest: the checkpoint's model digest (model_digest), checked against every file
    """A stand-in for ``training.heads.embedding.embed_all`` that reads the rows from a batch run."""

    def embed_rows(_embedder: Any, tweets: Sequence[Tweet], desc: str = "") -> EmbeddingBatch:
        return select_embeddings(out, [t.id for t in tweets], digest)

    return embed_rows
