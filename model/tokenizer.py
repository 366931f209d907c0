"""Tweet text tokenisation and the word vocabulary of the text branch.

As in the paper, hashtags are a component of their own: they are split out of the text
before the text branch sees it, and so are @mentions (the user component covers people).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

# Twitter's own rules are looser than this, but these cover what the API marks as entities.
_HASHTAG = re.compile(r"(?<![\w&#])[#＃]([^\W\d_][\w]{0,138}|\d+[^\W\d_][\w]*)", re.UNICODE)
_MENTION = re.compile(r"(?<![\w@])[@＠](\w{1,50})", re.UNICODE)
_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_TOKEN = re.compile(r"<url>|[^\W_]+(?:'[^\W_]+)?|[^\w\s]", re.UNICODE)

PAD, UNK, URL = "<pad>", "<unk>", "<url>"
PAD_ID, UNK_ID = 0, 1


def extract_hashtags(text: str) -> list[str]:
    """Hashtags in order of appearance, without '#', original case."""
    return [m.group(1) for m in _HASHTAG.finditer(_URL.sub(" ", text))]


def extract_mentions(text: str) -> list[str]:
    """@screen_names in order of appearance, without '@'."""
    return [m.group(1) for m in _MENTION.finditer(_URL.sub(" ", text))]


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens of the tweet body with hashtags and mentions removed.

    URLs become one <url> token because their characters carry no meaning after t.co shortening.
    """
    body = _URL.sub(f" {URL} ", text)
    body = _HASHTAG.sub(" ", body)
    body = _MENTION.sub(" ", body)
    return _TOKEN.findall(body.lower())


class Vocabulary:
    """Word -> id for the text branch's embedding layer; id 0 is padding, 1 unknown."""

    def __init__(self, words: Sequence[str]) -> None:
        if list(words[:2]) != [PAD, UNK]:
            raise ValueError("vocabulary must start with <pad>, <unk>")
        self.words: list[str] = list(words)
        self.index: dict[str, int] = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 2, max_size: int | None = None) -> Vocabulary:
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(tokenize(text))
        ranked = sorted(
            (w for w, c in counts.items() if c >= min_count and w not in (PAD, UNK)),
            key=lambda w: (-counts[w], w),
        )
        if max_size is not None:
            ranked = ranked[: max(0, max_size - 2)]
        return cls([PAD, UNK, *ranked])

    def encode(self, text: str, max_len: int) -> list[int]:
        """Token ids of ``text``, truncated to ``max_len``; never empty (an empty text is [UNK])."""
        ids = [self.index.get(t, UNK_ID) for t in tokenize(text)[:max_len]]
        return ids or [UNK_ID]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.words, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Vocabulary:
        words = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise ValueError(f"{path}: not a vocabulary (expected a JSON list of strings)")
        return cls(words)
