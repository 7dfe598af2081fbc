"""HTML: the visible text only (no scripts, styles or comments), paragraph breaks kept for the
chunker; the `<title>` is the title."""

from __future__ import annotations

import re
from pathlib import Path

from bs4 import BeautifulSoup, Comment

from tunewise.config import IngestSettings
from tunewise.documents.base import Deadline, decode, nonempty
from tunewise.objects import Document

_INVISIBLE = ["script", "style", "noscript", "template", "head", "svg", "iframe"]
_BLOCKS = ["p", "div", "section", "article", "main", "header", "footer", "nav", "aside", "li",
           "ul", "ol", "table", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "br", "pre",
           "blockquote", "dd", "dt", "figcaption"]


def load(path: Path, settings: IngestSettings, deadline: Deadline) -> Document:
    soup = BeautifulSoup(decode(path), "html.parser")
    title = soup.title.get_text(strip=True) if soup.title else ""
    for tag in soup(_INVISIBLE):
        tag.decompose()
    for comment in soup.find_all(string=lambda s: isinstance(s, Comment)):
        comment.extract()
    for tag in soup.find_all(_BLOCKS):
        tag.insert_after("\n\n")  # keep paragraph boundaries for the chunker
    text = soup.get_text()
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r" ?\n ?", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return nonempty(path, text, title)
