"""What a read kept and what it skipped, so that bad input is counted and named instead of crashing a run."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

MAX_DETAILS = 10_000
"""Skipped records kept with file and line; beyond this only the counts grow, so a binary file fed in by
mistake cannot eat memory."""


@dataclass(frozen=True, slots=True)
class SkippedRecord:
    file: str
    line: int  # 1-based; 0 when the problem concerns the whole file
    kind: str  # short category: "malformed JSON", "truncated JSON", "API error", ...
    detail: str = ""

    @property
    def reason(self) -> str:
        return f"{self.kind}: {self.detail}" if self.detail else self.kind

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}  {self.reason}"


@dataclass
class ReadReport:
    """Filled in by ``read_tweets`` / ``read_bot_labels`` while they stream; read it when they are done."""

    tweets_by_format: Counter[str] = field(default_factory=Counter)
    skipped: list[SkippedRecord] = field(default_factory=list)
    skipped_by_kind: Counter[str] = field(default_factory=Counter)
    # API errors carried by pages whose tweets were kept (a suspended author of a referenced tweet...)
    notes: list[SkippedRecord] = field(default_factory=list)
    files_read: list[str] = field(default_factory=list)
    ignored_files: list[SkippedRecord] = field(default_factory=list)  # JSON documents that hold no tweets
    labels_read: int = 0

    @property
    def tweets(self) -> int:
        return sum(self.tweets_by_format.values())

    @property
    def skipped_count(self) -> int:
        return sum(self.skipped_by_kind.values())

    def kept(self, fmt: str) -> None:
        self.tweets_by_format[fmt] += 1

    def skip(self, file: str, line: int, kind: str, detail: str = "") -> None:
        self.skipped_by_kind[kind] += 1
        if len(self.skipped) < MAX_DETAILS:
            self.skipped.append(SkippedRecord(file, line, kind, _clip(detail)))

    def note(self, file: str, line: int, kind: str, detail: str = "") -> None:
        if len(self.notes) < MAX_DETAILS:
            self.notes.append(SkippedRecord(file, line, kind, _clip(detail)))

    def ignore_file(self, file: str, detail: str) -> None:
        self.ignored_files.append(SkippedRecord(file, 0, "not tweets", detail))

    def summary(self, max_listed: int = 20) -> str:
        """Human-readable account: what was kept per format, then every skip with its file and line."""
        formats = ", ".join(f"{fmt} {n:,}" for fmt, n in sorted(self.tweets_by_format.items())) or "none"
        lines = [f"Read {self.tweets:,} tweets from {len(self.files_read)} file(s) ({formats})."]
        if self.labels_read:
            lines.append(f"Read {self.labels_read:,} bot labels.")
        if self.ignored_files:
            lines.append(
                f"Ignored {len(self.ignored_files)} JSON file(s) that hold no tweets: "
                + ", ".join(r.file.rsplit("/", 1)[-1] for r in self.ignored_files[:max_listed])
            )
        if self.skipped_count:
            kinds = ", ".join(f"{n:,} {kind}" for kind, n in self.skipped_by_kind.most_common())
            lines.append(f"Skipped {self.skipped_count:,} record(s): {kinds}.")
            lines.extend(f"  {r}" for r in self.skipped[:max_listed])
            if self.skipped_count > max_listed:
                lines.append(f"  ... and {self.skipped_count - max_listed:,} more")
        else:
            lines.append("Skipped nothing.")
        if self.notes:
            lines.append(f"{len(self.notes)} API error object(s) on pages whose tweets were kept:")
            lines.extend(f"  {r}" for r in self.notes[:max_listed])
            if len(self.notes) > max_listed:
                lines.append(f"  ... and {len(self.notes) - max_listed:,} more")
        return "\n".join(lines)


def _clip(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
