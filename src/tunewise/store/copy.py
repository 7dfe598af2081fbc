"""Copying a store to another (SQLite ⇄ PostgreSQL, or between collections), vectors included,
so nothing is embedded again; or re-embedding it into another store with a new embedder (a
fine-tuned one), which leaves the original serving until the copy is complete."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from tunewise.store.base import Store, StoreError, WriteBatch


@dataclass
class CopyReport:
    documents: int = 0
    chunks: int = 0
    files: int = 0
    skipped: int = 0  # re-embedding: documents the target already held (an earlier run's)


def copy_store(source: Store, target: Store, batch_documents: int = 200,
               on_document: Callable[[], None] | None = None, embedder=None) -> CopyReport:
    """Write every document of `source` into `target` in transactions of `batch_documents`,
    then mark the files complete. A copy that stops half-way is finished by running it again:
    documents are replaced by id, and files are only marked once all their documents are in.

    With `embedder`, every chunk is embedded again (the text the embedder reads: context, then
    text) and the target records that embedder; documents the target already holds with the
    same content are skipped, so an interrupted re-embedding resumes where it stopped."""
    built = source.embedder()
    if built is None:
        raise StoreError("the source store is empty: nothing to copy")
    if embedder is None:
        target.check_embedder(*built)
    else:
        target.check_embedder(embedder.name, embedder.dimension)
    report, batch = CopyReport(), WriteBatch()
    held: dict[str, dict[str, str]] = {}  # path -> the target's {document id: content hash}
    with target.bulk_load():  # PostgreSQL: the vector index built once, at the end
        for doc in source.export():
            if on_document:
                on_document()
            if embedder is not None:
                path = doc.document.path
                if path not in held:
                    held[path] = target.document_hashes(path)
                if held[path].get(doc.id) == doc.content_hash:
                    report.skipped += 1
                    continue
            batch.documents.append(doc)
            report.documents += 1
            report.chunks += len(doc.chunks)
            if len(batch.documents) >= batch_documents:
                target.write(_embedded(batch, embedder))
                batch = WriteBatch()
        batch.files = source.file_hashes()
        report.files = len(batch.files)
        target.write(_embedded(batch, embedder))
    return report


def _embedded(batch: WriteBatch, embedder) -> WriteBatch:
    """The batch with its chunks embedded again by `embedder` (in one call: batching across
    documents is what keeps the embedder busy), or as it is without one."""
    if embedder is None or not batch.documents:
        return batch
    vectors = embedder.embed([c.indexed_text for d in batch.documents for c in d.chunks])
    documents, start = [], 0
    for d in batch.documents:
        documents.append(replace(d, vectors=vectors[start : start + len(d.chunks)]))
        start += len(d.chunks)
    return replace(batch, documents=documents)
