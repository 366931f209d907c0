"""POST /embed (JSON or multipart) and the OpenAI-compatible POST /v1/embeddings."""

from __future__ import annotations

import base64
from collections import defaultdict
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from app.api.body import json_body, json_request_body, parse_json, validate_body
from app.api.deps import ServiceDep, SettingsDep
from app.api.errors import ApiError
from app.api.routes import COMMON_ERRORS, error_responses, json_post
from app.api.schemas import (
    EmbedRequest,
    EmbedResponse,
    EmbedResult,
    OpenAIEmbedding,
    OpenAIEmbeddingRequest,
    OpenAIEmbeddingResponse,
    OpenAIUsage,
)
from app.api.tweets import check_batch, check_hashtags, decode_request_items, field_names
from app.engine.inputs import TweetInput
from model.record import Tweet
from model.tokenizer import extract_hashtags, extract_mentions, tokenize

router = APIRouter(tags=["embeddings"])

UPLOAD_PREFIX = "image_"
_UPLOAD_MARK = "<multipart upload>"

EMBED_BODY: dict[str, Any] = json_request_body(
    EmbedRequest,
    **{
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["request"],
                "properties": {
                    "request": {
                        "type": "string",
                        "description": "The EmbedRequest as a JSON string.",
                        "contentMediaType": "application/json",
                    },
                    "image_0": {
                        "type": "string",
                        "format": "binary",
                        "description": "Image of tweets[0]; image_1 for tweets[1], and so on.",
                    },
                },
            },
        },
    },
)


async def _read_embed_request(
    request: Request, max_images: int, max_image_bytes: int
) -> tuple[EmbedRequest, dict[int, bytes] | None]:
    uploads: dict[int, bytes] | None = None
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        try:
            form = await request.form(max_files=max_images, max_fields=max_images + 8)
        except MultiPartException as exc:
            raise ApiError("bad_request", f"malformed multipart body: {exc.message}") from None
        raw = form.get("request")
        if not isinstance(raw, str):
            raise ApiError(
                "validation_error", "request: multipart field 'request' (the JSON request) is required"
            )
        obj = parse_json(raw, "multipart field 'request'")
        uploads = {}
        for key, value in form.multi_items():
            if key == "request":
                continue
            index = key.removeprefix(UPLOAD_PREFIX)
            if not key.startswith(UPLOAD_PREFIX) or not index.isdigit() or not isinstance(value, UploadFile):
                raise ApiError(
                    "validation_error", f"{key}: unexpected multipart field (images go in image_<index>)"
                )
            uploads[int(index)] = await value.read(max_image_bytes + 1)
        if isinstance(obj, dict):
            # A tweet whose image is an upload needs no text; mark it so TweetIn's "text or image" holds.
            tweets = obj.get("tweets")
            listed: list[Any] = tweets if isinstance(tweets, list) else [obj.get("tweet")]
            for i in uploads:
                entry = listed[i] if i < len(listed) else None
                if not isinstance(entry, dict):
                    raise ApiError("validation_error", f"image_{i}: there is no tweet {i} in the request")
                if not entry.get("text") and not entry.get("image_base64"):
                    entry["image_base64"] = _UPLOAD_MARK
    else:
        obj = parse_json(await request.body(), "request body")
    return validate_body(EmbedRequest, obj), uploads


def embed_result(
    tweet_id: str,
    components: tuple[str, ...],
    comps: dict[str, np.ndarray],
    present: dict[str, np.ndarray],
    average: np.ndarray,
    i: int,
) -> EmbedResult:
    flags = {c: bool(present[c][i]) for c in components}
    return EmbedResult(
        id=tweet_id,
        present=flags,
        components={c: comps[c][i].tolist() for c in components if flags[c]},
        average=average[i].tolist() if any(flags.values()) else None,
    )


@router.post(
    "/embed",
    response_model=EmbedResponse,
    openapi_extra=EMBED_BODY,
    responses=error_responses(*COMMON_ERRORS),
    summary="Embed a batch of tweets: every component they have and their average",
)
async def embed(request: Request, service: ServiceDep, settings: SettingsDep) -> EmbedResponse:
    body, uploads = await _read_embed_request(request, settings.max_batch_tweets, settings.max_image_bytes)
    items = body.items()
    check_batch(len(items), settings)
    backend = service.require_backend()
    if body.store:
        missing = [
            f
            for f, t in zip(field_names(len(items), body.tweet is not None), items, strict=True)
            if t.user_id is None or t.user_id == ""
        ]
        if missing:
            raise ApiError(
                "validation_error", f"{missing[0]}.user_id: store: true needs a user_id on every tweet"
            )
    inputs = await decode_request_items(
        items, field_names(len(items), body.tweet is not None), settings, uploads
    )
    result = await service.embed(inputs, backend)
    stored = 0
    if body.store:
        by_user: dict[str, list[int]] = defaultdict(list)
        for i, it in enumerate(inputs):
            by_user[str(it.tweet.user_id)].append(i)
        for user, rows in by_user.items():
            await service.store_tweets(user, [inputs[i] for i in rows], result.average[rows])
            stored += len(rows)
    return EmbedResponse(
        model=backend.checkpoint_digest,
        dim=backend.dim,
        results=[
            embed_result(
                it.tweet.id, backend.components, result.components, result.present, result.average, i
            )
            for i, it in enumerate(inputs)
        ],
        stored=stored,
    )


@json_post(
    router,
    "/v1/embeddings",
    OpenAIEmbeddingRequest,
    OpenAIEmbeddingResponse,
    "OpenAI-compatible embeddings of texts (each text embedded as a text-only tweet)",
)
async def openai_embeddings(
    body: Annotated[OpenAIEmbeddingRequest, Depends(json_body(OpenAIEmbeddingRequest))],
    service: ServiceDep,
    settings: SettingsDep,
) -> OpenAIEmbeddingResponse:
    texts = [body.input] if isinstance(body.input, str) else list(body.input)
    if not texts:
        raise ApiError("validation_error", "input: is empty")
    check_batch(len(texts), settings)
    backend = service.require_backend()
    if body.dimensions is not None and body.dimensions != backend.dim:
        raise ApiError("validation_error", f"dimensions: this model has {backend.dim}, not {body.dimensions}")
    inputs = []
    for i, text in enumerate(texts):
        if len(text) > settings.max_text_chars:
            raise ApiError(
                "validation_error", f"input[{i}]: {len(text)} characters exceeds {settings.max_text_chars}"
            )
        tags = extract_hashtags(text)
        check_hashtags(len(tags), f"input[{i}]", settings)
        inputs.append(
            TweetInput(
                Tweet(id=str(i), text=text, hashtags=tuple(tags), mentions=tuple(extract_mentions(text)))
            )
        )
    result = await service.embed(inputs, backend)
    data = []
    for i in range(len(inputs)):
        vector = result.average[i].astype(np.float32)
        embedding: list[float] | str = (
            base64.b64encode(vector.tobytes()).decode("ascii")
            if body.encoding_format == "base64"
            else vector.tolist()
        )
        data.append(OpenAIEmbedding(index=i, embedding=embedding))
    tokens = sum(max(1, len(tokenize(t))) for t in texts)
    return OpenAIEmbeddingResponse(
        data=data,
        model=body.model or f"tweetembed-{backend.checkpoint_digest[:12]}",
        usage=OpenAIUsage(prompt_tokens=tokens, total_tokens=tokens),
    )
