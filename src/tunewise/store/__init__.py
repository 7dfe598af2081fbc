"""Stores chosen by URL: `sqlite:PATH[#collection]` (default) or `postgresql://…[#collection]`
(pgvector). A collection is a store of its own: a schema in PostgreSQL, a file beside PATH in
SQLite (`store.db#hr` is `store.hr.db`; the default collection is PATH itself)."""

from __future__ import annotations

from tunewise.config import StoreSettings
from tunewise.objects import COLLECTION, DEFAULT_COLLECTION
from tunewise.store.base import (
    EmbedderMismatch,
    SearchStore,
    Store,
    StoredDocument,
    StoreError,
    WriteBatch,
    WriteStore,
    check_collection,
    ensure_built_with,
)
from tunewise.store.sqlite import SQLiteStore

SCHEMES = ("sqlite:PATH[#COLLECTION]", "PATH.db",
           "postgresql://USER:PASSWORD@HOST:PORT/DB[#COLLECTION]")


def is_store_url(text: str) -> bool:
    """Whether `text` names a store (any form `open_store` takes) rather than a file or folder."""
    base = text.partition("#")[0]
    return (text.startswith(("postgresql://", "postgres://", "sqlite:"))
            or (base.endswith((".db", ".sqlite", ".sqlite3")) and "://" not in base))


def with_collection(url: str, collection: str) -> str:
    """The URL of `collection` in the store that `url` names."""
    return f"{url.partition('#')[0]}#{check_collection(collection)}"


def open_store(url: str, settings: StoreSettings | None = None) -> Store:
    """The store at `url`, searched as `settings` say (`[store] ann`, `ef_search`)."""
    if url.startswith(("postgresql://", "postgres://")):
        # lazy: optional extra [postgres]
        from tunewise.store.postgres import PostgresStore

        return PostgresStore(url, settings=settings)
    url, _, collection = url.partition("#")
    if collection:
        check_collection(collection)
    if url.startswith("sqlite:"):
        path = url[len("sqlite:"):]
        path = path[2:] if path.startswith("///") else path  # sqlite:///abs/path -> /abs/path
    elif url.endswith((".db", ".sqlite", ".sqlite3")) and "://" not in url:
        path = url
    else:
        raise StoreError(f"unknown store URL {url!r}; valid forms: {', '.join(SCHEMES)}")

    if collection and collection != DEFAULT_COLLECTION:
        stem, dot, suffix = path.rpartition(".")
        path = f"{stem}.{collection}.{suffix}" if dot and "/" not in suffix else f"{path}.{collection}"
    return SQLiteStore(path, settings)


__all__ = ["open_store", "is_store_url", "with_collection", "DEFAULT_COLLECTION", "COLLECTION", "Store",
           "SearchStore", "WriteStore",
           "StoreError", "EmbedderMismatch", "StoredDocument", "WriteBatch", "ensure_built_with"]
