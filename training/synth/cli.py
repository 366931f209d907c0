"""``tweetembed synth``: write a synthetic Twitter world, and optionally report how hard it is."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from training.cli_common import options_from
from training.synth.knobs import SynthConfig

_D = SynthConfig()


def synth(
    out: Path = typer.Option(
        ...,
        "--out",
        help="Directory to write tweets.jsonl, images/, bot_labels.csv, "
        "world.json and splits.json into (created if missing).",
    ),
    tweets: int = typer.Option(_D.tweets, help="Number of tweets, spread over --days consecutive days."),
    seed: int = typer.Option(_D.seed, help="Random seed; the same seed and knobs give the same bytes."),
    users: int = typer.Option(_D.users, help="Number of users; 0 = one per 20 tweets (at least 50)."),
    cities: int = typer.Option(
        _D.cities, help="Cities drawn from the North American gazetteer (at most 152)."
    ),
    topics: int = typer.Option(_D.topics, help="Topics with their own vocabularies (at most 34)."),
    image_rate: float = typer.Option(_D.image_rate, help="Share of tweets with a photo."),
    image_size: int = typer.Option(_D.image_size, help="Side of the square PNG photos, in pixels."),
    place_rate: float = typer.Option(_D.place_rate, help="Share of tweets with a Twitter place."),
    city_place_share: float = typer.Option(
        _D.city_place_share, help="Of tweets with a place, the share at city level (else admin)."
    ),
    coords_rate: float = typer.Option(
        _D.coords_rate, help="Share of tweets with GPS coordinates (subset of places)."
    ),
    profile_location_rate: float = typer.Option(
        _D.profile_location_rate, help="Share of users with a profile location (some are jokes)."
    ),
    bot_rate: float = typer.Option(_D.bot_rate, help="Share of users that are bots."),
    travel_rate: float = typer.Option(_D.travel_rate, help="Share of a user's tweets posted away from home."),
    local_word_rate: float = typer.Option(
        _D.local_word_rate, help="Share of tweets naming something local (team, landmark, slang)."
    ),
    no_hashtag_rate: float = typer.Option(_D.no_hashtag_rate, help="Share of tweets without hashtags."),
    activity_exponent: float = typer.Option(_D.activity_exponent, help="Zipf exponent of user activity."),
    city_exponent: float = typer.Option(_D.city_exponent, help="Zipf exponent of city sizes."),
    word_exponent: float = typer.Option(
        _D.word_exponent, help="Zipf exponent of word and hashtag frequencies."
    ),
    start_day: str = typer.Option(_D.start_day, help="First day (YYYY-MM-DD)."),
    days: int = typer.Option(_D.days, help="Number of days; the last two are validation and test."),
    workers: int = typer.Option(_D.workers, help="Processes rendering photos (does not change the output)."),
    report: bool = typer.Option(
        False,
        "--report",
        help="After writing, train the simple baselines and print them with the difficulty bounds.",
    ),
    report_only: bool = typer.Option(
        False,
        "--report-only",
        help="Make no new world: report on the one already in --out (adds report.json).",
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Write a synthetic Twitter world with its hidden ground truth; --report prints how hard it is."""
    if not report_only:
        cfg = options_from(SynthConfig, locals())
        from training.synth.writer import write_world

        started = time.perf_counter()
        summary = write_world(cfg, out, progress=not quiet)
        elapsed = time.perf_counter() - started
        typer.echo(
            f"wrote {summary.tweets} tweets ({summary.images} photos, {summary.places} places, "
            f"{summary.coords} with coordinates) by {summary.users} users ({summary.bots} bots) to {out} "
            f"in {elapsed:.1f} s ({summary.tweets / max(elapsed, 1e-9):.0f} tweets/s)"
        )
    if report or report_only:
        if not (out / "tweets.jsonl").exists():
            raise typer.BadParameter(f"{out} holds no tweets.jsonl", param_hint="--out")
        from training.synth.report import format_report, run_report

        result, bounds = run_report(out, seed=seed)
        (out / "report.json").write_text(
            json.dumps({"result": result, "bounds": [b.__dict__ for b in bounds]}, indent=1), encoding="utf-8"
        )
        typer.echo(format_report(result, bounds))
        if not all(b.passed for b in bounds):
            raise typer.Exit(code=1)
