"""``load_heads(ckpt_dir)``: every head under CKPT/heads/, each checked against the manifest first.

A head whose files are absent is None (a checkpoint without images simply has no image index); a
head file that is present but unlisted or whose hash differs is refused with CheckpointError before
anything in it is read, because joblib files are pickles and run code when loaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from model.checkpoint import CheckpointError, VerifiedCheckpoint, verify_checkpoint
from model.heads.author_history import AUTHOR_HASHTAGS_FILE, AUTHOR_PLACES_FILE
from model.heads.bot_forest import ForestBotDetector
from model.heads.bot_head import CnnBotDetector, KnnBotDetector, load_bot_detector
from model.heads.bot_selected import SelectedBotDetector
from model.heads.hashtag_index import INDEX_FILE, TAGS_FILE, HashtagRecommender
from model.heads.hashtag_neighbours import INDEX_FILE as NEIGHBOUR_INDEX
from model.heads.hashtag_neighbours import META_FILE as NEIGHBOUR_META
from model.heads.hashtag_neighbours import NeighbourHashtagRecommender
from model.heads.location_head import FOREST_FILE, LINEAR_FILE, META_FILE, LocationPredictor
from model.heads.retrieval_index import IMAGE_INDEX, TEXT_INDEX, RetrievalIndex

HEADS_DIR = "heads"
HEADS_META = "heads.json"
# Either location head with its metadata (the forest, or the linear head build-heads chose instead).
LOCATION_FILES: tuple[tuple[str, str], ...] = ((FOREST_FILE, META_FILE), (LINEAR_FILE, META_FILE))


@dataclass
class Heads:
    # The recommender build-heads chose (heads.json "hashtag_method"); the paper's one stays reachable.
    hashtags: HashtagRecommender | NeighbourHashtagRecommender | None = None
    hashtags_paper: HashtagRecommender | None = None
    location: LocationPredictor | None = None
    bots: KnnBotDetector | CnnBotDetector | ForestBotDetector | SelectedBotDetector | None = None
    image_index: RetrievalIndex | None = None
    text_index: RetrievalIndex | None = None

    def available(self) -> list[str]:
        return [
            name
            for name in ("hashtags", "location", "bots", "image_index", "text_index")
            if getattr(self, name) is not None
        ]


def load_heads(checkpoint: Path | VerifiedCheckpoint) -> Heads:
    """A plain path is verified first (CheckpointError on any mismatch or missing file)."""
    ckpt_dir = checkpoint.path if isinstance(checkpoint, VerifiedCheckpoint) else Path(checkpoint)
    heads_dir = ckpt_dir / HEADS_DIR
    if not heads_dir.is_dir():
        return Heads()
    listed = verify_checkpoint(checkpoint).files
    on_disk = sorted(p.relative_to(ckpt_dir).as_posix() for p in heads_dir.rglob("*") if p.is_file())
    unlisted = [p for p in on_disk if p not in listed]
    if unlisted:
        raise CheckpointError(f"head file not in the manifest (refusing to load it): {unlisted[0]}")

    def has(*names: str) -> bool:
        return all((heads_dir / n).is_file() for n in names)

    import faiss

    # Heads are loaded to answer requests one at a time; there, 1 FAISS thread answers ~2x faster
    # than 2 (see ../shared/docs/dependencies.md), and batch jobs do their own search in numpy.
    faiss.omp_set_num_threads(1)
    heads = Heads()
    if has(INDEX_FILE, TAGS_FILE):
        heads.hashtags_paper = heads.hashtags = HashtagRecommender.load(heads_dir)
    method = heads_summary(ckpt_dir).get("hashtag_method", "neighbours")
    if method == "neighbours" and has(NEIGHBOUR_INDEX, NEIGHBOUR_META):
        heads.hashtags = NeighbourHashtagRecommender.load(heads_dir)
    if any(has(*names) for names in LOCATION_FILES):
        heads.location = LocationPredictor.load(heads_dir)
    if has("bots.json"):
        heads.bots = load_bot_detector(heads_dir)
    if has(f"{IMAGE_INDEX}.faiss", f"{IMAGE_INDEX}.json"):
        heads.image_index = RetrievalIndex.load(heads_dir, IMAGE_INDEX)
    if has(f"{TEXT_INDEX}.faiss", f"{TEXT_INDEX}.json"):
        heads.text_index = RetrievalIndex.load(heads_dir, TEXT_INDEX)
    return heads


def load_location_head(checkpoint: Path | VerifiedCheckpoint) -> LocationPredictor | None:
    """The location head load_heads gives the service, alone (None where build-heads wrote none):
    the same files, refused on the same manifest check, without loading the other heads."""
    ckpt_dir = checkpoint.path if isinstance(checkpoint, VerifiedCheckpoint) else Path(checkpoint)
    if not _verified_head(checkpoint, LOCATION_FILES, also=(AUTHOR_PLACES_FILE,)):
        return None
    return LocationPredictor.load(ckpt_dir / HEADS_DIR)


def load_neighbour_hashtags(checkpoint: Path | VerifiedCheckpoint) -> NeighbourHashtagRecommender | None:
    """The joint-space neighbour hashtag head alone, as load_location_head (None where absent)."""
    ckpt_dir = checkpoint.path if isinstance(checkpoint, VerifiedCheckpoint) else Path(checkpoint)
    if not _verified_head(checkpoint, ((NEIGHBOUR_INDEX, NEIGHBOUR_META),), also=(AUTHOR_HASHTAGS_FILE,)):
        return None
    return NeighbourHashtagRecommender.load(ckpt_dir / HEADS_DIR)


def _verified_head(
    checkpoint: Path | VerifiedCheckpoint,
    alternatives: tuple[tuple[str, ...], ...],
    also: tuple[str, ...] = (),
) -> bool:
    """Whether one of ``alternatives`` (sets of head files) is on disk; CheckpointError where the
    manifest does not verify or a present file of them, or of ``also`` (files the head may read
    beside them), is not listed."""
    ckpt_dir = checkpoint.path if isinstance(checkpoint, VerifiedCheckpoint) else Path(checkpoint)
    heads_dir = ckpt_dir / HEADS_DIR
    if not any(all((heads_dir / n).is_file() for n in names) for names in alternatives):
        return False
    listed = verify_checkpoint(checkpoint).files
    for name in {n for names in alternatives for n in names} | set(also):
        rel = f"{HEADS_DIR}/{name}"
        if (heads_dir / name).is_file() and rel not in listed:
            raise CheckpointError(f"head file not in the manifest (refusing to load it): {rel}")
    return True


def heads_summary(ckpt_dir: Path) -> dict[str, object]:
    """What build-heads recorded about the heads (sizes, parameters, timings), for /info and reports."""
    path = Path(ckpt_dir) / HEADS_DIR / HEADS_META
    return dict(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else {}
