"""The per-user recent-tweet store and the bot score computed from it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from app.api.body import json_body
from app.api.deps import ServiceDep, SettingsDep
from app.api.errors import ApiError
from app.api.routes import error_responses, json_post
from app.api.schemas import BotScoreResponse, StoreRequest, StoreResponse
from app.api.tweets import check_batch, decode_request_items, field_names

router = APIRouter(tags=["users"])

UserId = Annotated[
    str, Path(min_length=1, max_length=128, description="The user id tweets were stored under.")
]


@router.get(
    "/bot-score/{user}",
    response_model=BotScoreResponse,
    responses=error_responses(401, 404, 422, 503),
    summary="Bot score of a user from their stored recent tweets",
)
async def bot_score(
    user: UserId,
    service: ServiceDep,
    n: Annotated[
        int | None,
        Query(
            ge=1,
            le=10_000,
            description="Use at most the last n tweets (default: what the bot head was fitted on).",
        ),
    ] = None,
) -> BotScoreResponse:
    backend = service.require_head("bots")
    limit = min(n or backend.bot_recent_tweets, service.settings.store_max_tweets)
    tweets, posters = await service.recent_user(user, limit, backend)
    scored = await service.run_head(backend.bot_explain, tweets, posters)
    score = min(1.0, max(0.0, float(scored.probability)))
    threshold = backend.bot_threshold
    note = None
    if scored.tweets_used < scored.fitted_tweets:
        note = (
            f"scored on {scored.tweets_used} tweets; the detector was fitted on users' newest "
            f"{scored.fitted_tweets}, so this score is less certain"
        )
    return BotScoreResponse(
        user=user,
        score=score,
        label="bot" if score >= threshold else "human",
        threshold=threshold,
        tweets_used=scored.tweets_used,
        probability=score,
        calibrated=scored.calibrated,
        subscores={k: min(1.0, max(0.0, v)) for k, v in scored.subscores.items()},
        detector=scored.detector,
        fitted_tweets=scored.fitted_tweets,
        note=note,
    )


@json_post(
    router,
    "/users/{user}/tweets",
    StoreRequest,
    StoreResponse,
    "Store tweets as the user's recent tweets (embedded for /bot-score, nothing returned)",
    status_code=201,
)
async def store_tweets(
    user: UserId,
    body: Annotated[StoreRequest, Depends(json_body(StoreRequest))],
    service: ServiceDep,
    settings: SettingsDep,
) -> StoreResponse:
    check_batch(len(body.tweets), settings)
    backend = service.require_backend()
    fields = field_names(len(body.tweets), False)
    for field, tweet in zip(fields, body.tweets, strict=True):
        if tweet.user_id is not None and str(tweet.user_id) != user:
            raise ApiError(
                "validation_error", f"{field}.user_id: {tweet.user_id!r} is not the path's user {user!r}"
            )
    inputs = await decode_request_items(body.tweets, fields, settings, None, user)
    result = await service.embed(inputs, backend)
    total = await service.store_tweets(user, inputs, result.average)
    return StoreResponse(user=user, stored=len(inputs), total=total)
