"""The Ray engine of ``embed-batch``: Ray Data reads with the readers, embeds on actors, writes Parquet.

A datasource gives one read task per tweet file (the readers detect each file's format, as the local
engine does); ``map_batches`` runs ``RayEmbedder``, a stateful class that loads the checkpoint once per
actor (one GPU each when the cluster has GPUs); ``write_parquet`` writes the same layout as the local
engine (training/embed_batch/parquet_io.py). Ray retries a read, an embedding call or a write whose
worker died, and a retried write replaces its own file, so every row lands exactly once.

Ray is an optional extra (``pip install -e '.[ray]'``): this is the only module of training/ that
imports it, and only inside functions, so the rest of the package works without it.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

RECORD = "record"  # the one column of a read block: a tweet as flat JSON (Tweet.to_flat, absolute image path)
READ_BLOCK_ROWS = 4096
MISSING = "Ray is not installed: the ray engine needs the optional extra, pip install -e '.[ray]'"


def import_ray() -> Any:
    try:
        import ray
        import ray.data  # part of the extra: ray[data]
    except ImportError as exc:
        raise RuntimeError(MISSING) from exc
    return ray


def _read_file(path: str) -> Iterator[Any]:
    """The blocks of one file's tweets (pyarrow tables with a single string column)."""
    import pyarrow as pa

    from training.readers import ReadReport, read_tweet_file

    rows: list[str] = []
    for tweet in read_tweet_file(Path(path), ReadReport()):
        rows.append(json.dumps(tweet.to_flat(), ensure_ascii=False))
        if len(rows) == READ_BLOCK_ROWS:
            yield pa.table({RECORD: pa.array(rows, pa.string())})
            rows = []
    if rows:
        yield pa.table({RECORD: pa.array(rows, pa.string())})


def tweet_datasource(data: Path) -> Any:
    """A Ray Data datasource over every tweet file under ``data`` (one read task per file)."""
    import ray.data
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask

    from training.readers import tweet_files

    files = [str(p.absolute()) for p in (tweet_files(data) if data.is_dir() else [data])]

    class TweetFilesDatasource(Datasource):
        def estimate_inmemory_data_size(self) -> int | None:
            return sum(os.path.getsize(f) for f in files)

        def get_read_tasks(
            self, parallelism: int, per_task_row_limit: int | None = None, data_context: Any = None
        ) -> list[Any]:
            return [
                ReadTask(
                    functools.partial(_read_file, f),
                    BlockMetadata(
                        num_rows=None,
                        size_bytes=os.path.getsize(f),
                        input_files=[f],  # type: ignore[arg-type]  # ray's own datasources pass lists
                        exec_stats=None,
                    ),
                )
                for f in files
            ]

    del ray  # only needed to make sure ray.data is importable before subclassing
    return TweetFilesDatasource()  # type: ignore[no-untyped-call]  # ray's Datasource.__init__


class RayEmbedder:
    """The per-actor callable: one TweetEmbedder per actor, a pyarrow batch of flat tweets in, rows out."""

    def __init__(self, checkpoint: str, threads: int = 1, device: str = "auto") -> None:
        import torch

        from model.embedder import TweetEmbedder
        from training.embed_batch.parquet_io import model_digest, schema_for

        torch.set_num_threads(threads)
        self.embedder = TweetEmbedder.load(Path(checkpoint), device=device)
        config = self.embedder.config
        self.schema = schema_for(
            list(config.components),
            int(config.dim),
            self.embedder.checkpoint_digest,
            model_digest(Path(checkpoint)),
        )

    def __call__(self, batch: Any) -> Any:
        from model.record import Tweet
        from training.embed_batch.parquet_io import table_of

        tweets = [Tweet.from_flat(json.loads(r)) for r in batch.column(RECORD).to_pylist()]
        return table_of([t.id for t in tweets], self.embedder.embed(tweets), self.schema)


def run_ray(
    data: Path,
    checkpoint: Path,
    out: Path,
    *,
    batch_size: int = 256,
    address: str | None = None,
    actors: int = 0,
    threads: int = 1,
    num_cpus: int | None = None,
    embedder_cls: type = RayEmbedder,
) -> dict[str, Any]:
    """Embed ``data`` into ``out`` on Ray: the cluster at ``address``, or a Ray started here for the run.

    A Ray already initialised in this process (tests) is used as it is and left running. ``actors``:
    embedder actors (0: one per GPU when the cluster has GPUs, else one per CPU less one for reading).
    """
    ray = import_ray()
    import pyarrow.parquet as pq

    from model import checkpoint as ck
    from training.embed_batch.parquet_io import parquet_files

    checkpoint = checkpoint.absolute()
    ck.verify_manifest(checkpoint)  # fail here, not in every actor
    digest = ck.manifest_digest(checkpoint)
    started_here = not ray.is_initialized()
    if started_here:
        if address is None:
            # Workers import training/ and model/ from wherever this process does.
            env = {"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}
            ray.init(
                num_cpus=num_cpus or os.cpu_count(),
                include_dashboard=False,
                runtime_env={"env_vars": env},
            )
        else:
            ray.init(address=address)
    try:
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        cpus = int(resources.get("CPU", 1))
        size = actors or (gpus if gpus else max(1, cpus - 1))
        out.mkdir(parents=True, exist_ok=True)
        for old in parquet_files(out):  # a Ray run does not resume: it replaces what is there
            old.unlink()
        dataset = ray.data.read_datasource(tweet_datasource(data))
        embedded = dataset.map_batches(
            embedder_cls,
            fn_constructor_kwargs={
                "checkpoint": str(checkpoint),
                "threads": threads,
                "device": "cuda" if gpus else "cpu",
            },
            batch_size=batch_size,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=size),
            num_gpus=1 if gpus else 0,
            num_cpus=1,
        )
        embedded.write_parquet(str(out.absolute()), compression="zstd")
    finally:
        if started_here:
            ray.shutdown()
    files = parquet_files(out)
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    return {
        "engine": "ray",
        "rows": rows,
        "files": len(files),
        "actors": size,
        "gpus_per_actor": int(gpus > 0),
        "checkpoint_digest": digest,
    }
