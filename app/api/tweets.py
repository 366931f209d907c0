"""From request bodies to model inputs: TweetIn -> Tweet plus its decoded image, limits enforced."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool

from app.api.errors import ApiError
from app.api.images import decode_base64, decode_images, encoder_config
from app.api.schemas import TweetIn
from app.engine.inputs import TweetInput
from app.settings import Settings
from model.record import Tweet
from model.tokenizer import extract_hashtags, extract_mentions


def check_batch(n: int, settings: Settings) -> None:
    if n > settings.max_batch_tweets:
        raise ApiError(
            "batch_too_large", f"{n} tweets in one request; the limit is {settings.max_batch_tweets}"
        )


def check_k(k: int, settings: Settings) -> None:
    if k > settings.max_k:
        raise ApiError("validation_error", f"k: {k} exceeds the limit of {settings.max_k}")


def check_hashtags(n: int, field: str, settings: Settings) -> None:
    """One rule for every endpoint: past max_hashtags (given or extracted from the text), 422."""
    if n > settings.max_hashtags:
        raise ApiError(
            "validation_error", f"{field}: {n} hashtags exceeds the limit of {settings.max_hashtags}"
        )


def to_tweet(item: TweetIn, field: str, settings: Settings, user_id: str | None = None) -> Tweet:
    """The canonical record of ``item``; ``field`` names it in error messages ("tweets[3]")."""
    text = item.text or None
    if text is not None and len(text) > settings.max_text_chars:
        raise ApiError(
            "validation_error",
            f"{field}.text: {len(text)} characters exceeds the limit of {settings.max_text_chars}",
        )
    hashtags = item.hashtags if item.hashtags is not None else extract_hashtags(text or "")
    hashtags = [h.lstrip("#＃") for h in hashtags if h.strip("#＃ ")]
    check_hashtags(len(hashtags), f"{field}.hashtags", settings)
    mentions = item.mentions if item.mentions is not None else extract_mentions(text or "")
    return Tweet(
        id=str(item.id),
        text=text,
        created_at=item.created_at,
        hashtags=tuple(hashtags),
        mentions=tuple(m.lstrip("@＠") for m in mentions if m.strip("@＠ ")),
        user_id=user_id if user_id is not None else (None if item.user_id is None else str(item.user_id)),
        user_location=item.user_location or None,
        place_id=None if item.place_id is None or item.place_id == "" else str(item.place_id),
        place_name=item.place_name,
        place_type=item.place_type,
        lat=item.lat,
        lon=item.lon,
        image=None,  # uploaded images travel beside the record, never as a server path
    )


def field_names(n: int, single: bool, prefix: str = "tweets") -> list[str]:
    """How a client names each tweet of its request in error messages: "tweet" or "tweets[3]"."""
    return ["tweet"] if single else [f"{prefix}[{i}]" for i in range(n)]


def decode_items(
    items: list[TweetIn],
    fields: list[str],
    settings: Settings,
    uploads: dict[int, bytes] | None = None,
    user_id: str | None = None,
) -> list[TweetInput]:
    """Records and decoded images for a request's tweets. CPU-bound: call it from a worker thread.
    Images are decoded at the checkpoint's image-encoder size, after all of them are checked."""
    tweets = [to_tweet(item, field, settings, user_id) for item, field in zip(items, fields, strict=True)]
    raws: dict[int, tuple[str, bytes]] = {}
    for i, (item, field) in enumerate(zip(items, fields, strict=True)):
        if uploads is not None and i in uploads:
            raws[i] = (f"image_{i}", uploads[i])
        elif item.image_base64:
            name = f"{field}.image_base64"
            raws[i] = (name, decode_base64(item.image_base64, name, settings.max_image_bytes))
    config = encoder_config(None if settings.fake_backend else settings.checkpoint)
    decoded = dict(zip(raws, decode_images(list(raws.values()), settings, config), strict=True))
    return [TweetInput(tweet, decoded.get(i)) for i, tweet in enumerate(tweets)]


async def decode_request_items(
    items: list[TweetIn],
    fields: list[str],
    settings: Settings,
    uploads: dict[int, bytes] | None = None,
    user_id: str | None = None,
) -> list[TweetInput]:
    """decode_items, on a worker thread only when there are images to decode. Text-only tweets take
    microseconds, less than the hop to a thread, and under load no request should queue for a free
    threadpool worker just to build its records."""
    if uploads or any(item.image_base64 for item in items):
        return await run_in_threadpool(decode_items, items, fields, settings, uploads, user_id)
    return decode_items(items, fields, settings, uploads, user_id)
