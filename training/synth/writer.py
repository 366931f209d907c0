"""Streams a synthetic world to disk: tweets in time order, their photos, the labels and the truth.

Tweets are drawn one after another from a single seeded stream and written as they are made, so
memory stays bounded by the world (users, cities), not the number of tweets. Each photo gets its own
seed from that stream, so the worker processes that render them cannot change a byte of the output.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import json
import multiprocessing
import random
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from training.synth.images import ImageJob, render_to_file
from training.synth.knobs import SynthConfig
from training.synth.text import TextMaker
from training.synth.world import World, build_world

CHUNK = 4096  # tweets drawn between two hand-offs to the image workers
TWEET_ID_BASE = 1_234_000_000_000_000_000


@dataclass
class SynthSummary:
    tweets: int
    images: int
    places: int
    coords: int
    users: int
    bots: int


def flat_record(fields: Mapping[str, object]) -> dict[str, object]:
    """What ``Tweet.to_flat(base_dir=out)`` writes, without building a Tweet: the dataclass round
    trip took half the time of a million-tweet run. Same field order, same omissions (a test
    checks that Tweet.from_flat(...).to_flat(...) gives it back unchanged)."""
    return {k: v for k, v in fields.items() if v is not None and v != [] and v != ""}


def split_days(cfg: SynthConfig) -> dict[str, object]:
    start = dt.date.fromisoformat(cfg.start_day)
    days = [(start + dt.timedelta(days=i)).isoformat() for i in range(cfg.days)]
    return {"method": "date", "train": days[:-2], "val": [days[-2]], "test": [days[-1]]}


def _minute_intensity(cfg: SynthConfig) -> np.ndarray:
    """(M,) posting intensity per minute: most tweets in the North American evening."""
    minutes = np.arange(cfg.days * 1440)
    hour_utc = (minutes % 1440) / 60.0
    return 1.0 + 0.7 * np.cos(2 * np.pi * (hour_utc - 1.0) / 24.0)  # peak at 01:00 UTC = 8 pm Eastern


@contextmanager
def _image_pool(workers: int) -> Iterator[multiprocessing.pool.Pool | None]:
    if workers <= 1:
        yield None
        return
    pool = multiprocessing.get_context("fork").Pool(workers)
    try:
        yield pool
    finally:
        pool.close()
        pool.join()


def write_world(cfg: SynthConfig, out: Path, progress: bool = True) -> SynthSummary:
    out.mkdir(parents=True, exist_ok=True)
    (out / "images").mkdir(exist_ok=True)
    world = build_world(cfg)
    (out / "world.json").write_text(
        json.dumps(world.to_json(), ensure_ascii=False, indent=1), encoding="utf-8"
    )
    (out / "splits.json").write_text(json.dumps(split_days(cfg), indent=1), encoding="utf-8")
    with (out / "bot_labels.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["user_id", "label"])
        writer.writerows([u.id, "bot" if u.bot else "human"] for u in world.users)
    summary = SynthSummary(
        tweets=0,
        images=0,
        places=0,
        coords=0,
        users=len(world.users),
        bots=sum(bool(u.bot) for u in world.users),
    )
    with _image_pool(cfg.workers) as pool, (out / "tweets.jsonl").open("w", encoding="utf-8") as sink:
        pending = None
        for jobs, lines in _draw_tweets(world, out, summary, progress):
            sink.write("".join(lines))
            if pool is None:
                for job in jobs:
                    render_to_file(job)
            else:
                if pending is not None:
                    pending.get()  # at most two chunks of photos in flight: memory stays bounded
                pending = pool.map_async(render_to_file, jobs, chunksize=64)
        if pending is not None:
            pending.get()
    return summary


def _draw_tweets(
    world: World, out: Path, summary: SynthSummary, progress: bool
) -> Iterator[tuple[list[ImageJob], list[str]]]:
    cfg = world.config
    rng = random.Random(cfg.seed * 1_000_003 + 7)
    times = np.random.default_rng([cfg.seed, 3])
    maker = TextMaker(world, rng)
    users, cities, topics = world.users, world.cities, world.topics
    activity_cum = [float(x) for x in np.cumsum([u.activity for u in users])]
    city_cum = [float(x) for x in np.cumsum(world.city_weights)]
    intensity = _minute_intensity(cfg)
    minute_cum = np.cumsum(intensity)  # (M,)
    start = dt.datetime.fromisoformat(cfg.start_day + "T00:00:00")
    images_dir = out / "images"
    coords_given_place = cfg.coords_rate / cfg.place_rate if cfg.place_rate > 0 else 0.0
    bar = tqdm(total=cfg.tweets, desc="synth tweets", unit="tweet", disable=not progress, mininterval=1.0)
    for first in range(0, cfg.tweets, CHUNK):
        n = min(CHUNK, cfg.tweets - first)
        # Evenly spread quantiles of the intensity: times increase with the tweet index.
        quantiles = (first + np.arange(n) + times.random(n)) / cfg.tweets * minute_cum[-1]  # (n,)
        minute_of = np.minimum(np.searchsorted(minute_cum, quantiles), len(minute_cum) - 1)
        into_minute = (quantiles - (minute_cum[minute_of] - intensity[minute_of])) / intensity[minute_of]
        second_of = np.clip((into_minute * 60).astype(np.int64), 0, 59)
        jobs: list[ImageJob] = []
        lines: list[str] = []
        for j in range(n):
            i = first + j
            user = users[
                min(bisect.bisect_right(activity_cum, rng.random() * activity_cum[-1]), len(users) - 1)
            ]
            city = cities[user.home]
            if rng.random() < cfg.travel_rate:  # a trip: usually somewhere near, sometimes anywhere
                if rng.random() < 0.6:
                    city = cities[rng.choice(world.nearby[user.home])]
                else:
                    city = cities[min(bisect.bisect_right(city_cum, rng.random()), len(cities) - 1)]
            content = maker.make(user, city)
            when = start + dt.timedelta(minutes=int(minute_of[j]), seconds=int(second_of[j]))
            tweet_id = str(TWEET_ID_BASE + i * 4096 + rng.randrange(4096))
            place_id = place_name = place_type = None
            lat = lon = None
            if rng.random() < cfg.place_rate * maker.place_factor[user.index]:
                if rng.random() < cfg.city_place_share:
                    place_id, place_name, place_type = city.place_id, city.place_name, "city"
                else:
                    place_id, place_name, place_type = city.admin_place_id, city.admin_place_name, "admin"
                summary.places += 1
                if rng.random() < coords_given_place:
                    lat = round(city.lat + rng.gauss(0.0, 0.05), 5)
                    lon = round(city.lon + rng.gauss(0.0, 0.05), 5)
                    summary.coords += 1
            image = None
            if rng.random() < cfg.image_rate * maker.image_factor[user.index]:
                # One photo in six has nothing to do with the text (a selfie, a screenshot...).
                topic = topics[content.topic if rng.random() < 5 / 6 else rng.randrange(len(topics))]
                image = str(images_dir / f"{tweet_id}.png")
                jobs.append(
                    ImageJob(
                        path=image,
                        seed=rng.getrandbits(63),
                        size=cfg.image_size,
                        family=topic.image_family,
                        hues=tuple(topic.image_hues),  # type: ignore[arg-type]
                        frequency=topic.image_frequency,
                        angle=topic.image_angle,
                        hue_shift=city.image_hue_shift,
                        brightness=city.image_brightness,
                    )
                )
                summary.images += 1
            record = {
                "id": tweet_id,
                "text": content.text,
                "created_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "hashtags": content.hashtags,
                "mentions": content.mentions,
                "user_id": user.id,
                "user_location": user.profile_location,
                "place_id": place_id,
                "place_name": place_name,
                "place_type": place_type,
                "lat": lat,
                "lon": lon,
                "image": f"images/{tweet_id}.png" if image else None,
            }
            lines.append(json.dumps(flat_record(record), ensure_ascii=False) + "\n")
        summary.tweets += n
        bar.update(n)
        yield jobs, lines
    bar.close()
