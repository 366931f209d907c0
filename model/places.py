"""Places: their metadata, their neighbour texts (training) and their cached encodings (inference).

The location component of a tweet is the text branch averaged over other tweets from the same place
(the paper's "neighbour" tweets). Training re-encodes the neighbour texts every step because the text
branch is learning; a checkpoint stores one finished encoding per place so the service never
re-encodes neighbour texts for a request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file


@dataclass(frozen=True, slots=True)
class PlaceInfo:
    name: str
    type: str
    lat: float | None
    lon: float | None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "lat": self.lat, "lon": self.lon}


@dataclass(frozen=True, slots=True)
class NeighbourTexts:
    """Up to M training texts posted from one place; ``tweet_ids[i]`` wrote ``texts[i]`` when known."""

    texts: tuple[str, ...]
    tweet_ids: tuple[str | None, ...]


class PlaceTable:
    """WORK/places.json: ``{place_id: {name, type, lat, lon, texts: [...], ids?: [...]}}``.

    ``ids`` (optional, parallel to ``texts``) lets training leave a tweet out of its own place's
    neighbours by id; without it, neighbours with exactly the tweet's text are left out instead.
    """

    def __init__(self, info: dict[str, PlaceInfo], neighbours: dict[str, NeighbourTexts]) -> None:
        self.info = info
        self.neighbours = neighbours

    def __len__(self) -> int:
        return len(self.info)

    def __contains__(self, place_id: object) -> bool:
        return place_id in self.info

    @property
    def ids(self) -> list[str]:
        return list(self.info)

    @classmethod
    def from_json(cls, obj: Any, source: str = "places.json") -> PlaceTable:
        if not isinstance(obj, dict):
            raise ValueError(f"{source}: expected a JSON object of places")
        info: dict[str, PlaceInfo] = {}
        neighbours: dict[str, NeighbourTexts] = {}
        for place_id, entry in obj.items():
            if not isinstance(entry, dict):
                raise ValueError(f"{source}: place {place_id!r} is not an object")
            info[str(place_id)] = PlaceInfo(
                name=str(entry.get("name") or place_id),
                type=str(entry.get("type") or ""),
                lat=_opt_float(entry.get("lat")),
                lon=_opt_float(entry.get("lon")),
            )
            texts = [str(t) for t in entry.get("texts") or []]
            raw_ids = entry.get("ids")
            ids: list[str | None] = (
                [None if i is None else str(i) for i in raw_ids]
                if isinstance(raw_ids, list) and len(raw_ids) == len(texts)
                else [None] * len(texts)
            )
            neighbours[str(place_id)] = NeighbourTexts(tuple(texts), tuple(ids))
        return cls(info, neighbours)

    @classmethod
    def load(cls, path: Path) -> PlaceTable:
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")), str(path))

    def save_metadata(self, path: Path) -> None:
        """The checkpoint's places.json: metadata only (the encodings replace the texts)."""
        out = {pid: info.to_json() for pid, info in self.info.items()}
        Path(path).write_text(json.dumps(out, ensure_ascii=False, sort_keys=True), encoding="utf-8")


class PlaceEncodings:
    """One location-branch output per place, computed when the checkpoint is written."""

    def __init__(self, ids: list[str], encodings: np.ndarray) -> None:
        if encodings.ndim != 2 or encodings.shape[0] != len(ids):
            raise ValueError(f"place encodings {encodings.shape} do not match {len(ids)} place ids")
        self.ids = list(ids)
        self.encodings = np.ascontiguousarray(encodings, dtype=np.float32)  # (P, dim)
        self.index: dict[str, int] = {pid: row for row, pid in enumerate(self.ids)}

    def __len__(self) -> int:
        return len(self.ids)

    def row(self, place_id: str | None) -> int | None:
        return None if place_id is None else self.index.get(str(place_id))

    @classmethod
    def load(cls, encodings_path: Path, ids_path: Path) -> PlaceEncodings:
        tensors = load_file(str(encodings_path))
        ids = json.loads(Path(ids_path).read_text(encoding="utf-8"))
        if "encodings" not in tensors or not isinstance(ids, list):
            raise ValueError(f"{encodings_path}: expected tensor 'encodings' and a list of place ids")
        return cls([str(i) for i in ids], tensors["encodings"])

    def save(self, encodings_path: Path, ids_path: Path) -> None:
        save_file({"encodings": self.encodings}, str(encodings_path))
        Path(ids_path).write_text(json.dumps(self.ids), encoding="utf-8")


def _opt_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
