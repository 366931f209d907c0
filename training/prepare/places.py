"""Places for the location branch: each place's metadata and a bounded sample of its training texts.

The paper represents a tweet's location by the texts of other tweets posted at the same
Twitter place. Only training tweets are sampled, so validation and test texts never leak into
a place's representation. Reservoir sampling keeps at most M texts per place in memory however
many tweets a place has, and the same seed gives the same sample.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model.record import Tweet


@dataclass
class PlaceSample:
    name: str | None
    type: str | None
    seen: int = 0  # tweets with text from this place, the reservoir's stream length
    lat_sum: float = 0.0
    lon_sum: float = 0.0
    coords: int = 0
    texts: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name or "",
            "type": self.type or "",
            "lat": self.lat_sum / self.coords if self.coords else None,
            "lon": self.lon_sum / self.coords if self.coords else None,
            "texts": self.texts,
            "ids": self.ids,  # tweet ids of ``texts``: lets training leave a tweet out of its own place
            "tweets": self.seen,
        }


def sample_places(tweets: Iterable[Tweet], max_texts: int, seed: int = 0) -> dict[str, PlaceSample]:
    """place id -> metadata (first name/type seen, centroid of coordinates) and <= max_texts texts."""
    if max_texts < 1:
        raise ValueError("max_texts (M) must be at least 1")
    rng = random.Random(seed)
    places: dict[str, PlaceSample] = {}
    for tweet in tweets:
        if tweet.place_id is None:
            continue
        place = places.get(tweet.place_id)
        if place is None:
            place = places[tweet.place_id] = PlaceSample(tweet.place_name, tweet.place_type)
        if tweet.lat is not None and tweet.lon is not None:
            place.lat_sum += tweet.lat
            place.lon_sum += tweet.lon
            place.coords += 1
        if not tweet.text:
            continue
        place.seen += 1
        # Algorithm R: the n-th text replaces a random slot with probability M / n.
        if len(place.texts) < max_texts:
            place.texts.append(tweet.text)
            place.ids.append(tweet.id)
        else:
            slot = rng.randrange(place.seen)
            if slot < max_texts:
                place.texts[slot] = tweet.text
                place.ids[slot] = tweet.id
    return places


def write_places(places: dict[str, PlaceSample], path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    payload = {pid: places[pid].to_json() for pid in sorted(places)}
    tmp.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)
