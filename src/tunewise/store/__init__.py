"""Stores chosen by URL: `sqlite:PATH` (default) or `postgresql://…[#collection]` (pgvector)."""

from __future__ import annotations

from tunewise.store.base import (
    EmbedderMismatch,
    Store,
    StoredDocument,
    StoreError,
    WriteBatch,
    ensure_built_with,
)

SCHEMES = ("sqlite:PATH", "PATH.db", "postgresql://USER:PASSWORD@HOST:PORT/DB[#COLLECTION]")


def open_store(url: str) -> Store:
    if url.startswith(("postgresql://", "postgres://")):
        from tunewise.store.postgres import PostgresStore

        return PostgresStore(url)
    if url.startswith("sqlite:"):
        path = url[len("sqlite:"):]
        path = path[2:] if path.startswith("///") else path  # sqlite:///abs/path -> /abs/path
    elif url.endswith((".db", ".sqlite", ".sqlite3")) and "://" not in url:
        path = url
    else:
        raise StoreError(f"unknown store URL {url!r}; valid forms: {', '.join(SCHEMES)}")
    from tunewise.store.sqlite import SQLiteStore

    return SQLiteStore(path)


__all__ = ["open_store", "Store", "StoreError", "EmbedderMismatch", "StoredDocument", "WriteBatch",
           "ensure_built_with"]
