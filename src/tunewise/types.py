"""The typed objects that flow between stages: Document, Chunk, Hit."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Document:
    """One loaded document: a file, or one record of a JSONL file.

    `path` is the file it came from and `key` tells records of one file apart ("" for a whole
    file). `pages` maps character offsets to page numbers: ((0, 1), (1834, 2)) means page 2 starts
    at character 1834. Empty when the format has no pages.
    """

    path: str
    text: str
    title: str = ""
    key: str = ""
    pages: tuple[tuple[int, int], ...] = ()
    metadata: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def source(self) -> str:
        """The citation name: the path, plus the record key for JSONL records."""
        return f"{self.path}#{self.key}" if self.key else self.path

    def page_at(self, offset: int) -> int | None:
        page = None
        for start, number in self.pages:
            if start > offset:
                break
            page = number
        return page


@dataclass(frozen=True)
class Chunk:
    """A piece of a document small enough to embed whole.

    `start`/`end` are character offsets into the document's text, so text == doc.text[start:end].
    """

    id: str
    document_id: str
    position: int
    text: str
    start: int
    end: int
    source: str
    title: str = ""
    page: int | None = None


@dataclass(frozen=True)
class Hit:
    """A scored chunk. `score` is the retriever's own score (higher is better); `similarity` is the
    cosine similarity to the query where it is known; `retriever` is dense, keyword or hybrid."""

    chunk: Chunk
    score: float
    retriever: str
    similarity: float | None = None

    def snippet(self, width: int = 200, query: str = "") -> str:
        """About `width` characters of the chunk, starting at the sentence that shares the most
        words with `query` (the chunk's start when there is no query)."""
        text = " ".join(self.chunk.text.split())
        if len(text) <= width:
            return text
        start = 0
        words = {w for w in re.findall(r"\w+", query.lower()) if len(w) > 2}
        if words:
            starts = [0] + [m.end() for m in re.finditer(r"[.!?:]\s+", text)]
            overlap = [len(words & set(re.findall(r"\w+", text[a : a + width].lower())))
                       for a in starts]
            start = starts[overlap.index(max(overlap))]
        piece = text[start : start + width]
        cut = piece if start + width >= len(text) else piece[: width - 1].rsplit(" ", 1)[0] + "…"
        return ("…" if start else "") + cut
