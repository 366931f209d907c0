"""What a dataset holds, counted in one streaming pass (``tweetembed inspect``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from model.record import COMPONENTS, Tweet


@dataclass
class DatasetStats:
    tweets: int = 0
    tweets_by_user: Counter[str] = field(default_factory=Counter)
    component_counts: Counter[str] = field(default_factory=Counter)
    coordinates: int = 0
    user_locations: int = 0
    media_urls: int = 0  # tweets whose media are only URLs (API formats), no local file
    missing_image_files: int = 0
    place_types: Counter[str] = field(default_factory=Counter)  # tweets per place type
    places_by_type: dict[str, set[str]] = field(default_factory=dict)
    place_names: dict[str, str] = field(default_factory=dict)
    tweets_by_place: Counter[str] = field(default_factory=Counter)
    hashtags: Counter[str] = field(default_factory=Counter)  # lower-cased, as the hashtag branch sees them
    mention_edges: Counter[tuple[str, str]] = field(default_factory=Counter)  # (author, mentioned) pairs
    days: Counter[str] = field(default_factory=Counter)

    def add(self, tweet: Tweet) -> None:
        self.tweets += 1
        present = component_presence(tweet)
        self.component_counts.update(c for c in COMPONENTS if present[c])
        if tweet.user_id:
            self.tweets_by_user[tweet.user_id] += 1
        if tweet.lat is not None and tweet.lon is not None:
            self.coordinates += 1
        if tweet.user_location:
            self.user_locations += 1
        if tweet.extra.get("media") and not tweet.image:
            self.media_urls += 1
        if tweet.image and not Path(tweet.image).is_file():
            self.missing_image_files += 1
        if tweet.place_id:
            kind = tweet.place_type or "unknown"
            self.place_types[kind] += 1
            self.places_by_type.setdefault(kind, set()).add(tweet.place_id)
            self.tweets_by_place[tweet.place_id] += 1
            if tweet.place_name:
                self.place_names.setdefault(tweet.place_id, tweet.place_name)
        self.hashtags.update(h.lower() for h in tweet.hashtags)
        if tweet.user_id:
            self.mention_edges.update((tweet.user_id, m) for m in tweet.mentions if m != tweet.user_id)
        if tweet.day:
            self.days[tweet.day] += 1

    def top_cities(self, k: int) -> list[tuple[str, int]]:
        cities = self.places_by_type.get("city", set())
        ranked = sorted(cities, key=lambda p: (-self.tweets_by_place[p], self.place_names.get(p, p)))
        return [(self.place_names.get(p, p), self.tweets_by_place[p]) for p in ranked[:k]]


def component_presence(tweet: Tweet) -> dict[str, bool]:
    """Which of the five components the record carries (a model may lack the user or place)."""
    return {
        "text": bool(tweet.text and tweet.text.strip()),
        "image": bool(tweet.image),
        "hashtags": bool(tweet.hashtags),
        "location": bool(tweet.place_id),
        "user": bool(tweet.user_id),
    }
