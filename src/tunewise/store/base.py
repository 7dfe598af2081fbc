"""The Store protocol: documents, chunks, vectors and a keyword index, written atomically.

Retrieval depends on the search side (`SearchStore`), ingestion on the write side (`WriteStore`);
`Store` is both plus administration. Every backend passes `tunewise.testing.StoreContract`; the
SQL both built-in backends share is in `store/sql.py`."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol

import numpy as np

from tunewise.errors import TunewiseError
from tunewise.objects import COLLECTION, Chunk, Condition, Document

Where = tuple[Condition, ...]  # metadata conditions, all of which must hold


class StoreError(TunewiseError):
    """A store that cannot be opened or used as asked."""
    http_status = 503
    kind = "store_error"


class CollectionNameError(StoreError):
    """A collection name that cannot be one: the caller's mistake, not a store that is down."""
    http_status = 400
    kind = "invalid_request_error"


def check_collection(name: str) -> str:
    """`name` if it can name a collection (a PostgreSQL schema, part of a file name)."""
    if not COLLECTION.fullmatch(name):
        raise CollectionNameError(f"collection {name!r}: a lower-case letter, then up to 50 "
                                  "lower-case letters, digits and _")
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


def ensure_built_with(store: "SearchStore | WriteStore", name: str) -> None:
    """Refuse to read or write a store with vectors of another embedder (before any work)."""
    built_with = store.embedder()
    if built_with and built_with[0] != name:
        raise EmbedderMismatch(f"the store was built with embedder {built_with[0]}, not {name}; "
                               "use that embedder, or another store")


METADATA_VALUES = 1000  # a key with more distinct values names documents, not groups of them


class SearchStore(Protocol):
    """What retrieval reads: the embedder's name, dense and keyword search, and chunks by row."""

    def embedder(self) -> tuple[str, int] | None:
        """(name, dimension) of the embedder that built the store; None while it is empty."""

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

    def metadata_values(self, most: int = METADATA_VALUES) -> dict[str, list]:
        """{key: its distinct values} of the documents' metadata (strings and numbers), for keys
        with at most `most` values: what a question can be matched against (company names,
        years), not per-document ids."""


class WriteStore(Protocol):
    """What ingestion writes through: the embedder check, what is stored already, and atomic
    batches."""

    def embedder(self) -> tuple[str, int] | None: ...

    def check_embedder(self, name: str, dimension: int) -> None:
        """Record the embedder on first use; raise EmbedderMismatch if another one built it."""

    def file_hash(self, path: str) -> str | None:
        """The hash of `path` when all of its documents were last written completely."""

    def document_hashes(self, path: str) -> dict[str, str]:
        """{document id: content hash} of the documents that came from `path`."""

    def write(self, batch: WriteBatch) -> None:
        """Replace, delete and mark complete in one transaction: all of it or none."""

    def remove_path(self, path: str) -> int:
        """Delete every document of a file (or of every file under a folder); returns how many."""

    def set_metadata(self, metadata: dict[str, dict]) -> int:
        """Replace the metadata of documents by id ({id: metadata}) in one transaction, their
        chunks and vectors untouched (`tunewise store metadata --refresh`); returns how many."""

    def paths(self) -> list[str]:
        """Every path with documents (so files gone from a folder can be removed)."""

    def index(self, rebuild: bool = False, progress: Callable[[int, int], None] | None = None,
              force: bool = True) -> dict:
        """Bring a search index the store keeps beside its rows up to date, or build it anew
        (`rebuild`), calling `progress(done, total)`; without `force` (after an ingest) only
        where it lags. Returns {"rows": indexed (0 when it looked at nothing), "built": whether
        built anew}; by default the store keeps none."""
        return {"rows": 0, "built": False}

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """Writes inside it may put off index building to the end (PostgreSQL builds its vector
        index once); by default nothing is put off."""
        yield


class Store(SearchStore, WriteStore, Protocol):
    """A whole store: searched, written, and administered (listed, copied, closed). A backend
    subclasses it (for `bulk_load`'s default) and passes `tunewise.testing.StoreContract`."""

    def files(self) -> list[tuple[str, int, int]]:
        """(path, documents, chunks) of every file with documents, by path."""

    def file_hashes(self) -> list[tuple[str, str]]:
        """(path, file hash) of every completely written file."""

    def export(self) -> Iterator[StoredDocument]:
        """Every document with its chunks and vectors (text rebuilt from the chunks is not
        needed to write it elsewhere), for copying a store."""

    def stats(self) -> dict: ...

    def close(self) -> None: ...
