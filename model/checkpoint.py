"""The checkpoint directory: file names, the sha256 manifest, and saving/loading model weights.

Every served file is listed in manifest.json with its sha256 and checked before anything is loaded,
so a tampered or half-copied checkpoint is refused instead of silently serving other weights.
Training bookkeeping (``train_state/`` for resuming, ``metrics.jsonl``) changes while a run goes on
and is not served, so it stays out of the manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from model.config import FORMAT_VERSION

CONFIG = "config.json"
MODEL_WEIGHTS = "model.safetensors"
VOCAB = "vocab.json"
WORD_VECTORS = "word_vectors.bin"
USER_VECTORS = "user_vectors.safetensors"
USER_IDS = "user_ids.json"
PLACES = "places.json"
PLACE_ENCODINGS = "place_encodings.safetensors"
PLACE_IDS = "place_ids.json"
TRAIN_CONFIG = "train_config.json"
MANIFEST = "manifest.json"
METRICS_LOG = "metrics.jsonl"
TRAIN_STATE_DIR = "train_state"

NOT_IN_MANIFEST = {MANIFEST, METRICS_LOG}
PICKLE_SUFFIXES = {".pkl", ".pickle", ".joblib", ".pt", ".pth"}


class CheckpointError(RuntimeError):
    """A checkpoint that must not be loaded: missing, tampered, or written by another format."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _served_files(ckpt_dir: Path) -> list[str]:
    out = []
    for path in sorted(ckpt_dir.rglob("*")):
        rel = path.relative_to(ckpt_dir).as_posix()
        if not path.is_file() or rel in NOT_IN_MANIFEST or rel.split("/")[0] == TRAIN_STATE_DIR:
            continue
        if path.name.startswith(".") or path.name.endswith(".tmp"):
            continue
        out.append(rel)
    return out


def write_manifest(ckpt_dir: Path) -> dict[str, str]:
    """Hash every served file of ``ckpt_dir`` into manifest.json (atomically); returns the hashes."""
    ckpt_dir = Path(ckpt_dir)
    files = {rel: sha256_file(ckpt_dir / rel) for rel in _served_files(ckpt_dir)}
    body = json.dumps({"format_version": FORMAT_VERSION, "files": files}, indent=2, sort_keys=True)
    tmp = ckpt_dir / (MANIFEST + ".tmp")
    tmp.write_text(body, encoding="utf-8")
    os.replace(tmp, ckpt_dir / MANIFEST)
    return files


def read_manifest(ckpt_dir: Path) -> dict[str, str]:
    path = Path(ckpt_dir) / MANIFEST
    if not path.is_file():
        raise CheckpointError(f"{ckpt_dir}: no {MANIFEST}; not a tweetembed checkpoint (or not finished)")
    try:
        obj: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable manifest: {exc}") from exc
    if not isinstance(obj, dict) or not isinstance(obj.get("files"), dict):
        raise CheckpointError(f"{path}: manifest has no 'files' table")
    if obj.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: format_version {obj.get('format_version')!r} is not {FORMAT_VERSION}")
    return {str(k): str(v) for k, v in obj["files"].items()}


def verify_manifest(ckpt_dir: Path) -> dict[str, str]:
    """Check every listed file's sha256; refuse missing or changed files and unlisted pickles.

    Raises CheckpointError naming the offending file. Returns {relative_path: sha256}.
    """
    ckpt_dir = Path(ckpt_dir)
    if not ckpt_dir.is_dir():
        raise CheckpointError(f"checkpoint directory not found: {ckpt_dir}")
    files = read_manifest(ckpt_dir)
    for rel, expected in files.items():
        path = ckpt_dir / rel
        if ".." in Path(rel).parts or Path(rel).is_absolute():
            raise CheckpointError(f"{ckpt_dir}: manifest lists a path outside the checkpoint: {rel}")
        if not path.is_file():
            raise CheckpointError(f"{ckpt_dir}: file {rel} is listed in the manifest but missing")
        actual = sha256_file(path)
        if actual != expected:
            raise CheckpointError(
                f"{ckpt_dir}: file {rel} does not match the manifest (sha256 {actual[:12]}... "
                f"!= {expected[:12]}...): it was modified or corrupted; refusing to load"
            )
    for rel in _served_files(ckpt_dir):
        if Path(rel).suffix in PICKLE_SUFFIXES and rel not in files:
            raise CheckpointError(
                f"{ckpt_dir}: file {rel} is not in the manifest; refusing to load pickles "
                "whose hash is unknown"
            )
    return files


@dataclass(frozen=True)
class VerifiedCheckpoint:
    """A checkpoint directory whose manifest ``verify_checkpoint`` has checked.

    Loaders given one (TweetEmbedder.load, load_heads) skip the hashing: the service verifies once, in
    its own process, and hands this to its model processes, instead of 1 + N full hashes of a
    checkpoint that may hold a multi-GB word-vector file. Loaders given a plain path verify it."""

    path: Path
    files: dict[str, str]  # relative path -> sha256, as verified
    digest: str  # manifest_digest(path)


def verify_checkpoint(ckpt: Path | VerifiedCheckpoint) -> VerifiedCheckpoint:
    """``ckpt`` verified (verify_manifest); one already verified is returned as it is."""
    if isinstance(ckpt, VerifiedCheckpoint):
        return ckpt
    path = Path(ckpt)
    files = verify_manifest(path)
    return VerifiedCheckpoint(path, files, manifest_digest(path))


def manifest_digest(ckpt_dir: Path) -> str:
    """sha256 of manifest.json: the identity of the checkpoint's contents."""
    path = Path(ckpt_dir) / MANIFEST
    if not path.is_file():
        raise CheckpointError(f"{ckpt_dir}: no {MANIFEST}")
    return sha256_file(path)


def save_weights(module: torch.nn.Module, path: Path) -> None:
    """The module's state dict as safetensors (contiguous CPU float tensors; no pickle)."""
    state = {k: v.detach().to("cpu").contiguous() for k, v in module.state_dict().items()}
    tmp = path.with_name(path.name + ".tmp")
    save_file(state, str(tmp))
    os.replace(tmp, path)


def load_weights(module: torch.nn.Module, path: Path, device: torch.device | str = "cpu") -> None:
    try:
        state = load_file(str(path), device=str(device))
    except Exception as exc:  # safetensors raises its own error types
        raise CheckpointError(f"{path}: unreadable weights: {exc}") from exc
    missing, unexpected = module.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not fit the model in config.json "
            f"(missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})"
        )
