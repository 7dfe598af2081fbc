"""HTML: the visible text only (no scripts, styles or comments), paragraph breaks kept for the
chunker; the `<title>` is the title.

Read with lxml's streaming parser (libxml2, C) and a target that sees tags and text go by: one
pass, time linear in the file and memory linear in the text, whatever the markup. A tree
(BeautifulSoup) made a break after 250,000 sibling `<p>` quadratic (11+ CPU-minutes for 2 MB);
the standard library's `html.parser` is quadratic on unfinished tags (`<a<a<a…`: 100 KB took
5.5 s, 1 MB minutes) and checks no deadline inside a call — libxml2 reads 1 MB of them in 3 ms.
The text is fed in slices with the deadline checked between them."""

from __future__ import annotations

import re
from pathlib import Path

from lxml import etree

from tunewise.config import IngestSettings
from tunewise.documents.base import Deadline, LoadError, decode, nonempty
from tunewise.objects import Document

_INVISIBLE = {"script", "style", "noscript", "template", "head", "svg", "iframe"}
_BLOCKS = {"p", "div", "section", "article", "main", "header", "footer", "nav", "aside", "li",
           "ul", "ol", "table", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "br", "pre",
           "blockquote", "dd", "dt", "figcaption"}
SLICE = 256 * 1024  # characters fed between two looks at the deadline


class _Text:
    """lxml's parser target: collects the visible text and the title as the parser goes."""

    def __init__(self):
        self.parts: list[str] = []
        self.title: list[str] = []
        self.hidden = 0  # depth inside invisible elements
        self.in_title = False

    def start(self, tag: str, attrib) -> None:  # libxml2 gives HTML tags in lower case
        if tag == "title":
            self.in_title = True
        elif tag in _INVISIBLE:
            self.hidden += 1
        elif tag in _BLOCKS and not self.hidden:
            self.parts.append("\n\n")

    def end(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        elif tag in _INVISIBLE:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BLOCKS and not self.hidden:
            self.parts.append("\n\n")

    def data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
        elif not self.hidden:
            self.parts.append(data)

    def close(self) -> None:  # what parser.close() returns
        return None


def html_text(markup: str, deadline: Deadline) -> tuple[str, str]:
    """(visible text, title) of an HTML string (a file's, or an e-mail's HTML body)."""
    target = _Text()
    # recover: read broken markup as browsers do; no_network: never fetch a DTD or entity
    parser = etree.HTMLParser(target=target, recover=True, no_network=True,
                              remove_comments=True, remove_pis=True)
    markup = markup.replace("\x00", "")  # libxml2 stops at a NUL; a browser skips it
    try:
        for i in range(0, len(markup), SLICE):
            parser.feed(markup[i:i + SLICE])
            deadline.check()
        if markup:
            parser.close()
    except etree.LxmlError as exc:
        raise LoadError(f"unreadable HTML: {exc}") from exc
    deadline.check()
    text = "".join(target.parts)
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r" ?\n ?", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text, " ".join("".join(target.title).split())


def load(path: Path, settings: IngestSettings, deadline: Deadline) -> Document:
    text, title = html_text(decode(path), deadline)
    return nonempty(path, text, title)
