"""Bot labels: a CSV of ``user_id,label`` rows, label ``bot`` or ``human``, header optional; or a PAN
author-profiling ``truth.txt`` (``author_id:::bot|human:::gender``, training/readers/pan.py)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from training.readers.json_values import open_binary
from training.readers.report import ReadReport

LABELS = ("bot", "human")
BAD_ROW = "invalid label row"


def read_bot_labels(path: Path | str, report: ReadReport | None = None) -> dict[str, str]:
    """user id -> "bot" | "human". Bad rows (wrong column count, empty id, another label, an id labelled
    twice with different labels) are skipped and reported with their line; the first label of an id wins."""
    report = report if report is not None else ReadReport()
    file = Path(path)
    name = str(file)
    from training.readers.pan import is_pan_truth, read_pan_truth

    if file.suffix != ".gz" and is_pan_truth(file):
        pan = read_pan_truth(file, report)
        report.labels_read += len(pan)
        return pan
    labels: dict[str, str] = {}
    with (
        open_binary(file) as raw,
        io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="") as text,
    ):
        rows = csv.reader(text)
        id_col, label_col = 0, 1
        for row in rows:
            line = rows.line_num
            cells = [cell.strip() for cell in row]
            if not any(cells):
                continue
            lowered = [c.lower() for c in cells]
            if not labels and "user_id" in lowered and "label" in lowered:  # header, any column order
                id_col, label_col = lowered.index("user_id"), lowered.index("label")
                continue
            if len(cells) <= max(id_col, label_col):
                report.skip(name, line, BAD_ROW, f"expected user_id,label, got {len(cells)} column(s)")
                continue
            user_id, label = cells[id_col], cells[label_col].lower()
            if not user_id:
                report.skip(name, line, BAD_ROW, "empty user_id")
            elif label not in LABELS:
                report.skip(name, line, BAD_ROW, f"label {cells[label_col]!r} is not bot or human")
            elif labels.get(user_id, label) != label:
                report.skip(name, line, BAD_ROW, f"user {user_id} already labelled {labels[user_id]}")
            else:
                labels[user_id] = label
    report.labels_read += len(labels)
    return labels
