"""node2vec user vectors (the user branch's input) with the user ids that index them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file


class UserVectors:
    """Row ``i`` of ``vectors`` belongs to ``ids[i]``; users not listed are unknown (component absent)."""

    def __init__(self, ids: list[str], vectors: np.ndarray) -> None:
        if vectors.ndim != 2 or vectors.shape[0] != len(ids):
            raise ValueError(f"user vectors {vectors.shape} do not match {len(ids)} ids")
        self.ids = [str(i) for i in ids]
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)  # (U, user_dim)
        self.index: dict[str, int] = {uid: row for row, uid in enumerate(self.ids)}

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.ids)

    def row(self, user_id: str | None) -> int | None:
        return None if user_id is None else self.index.get(str(user_id))

    def get(self, user_id: str | None) -> np.ndarray | None:
        row = self.row(user_id)
        return None if row is None else self.vectors[row]

    @classmethod
    def load(cls, vectors_path: Path, ids_path: Path) -> UserVectors:
        tensors = load_file(str(vectors_path))
        if "vectors" not in tensors:
            raise ValueError(f"{vectors_path}: no tensor named 'vectors'")
        ids = json.loads(Path(ids_path).read_text(encoding="utf-8"))
        if not isinstance(ids, list):
            raise ValueError(f"{ids_path}: expected a JSON list of user ids")
        return cls([str(i) for i in ids], tensors["vectors"])

    def save(self, vectors_path: Path, ids_path: Path) -> None:
        save_file({"vectors": self.vectors}, str(vectors_path))
        Path(ids_path).write_text(json.dumps(self.ids), encoding="utf-8")
