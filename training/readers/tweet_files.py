"""``read_tweets``: every tweet under a path, whatever mix of formats, as a stream of Tweet records."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from model.record import RecordError, Tweet
from training.readers.detect import V1_NOTICES, detect_format
from training.readers.json_values import JsonValue, iter_json_values
from training.readers.report import ReadReport
from training.readers.twitter_v1 import tweet_from_v1
from training.readers.twitter_v2 import error_text, is_user_object, iter_v2, page_errors, page_items

TWEET_SUFFIXES = (".jsonl", ".json", ".ndjson")
"""What a directory walk reads (also gzipped, and extension-less ``.gz``); CSVs, images and the rest are
not looked at. A file named explicitly is read whatever its name."""


def tweet_files(root: Path) -> list[Path]:
    """Tweet files under a directory, recursively, in sorted path order; hidden files and folders left out."""
    found = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        name = path.name.lower()
        inner = name.removesuffix(".gz")
        if (name.endswith(".gz") and "." not in inner) or inner.endswith(TWEET_SUFFIXES):
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def read_tweets(path: Path | str, report: ReadReport | None = None) -> Iterator[Tweet]:
    """Stream the tweets of a file or a directory tree, each file's format detected on its own.

    Bad input never raises: malformed or truncated lines, API error objects, stream notices, records
    without an id or content, empty files are skipped and recorded in ``report`` (file and line).
    JSON files that are a single document holding no tweets (world.json, splits.json, configs) are
    ignored quietly and listed in ``report.ignored_files``. Only a path that does not exist raises.
    """
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"no such file or directory: {root}")
    report = report if report is not None else ReadReport()
    from training.readers.pan import is_pan_corpus, read_pan

    if is_pan_corpus(root):
        yield from read_pan(root, report)
        return
    for file in tweet_files(root) if root.is_dir() else [root]:
        yield from read_tweet_file(file, report)


def read_tweet_file(file: Path, report: ReadReport) -> Iterator[Tweet]:
    name = str(file)
    base_dir = file.absolute().parent  # flat records' image paths are relative to their file
    for item in iter_json_values(file, report):
        if item.whole_document and detect_format(item.value) == "unknown":
            report.ignore_file(name, _describe_document(item.value))
            return
        values = item.value if isinstance(item.value, list) else [item.value]  # a JSONL line may be an array
        for value in values:
            yield from _tweets_of(JsonValue(item.line, value, item.whole_document), name, base_dir, report)
    report.files_read.append(name)


def _tweets_of(item: JsonValue, name: str, base_dir: Path, report: ReadReport) -> Iterator[Tweet]:
    value, line = item.value, item.line
    fmt = detect_format(value)
    if fmt == "flat":
        yield from _counted("flat", _parsed(Tweet.from_flat, value, base_dir), name, line, report)
    elif fmt == "v1":
        statuses = value["statuses"] if isinstance(value.get("statuses"), list) else [value]
        for status in statuses:
            if not isinstance(status, dict):
                report.skip(name, line, "not a tweet", "v1.1 statuses item is not an object")
                continue
            yield from _counted("v1", _parsed(tweet_from_v1, status, base_dir), name, line, report)
    elif fmt == "v2":
        yield from _v2_tweets(value, name, line, base_dir, report)
    elif fmt == "error":
        errors = value.get("errors") if isinstance(value.get("errors"), list) else [value]
        first = next((e for e in errors if isinstance(e, dict)), {})
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        report.skip(name, line, "API error", error_text(first) + more)
    elif fmt == "notice":
        report.skip(name, line, "stream notice", "v1.1 '" + "/".join(sorted(value.keys() & V1_NOTICES)) + "'")
    else:
        report.skip(name, line, "not a tweet", _describe_document(value))


def _v2_tweets(
    page: dict[str, Any], name: str, line: int, base_dir: Path, report: ReadReport
) -> Iterator[Tweet]:
    items = page_items(page)
    if items and all(is_user_object(item) for item in items):
        report.skip(name, line, "not a tweet", f"v2 page of {len(items)} user objects")
        return
    for error in page_errors(page):
        report.note(name, line, "API error", error)
    for result in iter_v2(page, base_dir):
        yield from _counted("v2", result, name, line, report)


def _parsed(parse: Callable[[Any, Path], Tweet], value: Any, base_dir: Path) -> Tweet | RecordError:
    """A record as iter_v2 yields them: an unusable one as its error, not raised."""
    try:
        return parse(value, base_dir)
    except RecordError as error:
        return error


def _counted(
    fmt: str, result: Tweet | RecordError, name: str, line: int, report: ReadReport
) -> Iterator[Tweet]:
    """The tweet, counted as kept in its format, or nothing, its error counted as an invalid record."""
    if isinstance(result, RecordError):
        report.skip(name, line, "invalid record", str(result))
    else:
        report.kept(fmt)
        yield result


def _describe_document(value: Any) -> str:
    if isinstance(value, dict):
        keys = ", ".join(sorted(str(k) for k in value)[:6])
        return f"a JSON object with keys {keys}{', ...' if len(value) > 6 else ''}"
    if isinstance(value, list):
        return f"a JSON array of {len(value)} {type(value[0]).__name__ if value else 'item'}s"
    return f"a JSON {type(value).__name__}"
