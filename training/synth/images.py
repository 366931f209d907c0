"""Procedural tweet photos: the topic shapes what an image shows, the city nudges its colours.

No pixel spells a label. A topic fixes a pattern family, a palette and a spatial frequency, each
jittered per image; the city shifts hue and brightness by less than that jitter; then a random
background, a distracting shape and strong pixel noise cover it. One photo in six is off-topic
(chosen by the writer), as real photos often have little to do with the text.
"""

from __future__ import annotations

import colorsys
import io
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class ImageJob:
    path: str
    seed: int
    size: int
    family: int
    hues: tuple[float, float, float]
    frequency: float
    angle: float
    hue_shift: float
    brightness: float


@cache
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    axis = (np.arange(size, dtype=np.float32) + 0.5) / size
    yy, xx = np.meshgrid(axis, axis, indexing="ij")  # (S, S) each
    return xx, yy


def _pattern(rng: np.random.Generator, family: int, size: int, frequency: float, angle: float) -> np.ndarray:
    """(S, S) float32 in [0, 1]: one texture of the family, with random placement and phase."""
    xx, yy = _grid(size)
    a = angle + rng.normal(0.0, 0.35)
    f = frequency * rng.uniform(0.7, 1.4)
    phase = rng.uniform(0.0, 2 * math.pi)
    u = xx * math.cos(a) + yy * math.sin(a)  # (S, S)
    v = -xx * math.sin(a) + yy * math.cos(a)
    tau = 2 * math.pi
    if family == 0:  # stripes
        p = 0.5 + 0.5 * np.sin(tau * f * u + phase)
    elif family == 1:  # rings around a random centre
        cx, cy = rng.uniform(0.2, 0.8, 2)
        p = 0.5 + 0.5 * np.sin(tau * f * np.hypot(xx - cx, yy - cy) * 1.5 + phase)
    elif family == 2:  # checks
        p = 0.5 + 0.5 * np.tanh(4.0 * np.sin(tau * f * u + phase) * np.sin(tau * f * v))
    elif family == 3:  # soft blobs
        p = np.zeros_like(xx)
        sigma = 0.35 / f + 0.03
        for cx, cy in rng.uniform(0.0, 1.0, (int(rng.integers(3, 7)), 2)):
            p += np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2))
        p = np.clip(p, 0.0, 1.0)
    elif family == 4:  # waves
        p = 0.5 + 0.5 * np.sin(tau * f * u + 2.0 * np.sin(tau * 0.5 * f * v) + phase)
    elif family == 5:  # hard disks
        p = np.zeros_like(xx)
        for cx, cy in rng.uniform(0.0, 1.0, (int(rng.integers(2, 6)), 2)):
            r = rng.uniform(0.06, 0.5 / math.sqrt(f) + 0.06)
            p = np.maximum(p, ((xx - cx) ** 2 + (yy - cy) ** 2 < r * r).astype(np.float32))
    else:  # grid of thin lines
        p = np.maximum(np.abs(np.sin(tau * f * u + phase)), np.abs(np.sin(tau * f * v))) ** 6
    return p.astype(np.float32)


def _palette(
    hues: tuple[float, ...], shift: float, brightness: float, rng: np.random.Generator
) -> np.ndarray:
    """(3, 3) RGB in [0, 1]; per-image hue jitter (sd 0.05) is larger than any city's shift."""
    rows = []
    for h in hues:
        hue = (h + shift + rng.normal(0.0, 0.05)) % 1.0
        sat = float(np.clip(rng.normal(0.6, 0.15), 0.1, 1.0))
        val = float(np.clip(rng.normal(0.75, 0.12) + brightness, 0.15, 1.0))
        rows.append(colorsys.hsv_to_rgb(hue, sat, val))
    return np.array(rows, dtype=np.float32)


def render(job: ImageJob) -> np.ndarray:
    """(S, S, 3) uint8 image for one tweet; deterministic in the job (its seed included)."""
    rng = np.random.default_rng(job.seed)
    s = job.size
    colours = _palette(job.hues, job.hue_shift, job.brightness, rng)  # (3, 3)
    p = _pattern(rng, job.family, s, job.frequency, job.angle)[..., None]  # (S, S, 1)
    img = colours[0] * (1.0 - p) + colours[1] * p  # (S, S, 3)
    # A random background gradient blends in: photos are lit and framed differently.
    xx, yy = _grid(s)
    g = rng.uniform(-1, 1, 2)
    ramp = np.clip(0.5 + 0.5 * (g[0] * (xx - 0.5) + g[1] * (yy - 0.5)) * 2, 0, 1)[..., None]  # (S, S, 1)
    background = rng.uniform(0.0, 1.0, 3).astype(np.float32)
    img = img * (1.0 - 0.45 * ramp) + background * (0.45 * ramp)
    if rng.random() < 0.5:  # a distracting object from any family, in the topic's accent colour or any
        q = _pattern(
            rng, int(rng.integers(7)), s, float(rng.uniform(1.5, 6.0)), float(rng.uniform(0, math.pi))
        )
        y0, x0 = rng.integers(0, s // 2, 2)
        mask = np.zeros((s, s, 1), dtype=np.float32)
        mask[y0 : y0 + s // 2, x0 : x0 + s // 2] = q[y0 : y0 + s // 2, x0 : x0 + s // 2, None]
        accent = colours[2] if rng.random() < 0.5 else rng.uniform(0, 1, 3).astype(np.float32)
        img = img * (1.0 - mask) + accent * mask
    contrast = rng.uniform(0.6, 1.3)
    img = (img - 0.5) * contrast + 0.5 + rng.uniform(-0.1, 0.1)
    noise = rng.normal(0.0, rng.uniform(0.06, 0.16), (s, s, 3)).astype(np.float32)
    pixels: np.ndarray = np.clip((img + noise) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return pixels


def encode_png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    # Level 1: noise does not compress anyway, and the default level costs several times the time.
    Image.fromarray(pixels, mode="RGB").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def render_to_file(job: ImageJob) -> None:
    Path(job.path).write_bytes(encode_png(render(job)))
