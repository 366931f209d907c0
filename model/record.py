"""The canonical tweet record shared by the readers, the trainer and the service.

Everything downstream sees tweets only in this shape, whatever format they came from
(flat JSONL, Twitter API v1.1, Twitter API v2). Only ``id`` and one of ``text`` / ``image``
are required; every other field may be absent, because real tweets lack images, places
and known users far more often than they have them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from model.tokenizer import extract_hashtags, extract_mentions

COMPONENTS: tuple[str, ...] = ("text", "image", "hashtags", "location", "user")
"""The five tweet components of the joint space, in the paper's order."""


class RecordError(ValueError):
    """A flat record that cannot become a Tweet (missing id, neither text nor image, bad types)."""


@dataclass(frozen=True, slots=True)
class Tweet:
    id: str
    text: str | None = None
    created_at: str | None = None  # ISO-8601 UTC, "2017-06-26T19:44:13Z"
    hashtags: tuple[str, ...] = ()  # without '#', original case
    mentions: tuple[str, ...] = ()  # user ids when known, else screen names (no '@')
    user_id: str | None = None
    user_location: str | None = None  # free-text profile location
    place_id: str | None = None
    place_name: str | None = None
    place_type: str | None = None  # "city", "admin", "country", "poi", "neighborhood"
    lat: float | None = None
    lon: float | None = None
    image: str | None = None  # absolute path (readers resolve it against the data file)
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def day(self) -> str | None:
        """The UTC calendar day (YYYY-MM-DD) the tweet was posted, used for date splits."""
        return self.created_at[:10] if self.created_at else None

    def with_image(self, image: str | None) -> Tweet:
        return replace(self, image=image)

    def to_flat(self, base_dir: Path | None = None) -> dict[str, Any]:
        """The flat JSONL form; ``image`` is written relative to ``base_dir`` when given."""
        out = asdict(self)
        out.pop("extra")
        out["hashtags"] = list(self.hashtags)
        out["mentions"] = list(self.mentions)
        if self.image and base_dir is not None:
            try:
                out["image"] = str(Path(self.image).relative_to(base_dir))
            except ValueError:
                out["image"] = self.image
        return {k: v for k, v in out.items() if v is not None and v != [] and v != ""}

    @classmethod
    def from_flat(cls, obj: Any, base_dir: Path | None = None) -> Tweet:
        """Build a Tweet from one flat JSON object; raises RecordError on anything unusable."""
        if not isinstance(obj, dict):
            raise RecordError("record is not a JSON object")
        raw_id = obj.get("id")
        if raw_id is None or isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
            raise RecordError("record has no usable 'id'")
        text = _opt_str(obj, "text")
        image = _opt_str(obj, "image")
        if not text and not image:
            raise RecordError(f"record {raw_id}: needs 'text' or 'image'")
        if image and base_dir is not None and not Path(image).is_absolute():
            image = str(base_dir / image)
        hashtags = _str_list(obj, "hashtags")
        mentions = _str_list(obj, "mentions")
        if hashtags is None:
            hashtags = extract_hashtags(text or "")
        if mentions is None:
            mentions = extract_mentions(text or "")
        return cls(
            id=str(raw_id),
            text=text,
            created_at=_opt_str(obj, "created_at"),
            hashtags=tuple(h.lstrip("#") for h in hashtags if h.strip("#")),
            mentions=tuple(m.lstrip("@") for m in mentions if m.strip("@")),
            user_id=_opt_id(obj, "user_id"),
            user_location=_opt_str(obj, "user_location"),
            place_id=_opt_id(obj, "place_id"),
            place_name=_opt_str(obj, "place_name"),
            place_type=_opt_str(obj, "place_type"),
            lat=_opt_float(obj, "lat", -90.0, 90.0),
            lon=_opt_float(obj, "lon", -180.0, 180.0),
            image=image,
        )


def _opt_str(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordError(f"field '{key}' must be a string")
    return value or None


def _opt_id(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RecordError(f"field '{key}' must be a string or integer id")
    return str(value)


def _opt_float(obj: dict[str, Any], key: str, lo: float, hi: float) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecordError(f"field '{key}' must be a number")
    number = float(value)
    if not math.isfinite(number) or not lo <= number <= hi:
        raise RecordError(f"field '{key}' out of range [{lo}, {hi}]")
    return number


def _str_list(obj: dict[str, Any], key: str) -> list[str] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
        raise RecordError(f"field '{key}' must be a list of strings")
    return [str(v) for v in value]
