"""The settings and error tables of docs/SERVICE.md, generated from the code.

The settings table comes from ``Settings.model_fields`` (app/settings.py: name, default, bounds and
description), the error table from ``ERROR_STATUS`` (app/api/errors.py) and the ``WHEN`` column below.
Each table sits between marker comments in the page; everything else in the page is left alone.

    python scripts/gen_docs_tables.py           # rewrite the tables in docs/SERVICE.md
    python scripts/gen_docs_tables.py --check   # exit 1 when they are stale (tests/unit/test_docs_tables.py)
"""

from __future__ import annotations

import argparse
import sys
import typing
from pathlib import Path
from typing import Any

import annotated_types
from pydantic.fields import FieldInfo

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "SERVICE.md"

# When each error type is answered: documentation, so it lives with the docs generator rather than
# in app/api/errors.py; a type without an entry here (or an entry without a type) stops the generator.
WHEN: dict[str, str] = {
    "malformed_json": "the body (or the multipart `request` field) is not JSON, on every endpoint alike",
    "bad_request": "broken multipart; headers over `TWEETEMBED_MAX_HEADER_BYTES` (uvicorn's own 400)",
    "unauthorized": "API keys are configured and the `Authorization: Bearer` key is missing or wrong",
    "not_found": "unknown route (a trailing slash too: `/embed/` is a 404, never a redirect)",
    "user_not_found": "no tweets stored for the user",
    "method_not_allowed": "e.g. `GET /embed` (`HEAD /health` and `HEAD /ready` answer as GET, "
    "without the body)",
    "request_timeout": "the body did not arrive within `TWEETEMBED_BODY_READ_TIMEOUT_S`; has "
    "`Connection: close`",
    "body_too_large": "the body is over `TWEETEMBED_MAX_BODY_BYTES`",
    "batch_too_large": "more tweets in one request than `TWEETEMBED_MAX_BATCH_TWEETS`",
    "image_too_large": "image bytes or pixels over the limit, or a request's images together over "
    "`TWEETEMBED_MAX_REQUEST_IMAGE_PIXELS`; a decompression bomb is refused from its header, before decoding",
    "unsupported_media_type": "the body is not `application/json` (or multipart, on `/embed`)",
    "validation_error": "wrong types (JSON `true` is no id, `k` or coordinate), an empty body, empty batch, "
    "both or neither of `tweet`/`tweets`, missing text and image, an id over 128 characters or digits, an "
    "integer of more digits than Python converts (4,300), text or hashtags over the limit (given or "
    "extracted from the text, `/v1/embeddings` too), k over `TWEETEMBED_MAX_K`",
    "invalid_image": "bad base64, or an image that does not decode",
    "queue_full": "more requests in progress on the model endpoints than "
    "`TWEETEMBED_MAX_INFLIGHT_REQUESTS` (counted once the body is read), more bodies still arriving than "
    "`TWEETEMBED_MAX_READING_REQUESTS`, or more tweets waiting for the model than `TWEETEMBED_QUEUE_MAX`; "
    "has `Retry-After`",
    "internal_error": "a bug: the server log has the traceback",
    "not_ready": "the checkpoint is still loading",
    "model_unavailable": "the model process died; has `Retry-After`",
    "head_unavailable": "the checkpoint lacks that head",
    "store_unavailable": "Redis is unreachable for the recent-tweet store; the message names the failing "
    "part, never its address or the failed command (those go to the log)",
    "shutting_down": "draining after SIGTERM",
}


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
        return "(none)" if value in ([], (), "", None) else "depends on the machine (see meaning)"
    value = field.default
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return f"`{int(value)}`"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    return f"`{value}`"


def _allowed(field: FieldInfo) -> str:
    parts = []
    choices = [a for a in typing.get_args(field.annotation) if isinstance(a, str)]
    if typing.get_origin(field.annotation) is typing.Literal and choices:
        parts.append(", ".join(f"`{c}`" for c in choices))
    if field.annotation is bool:
        parts.append("`0`, `1`")
    bounds = (
        (annotated_types.Ge, "ge", ">="),
        (annotated_types.Gt, "gt", ">"),
        (annotated_types.Le, "le", "<="),
        (annotated_types.Lt, "lt", "<"),
    )
    for meta in field.metadata:
        for kind, attribute, symbol in bounds:
            if isinstance(meta, kind):
                bound = getattr(meta, attribute)
                parts.append(f"{symbol} {bound:,}" if isinstance(bound, int) else f"{symbol} {bound}")
    return ", ".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def settings_table() -> str:
    from app.settings import Settings

    prefix = str(Settings.model_config.get("env_prefix", ""))
    rows = ["| variable | default | allowed | meaning |", "|---|---|---|---|"]
    fields: dict[str, Any] = Settings.model_fields
    for name, field in fields.items():
        if not field.description:
            raise SystemExit(f"Settings.{name} has no description: the docs table needs one")
        cells = [f"`{prefix}{name.upper()}`", _default(field), _allowed(field), _cell(field.description)]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def errors_table() -> str:
    from app.api.errors import ERROR_STATUS

    missing = sorted(set(ERROR_STATUS) - set(WHEN))
    unknown = sorted(set(WHEN) - set(ERROR_STATUS))
    if missing or unknown:
        raise SystemExit(
            f"scripts/gen_docs_tables.py WHEN is out of step with app/api/errors.py ERROR_STATUS: "
            f"no entry for {missing}, no such type {unknown}"
        )
    rows = ["| status | `type` | when |", "|---|---|---|"]
    for type_, status in sorted(ERROR_STATUS.items(), key=lambda item: item[1]):
        rows.append(f"| {status} | `{type_}` | {_cell(WHEN[type_])} |")
    return "\n".join(rows)


def replace_between(text: str, name: str, body: str) -> str:
    """``text`` with what lies between the ``<!-- name: ... -->`` and ``<!-- /name -->`` lines replaced."""
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if line.startswith(f"<!-- {name}:")]
    ends = [i for i, line in enumerate(lines) if line.strip() == f"<!-- /{name} -->"]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise SystemExit(
            f"{PAGE}: expected one '<!-- {name}: ... -->' line followed by one '<!-- /{name} -->'"
        )
    return "\n".join([*lines[: starts[0] + 1], body, *lines[ends[0] :]])


def render(text: str) -> str:
    text = replace_between(text, "settings-table", settings_table())
    return replace_between(text, "errors-table", errors_table())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="Exit 1 if docs/SERVICE.md is stale.")
    args = parser.parse_args()
    current = PAGE.read_text(encoding="utf-8")
    wanted = render(current)
    if args.check:
        if wanted != current:
            print(f"{PAGE} is stale: run `make docs` (python scripts/gen_docs_tables.py)", file=sys.stderr)
            return 1
        return 0
    if wanted != current:
        PAGE.write_text(wanted, encoding="utf-8")
        print(f"wrote the settings and error tables of {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
