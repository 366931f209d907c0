"""The knobs of the synthetic world, with defaults chosen once from what real Twitter looks like.

The defaults are part of the spec: they were set from the realism arguments next to each field and
then checked against the difficulty bounds of ``tweetembed synth --report``; they are not tuned to
make any model look good.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

START_DAY = "2020-03-01"  # the paper's collection started on 1 March 2020
N_DAYS = 10  # days 1-8 train, 9 validation, 10 test, as in the paper


@dataclass(frozen=True)
class SynthConfig:
    tweets: int = 20_000
    seed: int = 0
    # 0 = one user per 20 tweets: most accounts post a handful of times in ten days, a few post hundreds.
    users: int = 0
    # The paper's location task had 522 city classes; 120 keeps a 20k world with >50 tweets for most cities.
    cities: int = 120
    topics: int = 34
    # Share of tweets with a photo: roughly a quarter to a third of tweets carry media.
    image_rate: float = 0.3
    image_size: int = 64
    # Share of tweets with a Twitter place. A location-filtered stream returns mostly geotagged tweets,
    # but many only through the user's profile, so about half carry a place.
    place_rate: float = 0.5
    # Of the tweets with a place, the share at city level; the rest name only the state / province
    # (the paper kept 41,849 city-level of 100,000 tweets, so city level is not the rule).
    city_place_share: float = 0.6
    # Share of all tweets with exact GPS coordinates (always a subset of those with a place).
    coords_rate: float = 0.08
    # Share of users who fill in a profile location at all; of those, some are jokes or out of date.
    profile_location_rate: float = 0.7
    # Bots are estimated at 9-15% of active accounts (Varol et al. 2017, cited by the paper).
    bot_rate: float = 0.1
    # Share of a human's tweets posted away from home (trips, commutes to the next city).
    travel_rate: float = 0.1
    # Share of tweets that name something local (team, landmark, slang, the city itself). Geotagged
    # tweets are often about where people are (check-ins, games, weather), so more than a few.
    local_word_rate: float = 0.4
    # Share of tweets without any hashtag.
    no_hashtag_rate: float = 0.45
    # Zipf exponents: user activity, city sizes, word and hashtag frequencies within a list.
    activity_exponent: float = 0.6
    city_exponent: float = 0.8
    word_exponent: float = 1.0
    start_day: str = START_DAY
    days: int = N_DAYS
    workers: int = 2  # processes rendering images; the output does not depend on it

    def __post_init__(self) -> None:
        for name in (
            "image_rate",
            "place_rate",
            "city_place_share",
            "coords_rate",
            "profile_location_rate",
            "bot_rate",
            "travel_rate",
            "local_word_rate",
            "no_hashtag_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if self.coords_rate > self.place_rate:
            raise ValueError("coords_rate cannot exceed place_rate: coordinates come with a place")
        if self.tweets < 1 or self.cities < 2 or self.topics < 2 or self.days < 3:
            raise ValueError("need tweets >= 1, cities >= 2, topics >= 2, days >= 3")
        if self.image_size < 8:
            raise ValueError("image_size must be at least 8 pixels")

    @property
    def n_users(self) -> int:
        return self.users if self.users > 0 else max(50, self.tweets // 20)

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.pop("workers")  # does not change a byte of the output
        return out
