"""What users write: topic words among everyday filler, local names, typos, emoji, URLs, hashtags
and mentions, with each user's habits and each bot kind's tricks.

Frequencies inside every list are Zipf (rank r drawn with weight 1/r^s), so a few words and
hashtags are everywhere and most are rare, as on Twitter.
"""

from __future__ import annotations

import bisect
import random
import string
from collections import deque
from dataclasses import dataclass

import numpy as np

from training.synth.gazetteer import EMOJI, FILLER_WORDS, STOCK_PHRASES
from training.synth.world import City, User, World

_URL_CHARS = string.ascii_letters + string.digits
_SPAM_TEMPLATES: tuple[str, ...] = (
    "{deal}! {product} {pct}% off today only",
    "get your free {product} now 👉",
    "🔥 {product} sale 🔥 limited stock",
    "earn ${amount} a day from home, click here",
    "win a free {product}! follow and retweet",
    "{product} deals you cant miss",
    "{deal}: {product} and {product2} at {pct}% off",
    "only {amount} left!! {product} {deal}",
)
_SPAM_DEALS = (
    "flash sale",
    "huge deal",
    "limited offer",
    "today only",
    "exclusive",
    "last chance",
    "big savings",
)
_SPAM_PRODUCTS = (
    "sneakers",
    "headphones",
    "phone cases",
    "crypto",
    "skincare",
    "watches",
    "bitcoin",
    "followers",
    "laptop",
    "sunglasses",
    "vitamins",
    "gift cards",
    "makeup kit",
    "smart watch",
)
_AMPLIFIER_TEXTS = (
    "must read",
    "so true",
    "check this out",
    "this 👏",
    "read this",
    "everyone needs to see this",
    "wow",
    "🔥🔥🔥",
    "agreed",
    "important",
    "100%",
    "facts",
    "thread",
    "go follow",
    "big if true",
)


def _cumulative(weights: np.ndarray) -> list[float]:
    return [float(x) for x in np.cumsum(weights)]


@dataclass
class Content:
    text: str
    hashtags: list[str]
    mentions: list[str]
    topic: int


class TextMaker:
    """Writes one tweet's content at a time from a sequential random stream (``random.Random``)."""

    def __init__(self, world: World, rng: random.Random) -> None:
        cfg = world.config
        self.world = world
        self.rng = rng
        self.cfg = cfg
        s = cfg.word_exponent
        self.filler_cum = _cumulative(1.0 / np.arange(1, len(FILLER_WORDS) + 1) ** s)
        self.topic_word_cum = [_cumulative(1.0 / np.arange(1, len(t.words) + 1) ** s) for t in world.topics]
        self.topic_tag_cum = [_cumulative(1.0 / np.arange(1, len(t.hashtags) + 1) ** s) for t in world.topics]
        self.topic_cum = _cumulative(world.topic_weights)
        self.all_tags = [h for t in world.topics for h in t.hashtags]
        self.all_tags_cum = _cumulative(
            np.concatenate(
                [
                    w / np.arange(1, len(t.hashtags) + 1) ** s
                    for t, w in zip(world.topics, world.topic_weights, strict=True)
                ]
            )
        )
        # Texts humans posted lately, for copiers and for people who repost by hand.
        self.recent_human: deque[Content] = deque(maxlen=2000)
        self.spam_variants: dict[int, list[str]] = {}
        # Per-user habits, jittered so that a style is a tendency, not a rule.
        jitter = np.random.default_rng([cfg.seed, 2])
        n = len(world.users)
        base_url = {
            "plain": 0.05,
            "sharer": 0.55,
            "tagger": 0.08,
            "social": 0.05,
            "echo": 0.1,
            "spam": 0.85,
            "stuffer": 0.25,
            "amplifier": 0.35,
            "copier": 0.2,
        }
        base_tags = {
            "plain": 0.6,
            "sharer": 0.5,
            "tagger": 2.5,
            "social": 0.6,
            "echo": 0.6,
            "spam": 0.8,
            "stuffer": 4.0,
            "amplifier": 0.4,
            "copier": 0.7,
        }
        base_mention = {
            "plain": 0.15,
            "sharer": 0.1,
            "tagger": 0.15,
            "social": 0.65,
            "echo": 0.2,
            "spam": 0.1,
            "stuffer": 0.15,
            "amplifier": 0.9,
            "copier": 0.15,
        }
        kinds = [u.bot or u.style for u in world.users]
        self.url_rate = np.clip([base_url[k] for k in kinds] * jitter.lognormal(0, 0.4, n), 0, 0.98)
        self.tag_mean = np.array([base_tags[k] for k in kinds]) * jitter.lognormal(0, 0.35, n)
        self.mention_rate = np.clip([base_mention[k] for k in kinds] * jitter.lognormal(0, 0.3, n), 0, 0.98)
        self.place_factor = np.where(
            [bool(u.bot) for u in world.users], jitter.uniform(0.2, 1.0, n), jitter.uniform(0.4, 1.6, n)
        )
        self.image_factor = jitter.lognormal(-0.125, 0.5, n)  # mean 1
        self.friend_cum = [
            _cumulative(1.0 / np.arange(1, len(u.friends) + 1)) if u.friends else [] for u in world.users
        ]

    # --- small draws -------------------------------------------------------------------------
    def _pick(self, items: list[str] | tuple[str, ...], cum: list[float]) -> str:
        return items[min(bisect.bisect_right(cum, self.rng.random() * cum[-1]), len(items) - 1)]

    def _url(self) -> str:
        return "https://t.co/" + "".join(self.rng.choices(_URL_CHARS, k=10))

    def _typo(self, word: str) -> str:
        i = self.rng.randrange(len(word) - 1)
        kind = self.rng.random()
        if kind < 0.4:
            return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        if kind < 0.7:
            return word[:i] + word[i + 1 :]
        return word[:i] + word[i] + word[i:]

    def _topic_for(self, user: User) -> int:
        if self.rng.random() < 0.15:  # everyone drifts off their interests now and then
            return min(bisect.bisect_right(self.topic_cum, self.rng.random()), len(self.topic_cum) - 1)
        return self.rng.choices(user.interests, weights=user.interest_weights)[0]

    def _body(self, topic: int, n_words: int, topic_share: float) -> list[str]:
        t = self.world.topics[topic]
        words = []
        for _ in range(n_words):
            if self.rng.random() < topic_share:
                words.append(self._pick(t.words, self.topic_word_cum[topic]))
            else:
                words.append(self._pick(FILLER_WORDS, self.filler_cum))
        return [self._typo(w) if len(w) > 3 and self.rng.random() < 0.03 else w for w in words]

    def _local(self, words: list[str], city: City) -> None:
        for _ in range(1 if self.rng.random() < 0.7 else 2):
            words.insert(self.rng.randrange(len(words) + 1), self.rng.choice(city.local_words))

    def _mentions(self, user: User, n: int, anyone: bool) -> list[str]:
        out: list[str] = []
        users = self.world.users
        for _ in range(n):
            r = self.rng.random()
            if anyone and r < 0.6:
                m = self.rng.randrange(len(users))
            elif r < 0.8 and user.friends:
                m = user.friends[
                    min(
                        bisect.bisect_right(
                            self.friend_cum[user.index], self.rng.random() * self.friend_cum[user.index][-1]
                        ),
                        len(user.friends) - 1,
                    )
                ]
            else:  # celebrities are mentioned by everyone
                m = self.rng.choice(self.world.celebrities)
            if m != user.index:
                out.append(users[m].id)
        return list(dict.fromkeys(out))

    def _n_hashtags(self, user: User) -> int:
        no_tag = self.cfg.no_hashtag_rate * (
            0.2 if user.style in ("tagger", "bot") and user.bot != "amplifier" else 1.0
        )
        if self.rng.random() < no_tag:
            return 0
        mean = float(self.tag_mean[user.index])
        # 1 + Poisson(mean - 1), written out with Knuth's method on the sequential stream
        lam = max(mean - 1.0, 0.05)
        limit, k, p = np.exp(-lam), 0, self.rng.random()
        while p > limit:
            k += 1
            p *= self.rng.random()
        return 1 + k

    def _hashtags(self, user: User, topic: int, city: City, n: int, local: bool) -> list[str]:
        tags: list[str] = []
        t = self.world.topics[topic]
        for _ in range(n * 2):
            if len(tags) >= n:
                break
            r = self.rng.random()
            if user.bot == "stuffer" and r < 0.6:  # whatever is popular right now, related or not
                tag = self._pick(self.all_tags, self.all_tags_cum)
            elif r < 0.55:
                tag = self._pick(t.hashtags, self.topic_tag_cum[topic])
            elif r < 0.7 or (local and r < 0.8):
                tag = self.rng.choice(city.local_hashtags)
            else:
                tag = self.rng.choice(user.habit_hashtags)
            if tag not in tags:
                tags.append(tag)
        # People capitalise tags their own way; models must treat #Coffee and #coffee alike.
        return [
            tag.upper() if (r := self.rng.random()) < 0.04 else tag.capitalize() if r < 0.14 else tag
            for tag in tags
        ]

    def _spam_message(self, user: User) -> str:
        # A spam account cycles through a handful of messages of its own, so it repeats itself.
        variants = self.spam_variants.get(user.index)
        if variants is None:
            variants = [
                self.rng.choice(_SPAM_TEMPLATES).format(
                    deal=self.rng.choice(_SPAM_DEALS),
                    product=self.rng.choice(_SPAM_PRODUCTS),
                    product2=self.rng.choice(_SPAM_PRODUCTS),
                    pct=self.rng.choice((10, 20, 30, 50, 70)),
                    amount=self.rng.choice((50, 100, 200, 500)),
                )
                for _ in range(self.rng.randrange(2, 9))
            ]
            self.spam_variants[user.index] = variants
        return self.rng.choice(variants)

    # --- one tweet ---------------------------------------------------------------------------
    def make(self, user: User, city: City) -> Content:
        rng = self.rng
        topic = self._topic_for(user)
        kind = user.bot or user.style
        local = rng.random() < self.cfg.local_word_rate
        copied: Content | None = None
        mentions: list[str] = []
        if kind == "spam":
            body = self._spam_message(user).split()
            if local and rng.random() < 0.3:
                self._local(body, city)
        elif kind == "amplifier":
            body = rng.choice(_AMPLIFIER_TEXTS).split() + self._body(topic, rng.randrange(0, 4), 0.5)
        elif (
            (kind == "copier" and rng.random() < 0.8)
            or (kind == "echo" and rng.random() < 0.35)
            or rng.random() < 0.02
        ) and self.recent_human:
            copied = self.recent_human[rng.randrange(len(self.recent_human))]
            body = []
        elif rng.random() < 0.06:
            body = rng.choice(STOCK_PHRASES).split()
        else:
            n_words = 3 + min(int(rng.expovariate(1 / 7.0)), 25)
            body = self._body(topic, n_words, 0.45 if kind == "sharer" else 0.35)
            if local:
                self._local(body, city)
        if copied is not None:
            text = "RT " + copied.text if rng.random() < 0.3 else copied.text
            return Content(
                text=text, hashtags=list(copied.hashtags), mentions=list(copied.mentions), topic=copied.topic
            )
        if rng.random() < 0.35:
            body += [
                rng.choice(self.world.topics[topic].emoji) if rng.random() < 0.5 else rng.choice(EMOJI)
                for _ in range(rng.randrange(1, 4))
            ]
        n_mentions = 0
        if rng.random() < self.mention_rate[user.index]:
            n_mentions = (
                rng.randrange(2, 7) if kind == "amplifier" else rng.randrange(1, 4 if kind == "social" else 2)
            )
        mentions = self._mentions(user, n_mentions, anyone=kind == "amplifier")
        hashtags = self._hashtags(user, topic, city, self._n_hashtags(user), local)
        tokens = list(body)
        for tag in hashtags:  # a third inline, the rest trailing, as people write them
            if tokens and rng.random() < 0.33:
                tokens.insert(rng.randrange(len(tokens) + 1), "#" + tag)
            else:
                tokens.append("#" + tag)
        hashtags = [tok[1:] for tok in tokens if tok.startswith("#")]  # the API lists them in text order
        handles = ["@" + m for m in mentions]
        if handles and rng.random() < 0.6:  # a reply starts with the handles
            tokens = handles + tokens
        else:
            tokens += handles
        if rng.random() < self.url_rate[user.index]:
            tokens.append(self._url())
        content = Content(text=" ".join(tokens), hashtags=hashtags, mentions=mentions, topic=topic)
        if not user.bot and rng.random() < 0.3:
            self.recent_human.append(content)
        return content
