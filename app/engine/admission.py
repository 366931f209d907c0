"""Admission: a counter of permits for requests to the model endpoints.

The batcher's bounded queue alone decides too late: by then every request has been read, parsed,
validated and decoded, so under overload accepted requests wait behind all that work and their
latency grows without bound. Counting requests at the door bounds it by ``limit / capacity``.

The HTTP side only calls this (app/api/middleware.py): a permit is taken once a request's body is in,
so a client that sends its body slowly (or never) cannot hold one; when every permit is already taken
as a request's headers arrive, it is refused at once, before its body is read (``full`` takes nothing).
"""

from __future__ import annotations

from collections.abc import Callable


class Admission:
    def __init__(
        self,
        limit: int,
        retry_after_s: Callable[[int], int],
        on_reject: Callable[[], None] | None = None,
        on_change: Callable[[int], None] | None = None,
    ) -> None:
        self.limit = limit
        self._retry_after_s = retry_after_s  # in-progress count -> seconds until they have drained
        self._on_reject = on_reject
        self._on_change = on_change
        self._in_progress = 0

    @property
    def in_progress(self) -> int:
        return self._in_progress

    @property
    def full(self) -> bool:
        return self._in_progress >= self.limit

    def try_acquire(self) -> bool:
        """A permit, or False (counted as a refusal) when all are taken."""
        # One event loop, no await between the check and the increment: no lock needed.
        if self._in_progress >= self.limit:
            self.refused()
            return False
        self._set(self._in_progress + 1)
        return True

    def release(self) -> None:
        self._set(self._in_progress - 1)

    def refused(self) -> None:
        """A request turned away without asking for a permit (all were taken as its headers came)."""
        if self._on_reject is not None:
            self._on_reject()

    def retry_after(self) -> int:
        """Seconds until the requests in progress have drained, at the measured pace."""
        return self._retry_after_s(self._in_progress)

    def _set(self, value: int) -> None:
        self._in_progress = value
        if self._on_change is not None:
            self._on_change(value)
