"""Assemble README.md from docs/readme/NN-*.md, in file-name order (each area keeps its own section)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parts = [p.read_text(encoding="utf-8").strip() for p in sorted((ROOT / "docs" / "readme").glob("*.md"))]
    (ROOT / "README.md").write_text("\n\n".join(parts) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
