"""Plain text and Markdown: the text as it is (UTF-8); a Markdown file's first `# heading` is its
title and its heading path is each chunk's context."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from tunewise.config import IngestSettings
from tunewise.documents.base import Deadline, decode, nonempty
from tunewise.objects import Document


def load_text(path: Path, settings: IngestSettings, deadline: Deadline) -> Document:
    text = decode(path)
    deadline.check()
    return nonempty(path, text, path.stem)


def load_markdown(path: Path, settings: IngestSettings, deadline: Deadline) -> Document:
    text = decode(path).strip()
    deadline.check()
    heading = re.search(r"^#\s+(.+)$", text, flags=re.MULTILINE)
    doc = nonempty(path, text, heading.group(1).strip() if heading else "")
    return replace(doc, sections=markdown_sections(doc.text))


def markdown_sections(text: str) -> tuple[tuple[int, str], ...]:
    """The heading path in force from each ATX heading on: "# A", "## B" → "A › B"."""
    stack: list[tuple[int, str]] = []
    sections = []
    for m in re.finditer(r"^(#{1,6})\s+(.+?)\s*#*\s*$", text, flags=re.MULTILINE):
        level = len(m.group(1))
        stack = [(lv, h) for lv, h in stack if lv < level] + [(level, m.group(2).strip())]
        sections.append((m.start(), " › ".join(h for _, h in stack)))
    return tuple(sections)
