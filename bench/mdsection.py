"""Replace one ``## heading`` section of BENCHMARKS.md, leaving the others untouched."""
from __future__ import annotations

from pathlib import Path

PREAMBLE = "# Benchmarks\n\nLatest figures, each with the exact command, date and machine that produced them.\n"


def update_section(markdown_path: Path, heading: str, body: str) -> None:
    """Replace (or append) the section under ``heading`` (a ``## `` line) with ``body``."""
    text = markdown_path.read_text(encoding="utf-8") if markdown_path.exists() else PREAMBLE
    section = f"{heading}\n\n{body.strip()}\n"
    start = text.find(heading + "\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(heading))
        text = text[:start] + section + ("" if end < 0 else text[end:])
    markdown_path.write_text(text, encoding="utf-8")
