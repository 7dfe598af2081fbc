"""Content-derived ids: the same file always yields the same ids, so re-ingesting is a no-op."""

from __future__ import annotations

import hashlib
from pathlib import Path


def digest(text: str, length: int = 32) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:32]


def document_id(source: str) -> str:
    """A document's identity is where it came from (path, plus record key); its content hash
    tells whether it changed."""
    return digest("doc:" + source, 24)


def chunk_id(document_id: str, document_hash: str, position: int, text: str) -> str:
    """Unique per document and content: two copies of one file have distinct chunks."""
    return digest(f"chunk:{document_id}:{document_hash}:{position}:{text}", 24)
