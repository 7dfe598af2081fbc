"""The Store protocol: documents, chunks, vectors and a keyword index, written atomically.

Every backend passes the contract suite in tests/store/contract.py."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Iterator, Protocol

import numpy as np

from tunewise.errors import TunewiseError
from tunewise.objects import COLLECTION, Chunk, Condition, Document, source_name

Where = tuple[Condition, ...]  # metadata conditions, all of which must hold


class StoreError(TunewiseError):
    """A store that cannot be opened or used as asked."""
    http_status = 503
    kind = "store_error"


def check_collection(name: str) -> str:
    """`name` if it can name a collection (a PostgreSQL schema, part of a file name)."""
    if not COLLECTION.fullmatch(name):
        raise StoreError(f"collection {name!r}: use lower-case letters, digits and _")
    return name


class EmbedderMismatch(StoreError):
    """The store was built with another embedder: its vectors and the query's would not compare."""


@dataclass(frozen=True)
class StoredDocument:
    """A document as written: its chunks with their vectors, row for row."""

    id: str
    document: Document
    content_hash: str
    chunks: list[Chunk]
    vectors: np.ndarray  # (len(chunks), dim) float32, unit rows


@dataclass
class WriteBatch:
    """One transaction: replace these documents, delete those, mark these files complete."""

    documents: list[StoredDocument] = field(default_factory=list)
    delete_ids: list[str] = field(default_factory=list)
    files: list[tuple[str, str]] = field(default_factory=list)  # (path, file hash)

    def chunk_count(self) -> int:
        return sum(len(d.chunks) for d in self.documents)


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


def ensure_built_with(store: "Store", name: str) -> None:
    """Refuse to read or write a store with vectors of another embedder (before any work)."""
    built_with = store.embedder()
    if built_with and built_with[0] != name:
        raise EmbedderMismatch(f"the store was built with embedder {built_with[0]}, not {name}; "
                               "use that embedder, or another store")


METADATA_VALUES = 1000  # a key with more distinct values names documents, not groups of them


def grouped_values(rows) -> dict[str, list]:
    """{key: sorted distinct values} from (key, value) rows, keys with too many values left out."""
    out: dict[str, set] = {}
    for key, value in rows:
        out.setdefault(key, set()).add(value)
    return {k: sorted(v, key=str) for k, v in out.items()}


class Store(Protocol):
    def embedder(self) -> tuple[str, int] | None:
        """(name, dimension) of the embedder that built the store; None while it is empty."""

    def check_embedder(self, name: str, dimension: int) -> None:
        """Record the embedder on first use; raise EmbedderMismatch if another one built it."""

    def file_hash(self, path: str) -> str | None:
        """The hash of `path` when all of its documents were last written completely."""

    def document_hashes(self, path: str) -> dict[str, str]:
        """{document id: content hash} of the documents that came from `path`."""

    def write(self, batch: WriteBatch) -> None: ...

    def remove_path(self, path: str) -> int:
        """Delete every document of a file (or of every file under a folder); returns how many."""

    def paths(self) -> list[str]: ...

    def files(self) -> list[tuple[str, int, int]]:
        """(path, documents, chunks) of every file with documents, by path."""

    def dense(self, vector: np.ndarray, k: int, source: str | None = None,
              where: Where = ()) -> list[tuple[int, float]]:
        """The k (row, cosine) pairs most similar to `vector`, best first; only chunks of
        documents whose source matches `source` and whose metadata meets every condition."""

    def keyword(self, query: str, k: int, source: str | None = None,
                where: Where = ()) -> list[tuple[int, float]]:
        """The k (row, BM25 score) pairs that best match the words of `query`, best first."""

    def similarities(self, vector: np.ndarray, rows: list[int]) -> list[float]: ...

    def chunks(self, rows: list[int]) -> dict[int, Chunk]:
        """{row: chunk}; rows deleted meanwhile are missing."""

    def iter_chunks(self, source: str | None = None, where: Where = ()) -> Iterator[Chunk]:
        """Every chunk (of documents whose path matches `source`), document by document in
        position order; a stable order, so a job that walks the chunks can resume."""

    def export(self) -> Iterator[StoredDocument]:
        """Every document with its chunks and vectors (text rebuilt from the chunks is not
        needed to write it elsewhere), for copying a store."""

    def file_hashes(self) -> list[tuple[str, str]]:
        """(path, file hash) of every completely written file."""

    def metadata_values(self, most: int = METADATA_VALUES) -> dict[str, list]:
        """{key: its distinct values} of the documents' metadata (strings and numbers), for keys
        with at most `most` values: what a question can be matched against (company names,
        years), not per-document ids."""

    def stats(self) -> dict: ...

    def close(self) -> None: ...


# A document's source (objects.source_name) in SQL over `documents d`, the same in both stores.
SOURCE_SQL = "(CASE WHEN d.key = '' THEN d.path ELSE d.path || '#' || d.key END)"


def chunk_from_row(r) -> Chunk:
    """A Chunk from a store's row (id, document_id, position, text, start, end, page, path, key,
    title, context), as every store reads it."""
    return Chunk(id=r[0], document_id=r[1], position=r[2], text=r[3], start=r[4], end=r[5],
                 page=r[6], source=source_name(r[7], r[8] or ""), title=r[9] or "",
                 context=(r[10] or "") if len(r) > 10 else "")
