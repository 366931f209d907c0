"""A tiny seeded tweet dataset (flat JSONL with a few PNGs) for the prepare tests."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
from PIL import Image

DAYS = ["2020-03-01", "2020-03-02", "2020-03-03", "2020-03-04", "2020-03-05"]
USERS = [f"u{i}" for i in range(8)]
PLACES = {
    "p_paris": ("Paris, France", "city", 48.85, 2.35),
    "p_lyon": ("Lyon, France", "city", 45.76, 4.84),
    "p_idf": ("Ile-de-France, France", "admin", None, None),
}
TOPICS = {
    "food": ["pizza", "pasta", "cheese", "bread", "dinner", "tasty"],
    "sport": ["football", "match", "goal", "team", "score", "win"],
    "music": ["concert", "guitar", "song", "band", "stage", "live"],
}


def write_dataset(root: Path, n: int = 90, seed: int = 0, images: int = 6) -> Path:
    """Write root/tweets.jsonl (+ root/img/*.png); returns the JSONL path."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "img").mkdir(exist_ok=True)
    lines = []
    for i in range(n):
        topic = rng.choice(sorted(TOPICS))
        words = rng.choices(TOPICS[topic], k=6)
        user = USERS[i % len(USERS)]
        record: dict[str, object] = {
            "id": str(1000 + i),
            "created_at": f"{DAYS[i % len(DAYS)]}T12:{i % 60:02d}:00Z",
            "user_id": user,
            "text": " ".join(words) + f" #{topic.capitalize()}",
        }
        if i % 3 == 0:  # a third of the tweets mention someone else
            other = USERS[(i * 5 + 1) % len(USERS)]
            if other != user:
                record["mentions"] = [other]
                record["text"] = f"@{other} " + str(record["text"])
        place = ["p_paris", "p_lyon", "p_idf", None][i % 4]
        if place:
            name, kind, lat, lon = PLACES[place]
            record.update(place_id=place, place_name=name, place_type=kind)
            if lat is not None:
                record.update(lat=lat + rng.uniform(-0.01, 0.01), lon=lon)
        if i < images:
            pixels = np.full((20, 30, 3), (i * 40) % 255, dtype=np.uint8)
            Image.fromarray(pixels).save(root / "img" / f"{i}.png")
            record["image"] = f"img/{i}.png"
        lines.append(json.dumps(record))
    path = root / "tweets.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
