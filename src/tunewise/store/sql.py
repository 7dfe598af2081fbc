"""SQL and row handling the SQLite and PostgreSQL stores share: a chunk from a row, a document
rebuilt from rows for copying, metadata values grouped by key, a document's source in SQL."""

from __future__ import annotations

import json

import numpy as np

from tunewise.objects import Chunk, Document, source_name
from tunewise.store.base import StoredDocument

# A document's source (objects.source_name) in SQL over `documents d`, the same in both stores.
SOURCE_SQL = "(CASE WHEN d.key = '' THEN d.path ELSE d.path || '#' || d.key END)"


def chunk_from_row(r) -> Chunk:
    """A Chunk from a store's row (id, document_id, position, text, start, end, page, path, key,
    title, context), as every store reads it."""
    return Chunk(id=r[0], document_id=r[1], position=r[2], text=r[3], start=r[4], end=r[5],
                 page=r[6], source=source_name(r[7], r[8] or ""), title=r[9] or "",
                 context=(r[10] or "") if len(r) > 10 else "")


def exported(doc_id: str, path: str, key: str, title: str, content_hash: str,
             metadata: str | dict | None, chunks: list[tuple], vectors: list[np.ndarray]
             ) -> StoredDocument:
    """A StoredDocument rebuilt from a store's rows: chunks as (id, position, text, start, end,
    page, context); the document's text is left empty (writing needs only its identity and
    metadata)."""
    if isinstance(metadata, str):
        metadata = json.loads(metadata) if metadata else {}
    doc = Document(path=path, text="", title=title or "", key=key or "", metadata=metadata or {})
    return StoredDocument(doc_id, doc, content_hash, [
        chunk_from_row((c[0], doc_id, *c[1:6], doc.path, doc.key, doc.title, *c[6:7]))
        for c in chunks],
        np.stack(vectors) if vectors else np.zeros((0, 0), np.float32))


def grouped_values(rows) -> dict[str, list]:
    """{key: sorted distinct values} from (key, value) rows, keys with too many values left out."""
    out: dict[str, set] = {}
    for key, value in rows:
        out.setdefault(key, set()).add(value)
    return {k: sorted(v, key=str) for k, v in out.items()}
