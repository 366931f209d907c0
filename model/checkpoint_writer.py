"""Writing a servable checkpoint: weights, config, vocabulary, vectors, cached place encodings, manifest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from model import checkpoint as ck
from model.config import ModelConfig
from model.featurize import Featurizer, pad_tokens
from model.joint import JointEmbeddingModel
from model.places import PlaceEncodings, PlaceTable
from model.tokenizer import Vocabulary
from model.user_vectors import UserVectors


@torch.no_grad()
def encode_places(
    model: JointEmbeddingModel,
    featurizer: Featurizer,
    places: PlaceTable,
    device: torch.device,
    chunk: int = 512,
) -> PlaceEncodings:
    """Location-branch output for every place with neighbour texts: the mean of all its texts' text
    encodings, L2-normalised. Places without texts are left out (their tweets have no location)."""
    was_training = model.training
    model.eval()
    ids: list[str] = []
    rows: list[np.ndarray] = []
    for place_id in places.ids:
        if not featurizer.knows_place(place_id):
            continue
        if featurizer.minilm:
            features = torch.from_numpy(featurizer.neighbour_features(place_id)).to(device)  # (k, 384)
            mean = model.encode_text_features(features).float().mean(dim=0)
            rows.append(torch.nn.functional.normalize(mean, dim=0).cpu().numpy())
            ids.append(place_id)
            continue
        tokens = [
            featurizer.vocab.encode(t, featurizer.config.max_tokens)
            for t in places.neighbours[place_id].texts[: featurizer.config.place_neighbours]
            if t
        ]
        encoded = []
        for start in range(0, len(tokens), chunk):
            ids_t, lengths = pad_tokens(tokens[start : start + chunk])
            encoded.append(model.encode_texts(ids_t.to(device), lengths).float())
        mean = torch.cat(encoded).mean(dim=0)
        rows.append(torch.nn.functional.normalize(mean, dim=0).cpu().numpy())
        ids.append(place_id)
    model.train(was_training)
    dim = model.config.dim
    return PlaceEncodings(ids, np.stack(rows) if rows else np.zeros((0, dim), dtype=np.float32))


def write_checkpoint(
    out_dir: Path,
    model: JointEmbeddingModel,
    config: ModelConfig,
    vocab: Vocabulary,
    word_vectors_path: Path | None,
    user_vectors: UserVectors | None,
    places: PlaceTable | None,
    place_encodings: PlaceEncodings | None,
    train_config: dict[str, Any] | None = None,
) -> str:
    """Write (or overwrite) the served files of ``out_dir`` and its manifest; returns the manifest digest.

    The manifest goes last, so a checkpoint interrupted mid-write fails verification rather than
    loading a mix of old and new files.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = out_dir / ck.MANIFEST
    if manifest.exists():
        manifest.unlink()
    config.save(out_dir / ck.CONFIG)
    ck.save_weights(model, out_dir / ck.MODEL_WEIGHTS)
    vocab.save(out_dir / ck.VOCAB)
    target_wv = out_dir / ck.WORD_VECTORS
    if word_vectors_path is not None and (
        not target_wv.exists() or ck.sha256_file(target_wv) != ck.sha256_file(word_vectors_path)
    ):
        shutil.copyfile(word_vectors_path, target_wv)
    if user_vectors is not None:
        user_vectors.save(out_dir / ck.USER_VECTORS, out_dir / ck.USER_IDS)
    if places is not None:
        places.save_metadata(out_dir / ck.PLACES)
    if place_encodings is not None:
        place_encodings.save(out_dir / ck.PLACE_ENCODINGS, out_dir / ck.PLACE_IDS)
    if train_config is not None:
        (out_dir / ck.TRAIN_CONFIG).write_text(
            json.dumps(train_config, indent=2, sort_keys=True), encoding="utf-8"
        )
    for path in out_dir.iterdir():
        if path.is_file():
            path.chmod(0o644)  # safetensors writes 0600; a service running as another user must read it
    ck.write_manifest(out_dir)
    return ck.manifest_digest(out_dir)
