"""Score a checkpoint's SERVED location and hashtag heads on a prepared WORK's test split, beside the
harness's TF-IDF baselines on the same split (a quick check; `make eval-real` is the full harness).

    python scripts/served_heads_eval.py CKPT WORK [--json OUT.json]

Location: accuracy of ``heads.location`` over test tweets whose city is a class in train, val and
test (the harness's protocol). Hashtags: F1@1..5 of ``heads.hashtags`` (the served recommender) and
of the paper's max-cosine head on test tweets given without their hashtags.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ckpt", type=Path)
    parser.add_argument("work", type=Path)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from model.embedder import TweetEmbedder
    from model.heads.loader import load_heads
    from training.artifacts import read_split
    from training.dataset import remember_work_sentences
    from training.evaluation.hashtags import baseline_recommendations, prf_curve, test_queries
    from training.evaluation.location import baseline_predictions, city_classes, place_coordinates, scores
    from training.heads.embedding import drop_components, embed_all, profile_embeddings
    from training.heads.fit_location import city_label

    started = time.perf_counter()
    splits = {s: list(read_split(args.work / "splits", s)) for s in ("train", "val", "test")}
    train, test = splits["train"], splits["test"]
    embedder = TweetEmbedder.load(args.ckpt, device="cpu")
    remembered = remember_work_sentences(embedder, args.work)
    heads = load_heads(args.ckpt)
    out: dict[str, object] = {
        "ckpt": str(args.ckpt),
        "work": str(args.work),
        "remembered": remembered,
        "config": embedder.config.to_json(),
    }

    classes = city_classes(train, splits["val"], test)
    loc_train = [t for t in train if city_label(t) in classes]
    loc_test = [t for t in test if city_label(t) in classes]
    coords = place_coordinates(train)
    location: dict[str, object] = {"classes": len(classes), "test": len(loc_test)}
    if heads.location is not None and loc_test:
        batch = embed_all(embedder, loc_test, desc="location test")
        profile, has_profile = profile_embeddings(embedder, loc_test)
        guesses = heads.location.predict(batch, profile, has_profile, k=1)
        location["served head"] = scores([g[0].place_id for g in guesses], loc_test, coords)
    for name, predicted in baseline_predictions(loc_train, loc_test).items():
        location[name] = scores(predicted, loc_test, coords)
    out["location"] = location

    rows, truth = test_queries(test)
    tags: dict[str, object] = {"test": len(rows)}
    if rows:
        batch = embed_all(embedder, [test[i] for i in rows], desc="hashtag test")
        queries = drop_components(batch, {"hashtags"})
        for name, head in (("served head", heads.hashtags), ("paper max-cosine head", heads.hashtags_paper)):
            if head is not None:
                predicted = [[t for t, _ in r] for r in head.recommend(queries, k=5)]
                tags[name] = prf_curve(predicted, truth)
        for name, run in baseline_recommendations(train, test, rows).items():
            tags[name] = prf_curve(run(), truth)
    out["hashtags"] = tags
    out["seconds"] = round(time.perf_counter() - started, 1)
    text = json.dumps(out, indent=2)
    if args.json:
        args.json.write_text(text, encoding="utf-8")
    print(
        json.dumps(
            {
                "location": out["location"],
                "hashtags_f1@1": {k: v["f1"][0] for k, v in tags.items() if isinstance(v, dict)},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
