"""Endpoints answered by the checkpoint's heads: hashtags, location, retrieval."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends

from app.api.body import json_body
from app.api.deps import ServiceDep, SettingsDep
from app.api.routes import json_post
from app.api.schemas import (
    HashtagRequest,
    HashtagResponse,
    HashtagResult,
    HashtagScore,
    LocationRequest,
    LocationResponse,
    LocationResult,
    PlaceGuess,
    SearchHit,
    SearchRequest,
    SearchResponse,
    SearchResult,
    TweetsIn,
)
from app.api.tweets import check_batch, check_k, decode_request_items, field_names
from app.engine.backend import Backend
from app.engine.inputs import TweetInput
from app.engine.service import EmbeddingService
from app.settings import Settings
from model.embedding_batch import EmbeddingBatch
from model.heads.location_head import LocationContext

router = APIRouter(tags=["heads"])

HashtagBody = Annotated[HashtagRequest, Depends(json_body(HashtagRequest))]
LocationBody = Annotated[LocationRequest, Depends(json_body(LocationRequest))]
SearchBody = Annotated[SearchRequest, Depends(json_body(SearchRequest))]


async def _embed_for_head(
    head: str, body: TweetsIn, k: int, service: EmbeddingService, settings: Settings
) -> tuple[Backend, list[TweetInput], EmbeddingBatch]:
    """The backend that has ``head`` and the request's tweets embedded by it, limits checked first."""
    check_k(k, settings)
    backend = service.require_head(head)
    items = body.items()
    check_batch(len(items), settings)
    inputs = await decode_request_items(items, field_names(len(items), body.tweet is not None), settings)
    return backend, inputs, await service.embed(inputs, backend)


@json_post(router, "/recommend-hashtags", HashtagRequest, HashtagResponse, "Top-k hashtags for each tweet")
async def recommend_hashtags(
    body: HashtagBody, service: ServiceDep, settings: SettingsDep
) -> HashtagResponse:
    backend, inputs, batch = await _embed_for_head("hashtags", body, body.k, service, settings)
    exclude = [set(it.tweet.hashtags) for it in inputs] if body.exclude_own else None
    authors = [it.tweet.user_id for it in inputs]
    ranked = await service.run_head(backend.recommend_hashtags, batch, body.k, exclude, authors)
    return HashtagResponse(
        results=[
            HashtagResult(id=it.tweet.id, hashtags=[HashtagScore(hashtag=t, score=s) for t, s in row])
            for it, row in zip(inputs, ranked, strict=True)
        ]
    )


@json_post(
    router,
    "/predict-location",
    LocationRequest,
    LocationResponse,
    "Top-k places for each tweet (user_location is the author's profile location)",
)
async def predict_location(
    body: LocationBody, service: ServiceDep, settings: SettingsDep
) -> LocationResponse:
    backend, inputs, batch = await _embed_for_head("location", body, body.k, service, settings)
    texts = LocationContext.of([it.tweet for it in inputs])
    guesses = await service.run_head(backend.predict_location, batch, texts, body.k)
    return LocationResponse(
        results=[
            LocationResult(
                id=it.tweet.id,
                places=[
                    PlaceGuess(
                        place_id=g.place_id, name=g.name, probability=g.probability, lat=g.lat, lon=g.lon
                    )
                    for g in row
                ],
            )
            for it, row in zip(inputs, guesses, strict=True)
        ]
    )


async def _search(
    index: str, body: SearchRequest, service: EmbeddingService, settings: Settings
) -> SearchResponse:
    backend, inputs, batch = await _embed_for_head(f"{index}_index", body, body.k, service, settings)
    wanted = [c for c in backend.components if body.components is None or c in body.components]
    queries = []
    for i in range(len(inputs)):
        rows = [batch.components[c][i] for c in wanted if batch.present[c][i]]
        queries.append(np.stack(rows) if rows else np.zeros((0, backend.dim), np.float32))  # (m_i, dim)
    asked = [i for i, q in enumerate(queries) if len(q)]
    found = (
        await service.run_head(backend.search, index, [queries[i] for i in asked], body.k) if asked else []
    )
    hits: list[list[tuple[str, float]]] = [[] for _ in inputs]
    for i, row in zip(asked, found, strict=True):
        hits[i] = row
    return SearchResponse(
        results=[
            SearchResult(id=it.tweet.id, hits=[SearchHit(id=h, score=s) for h, s in row])
            for it, row in zip(inputs, hits, strict=True)
        ]
    )


@json_post(
    router,
    "/search/images",
    SearchRequest,
    SearchResponse,
    "Training-set images nearest to each tweet (best over the tweet's components)",
)
async def search_images(body: SearchBody, service: ServiceDep, settings: SettingsDep) -> SearchResponse:
    return await _search("image", body, service, settings)


@json_post(
    router,
    "/search/texts",
    SearchRequest,
    SearchResponse,
    "Training-set texts nearest to each tweet (best over the tweet's components)",
)
async def search_texts(body: SearchBody, service: ServiceDep, settings: SettingsDep) -> SearchResponse:
    return await _search("text", body, service, settings)
