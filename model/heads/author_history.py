"""What each author's training tweets were labelled with: per author, how many of their tweets
carried each label (a city for the location head, a hashtag for the hashtag head).

People tweet from a few places, and with a few hashtags, again and again, so an author's earlier
labels are the sharpest single clue to the next tweet's, where the data has them (issue 12 allows
heads to use them). The location head treats the author's earlier cities as evidence on top of its
content prediction (``class_counts``, see location_head.author_posterior; heads fitted before that
read them as a feature block, ``block``); the hashtag head adds the author's share of tweets with each
tag to the neighbours' votes (``shares``). An author the table does
not know adds nothing, so tweets of new users fall back on the other evidence.

Stored as plain JSON (no pickled code) beside its head, listed in the checkpoint manifest.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from model.record import Tweet

AUTHOR_PLACES_FILE = "location_authors.json"
AUTHOR_HASHTAGS_FILE = "hashtag_authors.json"


Labels = Callable[["Tweet"], "str | Iterable[str] | None"]
"""A tweet's label (a place id), its labels (hashtags), or None."""


class AuthorHistory:
    def __init__(
        self, counts: Mapping[str, Mapping[str, int]], tweets: Mapping[str, int] | None = None
    ) -> None:
        """``counts``: author id -> label -> number of that author's tweets with it; ``tweets``: author
        id -> number of the author's labelled tweets (default: the sum of the counts, one label a tweet)."""
        kept = {
            str(author): {str(p): int(n) for p, n in places.items() if int(n) > 0}
            for author, places in counts.items()
        }
        self.counts: dict[str, dict[str, int]] = {a: places for a, places in kept.items() if places}
        given = {str(a): int(n) for a, n in (tweets or {}).items()}
        self.tweets: dict[str, int] = {
            a: max(given.get(a, 0), max(labels.values())) if tweets is not None else sum(labels.values())
            for a, labels in self.counts.items()
        }

    @classmethod
    def of(cls, tweets: Sequence[Tweet], labels: Labels) -> AuthorHistory:
        """The table of ``tweets`` that have an author and a label (each distinct label of a tweet
        counts once for it)."""
        counts: dict[str, Counter[str]] = {}
        totals: Counter[str] = Counter()
        for tweet in tweets:
            found = labels(tweet)
            distinct = [found] if isinstance(found, str) else list(dict.fromkeys(found or ()))
            distinct = [label for label in distinct if label]
            if tweet.user_id and distinct:
                counts.setdefault(tweet.user_id, Counter()).update(distinct)
                totals[tweet.user_id] += 1
        return cls(counts, totals)

    def __len__(self) -> int:
        return len(self.counts)

    def repeat_authors(self) -> int:
        """Authors with at least two tweets in the table: the only ones leave-one-out can learn from."""
        return sum(1 for places in self.counts.values() if sum(places.values()) >= 2)

    def ranked(self, author: str | None) -> list[str]:
        """The author's labels, most frequent first (ties: the smaller label); empty when unknown."""
        labels = self.counts.get(author or "", {})
        return sorted(labels, key=lambda p: (-labels[p], p))

    def most_frequent(self, author: str | None) -> str | None:
        """The author's most frequent label (ties: the smaller one), None for an unknown author."""
        return next(iter(self.ranked(author)), None)

    def shares(self, author: str | None) -> dict[str, float]:
        """Per label, the share of the author's labelled tweets that carried it (empty when unknown)."""
        labels = self.counts.get(author or "", {})
        total = self.tweets.get(author or "", 0)
        return {label: n / total for label, n in labels.items()} if total else {}

    def class_counts(self, authors: Sequence[str | None], classes: Sequence[str]) -> NDArray[np.float32]:
        """(N, P): per row, how many of the author's tweets carried each label of ``classes``; zero
        rows for unknown authors (labels not among ``classes`` are left out)."""
        column = {c: j for j, c in enumerate(classes)}
        out = np.zeros((len(authors), len(classes)), dtype=np.float32)  # (N, P)
        for i, author in enumerate(authors):
            for label, n in self.counts.get(author or "", {}).items():
                if (j := column.get(label)) is not None:
                    out[i, j] = n
        return out

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
        path.write_text(
            json.dumps({"counts": self.counts, "tweets": self.tweets}, sort_keys=True), encoding="utf-8"
        )

    @classmethod
    def load(cls, path: Path) -> AuthorHistory:
        stored = json.loads(path.read_text(encoding="utf-8"))
        return cls(stored["counts"], stored.get("tweets"))
