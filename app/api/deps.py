"""FastAPI dependencies: how routes reach the settings and the embedding service.

Both are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in its thread pool, and two
thread hops per request were about half of the app's own CPU per /embed request (docs/HISTORY.md).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.engine.service import EmbeddingService
from app.settings import Settings


async def get_service(request: Request) -> EmbeddingService:
    service: EmbeddingService = request.app.state.service
    return service


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


ServiceDep = Annotated[EmbeddingService, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
