"""Twitter API v1.1 tweet objects (streaming lines, REST arrays) to Tweet.

Where each field comes from:
- text: ``extended_tweet.full_text`` when present (streaming, >140 chars), else ``full_text`` (REST with
  ``tweet_mode=extended``), else ``text``; a retweet takes the text, hashtags, mentions and media of its
  ``retweeted_status`` (the retweet's own text is a truncated "RT @name: ..."), while id, author, time and
  place stay the retweet's. A quote keeps its own text.
- hashtags / mentions: ``entities.hashtags[].text`` / ``entities.user_mentions[].id_str`` of the same object
  the text came from (``extended_tweet.entities`` for extended tweets).
- place: ``place.id``, ``place.full_name``, ``place.place_type``; lat/lon only from ``coordinates`` (GeoJSON
  [lon, lat]) or the legacy ``geo`` ([lat, lon]); the place's bounding-box centre goes to
  extra["place_centroid"].
- media: photos, GIFs and videos of ``extended_entities.media`` (else ``entities.media``) as
  extra["media"] = [{"type", "url"}]; ``image`` stays None unless a downloaded copy sits next to the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from model.record import RecordError, Tweet
from training.readers.fields import api_text, api_tweet, as_dict, id_str, opt_text
from training.readers.geo import bbox_centroid, point_lat_lon, valid_lat_lon


def tweet_from_v1(obj: dict[str, Any], base_dir: Path | None = None) -> Tweet:
    """One v1.1 status object as a Tweet; raises RecordError when it has no id or neither text nor media."""
    tweet_id = id_str(obj.get("id_str")) or id_str(obj.get("id"))
    if tweet_id is None:
        raise RecordError("v1.1 object has no id_str / id")
    original = obj.get("retweeted_status")
    source = original if isinstance(original, dict) else obj
    text = _full_text(source)
    entities = _entities(source)
    media = _media(source)
    user = as_dict(obj.get("user"))
    lat_lon = point_lat_lon(obj.get("coordinates")) or _legacy_geo(obj.get("geo"))
    place = as_dict(obj.get("place"))
    return api_tweet(
        "v1.1",
        obj,
        base_dir,
        tweet_id=tweet_id,
        text=text,
        hashtags=tuple(h for h in (opt_text(e.get("text")) for e in _list(entities, "hashtags")) if h),
        mentions=tuple(m for m in (_mention_id(e) for e in _list(entities, "user_mentions")) if m),
        user_id=id_str(user.get("id_str")) or id_str(user.get("id")),
        user_location=opt_text(user.get("location")),
        place_id=id_str(place.get("id")),
        place=place,
        lat_lon=lat_lon,
        centroid=bbox_centroid(place.get("bounding_box")),
        media=media,
        retweet=source is not obj,
        retweet_of=id_str(source.get("id_str")) or id_str(source.get("id")),
    )


def _full_text(status: dict[str, Any]) -> str | None:
    extended = status.get("extended_tweet")
    if isinstance(extended, dict) and api_text(extended.get("full_text")):
        return api_text(extended.get("full_text"))
    return api_text(status.get("full_text")) or api_text(status.get("text"))


def _entities(status: dict[str, Any]) -> dict[str, Any]:
    extended = status.get("extended_tweet")
    if isinstance(extended, dict) and isinstance(extended.get("entities"), dict):
        return extended["entities"]  # type: ignore[no-any-return]
    entities = status.get("entities")
    return entities if isinstance(entities, dict) else {}


def _media(status: dict[str, Any]) -> list[dict[str, str]]:
    """Every attached photo / GIF / video thumbnail in order (all 4 photos: extended_entities)."""
    holders: list[Any] = []
    extended = status.get("extended_tweet")
    if isinstance(extended, dict):
        holders += [extended.get("extended_entities"), extended.get("entities")]
    holders += [status.get("extended_entities"), status.get("entities")]
    for holder in holders:
        items = _list(holder, "media") if isinstance(holder, dict) else []
        media = [
            {"type": opt_text(m.get("type")) or "photo", "url": url}
            for m in items
            if (url := opt_text(m.get("media_url_https")) or opt_text(m.get("media_url")))
        ]
        if media:
            return media
    return []


def _mention_id(mention: dict[str, Any]) -> str | None:
    return id_str(mention.get("id_str")) or id_str(mention.get("id")) or opt_text(mention.get("screen_name"))


def _legacy_geo(geo: Any) -> tuple[float, float] | None:
    """The deprecated ``geo`` field: a Point whose coordinates are [lat, lon], the reverse of GeoJSON."""
    coords = as_dict(geo).get("coordinates")
    if not isinstance(coords, list) or len(coords) < 2:
        return None
    return valid_lat_lon(coords[0], coords[1])


def _list(obj: Any, key: str) -> list[dict[str, Any]]:
    value = obj.get(key) if isinstance(obj, dict) else None
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
