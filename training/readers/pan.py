"""PAN author-profiling corpora (e.g. PAN 2019 bots and gender): a folder of ``{author_id}.xml`` files,

    <author lang="en"><documents><document><![CDATA[tweet text]]></document>...</documents></author>

and a ``truth.txt`` of ``author_id:::bot|human:::gender`` lines. Each document becomes a tweet of that
author, in file order, with the id ``{author_id}-{position}`` (the corpus has none) and no time. A file
that is not well-formed XML is skipped and reported; the other files are still read.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from model.record import Tweet
from training.readers.report import ReadReport

TRUTH_FILE = "truth.txt"
FORMAT = "pan"


def is_pan_corpus(path: Path) -> bool:
    """A directory with a truth.txt and at least one .xml file beside it."""
    return path.is_dir() and (path / TRUTH_FILE).is_file() and any(path.glob("*.xml"))


def is_pan_truth(path: Path) -> bool:
    """Whether a label file is PAN's truth.txt (``:::``-separated) rather than a CSV."""
    try:
        with path.open(encoding="utf-8-sig", errors="replace") as fh:
            for line in fh:
                if line.strip():
                    return ":::" in line
    except OSError:
        return False
    return False


def read_pan(root: Path, report: ReadReport) -> Iterator[Tweet]:
    for file in sorted(root.glob("*.xml")):
        name = str(file)
        author = file.stem
        try:
            tree = ET.parse(file)
        except ET.ParseError as error:
            line = error.position[0] if error.position else 0
            report.skip(name, line, "malformed XML", f"{error}; the whole file skipped")
            continue
        except OSError as error:
            report.skip(name, 0, "unreadable file", f"{type(error).__name__}: {error}")
            continue
        documents = tree.getroot().iter("document")
        position = 0
        for doc in documents:
            text = (doc.text or "").strip()
            position += 1
            if not text:
                report.skip(name, 0, "empty document", f"document {position} of {author} has no text")
                continue
            report.kept(FORMAT)
            yield Tweet.from_flat({"id": f"{author}-{position}", "text": text, "user_id": author})
        if position == 0:
            report.skip(name, 0, "no documents", "no <document> element")
        report.files_read.append(name)


def read_pan_truth(path: Path, report: ReadReport) -> dict[str, str]:
    """author id -> "bot" | "human" from truth.txt; bad lines are skipped and reported."""
    labels: dict[str, str] = {}
    name = str(path)
    with path.open(encoding="utf-8-sig", errors="replace") as fh:
        for number, raw in enumerate(fh, start=1):
            line = raw.strip()
            if not line:
                continue
            parts = [p.strip() for p in line.split(":::")]
            if len(parts) < 2 or not parts[0]:
                report.skip(name, number, "invalid label row", "expected author_id:::bot|human:::gender")
                continue
            author, label = parts[0], parts[1].lower()
            if label not in ("bot", "human"):
                report.skip(name, number, "invalid label row", f"label {parts[1]!r} is not bot or human")
            elif labels.get(author, label) != label:
                report.skip(name, number, "invalid label row", f"author {author} already labelled")
            else:
                labels[author] = label
    return labels
