"""The garbage collector after start-up: what loading left alive is never walked again."""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Move everything alive after loading out of the garbage collector's reach.

    Why: torch, FastAPI and the heads leave hundreds of thousands of long-lived objects, and every full
    collection walks them all. Under steady load the allocation rate made one happen about once a
    second, stalling every request in flight (docs/HISTORY.md has the before and after). Request
    garbage is still collected as before."""
    gc.collect()
    gc.freeze()
