"""The comparison models: VSE++ (text + image), VSE++ with hashtags as text, and the joint model
with each component left out. Given as checkpoints, or trained here by the same trainer with the
joint checkpoint's own TrainConfig (only the components, or the text, differ)."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

from model.config import ModelConfig, TrainConfig
from model.record import Tweet


@dataclass
class Variant:
    key: str  # metrics.json key
    label: str  # report label
    components: tuple[str, ...]
    hashtags_as_text: bool = False
    ckpt: Path | None = None
    note: str = ""


def hashtags_as_text(tweet: Tweet) -> Tweet | None:
    """The tweet with its hashtags as its whole text (None when it would have neither text nor image)."""
    text = " ".join(tweet.hashtags) or None
    if text is None and not tweet.image:
        return None
    return dataclasses.replace(tweet, text=text)


def comparison_variants(
    joint_components: tuple[str, ...],
    vsepp: Path | None,
    vsepp_hashtags: Path | None,
    ablations: dict[str, Path],
) -> list[Variant]:
    out = [
        Variant("vsepp", "VSE++ (text + image)", ("text", "image"), ckpt=vsepp),
        Variant("vsepp_hashtags", "VSE++ with hashtags as text", ("text", "image"), True, vsepp_hashtags),
    ]
    for left_out in joint_components:
        comps = tuple(c for c in joint_components if c != left_out)
        note = ""
        if left_out == "text" and "location" in comps:
            # The location branch encodes a place through the text branch, so it cannot stay without it.
            comps = tuple(c for c in comps if c != "location")
            note = "the location branch reuses the text branch, so it is left out too"
        if comps:
            out.append(
                Variant(
                    f"without_{left_out}",
                    f"joint without {left_out}",
                    comps,
                    ckpt=ablations.get(left_out),
                    note=note,
                )
            )
    return out


def train_config_of(ckpt: Path) -> TrainConfig:
    obj = json.loads((ckpt / "train_config.json").read_text(encoding="utf-8"))
    model = ModelConfig.from_json(obj.pop("model"))
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in obj.items() if k in known}, model=model)


def hashtags_as_text_work(work: Path, out: Path) -> Path:
    """A WORK directory whose splits have hashtags as text, with the vocabulary rebuilt from them
    (so hashtag words are not all unknown); every other file is linked to the original."""
    from model.tokenizer import Vocabulary
    from training.prepare.splits import read_split

    out.mkdir(parents=True, exist_ok=True)
    for entry in work.iterdir():
        if entry.name in {"splits", "vocab.json"}:
            continue
        link = out / entry.name
        if not link.exists():
            os.symlink(entry.resolve(), link)
    (out / "splits").mkdir(exist_ok=True)
    train_texts: list[str] = []
    for name in ("train", "val", "test"):
        source = work / "splits" / f"{name}.jsonl"
        if not source.is_file():
            continue
        with (out / "splits" / f"{name}.jsonl").open("w", encoding="utf-8") as handle:
            for tweet in read_split(work / "splits", name):
                changed = hashtags_as_text(tweet)
                if changed is None:
                    continue
                if name == "train" and changed.text:
                    train_texts.append(changed.text)
                handle.write(json.dumps(changed.to_flat(), ensure_ascii=False, sort_keys=True) + "\n")
    min_count = (
        int(json.loads((work / "prepare.json").read_text()).get("min_count", 2))
        if (work / "prepare.json").is_file()
        else 2
    )
    Vocabulary.build(train_texts, min_count=min_count).save(out / "vocab.json")
    return out


def train_variant(variant: Variant, work: Path, joint_ckpt: Path, models_dir: Path, device: str) -> Path:
    """Train ``variant`` with the joint model's recipe; reuses a finished checkpoint from an earlier run."""
    from training.trainer import train

    out = models_dir / variant.key
    if (out / "manifest.json").is_file() and (out / "model.safetensors").is_file():
        return out
    config = train_config_of(joint_ckpt)
    config = dataclasses.replace(
        config, model=dataclasses.replace(config.model, components=variant.components)
    )
    data = (
        hashtags_as_text_work(work, models_dir / f"{variant.key}_work") if variant.hashtags_as_text else work
    )
    train(data, out, config, device=device)
    return out
