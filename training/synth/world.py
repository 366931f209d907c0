"""The hidden truth of a synthetic world: cities, topics and users, drawn once from the seed.

Everything here is what a model should recover from tweets and must never read directly: each
user's home city, interests and bot kind. It is saved as ``world.json`` next to the tweets.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from training.synth.gazetteer import EMOJI, JOKE_LOCATIONS, load_cities, load_topics
from training.synth.knobs import SynthConfig

BOT_KINDS: tuple[str, ...] = ("spam", "stuffer", "amplifier", "copier")
# Humans who look like one kind of bot on one signal; the overlap is what makes bots hard.
HUMAN_STYLES: tuple[str, ...] = ("plain", "sharer", "tagger", "social", "echo")
HUMAN_STYLE_WEIGHTS: tuple[float, ...] = (0.66, 0.1, 0.08, 0.1, 0.06)
N_IMAGE_FAMILIES = 7
_SYLLABLES = ("ka", "lo", "mi", "ra", "to", "ve", "su", "ne", "bo", "ri", "da", "za", "po", "li", "gu", "ty")


def place_id(kind: str, *names: str) -> str:
    """A stable 16-hex-digit id like Twitter's, independent of the seed (places do not move)."""
    return hashlib.sha1(":".join((kind, *names)).encode()).hexdigest()[:16]


def zipf_weights(n: int, exponent: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** exponent  # (n,)
    weights: np.ndarray = w / w.sum()
    return weights


@dataclass
class City:
    index: int
    name: str
    admin: str
    admin_code: str
    country: str
    lat: float
    lon: float
    place_id: str
    admin_place_id: str
    nicknames: list[str]
    local_words: list[str]
    local_hashtags: list[str]
    favourite_topics: list[int]
    image_hue_shift: float
    image_brightness: float

    @property
    def place_name(self) -> str:
        return f"{self.name}, {self.admin_code}"

    @property
    def admin_place_name(self) -> str:
        return f"{self.admin}, {self.country}"


@dataclass
class Topic:
    index: int
    name: str
    words: list[str]
    hashtags: list[str]
    emoji: list[str]
    image_family: int
    image_hues: list[float]
    image_frequency: float
    image_angle: float


@dataclass
class User:
    index: int
    id: str
    home: int
    interests: list[int]
    interest_weights: list[float]
    activity: float
    bot: str  # "" for humans, else one of BOT_KINDS
    style: str  # a HUMAN_STYLES entry for humans, "bot" for bots
    profile_location: str | None
    habit_hashtags: list[str]
    celebrity: bool = False
    friends: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "home_city": self.home,
            "interests": self.interests,
            "interest_weights": [round(w, 4) for w in self.interest_weights],
            "activity": round(self.activity, 8),
            "bot": self.bot or None,
            "style": self.style,
            "profile_location": self.profile_location,
            "habit_hashtags": self.habit_hashtags,
            "celebrity": self.celebrity,
            "friends": [f"u{f:06d}" for f in self.friends],
        }


@dataclass
class World:
    config: SynthConfig
    cities: list[City]
    topics: list[Topic]
    users: list[User]
    city_weights: np.ndarray  # (C,)
    topic_weights: np.ndarray  # (T,)
    nearby: list[list[int]]  # for each city, the closest other cities (trips go there most)
    celebrities: list[int]

    def to_json(self) -> dict[str, Any]:
        return {
            "config": self.config.to_json(),
            "cities": [
                {
                    "index": c.index,
                    "name": c.name,
                    "admin": c.admin,
                    "admin_code": c.admin_code,
                    "country": c.country,
                    "lat": c.lat,
                    "lon": c.lon,
                    "place_id": c.place_id,
                    "place_name": c.place_name,
                    "admin_place_id": c.admin_place_id,
                    "admin_place_name": c.admin_place_name,
                    "nicknames": c.nicknames,
                    "local_words": c.local_words,
                    "local_hashtags": c.local_hashtags,
                    "favourite_topics": c.favourite_topics,
                    "weight": round(float(w), 8),
                    "image_hue_shift": round(c.image_hue_shift, 5),
                    "image_brightness": round(c.image_brightness, 5),
                }
                for c, w in zip(self.cities, self.city_weights, strict=True)
            ],
            "topics": [
                {
                    "index": t.index,
                    "name": t.name,
                    "words": t.words,
                    "hashtags": t.hashtags,
                    "emoji": t.emoji,
                    "weight": round(float(w), 8),
                    "image": {
                        "family": t.image_family,
                        "hues": [round(h, 5) for h in t.image_hues],
                        "frequency": round(t.image_frequency, 5),
                        "angle": round(t.image_angle, 5),
                    },
                }
                for t, w in zip(self.topics, self.topic_weights, strict=True)
            ],
            "users": [u.to_json() for u in self.users],
        }


def _pseudo_word(rng: np.random.Generator, n_syllables: int) -> str:
    return "".join(_SYLLABLES[int(i)] for i in rng.integers(0, len(_SYLLABLES), n_syllables))


def _build_cities(cfg: SynthConfig, rng: np.random.Generator, n_topics: int) -> list[City]:
    table = load_cities()
    if cfg.cities > len(table):
        raise ValueError(f"--cities {cfg.cities}: the gazetteer has {len(table)}")
    cities = []
    for i, row in enumerate(table[: cfg.cities]):
        squashed = "".join(ch for ch in row["name"].lower() if ch.isalnum())
        # Real names are few; every city also gets made-up slang and a made-up venue, as the real
        # ones would be rare words a model has to learn from their co-occurrence too.
        slang = [_pseudo_word(rng, 2), _pseudo_word(rng, 3)]
        venue = _pseudo_word(rng, 2) + rng.choice(["park", "market", "bridge", "hall", "plaza"])
        words = [*row["local_words"], *slang, venue, *row["name"].lower().split()]
        short = [n for n in row["nicknames"] if n.replace(".", "").replace("-", "").isalnum() and len(n) <= 5]
        tags = [
            squashed,
            f"{squashed}life",
            *[s.replace(".", "").replace("-", "").lower() for s in short],
            *row["local_words"][:3],
            slang[0],
        ]
        cities.append(
            City(
                index=i,
                name=row["name"],
                admin=row["admin"],
                admin_code=row["admin_code"],
                country=row["country"],
                lat=row["lat"],
                lon=row["lon"],
                place_id=place_id("city", row["name"], row["admin_code"]),
                admin_place_id=place_id("admin", row["admin"], row["country"]),
                nicknames=list(row["nicknames"]),
                local_words=words,
                local_hashtags=list(dict.fromkeys(tags)),
                favourite_topics=[int(t) for t in rng.choice(n_topics, 3, replace=False)],
                image_hue_shift=float(rng.uniform(-0.05, 0.05)),
                image_brightness=float(rng.uniform(-0.08, 0.08)),
            )
        )
    return cities


def _build_topics(cfg: SynthConfig, rng: np.random.Generator) -> list[Topic]:
    table = load_topics()
    if cfg.topics > len(table):
        raise ValueError(f"--topics {cfg.topics}: the gazetteer has {len(table)}")
    topics = []
    for i, row in enumerate(table[: cfg.topics]):
        # Families repeat across topics (34 topics, 7 families): palette and frequency must separate them.
        base_hue = float(rng.uniform(0, 1))
        topics.append(
            Topic(
                index=i,
                name=row["name"],
                words=list(row["words"]),
                hashtags=list(row["hashtags"]),
                emoji=[EMOJI[int(j)] for j in rng.choice(len(EMOJI), 2, replace=False)],
                image_family=i % N_IMAGE_FAMILIES,
                image_hues=[base_hue, (base_hue + rng.uniform(0.15, 0.5)) % 1.0, float(rng.uniform(0, 1))],
                image_frequency=float(rng.uniform(1.5, 6.0)),
                image_angle=float(rng.uniform(0, math.pi)),
            )
        )
    return topics


def _profile_location(
    rng: np.random.Generator, cfg: SynthConfig, city: City, cities: list[City]
) -> str | None:
    if rng.random() >= cfg.profile_location_rate:
        return None
    u = rng.random()
    if u < 0.12:
        return str(rng.choice(JOKE_LOCATIONS))
    if u < 0.22:  # moved away, or a hometown they still claim: a real city, but not where they tweet
        city = cities[int(rng.integers(len(cities)))]
    elif u < 0.28:
        return str(rng.choice([city.admin, city.admin_code, f"{city.admin}, {city.country}", city.country]))
    forms = [
        city.name,
        f"{city.name}, {city.admin_code}",
        f"{city.name}, {city.admin}",
        city.name.lower(),
        f"{city.name}, {city.country}",
        city.name.upper(),
        f"{city.name} ✨",
        *city.nicknames,
    ]
    form = str(forms[int(rng.integers(len(forms)))])
    if rng.random() < 0.05:  # "Austin ✈️ NYC": two homes
        other = cities[int(rng.integers(len(cities)))]
        form = f"{form} ✈️ {other.nicknames[0] if other.nicknames else other.name}"
    return form


def _nearby(cities: list[City], n: int = 5) -> list[list[int]]:
    lat = np.radians([c.lat for c in cities])  # (C,)
    lon = np.radians([c.lon for c in cities])
    cos_d = np.sin(lat)[:, None] * np.sin(lat)[None, :] + np.cos(lat)[:, None] * np.cos(lat)[
        None, :
    ] * np.cos(lon[:, None] - lon[None, :])  # (C, C)
    np.fill_diagonal(cos_d, -2.0)
    return [[int(j) for j in np.argsort(-row, kind="stable")[:n]] for row in cos_d]


def build_world(cfg: SynthConfig) -> World:
    rng = np.random.default_rng([cfg.seed, 1])
    topics = _build_topics(cfg, rng)
    cities = _build_cities(cfg, rng, len(topics))
    city_weights = zipf_weights(len(cities), cfg.city_exponent)
    topic_weights = zipf_weights(len(topics), 0.7)[rng.permutation(len(topics))]
    n_users = cfg.n_users
    # Activity is Zipf over a random order of users; bots post somewhat more, but not all of them.
    activity = zipf_weights(n_users, cfg.activity_exponent)[rng.permutation(n_users)]
    is_bot = rng.random(n_users) < cfg.bot_rate
    activity = activity * np.where(is_bot, rng.lognormal(0.5, 0.6, n_users), 1.0)
    activity = activity / activity.sum()
    homes = rng.choice(len(cities), size=n_users, p=city_weights)
    habit_pool = [t for topic in topics for t in topic.hashtags] + [
        "blessed",
        "mood",
        "tbt",
        "love",
        "instagood",
        "happy",
        "life",
        "goals",
        "vibes",
        "squad",
        "fbf",
        "me",
        "truth",
        "facts",
        "selfie",
        "weekend",
        "nofilter",
        "family",
        "friends",
        "summer",
        "monday",
        "random",
    ]
    users: list[User] = []
    for i in range(n_users):
        home = cities[int(homes[i])]
        n_interests = int(rng.integers(1, 5))
        # Interests follow global popularity, tilted toward what the home city cares about (weakly).
        tilt = topic_weights.copy()
        tilt[home.favourite_topics] += 0.08
        interests = [int(t) for t in rng.choice(len(topics), n_interests, replace=False, p=tilt / tilt.sum())]
        weights = rng.dirichlet(np.ones(n_interests) * 2.0)
        bot = str(rng.choice(BOT_KINDS)) if is_bot[i] else ""
        style = "bot" if bot else str(rng.choice(HUMAN_STYLES, p=HUMAN_STYLE_WEIGHTS))
        habits = [str(h) for h in rng.choice(habit_pool, int(rng.integers(1, 4)), replace=False)]
        users.append(
            User(
                index=i,
                id=f"u{i:06d}",
                home=home.index,
                interests=interests,
                interest_weights=[float(w) for w in weights],
                activity=float(activity[i]),
                bot=bot,
                style=style,
                profile_location=_profile_location(rng, cfg, home, cities),
                habit_hashtags=habits,
            )
        )
    humans = [u.index for u in users if not u.bot]
    n_celebrities = max(3, n_users // 200)
    celebrities = [int(c) for c in rng.choice(humans, min(n_celebrities, len(humans)), replace=False)]
    for c in celebrities:
        users[c].celebrity = True
    _build_mention_graph(rng, users, len(cities), len(topics))
    return World(
        config=cfg,
        cities=cities,
        topics=topics,
        users=users,
        city_weights=city_weights,
        topic_weights=topic_weights,
        nearby=_nearby(cities),
        celebrities=celebrities,
    )


def _build_mention_graph(rng: np.random.Generator, users: list[User], n_cities: int, n_topics: int) -> None:
    """Whom each user mentions: mostly people of the same city or the same interests (homophily)."""
    by_city: list[list[int]] = [[] for _ in range(n_cities)]
    by_topic: list[list[int]] = [[] for _ in range(n_topics)]
    for u in users:
        by_city[u.home].append(u.index)
        for t in u.interests:
            by_topic[t].append(u.index)
    n = len(users)
    for u in users:
        n_friends = 2 + int(rng.geometric(0.08))
        draws = rng.random(n_friends)
        friends: list[int] = []
        for d in draws:
            if d < 0.5:
                pool = by_city[u.home]
            elif d < 0.8:
                pool = by_topic[u.interests[int(rng.integers(len(u.interests)))]]
            else:
                pool = []
            f = int(pool[int(rng.integers(len(pool)))]) if pool else int(rng.integers(n))
            if f != u.index:
                friends.append(f)
        u.friends = list(dict.fromkeys(friends))
