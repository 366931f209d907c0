"""The engine's failures, as the engine sees them; app/api/errors.py alone turns them into HTTP.

Each carries the message a client may read and, where retrying can help, how long to wait.
Details for operators (an address, an exit code) go to the log, never into ``message``.
"""

from __future__ import annotations


class EngineError(Exception):
    def __init__(self, message: str, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s


class NotReadyError(EngineError):
    """The checkpoint is still loading, or loading it failed."""


class ShuttingDownError(EngineError):
    """The service is stopping and takes no new work."""


class OverloadedError(EngineError):
    """Too much work is already admitted or queued."""


class HeadMissingError(EngineError):
    """The checkpoint has no such head."""


class UserNotFoundError(EngineError):
    """No (usable) stored tweets for the user."""


class DependencyDownError(EngineError):
    """A dependency the request needs (the recent-tweet store) cannot answer."""


class BackendUnavailableError(EngineError):
    """The model behind a loaded backend cannot answer (its process died)."""
