"""Small conversions shared by the v1.1 and v2 readers: ids, timestamps, text, local copies of media."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
