"""Where each author has tweeted from before: per author, how many of their training tweets were
at each city.

People tweet from a few places again and again, so an author's earlier cities are the sharpest
single clue to where the next tweet is from, where the data has them (issue 12 allows heads to use
it). The location head reads it as one more feature block (``block``): the shares of the author's
earlier tweets per class and how many there were; an author the table does not know is a zero row,
so tweets of new users fall back on the other blocks.

Stored as plain JSON (no pickled code) beside the location head, listed in the checkpoint manifest.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from model.record import Tweet

AUTHOR_PLACES_FILE = "location_authors.json"


class AuthorPlaces:
    def __init__(self, counts: Mapping[str, Mapping[str, int]]) -> None:
        """``counts``: author id -> place id -> number of that author's tweets there."""
        kept = {
            str(author): {str(p): int(n) for p, n in places.items() if int(n) > 0}
            for author, places in counts.items()
        }
        self.counts: dict[str, dict[str, int]] = {a: places for a, places in kept.items() if places}

    @classmethod
    def of(cls, tweets: Sequence[Tweet], label: Callable[[Tweet], str | None]) -> AuthorPlaces:
        """The table of ``tweets`` that have an author and a ``label`` (a place id, or None)."""
        counts: dict[str, Counter[str]] = {}
        for tweet in tweets:
            place = label(tweet)
            if tweet.user_id and place:
                counts.setdefault(tweet.user_id, Counter())[place] += 1
        return cls(counts)

    def __len__(self) -> int:
        return len(self.counts)

    def repeat_authors(self) -> int:
        """Authors with at least two tweets in the table: the only ones leave-one-out can learn from."""
        return sum(1 for places in self.counts.values() if sum(places.values()) >= 2)

    def most_frequent(self, author: str | None) -> str | None:
        """The author's most frequent place (ties: the smaller place id), None for an unknown author."""
        places = self.counts.get(author or "")
        if not places:
            return None
        return min(places, key=lambda p: (-places[p], p))

    def block(
        self,
        authors: Sequence[str | None],
        classes: Sequence[str],
        leave_out: Sequence[str | None] | None = None,
    ) -> NDArray[np.float32]:
        """(N, P+1): per row, the author's tweets per class of ``classes`` as shares of the author's
        total, then log1p(total). ``leave_out[i]``: a place to discount one tweet of (the row's own
        label when the row is itself in the table, so a training row does not see its own answer).
        Unknown authors, and places not among ``classes``, add nothing."""
        column = {c: j for j, c in enumerate(classes)}
        out = np.zeros((len(authors), len(classes) + 1), dtype=np.float32)  # (N, P+1)
        for i, author in enumerate(authors):
            places = self.counts.get(author or "")
            if not places:
                continue
            own = leave_out[i] if leave_out is not None else None
            total = 0
            for place, n in places.items():
                n -= 1 if place == own else 0
                if n <= 0:
                    continue
                total += n
                if (j := column.get(place)) is not None:
                    out[i, j] = n
            if total:
                out[i, :-1] /= total
                out[i, -1] = np.log1p(total)
        return out

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"counts": self.counts}, sort_keys=True), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> AuthorPlaces:
        return cls(json.loads(path.read_text(encoding="utf-8"))["counts"])
