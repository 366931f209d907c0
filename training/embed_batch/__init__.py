"""Offline embedding of whole corpora into Parquet: the CLI command, the local and the Ray engine."""

from training.embed_batch.command import embed_batch

__all__ = ["embed_batch"]
