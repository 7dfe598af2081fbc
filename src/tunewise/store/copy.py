"""Copying a store to another (SQLite ⇄ PostgreSQL, or between collections), vectors included,
so nothing is embedded again."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable

from tunewise.store.base import Store, StoreError, WriteBatch


@dataclass
class CopyReport:
    documents: int = 0
    chunks: int = 0
    files: int = 0


def copy_store(source: Store, target: Store, batch_documents: int = 200,
               on_document: Callable[[], None] | None = None) -> CopyReport:
    """Write every document of `source` into `target` in transactions of `batch_documents`,
    then mark the files complete. A copy that stops half-way is finished by running it again:
    documents are replaced by id, and files are only marked once all their documents are in."""
    built = source.embedder()
    if built is None:
        raise StoreError("the source store is empty: nothing to copy")
    target.check_embedder(*built)
    report, batch = CopyReport(), WriteBatch()
    with getattr(target, "bulk_load", nullcontext)():  # PostgreSQL: index once, at the end
        for doc in source.export():
            batch.documents.append(doc)
            report.documents += 1
            report.chunks += len(doc.chunks)
            if on_document:
                on_document()
            if len(batch.documents) >= batch_documents:
                target.write(batch)
                batch = WriteBatch()
        batch.files = source.file_hashes()
        report.files = len(batch.files)
        target.write(batch)
    return report
