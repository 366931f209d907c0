"""The comparison models: VSE++ (text + image), VSE++ with hashtags as text, a text + image model
trained with the joint model's own loss, the joint model trained with the paper's loss, and the joint
model with each component left out. Given as checkpoints, or trained here by the same trainer with
the joint checkpoint's own TrainConfig (only the components, the text, or the named loss differ)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from model import checkpoint as ck
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
    recipe: tuple[tuple[str, str], ...] = ()  # TrainConfig fields that differ from the joint model's
    full: bool = False  # scored on every task, not just retrieval


# VSE++ (Faghri et al.): text against image with the hardest in-batch negative. With two components the
# "others" target is exactly the other component, i.e. the original pairwise loss.
VSEPP_RECIPE = (("loss", "max_violation"), ("loss_target", "others"))
PAPER_RECIPE = (("loss", "max_violation"), ("loss_target", "average"))


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
        Variant("vsepp", "VSE++ (text + image)", ("text", "image"), ckpt=vsepp, recipe=VSEPP_RECIPE),
        Variant(
            "vsepp_hashtags",
            "VSE++ with hashtags as text",
            ("text", "image"),
            True,
            vsepp_hashtags,
            recipe=VSEPP_RECIPE,
        ),
        Variant(
            "text_image_joint_loss",
            "text + image, the joint model's loss",
            ("text", "image"),
            note="VSE++'s two branches trained with exactly the joint model's recipe: "
            "what the other three components add, with the loss held fixed",
        ),
        Variant(
            "paper_loss",
            "joint model, the paper's loss",
            joint_components,
            recipe=PAPER_RECIPE,
            full=True,
            note="all components, hardest negative against the full tweet average (paper Eq. 2-3)",
        ),
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
    from training.artifacts import SPLITS, SPLITS_DIR, VOCAB, PrepareManifest, WorkLayout, read_split

    source, target = WorkLayout(work), WorkLayout(out)
    out.mkdir(parents=True, exist_ok=True)
    for entry in work.iterdir():
        if entry.name in {SPLITS_DIR, VOCAB}:
            continue
        link = out / entry.name
        if not link.exists():
            os.symlink(entry.resolve(), link)
    target.splits_dir.mkdir(exist_ok=True)
    train_texts: list[str] = []
    for name in SPLITS:
        if not source.split(name).is_file():
            continue
        with target.split(name).open("w", encoding="utf-8") as handle:
            for tweet in read_split(source.splits_dir, name):
                changed = hashtags_as_text(tweet)
                if changed is None:
                    continue
                if name == "train" and changed.text:
                    train_texts.append(changed.text)
                handle.write(json.dumps(changed.to_flat(), ensure_ascii=False, sort_keys=True) + "\n")
    min_count = PrepareManifest.load(work).min_count or 2
    Vocabulary.build(train_texts, min_count=min_count).save(target.vocab)
    return out


def variant_train_config(variant: Variant, joint: TrainConfig) -> TrainConfig:
    """The joint model's TrainConfig with the variant's components and recipe changes."""
    config = dataclasses.replace(joint, **dict(variant.recipe))  # type: ignore[arg-type]
    return dataclasses.replace(config, model=dataclasses.replace(config.model, components=variant.components))


def same_recipe(saved: TrainConfig, wanted: TrainConfig, same_data: bool) -> bool:
    # vocab_size and the data fingerprint are filled in by training, so they are compared apart: the
    # fingerprint must match when the variant trains on the joint model's own split (``same_data``).
    def plain(c: TrainConfig) -> dict[str, object]:
        obj = c.to_json()
        obj["model"] = {k: v for k, v in obj["model"].items() if k not in {"vocab_size", "data_fingerprint"}}
        return obj

    fingerprints = {saved.model.data_fingerprint, wanted.model.data_fingerprint} - {""}
    return plain(saved) == plain(wanted) and (not same_data or len(fingerprints) <= 1)


def train_variant(
    variant: Variant,
    work: Path,
    joint_ckpt: Path,
    models_dir: Path,
    device: str,
    max_iterations: int | None = None,
) -> Path:
    """Train ``variant`` with the joint model's recipe; reuses a finished checkpoint from an earlier run.

    ``max_iterations`` stops its training after that many optimizer steps (the joint model's own
    budget, so both got the same number of steps); a checkpoint trained under another budget is stale.
    """
    from training.trainer import train

    out = models_dir / variant.key
    budget_file = models_dir / f"{variant.key}.budget.json"
    budget = json.dumps({"max_iterations": max_iterations})
    config = variant_train_config(variant, train_config_of(joint_ckpt))
    if (out / ck.MANIFEST).is_file() and (out / ck.MODEL_WEIGHTS).is_file():
        same_budget = (
            budget_file.read_text(encoding="utf-8")
            if budget_file.is_file()
            else json.dumps({"max_iterations": None})
        ) == budget
        if same_budget and same_recipe(train_config_of(out), config, same_data=not variant.hashtags_as_text):
            return out
        shutil.rmtree(out)  # trained with another recipe, data or budget: a stale comparison, retrained
    data = (
        hashtags_as_text_work(work, models_dir / f"{variant.key}_work") if variant.hashtags_as_text else work
    )
    train(data, out, config, device=device, max_iterations=max_iterations)
    budget_file.write_text(budget, encoding="utf-8")
    return out
