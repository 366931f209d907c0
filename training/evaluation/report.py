"""metrics.json -> report.md and PNG figures (P/R/F1 at k like the paper's Fig. 5, bars like Fig. 7).

Every number in metrics.json that compares methods appears in a table beside its baselines, and the
verdict section states plainly where the joint model does not win.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from training.evaluation.bots import BEHAVIOUR_FOREST, HYBRID_FOREST
from training.evaluation.harness import JOINT
from training.evaluation.hashtags import NEIGHBOUR_METHOD, PAPER_METHOD

FIG_HASHTAGS = "fig_hashtags_prf.png"
FIG_BOTS = "fig_bots.png"
FIG_LOCATION = "fig_location.png"
# Comparison models whose retrieval is set beside the joint model's (harness variant keys).
RETRIEVAL_BASELINES = ("vsepp", "vsepp_hashtags", "text_image_joint_loss")


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}" if abs(value) < 1 else f"{value:.2f}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return lines


def retrieval_rows(metrics: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """Method label -> {R@1, R@5, R@10, median_rank, candidates} or {skipped}."""
    out: dict[str, dict[str, Any]] = {}
    for key in RETRIEVAL_BASELINES:
        v = metrics["variants"].get(key, {})
        out[v.get("label", key)] = v.get("retrieval", {}).get(kind, {"skipped": v.get("skipped", "not run")})
    out[JOINT] = metrics["joint"]["retrieval"][kind]
    return out


def hashtag_methods(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    base = metrics["baselines"].get("hashtags", {})
    if "skipped" not in base:
        out.update(base)
    for method, curve in metrics["joint"].get("hashtags", {}).items():
        out[f"{JOINT}: {method}"] = curve
    return out


PAPER_FOREST = "paper: random forest over embeddings"


def served_label(served: dict[str, Any]) -> str:
    """The served head's row: the head build-heads wrote, named by what it chose on validation."""
    chosen = served.get("selection", {}).get("chosen") or served.get("kind", "")
    return f"{JOINT}, served head ({chosen}, chosen by build-heads on validation)"


def location_methods(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    base = metrics["baselines"].get("location", {})
    if "skipped" not in base:
        out.update(base)
    joint = metrics["joint"].get("location", {})
    served = joint.get("served_head", {})
    if served.get("source") == "checkpoint" and "accuracy" in served:
        out[served_label(served)] = served
    elif "accuracy" in served:
        # metrics.json from before the served head was loaded: evaluate refitted its own choice.
        out[f"{JOINT}, head chosen on validation by evaluate (refitted, not the served head)"] = served
    if "chosen_forest" in joint:
        out[f"{JOINT}, {PAPER_FOREST}"] = joint["chosen_forest"]
    if "larger_forest" in joint:
        out[f"{JOINT}, {PAPER_FOREST}, larger"] = joint["larger_forest"]
    return out


def served_location_key(loc: dict[str, Any]) -> str | None:
    """The row of ``location_methods`` that the service answers /predict-location with: the head
    loaded from the checkpoint; None where none was scored (no row stands in for it)."""
    chosen = [k for k in loc if k.startswith(f"{JOINT}, served head")]
    return chosen[0] if chosen else None


def served_location_note(metrics: dict[str, Any]) -> str | None:
    """One sentence on the served location head: which kind build-heads chose and on what validation
    scores, or why it was not scored."""
    served = metrics["joint"].get("location", {}).get("served_head")
    if not served:
        return None
    if "skipped" in served:
        return f"Served head: not scored: {served['skipped']}."
    if served.get("source") != "checkpoint":
        return (
            "Served head: not scored (these metrics predate loading it from the checkpoint; the head "
            "chosen on validation here was refitted by evaluate and is not the one the service loads)."
        )
    sel = served.get("selection", {})
    tried = ", ".join(f"{k} {100 * float(v):.2f}%" for k, v in (sel.get("validation") or {}).items())
    why = f" on {sel.get('metric', 'validation')} ({tried})" if tried else f" ({sel.get('metric', '')})"
    chosen = sel.get("chosen", served.get("kind"))
    return (
        f"Served head: the {served.get('kind')} head `build-heads` wrote into the checkpoint and the "
        f"service answers /predict-location with, loaded from it and given the test tweets' embeddings "
        f"and profile locations as the service gives them; build-heads chose {chosen}"
        f"{why}, fitted on {served.get('fit_rows')} city-labelled training tweets over "
        f"{served.get('classes')} classes (every city of the training split, so it may answer a city "
        f"outside the shared ones). The {PAPER_FOREST} row is the paper's head, fitted here on the "
        "shared classes."
    )


def neighbour_head_settings(head: dict[str, Any]) -> str:
    """What build-heads chose for the neighbour hashtag head, in words."""
    weight = float(head.get("author_weight") or 0.0)
    known = head.get("known_authors")
    authors = (
        f", the author's earlier hashtags at weight {weight:g}"
        + (f" ({known} test queries by an author in its table)" if known is not None else "")
        if weight > 0
        else ""
    )
    return f"{head.get('weighting')} votes, {head.get('neighbours')} neighbours{authors}"


def top_validation_scores(scores: dict[str, Any], top: int = 5, digits: int = 4) -> str:
    """The ``top`` best candidates of a validation grid, best first (ties in the order given)."""
    ranked = sorted(scores.items(), key=lambda kv: -float(kv[1]))[:top]
    shown = ", ".join(f"{k} {float(v):.{digits}f}" for k, v in ranked)
    return shown if len(scores) <= top else f"best {top} of {len(scores)}: {shown}"


def served_hashtag_note(metrics: dict[str, Any]) -> str | None:
    """One sentence on the neighbour hashtag head scored for the joint model: the checkpoint's own,
    with what build-heads chose on validation (None for metrics of a fixed head fitted here)."""
    head = metrics["joint"].get("hashtag_head")
    if not head:
        return None
    sel = head.get("selection", {})
    tried = top_validation_scores(sel.get("validation") or {})
    why = f" by {sel.get('metric')} ({tried})" if tried else f" ({sel.get('metric', 'not recorded')})"
    what = f"{neighbour_head_settings(head)}, chosen by build-heads{why}."
    if not head.get("served", True):
        return (
            f"Served head: {PAPER_METHOD} (build-heads --hashtag-method tags); {NEIGHBOUR_METHOD} is "
            f"the checkpoint's own neighbour head, scored beside it: {what}"
        )
    return f"Served head ({NEIGHBOUR_METHOD}): the checkpoint's own, as the service loads it: {what}"


def unscored_served_note(metrics: dict[str, Any]) -> str | None:
    """Why the served location head has no row, where it has none (else None)."""
    if served_location_key(location_methods(metrics)) is not None:
        return None
    return served_location_note(metrics)


def bot_methods(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    base = metrics["baselines"].get("bots", {})
    if "skipped" not in base:
        out.update(base)
    joint = metrics["joint"].get("bots", {})
    if "skipped" not in joint:
        out.update({f"{JOINT}: {k}": v for k, v in joint.items()})
    return out


def _threshold_cell(method: dict[str, Any]) -> str | None:
    """The bot threshold a method used: one value, or the range of its per-fold choices."""
    thresholds = method.get("thresholds")
    if not thresholds:
        return None  # metrics.json from before thresholds were recorded: F1 was at 0.5
    low, high = min(thresholds), max(thresholds)
    return _fmt(low) if low == high else f"{_fmt(low)}–{_fmt(high)}"


def verdicts(metrics: dict[str, Any]) -> list[str]:
    """Plain statements of which baselines the joint model beats and which it does not."""
    lines: list[str] = []

    def compare(
        task: str,
        metric: str,
        ours: float | None,
        theirs: dict[str, float | None],
        higher_better: bool = True,
    ) -> None:
        if ours is None or (isinstance(ours, float) and math.isnan(ours)):
            return
        for name, value in theirs.items():
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            better = ours > value if higher_better else ours < value
            word = "beats" if better else ("ties" if ours == value else "LOSES to")
            lines.append(f"- {task}, {metric}: the joint model ({_fmt(ours)}) {word} {name} ({_fmt(value)}).")

    for kind in ("image", "text"):
        rows = retrieval_rows(metrics, kind)
        ours = rows.pop(JOINT)
        for metric, hb in (("R@10", True), ("median_rank", False)):
            compare(
                f"{kind} retrieval", metric, ours.get(metric), {k: v.get(metric) for k, v in rows.items()}, hb
            )
    tags = hashtag_methods(metrics)
    tag_base = {k: v for k, v in tags.items() if not k.startswith(JOINT)}
    for name, ours_t in tags.items():
        if name.startswith(JOINT):
            method = name.split(": ", 1)[1]
            for k in (1, 5):
                compare(
                    f"hashtags ({method})",
                    f"F1@{k}",
                    ours_t["f1"][k - 1],
                    {b: v["f1"][k - 1] for b, v in tag_base.items()},
                )
    loc = location_methods(metrics)
    head_key = served_location_key(loc)
    if head_key is not None:
        ours_l = loc.pop(head_key)
        loc = {k: v for k, v in loc.items() if not k.startswith(JOINT)}
        compare(
            "location", "accuracy %", ours_l.get("accuracy"), {k: v.get("accuracy") for k, v in loc.items()}
        )
    bots = bot_methods(metrics)
    base = {k: v for k, v in bots.items() if not k.startswith(JOINT)}
    for name, v in bots.items():
        if name.startswith(JOINT):
            for metric in ("F1", "AUC"):
                compare(
                    f"bots ({name.split(': ', 1)[1]})",
                    metric,
                    v.get(metric),
                    {k: b.get(metric) for k, b in base.items()},
                )
    return lines


def strongest_baselines(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per task, the baseline (or comparison model) with the best test score, and the joint model's
    served method on the same metric: the comparison the product is judged by."""
    out: dict[str, dict[str, Any]] = {}

    def pick(task: str, metric: str, ours_name: str, ours: Any, theirs: dict[str, Any]) -> None:
        scored = {k: v for k, v in theirs.items() if isinstance(v, (int, float)) and not math.isnan(v)}
        if not scored or not isinstance(ours, (int, float)):
            return
        name = max(scored, key=lambda k: scored[k])
        out[task] = {
            "metric": metric,
            "baseline": name,
            "baseline_value": scored[name],
            "ours": ours_name,
            "ours_value": ours,
        }

    loc = location_methods(metrics)
    head_key = served_location_key(loc)
    if head_key is not None:
        base = {k: v.get("accuracy") for k, v in loc.items() if not k.startswith(JOINT)}
        kind = loc[head_key].get("selection", {}).get("kind", "forest")
        pick("location", "accuracy %", f"served head ({kind})", loc[head_key].get("accuracy"), base)
    tags = hashtag_methods(metrics)
    # The head the service answers with: the neighbour head unless build-heads was told
    # --hashtag-method tags (recorded by the evaluation as the neighbour head's "served").
    neighbours_served = (metrics["joint"].get("hashtag_head") or {}).get("served", True)
    served, label = (
        (f"{JOINT}: {NEIGHBOUR_METHOD}", "served head (joint-space neighbours)")
        if neighbours_served
        else (f"{JOINT}: {PAPER_METHOD}", "served head (paper's max cosine)")
    )
    if served in tags:
        base = {k: v["f1"][0] for k, v in tags.items() if not k.startswith(JOINT)}
        pick("hashtags", "F1@1", label, tags[served]["f1"][0], base)
    for kind in ("image", "text"):
        rows = retrieval_rows(metrics, kind)
        ours = rows.pop(JOINT)
        pick(
            f"{kind} retrieval", "R@10", JOINT, ours.get("R@10"), {k: v.get("R@10") for k, v in rows.items()}
        )
    return out


def strongest_lines(metrics: dict[str, Any]) -> list[str]:
    lines = []
    if note := unscored_served_note(metrics):
        lines.append(f"- location: no comparison for the product. {note}")
    for task, s in strongest_baselines(metrics).items():
        gap = s["ours_value"] - s["baseline_value"]
        ratio = f", {s['ours_value'] / s['baseline_value']:.2f}x" if s["baseline_value"] else ""
        word = "beats" if gap > 0 else ("ties" if gap == 0 else "LOSES to")
        lines.append(
            f"- {task} ({s['metric']}): the strongest baseline is {s['baseline']} "
            f"({_fmt(s['baseline_value'])}); the joint model's {s['ours']} ({_fmt(s['ours_value'])}) "
            f"{word} it by {gap:+.4g}{ratio}."
        )
    return lines


def selection_lines(metrics: dict[str, Any]) -> list[str]:
    """What each tuned baseline chose on the validation split, with the candidates' scores."""
    lines = []
    for task in ("location", "hashtags"):
        for name, v in metrics["baselines"].get(task, {}).items():
            sel = v.get("selection") if isinstance(v, dict) else None
            if not sel:
                continue
            tried = ", ".join(f"{k}: {_fmt(x)}" for k, x in (sel.get("validation") or {}).items())
            lines.append(
                f"- {task}, {name}: {sel['parameter']} = {_fmt(sel['chosen'])} by {sel['metric']}"
                + (f" ({tried})" if tried else "")
            )
    return lines


def skipped(metrics: dict[str, Any]) -> list[str]:
    out = []

    def walk(prefix: str, obj: Any) -> None:
        if isinstance(obj, dict):
            if "skipped" in obj:
                out.append(f"- {prefix}: {obj['skipped']}")
                return
            for k, v in obj.items():
                walk(f"{prefix} / {k}" if prefix else k, v)

    walk("", {k: metrics[k] for k in ("joint", "baselines", "variants")})
    return out


def write_figures(metrics: dict[str, Any], out_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[str] = []
    tags = hashtag_methods(metrics)
    if tags:
        fig, axes = plt.subplots(1, 3, figsize=(12, 4.4))
        for ax, metric in zip(axes, ("precision", "recall", "f1"), strict=True):
            for name, curve in tags.items():
                ax.plot(curve["k"], curve[metric], marker="o", label=name)
            ax.set_xlabel("k")
            ax.set_title(metric.upper() if metric == "f1" else metric.capitalize())
            ax.set_xticks(curve["k"])
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8)
        fig.suptitle("Hashtag recommendation at k (cf. paper Fig. 5)")
        fig.tight_layout(rect=(0, 0.14, 1, 1))
        fig.savefig(out_dir / FIG_HASHTAGS, dpi=110)
        plt.close(fig)
        written.append(FIG_HASHTAGS)
    bars: list[tuple[str, dict[str, dict[str, Any]], tuple[str, ...], str]] = [
        (FIG_BOTS, bot_methods(metrics), ("F1", "AUC"), "Bot detection (cf. paper Fig. 7)"),
        (FIG_LOCATION, location_methods(metrics), ("accuracy", "acc@161km"), "Location prediction (%)"),
    ]
    for kind in ("image", "text"):
        rows = {k: v for k, v in retrieval_rows(metrics, kind).items() if "skipped" not in v}
        bars.append(
            (f"fig_retrieval_{kind}.png", rows, ("R@1", "R@5", "R@10"), f"{kind.capitalize()} retrieval (%)")
        )
    for filename, methods, keys, title in bars:
        methods = {k: v for k, v in methods.items() if any(isinstance(v.get(m), (int, float)) for m in keys)}
        if not methods:
            continue
        fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(methods) * len(keys) / 2), 4))
        width = 0.8 / len(keys)
        for j, metric in enumerate(keys):
            values = [float(v.get(metric) or 0.0) for v in methods.values()]
            ax.bar([i + j * width for i in range(len(methods))], values, width, label=metric)
        ax.set_xticks([i + width * (len(keys) - 1) / 2 for i in range(len(methods))])
        ax.set_xticklabels([_wrap(k) for k in methods], fontsize=7)
        ax.set_title(title)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out_dir / filename, dpi=110)
        plt.close(fig)
        written.append(filename)
    return written


def _wrap(label: str, width: int = 18) -> str:
    words, lines, line = label.split(), [], ""
    for w in words:
        if len(line) + len(w) + 1 > width and line:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    return "\n".join([*lines, line])


def ablation_rows(metrics: dict[str, Any]) -> list[list[Any]]:
    def row(label: str, m: dict[str, Any]) -> list[Any]:
        if "skipped" in m:
            return [label, *(["skipped"] * 6)]
        r = m.get("retrieval", {})
        loc = m.get("location", {}).get("chosen_forest", {})
        bots = m.get("bots", {})
        knn: dict[str, Any] = (
            next((v for k, v in bots.items() if k.split(" (")[0] == "kNN k=1"), {})
            if isinstance(bots, dict)
            else {}
        )
        return [
            label,
            r.get("image", {}).get("R@10"),
            r.get("text", {}).get("R@10"),
            ((m.get("hashtags") or {}).get(NEIGHBOUR_METHOD) or {}).get("f1", [None])[0],
            ((m.get("hashtags") or {}).get(PAPER_METHOD) or {}).get("f1", [None])[0],
            loc.get("accuracy"),
            knn.get("F1"),
        ]

    rows = [row(f"{JOINT} (all components)", metrics["joint"])]
    for key, v in metrics["variants"].items():
        if key.startswith("without_") or key == "paper_loss":
            rows.append(row(v.get("label", key), v))
    return rows


def write_report(metrics: dict[str, Any], out_dir: Path, command: str | None = None) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True), encoding="utf-8")
    figures = write_figures(metrics, out_dir)
    c = metrics["counts"]
    md = ["# Evaluation report", ""]
    if command:
        md += ["Made by:", "", "```", command, "```", ""]
    md += [
        f"Checkpoint `{metrics['checkpoint']}`; data: {metrics['data']}. "
        f"{c['train']} train / {c['val']} val / {c['test']} test tweets. Every method below was trained "
        f"on the training split and scored on the test split by the same harness.",
        "",
    ]
    md += ["## Verdict", "", *(verdicts(metrics) or ["- nothing to compare"]), ""]
    md += [
        "## Against the strongest baseline",
        "",
        *(strongest_lines(metrics) or ["- nothing to compare"]),
        "",
    ]
    tuned = selection_lines(metrics)
    if tuned:
        md += [
            "Baselines' settings, chosen on the validation split (never on test):",
            "",
            *tuned,
            "",
        ]
    for kind in ("image", "text"):
        md += [
            f"## {kind.capitalize()} retrieval (paper Table {2 if kind == 'image' else 3})",
            "",
            f"Each test tweet minus its {kind} ranks every test {kind}; the joint model scores a candidate "
            "by its best cosine over the query's other components, VSE++ by its "
            f"{'text' if kind == 'image' else 'image'} alone. Queries and candidates are the test tweets "
            "with both text and image (VSE++ with hashtags as text: hashtags and image). Recall in %.",
            "",
        ]
        rows = [
            [
                name,
                *(
                    [v.get(m) for m in ("R@1", "R@5", "R@10", "median_rank", "candidates")]
                    if "skipped" not in v
                    else ["skipped: " + v["skipped"], "", "", "", ""]
                ),
            ]
            for name, v in retrieval_rows(metrics, kind).items()
        ]
        md += [*_table(["method", "R@1", "R@5", "R@10", "median rank", "candidates"], rows), ""]
        if f"fig_retrieval_{kind}.png" in figures:
            md += [f"![{kind} retrieval](fig_retrieval_{kind}.png)", ""]
    tags = hashtag_methods(metrics)
    md += [
        "## Hashtag recommendation (paper Fig. 5)",
        "",
        "Test tweets with hashtags, given without them; truth = their hashtags (lower-cased).",
        "",
    ]
    if tags:
        rows = [
            [
                name,
                *[
                    f"{p:.3f} / {r:.3f} / {f:.3f}"
                    for p, r, f in zip(v["precision"], v["recall"], v["f1"], strict=True)
                ],
            ]
            for name, v in tags.items()
        ]
        md += [*_table(["method (P / R / F1)", *[f"k={k}" for k in (1, 2, 3, 4, 5)]], rows), ""]
        md += [f"![hashtags]({FIG_HASHTAGS})", ""]
        if (tag_note := served_hashtag_note(metrics)) is not None:
            md += [tag_note, ""]
    loc = location_methods(metrics)
    md += [
        "## Location prediction (paper Table 4)",
        "",
        f"City-level places of the training split (the served head's classes): {c['location_classes']} "
        f"classes, {c['location_train']} training and {c['location_test']} test tweets (test tweets from "
        "a city the training split lacks are left out for every method).",
        "",
    ]
    if loc:
        loc_rows = [[k, v.get("accuracy"), v.get("acc@161km")] for k, v in loc.items()]
        md += [*_table(["method", "accuracy %", "within 161 km %"], loc_rows), ""]
        note = served_location_note(metrics)
        if note:
            md += [note, ""]
        joint_loc = metrics["joint"].get("location", {})
        forests = [(k, joint_loc[k]["forest"]) for k in ("chosen_forest", "larger_forest") if k in joint_loc]
        if forests:
            md += [
                "Forest cost (fit on 2 cores; one-row predict_proba with n_jobs=1; joblib compress=3):",
                "",
            ]
            header = ["forest", "trees", "max depth", "min leaf", "fit s", "predict 1 row ms", "size MB"]
            cost_rows = [
                [
                    {"chosen_forest": "paper forest", "larger_forest": "larger forest"}[k],
                    f["n_estimators"],
                    f["max_depth"] or "unlimited",
                    f["min_samples_leaf"],
                    f["fit_s"],
                    f["predict_one_ms"],
                    f["compressed_mb"],
                ]
                for k, f in forests
            ]
            md += [*_table(header, cost_rows), ""]
        if FIG_LOCATION in figures:
            md += [f"![location]({FIG_LOCATION})", ""]
    bots = bot_methods(metrics)
    proto = metrics.get("bot_protocol", {})
    md += [
        "## Bot detection (paper Fig. 7)",
        "",
        f"{proto.get('users', 0)} labelled users ({proto.get('bots', 0)} bots), {proto.get('protocol', '')}; "
        "F1 at the method's threshold: 0.5, or for the forests over per-user statistics (embedding "
        "statistics, behaviour features, both) the one that maximised F1 on its training users' "
        "out-of-bag predictions, chosen again in each fold (the threshold column gives the range). "
        "Users are their up-to-10 most recent tweets' average embeddings. What the joint embeddings "
        f'add to behaviour: "{JOINT}: {HYBRID_FOREST}" against "{BEHAVIOUR_FOREST}".',
        "",
    ]
    if bots:
        bot_rows = [[k, v.get("F1"), v.get("AUC"), _threshold_cell(v)] for k, v in bots.items()]
        md += [*_table(["method", "F1", "ROC AUC", "threshold"], bot_rows), ""]
        md += [f"![bots]({FIG_BOTS})", ""]
    md += [
        "## Ablations: the paper's loss, and each component left out",
        "",
        "Each row is a model trained by the same code and recipe as the joint model, except the paper's-loss "
        "row (all components, loss as in paper Eq. 2-3) and one left-out component in each other row.",
        "",
    ]
    header = [
        "model",
        "image R@10 %",
        "text R@10 %",
        "hashtag F1@1 (neighbours)",
        "hashtag F1@1 (paper)",
        "location acc %",
        "bots F1 (kNN k=1)",
    ]
    md += [*_table(header, ablation_rows(metrics)), ""]
    notes = [f"- {v['label']}: {v['note']}" for v in metrics["variants"].values() if v.get("note")]
    md += notes + ([""] if notes else [])
    md += ["## Skipped", "", *(skipped(metrics) or ["- nothing"]), ""]
    md += [
        "## Timings (s)",
        "",
        *_table(["step", "seconds"], [[k, v] for k, v in metrics.get("timings_s", {}).items()]),
        "",
        f"Total: {metrics.get('seconds', 0)} s.",
        "",
    ]
    path = out_dir / "report.md"
    path.write_text("\n".join(md), encoding="utf-8")
    return path
