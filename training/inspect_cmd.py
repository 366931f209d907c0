"""``tweetembed inspect PATH``: what a dataset holds, before anything is trained on it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from training.readers.report import ReadReport
    from training.readers.stats import DatasetStats

BOT_LABELS_NAME = "bot_labels.csv"


def inspect(
    path: Annotated[
        Path,
        typer.Argument(
            help="A tweet file (flat JSONL, Twitter API v1.1 or v2 JSON, optionally .gz) or a directory "
            "of them.",
            exists=True,
            show_default=False,
        ),
    ],
    bot_labels: Annotated[
        Path | None,
        typer.Option(
            "--bot-labels",
            help="CSV of user_id,label (bot|human). Default: PATH/bot_labels.csv when it exists.",
            exists=True,
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="How many cities and hashtags to list.")] = 10,
) -> None:
    """Print what a dataset holds: tweets, users, components present, places, hashtags, mentions, bot
    labels, date range, and every line that could not be read."""
    import sys

    from tqdm import tqdm

    from training.readers import ReadReport, read_bot_labels, read_tweets
    from training.readers.stats import DatasetStats

    report = ReadReport()
    stats = DatasetStats()
    for tweet in tqdm(
        read_tweets(path, report), desc="reading tweets", unit=" tweets", disable=None, file=sys.stderr
    ):
        stats.add(tweet)
    if bot_labels is None and path.is_dir() and (path / BOT_LABELS_NAME).is_file():
        bot_labels = path / BOT_LABELS_NAME
    labels = read_bot_labels(bot_labels, report) if bot_labels is not None else None
    typer.echo(render_inspection(path, stats, report, labels, bot_labels, top))
    if stats.tweets == 0:
        raise typer.Exit(code=1)


def render_inspection(
    path: Path,
    stats: DatasetStats,
    report: ReadReport,
    labels: dict[str, str] | None,
    labels_path: Path | None,
    top: int,
) -> str:
    from model.record import COMPONENTS

    out: list[str] = [f"# Dataset {path}", ""]
    n = stats.tweets
    users = len(stats.tweets_by_user)
    days = sorted(stats.days)
    overview = [
        ("tweets", f"{n:,}"),
        (
            "users (authors)",
            f"{users:,}"
            + (
                f"  ({n / users:.1f} tweets each on average, most {max(stats.tweets_by_user.values()):,})"
                if users
                else ""
            ),
        ),
        ("date range", f"{days[0]} .. {days[-1]}  ({len(days)} day(s) with tweets)" if days else "-"),
        ("formats", ", ".join(f"{k} {v:,}" for k, v in sorted(report.tweets_by_format.items())) or "-"),
        (
            "files read",
            f"{len(report.files_read)}"
            + (
                f"  (+{len(report.ignored_files)} JSON file(s) without tweets ignored)"
                if report.ignored_files
                else ""
            ),
        ),
    ]
    out += _table(["", ""], overview, header=False)

    out += ["", "## Components present", ""]
    rows = [(c, f"{stats.component_counts[c]:,}", _pct(stats.component_counts[c], n)) for c in COMPONENTS]
    rows += [
        ("(lat/lon coordinates)", f"{stats.coordinates:,}", _pct(stats.coordinates, n)),
        ("(profile location text)", f"{stats.user_locations:,}", _pct(stats.user_locations, n)),
        ("(media URLs, no local image)", f"{stats.media_urls:,}", _pct(stats.media_urls, n)),
    ]
    if stats.missing_image_files:
        rows.append(
            (
                "(image path, file missing)",
                f"{stats.missing_image_files:,}",
                _pct(stats.missing_image_files, n),
            )
        )
    out += _table(["component", "tweets", "%"], rows)
    out.append("location = a place id (the location branch embeds places); user = an author id.")

    out += ["", "## Places by type", ""]
    if stats.place_types:
        out += _table(
            ["place type", "tweets", "%", "distinct places"],
            [
                (kind, f"{count:,}", _pct(count, n), f"{len(stats.places_by_type[kind]):,}")
                for kind, count in stats.place_types.most_common()
            ],
        )
    else:
        out.append("no tweet has a place")

    cities = stats.top_cities(top)
    out += ["", f"## Top {len(cities)} cities", ""]
    out += (
        _table(["city", "tweets"], [(name, f"{count:,}") for name, count in cities])
        if cities
        else ["no city-level places"]
    )

    out += ["", "## Hashtags", ""]
    uses = sum(stats.hashtags.values())
    out.append(
        f"vocabulary: {len(stats.hashtags):,} distinct (lower-cased), {uses:,} uses, "
        f"in {stats.component_counts['hashtags']:,} tweets"
    )
    if stats.hashtags:
        ranked = [(f"#{tag}", f"{count:,}") for tag, count in stats.hashtags.most_common(top)]
        out += ["", *_table([f"top {top} hashtags", "uses"], ranked)]

    out += ["", "## Mentions", ""]
    edges = sum(stats.mention_edges.values())
    mentioned = {target for _, target in stats.mention_edges}
    internal = sum(c for (_, target), c in stats.mention_edges.items() if target in stats.tweets_by_user)
    out += _table(
        ["", ""],
        [
            ("mention edges (author -> mentioned)", f"{edges:,}"),
            ("distinct author-mentioned pairs", f"{len(stats.mention_edges):,}"),
            ("distinct mentioned users", f"{len(mentioned):,}"),
            ("edges to users who also tweet here", f"{internal:,}"),
        ],
        header=False,
    )

    out += ["", "## Bot labels", ""]
    if labels is None:
        out.append("no bot labels (give --bot-labels CSV, or put bot_labels.csv in the data directory)")
    else:
        bots = sum(1 for v in labels.values() if v == "bot")
        with_tweets = [u for u in labels if u in stats.tweets_by_user]
        bots_with_tweets = sum(1 for u in with_tweets if labels[u] == "bot")
        out += _table(
            ["", ""],
            [
                ("labels file", str(labels_path)),
                ("labelled users", f"{len(labels):,}  (bots {bots:,}, humans {len(labels) - bots:,})"),
                (
                    "labelled users with tweets here",
                    f"{len(with_tweets):,}  (bots {bots_with_tweets:,}, "
                    f"humans {len(with_tweets) - bots_with_tweets:,})",
                ),
                ("authors without a label", f"{users - len(with_tweets):,}"),
            ],
            header=False,
        )

    out += ["", "## Read report", "", report.summary()]
    return "\n".join(out)


def _pct(count: int, total: int) -> str:
    return f"{100.0 * count / total:.1f}" if total else "-"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], header: bool = True) -> list[str]:
    """A Markdown table with padded columns, numbers right-aligned, readable as plain text too."""
    cells = [list(headers), *[list(r) for r in rows]] if header else [list(r) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    numeric = [all(_is_number(row[i]) for row in cells[1 if header else 0 :]) for i in range(len(widths))]

    def line(row: Sequence[str]) -> str:
        padded = (c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric, strict=True))
        return "| " + " | ".join(padded) + " |"

    if not header:
        return [line(r) for r in cells]
    rule = (
        "|"
        + "|".join(
            "-" * (w + 1) + ":" if num else "-" * (w + 2) for w, num in zip(widths, numeric, strict=True)
        )
        + "|"
    )
    return [line(cells[0]), rule, *(line(r) for r in cells[1:])]


def _is_number(text: str) -> bool:
    return text.replace(",", "").replace(".", "", 1).isdigit() or text == "-"
