"""What the benchmarks send: tweets of a prepared WORK directory's test split, as /embed bodies and
as the in-process equivalent (the same records, the images decoded from the same bytes)."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from bench.loadgen import Request
from model.record import Tweet

# text: the text alone (hashtags: [] so the service does not add the hashtag component from #tags);
# image: text and photo; all: every component the tweet has (text, photo, hashtags, place, user).
VARIANTS = ("text", "image", "all")


@dataclass(frozen=True)
class Workload:
    variant: str
    bodies: list[bytes]  # one /embed JSON body per tweet
    tweets: list[Tweet]  # the same tweets for the in-process forward pass
    images: list[Image.Image | None]

    def request(self, i: int) -> Request:
        return Request("/embed", self.bodies[i % len(self.bodies)])

    def __len__(self) -> int:
        return len(self.bodies)


def _records(work: Path, split: str = "test") -> list[dict[str, object]]:
    path = work / "splits" / f"{split}.jsonl"
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def load_workload(work: Path, variant: str, limit: int = 512) -> Workload:
    """Up to ``limit`` test tweets shaped for ``variant``."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}")
    records = [r for r in _records(work) if r.get("text")]
    if variant == "image":
        records = [r for r in records if r.get("image")]
    elif variant == "all":
        full = [r for r in records if r.get("image") and r.get("place_id") and r.get("hashtags")]
        records = full or [r for r in records if r.get("image")]
    records = records[:limit]
    if not records:
        raise ValueError(f"{work}: no test tweets for the '{variant}' workload")
    bodies, tweets, images = [], [], []
    for r in records:
        body: dict[str, object] = {"id": str(r["id"]), "text": r["text"]}
        tweet = Tweet(id=str(r["id"]), text=str(r["text"]))
        image = None
        if variant in ("image", "all"):
            raw = Path(str(r["image"])).read_bytes()
            body["image_base64"] = base64.b64encode(raw).decode("ascii")
            image = Image.open(io.BytesIO(raw))
            image.load()
        if variant == "all":
            for key in ("hashtags", "user_id", "user_location", "place_id", "place_name", "place_type"):
                if r.get(key):
                    body[key] = r[key]
            tweet = Tweet.from_flat({k: v for k, v in r.items() if k != "image"})
        else:
            body["hashtags"] = []
        bodies.append(json.dumps({"tweet": body}).encode("utf-8"))
        tweets.append(tweet)
        images.append(image)
    return Workload(variant, bodies, tweets, images)
