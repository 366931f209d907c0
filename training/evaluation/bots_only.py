"""Only the bot part of the evaluation, for the served (selected) detector: `python -m
training.evaluation.bots_only CKPT WORK --out docs/evaluation` writes bots.md, bots_metrics.json and
fig_bots_reliability.png there.

Rows: the baselines (behaviour forest, behaviour + TF-IDF forest, TF-IDF + logistic regression),
every candidate the served detector is chosen among, and the served detector itself (chosen by inner
CV on each outer fold's training users, as build-heads does on all labelled users); both on the data
as it is and with timestamps, images and mention ids dropped. Stratified 5-fold CV over the labelled
users (the harness's folds).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from model.record import Tweet


def _training_set(
    tweets: list[Tweet], users: list[str], labels: dict[str, int], embedder: Any, n: int
) -> Any:
    from model.heads.bot_features import TweetFields, poster_counts
    from training.heads.data import recent_tweets_by_user
    from training.heads.embedding import embed_all
    from training.heads.select_bots import fields_by_user, training_set

    posters = poster_counts(fields_by_user(tweets).values())
    recent = recent_tweets_by_user(tweets, n, set(users))
    flat = [t for u in users for t in recent[u]]
    batch = embed_all(embedder, flat, desc="embed users' tweets")
    averages, start = {}, 0
    for u in users:
        averages[u] = batch.average[start : start + len(recent[u])]  # (n_u, dim) newest first
        start += len(recent[u])
    fields = {u: [TweetFields.from_tweet(t) for t in recent[u]] for u in users}
    return training_set(users, fields, averages, labels, posters, int(embedder.config.dim), n)


CONDITIONS = ("as given", "fields dropped")


def _folds_said(row: dict[str, Any]) -> str:
    folds = row.get("per_fold", [])
    return "".join(f"; fold {i + 1} F1 {f['F1']} AUC {f['AUC']}" for i, f in enumerate(folds))


def run(
    command: str,
    ckpt: Path,
    data: Path,
    out: Path,
    n_recent: int,
    folds_k: int,
    cnn: bool,
    conditions: tuple[str, ...],
    inner_folds: int = 5,
    inner_repeats: int = 3,
    seed: int = 0,
) -> dict[str, Any]:
    from model.embedder import TweetEmbedder
    from training.evaluation import bots as bot_eval
    from training.heads.data import load_splits
    from training.heads.select_bots import candidate_names

    started = time.perf_counter()
    splits = load_splits(data)
    labels = splits.bot_labels
    tweets = splits.all_tweets()
    have = {t.user_id for t in tweets}
    users = sorted(u for u in labels if u in have)
    y = np.array([labels[u] for u in users], dtype=np.int64)
    folds = bot_eval.folds(y, None, folds_k, seed)
    embedder = TweetEmbedder.load(ckpt, device="cpu")
    names = candidate_names(with_cnn=cnn)
    metrics: dict[str, Any] = {
        "checkpoint": str(ckpt),
        "data": splits.description,
        "users": len(users),
        "bots": int(y.sum()),
        "protocol": f"stratified {len(folds)}-fold CV over the labelled users (shuffled with seed {seed}; "
        "the selection inside each "
        f"fold: {inner_folds}-fold CV repeated {inner_repeats} times on that fold's training users)",
        "n_recent": n_recent,
    }
    for condition, transform in (("as given", None), ("fields dropped", bot_eval.drop_fields)):
        if condition not in conditions:
            continue
        t0 = time.perf_counter()
        ts = tweets if transform is None else [transform(t) for t in tweets]
        print(f"[{condition}] baselines", flush=True)
        behaviour = bot_eval.behaviour_matrix(users, ts)
        scorers = {
            bot_eval.BEHAVIOUR_FOREST: bot_eval.forest_scorer(behaviour, y, n_jobs=1),
            bot_eval.BEHAVIOUR_TFIDF: bot_eval.behaviour_scorer(users, ts, y, behaviour),
            bot_eval.TFIDF_LR: bot_eval.tfidf_lr_scorer(users, ts, y),
        }
        rows = bot_eval.evaluate_scorers(scorers, y, folds)
        for name, row in rows.items():
            print(f"[{condition}] {name}: F1 {row['F1']} AUC {row['AUC']}{_folds_said(row)}", flush=True)
        data_set = _training_set(ts, users, labels, embedder, n_recent)
        selected, probs = bot_eval.selected_rows(
            data_set,
            folds,
            names,
            lambda m, c=condition: print(f"[{c}] {m}", flush=True),  # type: ignore[misc]  # default binds c
            inner_folds,
            inner_repeats,
        )
        rows.update(selected)
        for name in (bot_eval.BEHAVIOUR_FOREST, bot_eval.SERVED):
            row = rows[name]
            print(f"[{condition}] {name}: F1 {row['F1']} AUC {row['AUC']}{_folds_said(row)}", flush=True)
        metrics[condition] = {
            "rows": rows,
            "seconds": round(time.perf_counter() - t0, 1),
            "command": command,
        }
        if transform is None:
            out.mkdir(parents=True, exist_ok=True)
            bot_eval.reliability_diagram(
                y,
                probs,
                out / "fig_bots_reliability.png",
                "Served bot detector, out-of-fold (synthetic world)",
            )
    metrics["seconds"] = round(time.perf_counter() - started, 1)
    name = (
        "bots_metrics.json"
        if len(conditions) == 2
        else f"bots_metrics_{conditions[0].replace(' ', '_')}.json"
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / name).write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    return metrics


def render(metrics: dict[str, Any], command: str) -> str:
    from training.evaluation.bots import BEHAVIOUR_FOREST, SERVED

    md = [
        "# Bot detection: the served detector against the baselines",
        "",
        f"Generated by `{command}`; {metrics['users']} labelled users ({metrics['bots']} bots), "
        f"{metrics['protocol']}. Candidates see each user's newest {metrics['n_recent']} tweets "
        "(the paper's kNN and CNN their newest 10); the baselines all of a user's tweets. Thresholds: "
        "0.5 for the behaviour + TF-IDF forest, out-of-bag for the behaviour forest, and for TF-IDF + LR "
        "and every candidate the F1-maximising one on the fold's training users' out-of-fold scores "
        "(the candidates' calibrated with a sigmoid on those). F1 at the fold's threshold, ROC AUC over "
        "the pooled test folds. The served detector is chosen by the one-standard-error rule on the mean "
        "log-loss of the calibrated inner out-of-fold probabilities: the candidate reading the fewest "
        "feature groups among those within one standard error of the lowest mean "
        "(training/heads/select_bots.py).",
        "",
    ]
    for condition in CONDITIONS:
        if condition not in metrics:
            continue
        part = metrics[condition]
        title = "Data as given" if condition == "as given" else "Timestamps, images and mention ids dropped"
        md += [f"## {title}", ""]
        if "command" in part:
            md += [f"`{part['command']}`", ""]
        md += ["| method | F1 | ROC AUC | thresholds (per fold) |", "|---|---|---|---|"]
        for name, row in part["rows"].items():
            ts = row.get("thresholds", [])
            cell = (
                f"{min(ts):.3g}–{max(ts):.3g}"
                if ts and min(ts) != max(ts)
                else (f"{ts[0]:.3g}" if ts else "")
            )
            label = f"**{name}**" if name == SERVED else name
            md.append(f"| {label} | {row['F1']} | {row['AUC']} | {cell} |")
        served = part["rows"][SERVED]
        if "per_fold" in served:
            md += [
                "",
                "| per test fold | "
                + " | ".join(f"fold {i + 1} F1 / AUC" for i in range(len(served["per_fold"])))
                + " |",
                "|---|" + "---|" * len(served["per_fold"]),
            ]
            for name in (BEHAVIOUR_FOREST, SERVED):
                if name in part["rows"] and "per_fold" in part["rows"][name]:
                    cells = [f"{f['F1']} / {f['AUC']}" for f in part["rows"][name]["per_fold"]]
                    md.append(f"| {name} | " + " | ".join(cells) + " |")
        md += ["", f"Chosen on each fold: {', '.join(served.get('chosen', []))}. ({part['seconds']} s)", ""]
        for i, why in enumerate(served.get("why", [])):
            inner = why["inner"]

            def said(name: str, row: dict[str, Any]) -> str:
                se = f" ± {row['log_loss_se']}" if "log_loss_se" in row else ""
                return f"{name} (inner log-loss {row['log_loss']}{se}, F1 {row['F1']}, AUC {row['AUC']})"

            line = f"- fold {i + 1}: {said(why['chosen'], inner[why['chosen']])}"
            lowest = why.get("lowest_log_loss", next(iter(inner)))
            if lowest != why["chosen"]:
                line += f"; lowest mean {said(lowest, inner[lowest])}"
            else:
                others = [n for n in inner if n != lowest]
                if others:
                    line += f"; next {said(others[0], inner[others[0]])}"
            md.append(line + f"; stack members {', '.join(why['stack_members'])}")
        if served.get("why"):
            md.append("")
    md += ["![reliability](fig_bots_reliability.png)", ""]
    return "\n".join(md)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("ckpt", type=Path)
    parser.add_argument("data", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/evaluation"))
    parser.add_argument("--n-recent", type=int, default=100)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--inner-folds", type=int, default=5, help="CV folds of the selection inside each fold"
    )
    parser.add_argument(
        "--inner-repeats", type=int, default=3, help="shufflings of that CV (the selection's repeats)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="shuffling of the outer folds: another seed, other folds"
    )
    parser.add_argument("--no-cnn", action="store_true")
    parser.add_argument("--condition", choices=CONDITIONS, help="run one condition only (default: both)")
    parser.add_argument("--render", nargs="+", type=Path, help="only write bots.md from these metrics files")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    command = f"python -m training.evaluation.bots_only {args.ckpt} {args.data} --out {args.out}"
    if args.render:
        command += " --render " + " ".join(str(p) for p in args.render)
    else:
        command += (
            f" --folds {args.folds} --inner-folds {args.inner_folds} --inner-repeats {args.inner_repeats}"
        )
        command += f" --seed {args.seed}" if args.seed else ""
        command += f' --condition "{args.condition}"' if args.condition else ""
    if args.render:
        metrics: dict[str, Any] = {}
        for path in args.render:
            metrics.update(json.loads(path.read_text(encoding="utf-8")))
        (args.out / "bots.md").write_text(render(metrics, command), encoding="utf-8")
        return
    conditions = (args.condition,) if args.condition else CONDITIONS
    metrics = run(
        command,
        args.ckpt,
        args.data,
        args.out,
        args.n_recent,
        args.folds,
        not args.no_cnn,
        conditions,
        args.inner_folds,
        args.inner_repeats,
        args.seed,
    )
    (args.out / "bots.md").write_text(render(metrics, command), encoding="utf-8")
    print(render(metrics, command))


if __name__ == "__main__":
    main()
