"""Small conversions shared by the v1.1 and v2 readers: ids, timestamps, text, local copies of media,
and ``api_tweet``, the Tweet both make of the fields they pick."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from model.record import RecordError, Tweet

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif")


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one: optional parts are often null or absent."""
    return value if isinstance(value, dict) else {}


def id_str(value: Any) -> str | None:
    """An id as a string; integer ids are accepted because old v1.1 dumps lost id_str."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def opt_text(value: Any) -> str | None:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return None


def api_text(value: Any) -> str | None:
    """Tweet text with the HTML escapes both APIs apply (&amp; &lt; &gt;) undone; nothing else is escaped."""
    text = opt_text(value)
    if text is None:
        return None
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def iso_utc(value: Any) -> str | None:
    """``2017-06-26T19:44:13Z`` from v1.1's ``Mon Jun 26 19:44:13 +0000 2017`` or v2's ISO with millis."""
    if not isinstance(value, str) or not value.strip():
        return None
    raw = value.strip()
    for parse in (_parse_v1_date, _parse_iso_date):
        try:
            moment = parse(raw)
        except ValueError:
            continue
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return None


def _parse_v1_date(raw: str) -> datetime:
    return datetime.strptime(raw, "%a %b %d %H:%M:%S %z %Y")


def _parse_iso_date(raw: str) -> datetime:
    moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def local_image(base_dir: Path | None, tweet_id: str, media_urls: list[str]) -> str | None:
    """A downloaded copy of the tweet's first image next to the data file, if one exists.

    Looked for as ``images/<tweet id>.<ext>`` (the flat format's convention) or ``images/<url file name>``
    / ``media/<url file name>`` (what media downloaders such as twarc's write).
    """
    if base_dir is None or not media_urls:
        return None
    candidates = [base_dir / "images" / f"{tweet_id}{suffix}" for suffix in _IMAGE_SUFFIXES]
    for url in media_urls:
        name = url.rsplit("/", 1)[-1].split("?", 1)[0]
        if name:
            candidates += [base_dir / "images" / name, base_dir / "media" / name]
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    return None


def api_tweet(
    api: str,
    obj: dict[str, Any],
    base_dir: Path | None,
    *,
    tweet_id: str,
    text: str | None,
    hashtags: tuple[str, ...],
    mentions: tuple[str, ...],
    user_id: str | None,
    user_location: str | None,
    place_id: str | None,
    place: dict[str, Any],
    lat_lon: tuple[float, float] | None,
    centroid: tuple[float, float] | None,
    media: list[dict[str, str]],
    retweet: bool,
    retweet_of: str | None,
) -> Tweet:
    """The Tweet of API object ``obj`` (``api`` names the version in the error) from the fields its
    reader picked; raises RecordError when it has neither text nor a local copy of its media.

    Both versions keep what Tweet has no field for in ``extra``: the media, the place's centre, and
    for a retweet the id of the tweet it retweeted."""
    extra: dict[str, Any] = {}
    if media:
        extra["media"] = media
    if centroid:
        extra["place_centroid"] = list(centroid)
    if retweet:
        extra["retweet_of"] = retweet_of
    image = local_image(base_dir, tweet_id, [m["url"] for m in media])
    if text is None and image is None:
        raise RecordError(f"{api} tweet {tweet_id} has neither text nor a local image")
    return Tweet(
        id=tweet_id,
        text=text,
        created_at=iso_utc(obj.get("created_at")),
        hashtags=hashtags,
        mentions=mentions,
        user_id=user_id,
        user_location=user_location,
        place_id=place_id,
        place_name=opt_text(place.get("full_name")) or opt_text(place.get("name")),
        place_type=opt_text(place.get("place_type")),
        lat=lat_lon[0] if lat_lon else None,
        lon=lat_lon[1] if lat_lon else None,
        image=image,
        extra=extra,
    )
