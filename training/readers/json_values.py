"""The JSON values of one file, with line numbers, whatever its layout: JSON Lines, an array of objects,
or one (pretty-printed) document; plain or gzip. Parse failures are reported and skipped, never raised."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from training.readers.detect import detect_format
from training.readers.report import ReadReport

MAX_DOCUMENT_BYTES = 512 * 2**20
"""Arrays and pretty-printed documents are parsed whole; larger ones are read line by line instead."""

_BOM = b"\xef\xbb\xbf"  # the UTF-8 byte-order mark some Windows tools write
_IO_ERRORS = (OSError, EOFError, zlib.error)  # truncated or corrupt gzip, unreadable file


@dataclass(frozen=True, slots=True)
class JsonValue:
    line: int
    value: Any
    whole_document: bool  # the file holds this one value and nothing else (world.json, a config)


def open_binary(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return gzip.GzipFile(path, "rb")  # type: ignore[return-value]  # GzipFile is a binary IO
    return path.open("rb")


def iter_json_values(path: Path, report: ReadReport) -> Iterator[JsonValue]:
    """Yield each JSON value of ``path``; report empty files, bad lines, truncation and unreadable gzip."""
    name = str(path)
    try:
        with open_binary(path) as fh:
            head = fh.read(4096)
            while head and not _strip(head) and len(head) < 1 << 20:
                more = fh.read(4096)
                if not more:
                    break
                head += more
            start = _strip(head)[:1]
            if not start:
                report.skip(name, 0, "empty file")
                return
            if start == b"[":
                data = head + fh.read(MAX_DOCUMENT_BYTES)
                if not fh.read(1):
                    yield from _array_values(data, name, report)
                    return
    except _IO_ERRORS as error:
        report.skip(name, 0, "unreadable file", f"{type(error).__name__}: {error}")
        return
    yield from _line_values(path, name, report)


def _line_values(path: Path, name: str, report: ReadReport) -> Iterator[JsonValue]:
    """JSON Lines. A first line that does not parse may open a pretty-printed document, which is tried whole.

    The first value is held back until a second one shows up, so that the caller learns whether the file
    holds a single document (which may quietly be something other than tweets) or a stream of records.
    """
    held: JsonValue | None = None
    values = problems = 0
    number = 0
    try:
        with open_binary(path) as fh:
            for number, raw in enumerate(fh, start=1):
                stripped = _strip(raw)
                if not stripped:
                    continue
                try:
                    value = orjson.loads(stripped)
                except orjson.JSONDecodeError as error:
                    if values == 0 and problems == 0:
                        document = _whole_document(path)
                        if document is not _NOT_JSON:
                            yield JsonValue(number, document, whole_document=True)
                            return
                    problems += 1
                    report.skip(name, number, *_describe(error, stripped))
                    continue
                values += 1
                if values == 1:
                    held = JsonValue(number, value, whole_document=False)
                    continue
                if held is not None:
                    yield held
                    held = None
                yield JsonValue(number, value, whole_document=False)
    except _IO_ERRORS as error:
        problems += 1
        report.skip(name, number + 1, "truncated file", f"{type(error).__name__}: {error}")
    if held is not None:
        yield JsonValue(held.line, held.value, whole_document=problems == 0)


_NOT_JSON = object()


def _whole_document(path: Path) -> Any:
    """The file parsed as one JSON document, or _NOT_JSON (too big, or not one valid document)."""
    try:
        with open_binary(path) as fh:
            data = fh.read(MAX_DOCUMENT_BYTES + 1)
    except _IO_ERRORS:
        return _NOT_JSON
    if len(data) > MAX_DOCUMENT_BYTES:
        return _NOT_JSON
    try:
        return orjson.loads(_strip(data))
    except orjson.JSONDecodeError:
        return _NOT_JSON


def _array_values(data: bytes, name: str, report: ReadReport) -> Iterator[JsonValue]:
    """Elements of a top-level array one by one, so a truncated file keeps everything before the cut."""
    text = data.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    decoder = json.JSONDecoder()
    pos, line, counted_to = 1, 1, 0
    elements: list[JsonValue] = []
    skipped_before = report.skipped_count
    while True:
        pos = _skip_space(text, pos)
        if pos < len(text) and text[pos] == "]" and not elements:
            break
        line += text.count("\n", counted_to, pos)
        counted_to = pos
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as error:
            kind = "malformed JSON" if text.rstrip().endswith("]") else "truncated JSON"
            at = text.count("\n", 0, error.pos) + 1
            report.skip(name, line, kind, f"{error.msg} at line {at}; rest of array lost")
            break
        elements.append(JsonValue(line, value, whole_document=False))
        pos = _skip_space(text, pos)
        if pos < len(text) and text[pos] == ",":
            pos += 1
            continue
        if pos < len(text) and text[pos] == "]":
            if text[pos + 1 :].strip():
                report.skip(name, text.count("\n", 0, pos + 1) + 1, "malformed JSON", "data after the array")
            break
        kind = "truncated JSON" if pos >= len(text) else "malformed JSON"
        report.skip(name, text.count("\n", 0, pos) + 1, kind, "expected ',' or ']' between array elements")
        break
    if not elements and skipped_before == report.skipped_count:
        report.skip(name, 0, "empty file", "an empty JSON array")
    # An array whose first element is not a tweet of any format (a list of ids, a vocabulary, a list of
    # places) is one non-tweet document as a whole; otherwise every element is a record of its own.
    whole = bool(elements) and detect_format(elements[0].value) == "unknown"
    for element in elements:
        yield JsonValue(element.line, element.value, whole_document=whole)


def _strip(data: bytes) -> bytes:
    return data.strip().removeprefix(_BOM).strip()


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _describe(error: json.JSONDecodeError, line: bytes) -> tuple[str, str]:
    """'truncated JSON' when the parser ran out of input (a cut-off line), else 'malformed JSON'."""
    truncated = "unexpected end" in error.msg or error.pos >= len(line) - 1
    return ("truncated JSON" if truncated else "malformed JSON"), f"{error.msg} at column {error.pos + 1}"
