"""Which of the three tweet formats a JSON value is, decided from its keys alone.

The three formats share field names (``id``, ``text``, ``created_at``), so detection looks for what only
one of them has: v1.1 nests a ``user`` object and carries ``id_str``; v2 wraps tweets in ``data`` pages
or carries ``author_id`` / ``__twarc``; the flat format has only its own fixed, top-level fields.
"""

from __future__ import annotations

import json
from typing import Any, Literal

Format = Literal["flat", "v1", "v2", "error", "notice", "unknown"]

FLAT_FIELDS = frozenset(
    {
        "id",
        "created_at",
        "text",
        "hashtags",
        "mentions",
        "user_id",
        "user_location",
        "place_id",
        "place_name",
        "place_type",
        "lat",
        "lon",
        "image",
    }
)
# Control messages the v1.1 streaming API interleaves with tweets.
V1_NOTICES = frozenset(
    {
        "delete",
        "limit",
        "scrub_geo",
        "status_withheld",
        "user_withheld",
        "disconnect",
        "warning",
        "friends",
        "event",
        "direct_message",
    }
)
_V1_MARKERS = frozenset(
    {
        "id_str",
        "full_text",
        "extended_tweet",
        "retweeted_status",
        "in_reply_to_status_id_str",
    }
)
_V2_MARKERS = frozenset(
    {
        "author_id",
        "__twarc",
        "edit_history_tweet_ids",
        "conversation_id",
        "public_metrics",
        "referenced_tweets",
        "attachments",
    }
)


def detect_format(value: Any) -> Format:
    """Classify a parsed JSON value, or the first bytes / text of a file, as one tweet format.

    ``error`` is an API error object (v2 ``{"errors": ...}`` without data, or a bare ``title``/``detail``
    problem); ``notice`` a v1.1 stream control message; ``unknown`` anything else (world.json, a config).
    A list is classified by its first element, as a file holding an array of tweets.
    """
    if isinstance(value, (bytes, bytearray, str)):
        value = _first_value(value)
    if isinstance(value, list):
        return detect_format(value[0]) if value else "unknown"
    if not isinstance(value, dict):
        return "unknown"
    keys = value.keys()
    if "data" in keys and isinstance(value["data"], (list, dict)):
        return "v2"
    if isinstance(value.get("statuses"), list):  # a v1.1 search/tweets response
        return "v1"
    if "errors" in keys or ("title" in keys and "detail" in keys and "id" not in keys):
        return "error"
    if len(keys) <= 2 and keys & V1_NOTICES and "text" not in keys:
        return "notice"
    if isinstance(value.get("user"), dict) or keys & _V1_MARKERS:
        return "v1"
    if keys & _V2_MARKERS or isinstance(value.get("author"), dict):
        return "v2"
    if keys & {"id", "text", "image"} and keys <= FLAT_FIELDS | {"extra"}:
        return "flat"
    if ("text" in keys or "image" in keys) and keys & FLAT_FIELDS - {"id", "text", "image", "created_at"}:
        return "flat"  # flat records with a few extra columns of their own
    return "unknown"


def _first_value(raw: bytes | bytearray | str) -> Any:
    """The first JSON value of a file's opening: the first element of an array, else the first line."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, (bytes, bytearray)) else raw
    text = text.lstrip("\ufeff \t\r\n")
    decoder = json.JSONDecoder()
    try:
        if text.startswith("["):
            body = text[1:].lstrip()
            if body.startswith("]"):
                return []
            return [decoder.raw_decode(body)[0]]
        first_line = text.split("\n", 1)[0]
        try:
            return decoder.raw_decode(first_line)[0]
        except json.JSONDecodeError:
            return decoder.raw_decode(text)[0]  # a pretty-printed document
    except json.JSONDecodeError:
        return None
