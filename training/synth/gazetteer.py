"""The hand-written lists the world is drawn from: North American cities and topic vocabularies."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).parent / "data"

# Profile locations people write instead of a place; Twitter never validates the field.
_JOKES = """somewhere over the rainbow|earth|planet earth|in your heart|everywhere|worldwide
|wherever the wifi is|the moon|mars|narnia|hogwarts|neverland|🌎|🌍✨|the void
|404 not found|outer space|behind you
|your mom's house|with my dog|in my head|she/her|here|home
|the internet|ur heart|dreamland|middle of nowhere|nowhere
|a galaxy far far away"""
JOKE_LOCATIONS: tuple[str, ...] = tuple(x.strip() for x in _JOKES.replace("\n", "").split("|"))

# Frequent English words of tweets, most frequent first (drawn with a Zipf law).
_FILLER_TEXT = """
i the to a and is my you it in of for this so me that on just be with not have at all what like but
was can get are today we your now love one good do day time when out up about how no if know got
going really new go people lol great will back more need see want much still last think night first
best week happy why make never some too even feel right here gonna always thank yes tonight someone
only life wait guys everyone omg finally literally actually ok oh well tho rn honestly kinda pretty
same stop look little big real man girl friends home gotta lmao tomorrow morning weekend ever hope
again better nice cool amazing
"""
FILLER_WORDS: tuple[str, ...] = tuple(_FILLER_TEXT.split())

_STOCK = """good morning everyone|happy friday|cant sleep|what a day|thank you all so much
|this is everything|i cant even|same|mood|big mood|me every monday|love this
|so proud of you|happy birthday to my best friend
|we back|let's go|not me crying|who else is up|its giving|living my best life"""
STOCK_PHRASES: tuple[str, ...] = tuple(x.strip() for x in _STOCK.replace("\n", "").split("|"))

_EMOJI = "😂 ❤️ 🔥 😍 🙏 😭 💯 👀 😊 🙌 ✨ 👏 🤣 😎 💪 🎉 🤔 😩 💀 🥰 😅 👍 🤷 😤 ☀️ 🌧️ ⚽ 🏀 🎶 🍕 ☕ 🐶"
EMOJI: tuple[str, ...] = tuple(_EMOJI.split(" "))


@cache
def load_cities() -> list[dict[str, Any]]:
    cities: list[dict[str, Any]] = json.loads((DATA_DIR / "cities.json").read_text(encoding="utf-8"))[
        "cities"
    ]
    return cities


@cache
def load_topics() -> list[dict[str, Any]]:
    topics: list[dict[str, Any]] = json.loads((DATA_DIR / "topics.json").read_text(encoding="utf-8"))[
        "topics"
    ]
    return topics
