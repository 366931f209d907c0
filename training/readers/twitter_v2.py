"""Twitter API v2 tweets to Tweet: twarc2 response pages (``data`` + ``includes``) and flattened tweets.

A page's tweets refer to users, places, media and referenced tweets by id, resolved through
``includes.users/places/media/tweets``; twarc2's flattened form (``twarc2 flatten``) has them inline
(``author``, ``attachments.media``, place fields merged into ``geo``, full ``referenced_tweets``).
``includes.tweets`` are context (what was retweeted, quoted, replied to), never yielded themselves.

Where each field comes from:
- text: ``note_tweet.text`` (long posts) else ``text``; a retweet takes text, hashtags, mentions and media
  of the tweet it retweeted (``referenced_tweets[type=retweeted]``) when the page includes it;
  id, author, time and place stay the retweet's.
- hashtags: ``entities.hashtags[].tag``; mentions: ``entities.mentions[].id`` when present, else ``username``.
  v2 omits empty entity lists, so a tweet with no ``entities`` at all falls back to extraction from its text.
- user: ``author_id``; user_location: the author's ``location``.
- place: ``geo.place_id`` -> ``full_name``, ``place_type``; lat/lon only from ``geo.coordinates`` (GeoJSON
  [lon, lat]); the place's bbox centre goes to extra["place_centroid"].
- media: ``attachments.media_keys`` -> media ``url`` (photos) or ``preview_image_url`` (videos, GIFs), kept in
  extra["media"]; ``image`` stays None unless a downloaded copy sits next to the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model.record import RecordError, Tweet
from model.tokenizer import extract_hashtags, extract_mentions
from training.readers.fields import api_text, api_tweet, as_dict, id_str, opt_text
from training.readers.geo import bbox_centroid, point_lat_lon

Json = dict[str, Any]


@dataclass
class Includes:
    """The ``includes`` of one page, indexed by id (empty for flattened tweets, which carry their own)."""

    users: dict[str, Json] = field(default_factory=dict)
    places: dict[str, Json] = field(default_factory=dict)
    media: dict[str, Json] = field(default_factory=dict)
    tweets: dict[str, Json] = field(default_factory=dict)

    @classmethod
    def of(cls, page: Json) -> Includes:
        raw = page.get("includes")
        if not isinstance(raw, dict):
            return cls()
        return cls(
            users=_index(raw.get("users"), "id"),
            places=_index(raw.get("places"), "id"),
            media=_index(raw.get("media"), "media_key"),
            tweets=_index(raw.get("tweets"), "id"),
        )


def page_items(obj: Json) -> list[Any]:
    """The tweets of a page (``data`` is a list for searches and lookups, one object for the filtered stream),
    or the object itself when it is a single (flattened) tweet."""
    if "data" not in obj:
        return [obj]
    data = obj["data"]
    return data if isinstance(data, list) else [data]


def is_user_object(item: Any) -> bool:
    """User lookups (``twarc2 users``) have the same page shape but hold users, not tweets."""
    return isinstance(item, dict) and "username" in item and "text" not in item


def page_errors(obj: Json) -> list[str]:
    """The ``errors`` a page carries beside its data (suspended authors, deleted referenced tweets...)."""
    errors = obj.get("errors")
    if not isinstance(errors, list):
        return []
    return [error_text(e) for e in errors if isinstance(e, dict)]


def error_text(error: Json) -> str:
    parts = [opt_text(error.get(k)) for k in ("title", "detail", "message")]
    return ": ".join(p for p in parts if p) or "error object"


def iter_v2(obj: Json, base_dir: Path | None = None) -> Iterator[Tweet | RecordError]:
    """Every tweet of a page or a flattened tweet; an unusable one is yielded as its RecordError, not raised,
    so one bad tweet does not cost the rest of its page."""
    includes = Includes.of(obj)
    for item in page_items(obj):
        try:
            yield tweet_from_v2(item, includes, base_dir)
        except RecordError as error:
            yield error


def tweet_from_v2(obj: Any, includes: Includes | None = None, base_dir: Path | None = None) -> Tweet:
    """One v2 tweet object as a Tweet, resolving ids through ``includes`` when given."""
    if not isinstance(obj, dict):
        raise RecordError("v2 data item is not an object")
    inc = includes or Includes()
    tweet_id = id_str(obj.get("id"))
    if tweet_id is None:
        raise RecordError("v2 tweet has no id")
    original = _retweeted(obj, inc)
    source = original if original is not None else obj
    text = _text(source)
    hashtags, mentions = _entities(source, text)
    media = _media(source, inc) or (_media(obj, inc) if original is not None else [])
    author = _author(obj, inc)
    geo = as_dict(obj.get("geo"))
    place = _place(geo, inc)
    lat_lon = point_lat_lon(geo.get("coordinates"))
    return api_tweet(
        "v2",
        obj,
        base_dir,
        tweet_id=tweet_id,
        text=text,
        hashtags=hashtags,
        mentions=mentions,
        user_id=id_str(obj.get("author_id")) or id_str(author.get("id")),
        user_location=opt_text(author.get("location")),
        place_id=id_str(geo.get("place_id")) or id_str(place.get("id")),
        place=place,
        lat_lon=lat_lon,
        centroid=bbox_centroid(as_dict(place.get("geo")).get("bbox")),
        media=media,
        retweet=original is not None,
        retweet_of=id_str(original.get("id")) if original is not None else None,
    )


def _retweeted(obj: Json, inc: Includes) -> Json | None:
    refs = obj.get("referenced_tweets")
    if not isinstance(refs, list):
        return None
    for ref in refs:
        if isinstance(ref, dict) and ref.get("type") == "retweeted":
            if "text" in ref:  # flattened: the whole tweet is inline
                return ref
            found = inc.tweets.get(str(ref.get("id")))
            if found is not None:
                return found
    return None


def _text(tweet: Json) -> str | None:
    note = tweet.get("note_tweet")
    if isinstance(note, dict) and api_text(note.get("text")):
        return api_text(note.get("text"))
    return api_text(tweet.get("text"))


def _entities(tweet: Json, text: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    note = tweet.get("note_tweet")
    entities = note.get("entities") if isinstance(note, dict) and "text" in note else tweet.get("entities")
    if not isinstance(entities, dict):
        return tuple(extract_hashtags(text or "")), tuple(extract_mentions(text or ""))
    hashtags = (opt_text(h.get("tag")) for h in _list(entities.get("hashtags")))
    mentions = (id_str(m.get("id")) or opt_text(m.get("username")) for m in _list(entities.get("mentions")))
    return tuple(h for h in hashtags if h), tuple(m for m in mentions if m)


def _media(tweet: Json, inc: Includes) -> list[dict[str, str]]:
    attachments = tweet.get("attachments")
    if not isinstance(attachments, dict):
        return []
    items = _list(attachments.get("media"))  # flattened
    keys = attachments.get("media_keys")
    if not items and isinstance(keys, list):
        items = [inc.media[k] for k in keys if isinstance(k, str) and k in inc.media]
    media = []
    for item in items:
        url = opt_text(item.get("url")) or opt_text(item.get("preview_image_url"))
        if url:
            media.append({"type": opt_text(item.get("type")) or "photo", "url": url})
    return media


def _author(tweet: Json, inc: Includes) -> Json:
    author = tweet.get("author")
    if isinstance(author, dict):
        return author
    return inc.users.get(str(tweet.get("author_id")), {})


def _place(geo: Json, inc: Includes) -> Json:
    place_id = id_str(geo.get("place_id"))
    if place_id and place_id in inc.places:
        return inc.places[place_id]
    if "full_name" in geo or "place_type" in geo:  # twarc2 flatten merges the place into geo
        return geo
    return {}


def _index(items: Any, key: str) -> dict[str, Json]:
    return {str(item[key]): item for item in _list(items) if item.get(key) is not None}


def _list(value: Any) -> list[Json]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
