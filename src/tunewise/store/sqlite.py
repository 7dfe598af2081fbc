"""The default store: one SQLite file (WAL) with documents, chunks, their float32 vectors and their
keyword terms. Every write is one transaction, so a killed process leaves a consistent store.

Search is exact and in memory: the vectors and the BM25 index (store/bm25.py) are read once, and
when the file changes (PRAGMA data_version) only what changed is read again: triggers log every
chunk added or removed in `chunk_log`, whichever process wrote it, and a reader applies the log
since its last look — so a search right after an upload reads that upload's chunks, not the store.
A hybrid query at 100k chunks takes a few milliseconds.

Past `[store] ann_min_chunks` chunks (or always, with `ann = "hnsw"`) dense search asks an HNSW
graph kept beside the file for its candidates and re-scores them exactly (store/ann.py); the graph
follows the same log, and a writer's `index()` keeps its file from falling far behind."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from tunewise.config import StoreSettings
from tunewise.objects import Chunk, source_glob
from tunewise.store.ann import HnswIndex
from tunewise.store.base import (
    METADATA_VALUES,
    EmbedderMismatch,
    Store,
    StoredDocument,
    StoreError,
    Where,
    WriteBatch,
)
from tunewise.store.bm25 import LOG_KEEP, KeywordRows, encode_terms, grown, query_term_ids
from tunewise.store.sql import SOURCE_SQL, chunk_from_row, exported, grouped_values

SCHEMA_VERSION = 1
BUSY_TIMEOUT = 60.0  # seconds a writer waits for another one
BUILD_BATCH = 20_000  # vectors read and added to a new HNSW graph at a time
LOAD_SEGMENT = 200_000  # rows of a keyword segment of the first load (one sort each)

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY, path TEXT NOT NULL, key TEXT NOT NULL, title TEXT,
    content_hash TEXT NOT NULL, n_chunks INTEGER NOT NULL, metadata TEXT, updated_at REAL);
CREATE INDEX IF NOT EXISTS documents_path ON documents(path);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, file_hash TEXT NOT NULL, updated_at REAL);
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, document_id TEXT NOT NULL,
    position INTEGER NOT NULL, text TEXT NOT NULL, start INTEGER, end INTEGER, page INTEGER,
    embedding BLOB NOT NULL,  -- float32 x dimension, unit length
    terms BLOB NOT NULL,      -- uint64 ids of the distinct stemmed words (store/bm25.py)
    counts BLOB NOT NULL,     -- uint16 occurrences of each term
    length INTEGER NOT NULL,  -- words, stopwords excluded
    context TEXT NOT NULL DEFAULT '');  -- title › heading, indexed with the text
CREATE INDEX IF NOT EXISTS chunks_document ON chunks(document_id);
CREATE TABLE IF NOT EXISTS chunk_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, row INTEGER NOT NULL, added INTEGER NOT NULL);
CREATE TRIGGER IF NOT EXISTS chunk_added AFTER INSERT ON chunks
    BEGIN INSERT INTO chunk_log (row, added) VALUES (new.rowid, 1); END;
CREATE TRIGGER IF NOT EXISTS chunk_removed AFTER DELETE ON chunks
    BEGIN INSERT INTO chunk_log (row, added) VALUES (old.rowid, 0); END;
"""


class SQLiteStore(Store):
    def __init__(self, path: str | Path, settings: StoreSettings | None = None):
        self.path = Path(path)
        self.settings = settings or StoreSettings()
        self.ann_folder = self.path.with_name(self.path.name + ".ann")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + BUSY_TIMEOUT
        while True:
            try:
                self.db = self._open()
                break
            except sqlite3.OperationalError as exc:
                # Two processes creating one store at once: switching a new file to WAL needs
                # an exclusive lock and SQLite may answer "locked" without waiting for it.
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise StoreError(f"{self.path} is not a usable SQLite store: {exc}") from exc
                time.sleep(0.05)
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{self.path} is not a usable SQLite store: {exc}") from exc
        self._version: tuple[int, int] | None = None
        self._memory: _Memory | None = None
        self._memory_lock = threading.Lock()  # threads sharing the store apply the log once

    def _open(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so two writers queue on the
        # lock instead of failing half-way; timeout is the busy wait.
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None,
                             check_same_thread=False)
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode=WAL").fetchall()
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(f"BEGIN IMMEDIATE; {SCHEMA} COMMIT;")
            columns = {r[1] for r in db.execute("PRAGMA table_info(chunks)")}
            if "context" not in columns:  # a store written before chunks had a context
                db.execute("ALTER TABLE chunks ADD COLUMN context TEXT NOT NULL DEFAULT ''")
            self.db = db
            with self._transaction():
                self._check_schema_version()
        except BaseException:
            db.close()
            raise
        return db

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except sqlite3.Error as exc:  # a constraint or I/O failure: nothing of it is kept
            self.db.execute("ROLLBACK")
            raise StoreError(f"{self.path}: {exc}") from exc
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _check_schema_version(self) -> None:
        row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            self.db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) != SCHEMA_VERSION:
            raise StoreError(f"store schema version {row[0]}, this tunewise reads {SCHEMA_VERSION}")

    # -- embedder ---------------------------------------------------------------------------
    def embedder(self) -> tuple[str, int] | None:
        rows = dict(self.db.execute(
            "SELECT key, value FROM meta WHERE key IN ('embedder', 'dimension')").fetchall())
        return (rows["embedder"], int(rows["dimension"])) if "embedder" in rows else None

    def check_embedder(self, name: str, dimension: int) -> None:
        with self._transaction():
            current = self.embedder()
            if current is None:
                self.db.executemany("INSERT INTO meta VALUES (?, ?)",
                                    [("embedder", name), ("dimension", str(dimension))])
            elif current != (name, dimension):
                raise EmbedderMismatch(
                    f"{self.path} was built with embedder {current[0]} ({current[1]}-d), not "
                    f"{name} ({dimension}-d); use that embedder, or a new store for this one")

    # -- writing ----------------------------------------------------------------------------
    def file_hash(self, path: str) -> str | None:
        row = self.db.execute("SELECT file_hash FROM files WHERE path=?", (path,)).fetchone()
        return row[0] if row else None

    def document_hashes(self, path: str) -> dict[str, str]:
        return dict(self.db.execute("SELECT id, content_hash FROM documents WHERE path=?", (path,)))

    def write(self, batch: WriteBatch) -> None:
        now = time.time()
        with self._transaction():
            stale = batch.delete_ids + [d.id for d in batch.documents]
            self._delete_documents(stale)
            for d in batch.documents:
                doc = d.document
                self.db.execute(
                    "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (d.id, doc.path, doc.key, doc.title, d.content_hash, len(d.chunks),
                     json.dumps(doc.metadata, default=str), now))
                vectors = np.ascontiguousarray(d.vectors, dtype=np.float32)
                self.db.executemany(
                    "INSERT INTO chunks (id, document_id, position, text, start, end, page, "
                    "embedding, terms, counts, length, context) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(c.id, d.id, c.position, c.text, c.start, c.end, c.page, vectors[i].tobytes(),
                      *encode_terms(c.indexed_text), c.context) for i, c in enumerate(d.chunks)])
            self.db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?)",
                                [(path, digest, now) for path, digest in batch.files])
            self.db.execute("DELETE FROM chunk_log WHERE seq <= (SELECT max(seq) FROM chunk_log) "
                            "- ?", (LOG_KEEP,))

    def _delete_documents(self, ids: list[str]) -> None:
        for i in range(0, len(ids), 500):  # SQLite caps the number of bound parameters
            part = ids[i : i + 500]
            marks = ",".join("?" * len(part))
            self.db.execute(f"DELETE FROM chunks WHERE document_id IN ({marks})", part)
            self.db.execute(f"DELETE FROM documents WHERE id IN ({marks})", part)

    def set_metadata(self, metadata: dict[str, dict]) -> int:
        with self._transaction():
            changed = self.db.executemany(
                "UPDATE documents SET metadata = ? WHERE id = ?",
                [(json.dumps(m, default=str), doc_id) for doc_id, m in metadata.items()]).rowcount
        return changed

    def remove_path(self, path: str) -> int:
        # A prefix test rather than GLOB: file names may contain * ? [ ].
        folder = path.rstrip("/") + "/"
        under = "path = ? OR substr(path, 1, ?) = ?"
        params = (path, len(folder), folder)
        with self._transaction():
            ids = [r[0] for r in self.db.execute(f"SELECT id FROM documents WHERE {under}", params)]
            self._delete_documents(ids)
            self.db.execute(f"DELETE FROM files WHERE {under}", params)
        return len(ids)

    def paths(self) -> list[str]:
        return [r[0] for r in self.db.execute(
            "SELECT path FROM documents UNION SELECT path FROM files ORDER BY 1")]

    def files(self) -> list[tuple[str, int, int]]:
        return [tuple(r) for r in self.db.execute(
            "SELECT path, count(*), sum(n_chunks) FROM documents GROUP BY path ORDER BY path")]

    def metadata_values(self, most: int = METADATA_VALUES) -> dict[str, list]:
        rows = self.db.execute(
            "WITH v AS (SELECT DISTINCT j.key AS key, j.value AS value FROM documents d, "
            "json_each(d.metadata) j WHERE j.type IN ('text', 'integer', 'real')) "
            "SELECT key, value FROM v WHERE key IN (SELECT key FROM v GROUP BY key "
            "HAVING count(*) <= ?)", (most,)).fetchall()
        return grouped_values(rows)

    # -- reading ----------------------------------------------------------------------------
    def _read(self) -> "_Memory":
        """The in-memory search data, brought up to date: unchanged if the file is, else by the
        chunks logged since it was last read, else (first use, or too far behind) whole."""
        with self._memory_lock:
            return self._refresh()

    def _refresh(self) -> "_Memory":
        version = (self.db.execute("PRAGMA data_version").fetchone()[0], self.db.total_changes)
        if self._memory is not None and version == self._version:
            return self._memory
        own = not self.db.in_transaction
        if own:
            self.db.execute("BEGIN")  # one snapshot: the log and the rows it names agree
        try:
            first, last = self.db.execute("SELECT min(seq), max(seq) FROM chunk_log").fetchone()
            last = last or 0
            mem = self._memory
            if mem is None or mem.needs_reload(first):
                mem = _Memory()
                mem.load_all(_batches(self.db.execute(
                    "SELECT rowid, embedding, terms, counts, length FROM chunks ORDER BY rowid"),
                    BUILD_BATCH), self.db.execute("SELECT count(*) FROM chunks").fetchone()[0])
                if self._wants_ann(mem.bm25.live):
                    mem.ann = self._saved_ann(first, mem.vectors_of)
            elif last > mem.seq:
                entries = self.db.execute("SELECT row, added FROM chunk_log WHERE seq > ? "
                                          "ORDER BY seq", (mem.seq,)).fetchall()
                self._apply(mem, entries)
                if mem.ann is not None:
                    mem.ann.replay(entries, mem.vectors_of)
            mem.seq = max(mem.seq, last)
        finally:
            if own:
                self.db.execute("COMMIT")
        if mem.ann is None and self._wants_ann(mem.bm25.live):
            mem.ann = self._new_ann()
            live = np.flatnonzero(mem.alive)
            for i in range(0, len(live), BUILD_BATCH):  # a batch at a time: no second copy
                part = live[i : i + BUILD_BATCH]
                mem.ann.add(mem.rows[part], mem.vectors[part])
        if mem.ann is not None:
            mem.ann.seq = mem.seq
            if mem.ann.unsaved > _save_after(len(mem.ann)):
                self._save(mem.ann)
        self._memory, self._version = mem, version
        return mem

    def _apply(self, mem: "_Memory", log: list[tuple[int, int]]) -> None:
        """Replay logged additions and removals in order; read the added rows once."""
        rows = mem.replay(log)
        for i in range(0, len(rows), 500):
            part = rows[i : i + 500]
            mem.load(self.db.execute(
                "SELECT rowid, embedding, terms, counts, length FROM chunks "
                f"WHERE rowid IN ({','.join('?' * len(part))}) ORDER BY rowid", part).fetchall())

    # -- the HNSW graph (store/ann.py) ----------------------------------------------------------
    def _wants_ann(self, live: int) -> bool:
        mode = self.settings.ann
        return live > 0 and (mode == "hnsw" or (mode == "auto"
                                                and live >= self.settings.ann_min_chunks))

    def _new_ann(self) -> HnswIndex:
        return HnswIndex(self.embedder()[1], self.settings.ef_search)

    def _saved_ann(self, first_logged: int | None,
                   vectors_of: Callable[[list[int]], dict]) -> HnswIndex | None:
        """The saved graph caught up with the store by its log (inside the caller's snapshot),
        or None when there is none to trust: missing, damaged, or behind what the log holds."""
        ann = HnswIndex.load(self.ann_folder, *self.embedder(), self.settings.ef_search)
        if ann is None:
            return None
        if first_logged is not None and ann.seq < first_logged - 1:
            log.warning("%s is further behind the store than its log reaches; rebuilding it",
                        self.ann_folder)
            return None
        ann.replay(self.db.execute("SELECT row, added FROM chunk_log WHERE seq > ? ORDER BY seq",
                                   (ann.seq,)).fetchall(), vectors_of)
        return ann

    def _save(self, ann: HnswIndex) -> None:
        """Save the graph; a failure (a full disk) is logged and search goes on from memory."""
        try:
            ann.save(self.ann_folder, self.embedder()[0])
        except (OSError, RuntimeError) as exc:
            ann.unsaved = 0  # not tried again until as many changes more
            log.warning("%s: the HNSW index could not be saved (%s); searches use the one in "
                        "memory, and the next start rebuilds it", self.ann_folder, exc)

    def _vectors_of(self, rows: list[int]) -> dict[int, np.ndarray]:
        found = {}
        for i in range(0, len(rows), 500):
            part = rows[i : i + 500]
            found.update((r, np.frombuffer(v, np.float32)) for r, v in self.db.execute(
                f"SELECT rowid, embedding FROM chunks WHERE rowid IN ({','.join('?' * len(part))})",
                part))
        return found

    def index(self, rebuild: bool = False, progress: Callable[[int, int], None] | None = None,
              force: bool = True) -> dict:
        """Bring the HNSW graph's file up to date with the store and save it: caught up from the
        log, or built anew (`rebuild`, or no file to trust) with `progress(done, total)`. Without
        `force` (after an ingest) only when the store wants a graph and the file lags by more
        than a search would gladly replay."""
        built = self.embedder()
        if built is None:
            return {"rows": 0, "built": False}
        with self._memory_lock:
            mem = self._memory
            if mem is not None and mem.ann is not None and not rebuild:
                ann = self._refresh().ann  # caught up, and saved if it changed enough
                if force:
                    self._save(ann)
                return {"rows": len(ann), "built": False}
            self.db.execute("BEGIN")
            try:
                first, last = self.db.execute("SELECT min(seq), max(seq) FROM chunk_log").fetchone()
                last, total = last or 0, self.db.execute("SELECT count(*) FROM chunks").fetchone()[0]
                if not force and not self._lags(total, last):
                    return {"rows": total, "built": False}
                ann = None if rebuild else self._saved_ann(first, self._vectors_of)
                fresh = ann is None
                if fresh:
                    ann = self._new_ann()
                    done = 0
                    for rows in _batches(self.db.execute(
                            "SELECT rowid, embedding FROM chunks ORDER BY rowid"), BUILD_BATCH):
                        ann.add([r for r, _ in rows], np.frombuffer(
                            b"".join(v for _, v in rows), np.float32).reshape(len(rows), -1))
                        done += len(rows)
                        if progress:
                            progress(done, total)
                ann.seq = last
            finally:
                self.db.execute("COMMIT")
            self._save(ann)
            if mem is not None:
                mem.ann = ann  # replaying the log again from mem.seq is harmless: it only re-adds
        return {"rows": len(ann), "built": fresh}

    def _lags(self, total: int, last: int) -> bool:
        """Whether an ingest should bring the graph's file up to date: the store wants a graph
        and the file is missing or behind by more than a search would replay."""
        if not self._wants_ann(total):
            return False
        try:
            seq = json.loads((self.ann_folder / "header.json").read_text())["seq"]
        except (OSError, ValueError, KeyError, TypeError):
            return True
        return last - int(seq) > _save_after(total)

    def _scope_rows(self, source: str | None, where: Where) -> np.ndarray:
        sql, params = _scope_sql(source, where)
        return np.array([r[0] for r in self.db.execute(
            "SELECT c.rowid FROM chunks c JOIN documents d ON d.id = c.document_id "
            f"WHERE 1{sql}", params)], dtype=np.int64)

    def dense(self, vector: np.ndarray, k: int, source: str | None = None,
              where: Where = (), exact: bool = False) -> list[tuple[int, float]]:
        """`exact`: read every vector even where the HNSW graph would answer (to measure it)."""
        mem = self._read()
        if not mem.bm25.live:
            return []
        vector = np.asarray(vector, dtype=np.float32)
        if source is not None or where:  # filtered: exact over the matching rows
            return mem.top(mem.vectors[: mem.size] @ vector, k, self._scope_rows(source, where))
        if mem.ann is not None and not exact:
            return mem.rescored(mem.ann.search(vector, k), vector, k)
        return mem.top(mem.vectors[: mem.size] @ vector, k)

    def keyword(self, query: str, k: int, source: str | None = None,
                where: Where = ()) -> list[tuple[int, float]]:
        mem = self._read()
        scores = mem.bm25.scores(query_term_ids(query))
        scope = self._scope_rows(source, where) if source is not None or where else None
        return [(r, s) for r, s in mem.top(scores, k, scope) if s > 0]

    def similarities(self, vector: np.ndarray, rows: list[int]) -> list[float]:
        mem = self._read()
        vector = np.asarray(vector, dtype=np.float32)
        return [float(mem.vectors[mem.where[r]] @ vector) if r in mem.where
                else float("nan") for r in rows]  # nan: deleted meanwhile by another writer

    def chunks(self, rows: list[int]) -> dict[int, Chunk]:
        found = {}
        for i in range(0, len(rows), 500):
            part = rows[i : i + 500]
            for r in self.db.execute(
                "SELECT c.rowid, c.id, c.document_id, c.position, c.text, c.start, c.end, c.page,"
                " d.path, d.key, d.title, c.context FROM chunks c"
                " JOIN documents d ON d.id = c.document_id"
                f" WHERE c.rowid IN ({','.join('?' * len(part))})", part):
                found[r[0]] = chunk_from_row(r[1:])
        return found

    def iter_chunks(self, source: str | None = None, where: Where = ()) -> Iterator[Chunk]:
        sql, args = _scope_sql(source or None, where)
        rows = self.db.execute(
            "SELECT c.id, c.document_id, c.position, c.text, c.start, c.end, c.page, d.path, d.key,"
            " d.title, c.context FROM chunks c JOIN documents d ON d.id = c.document_id "
            f"WHERE 1{sql} ORDER BY d.path, d.key, c.position", args).fetchall()
        for r in rows:
            yield chunk_from_row(r)

    def export(self) -> Iterator[StoredDocument]:
        docs = self.db.execute("SELECT id, path, key, title, content_hash, metadata FROM documents "
                               "ORDER BY path, key").fetchall()
        for doc_id, path, key, title, content_hash, metadata in docs:
            rows = self.db.execute(
                "SELECT id, position, text, start, end, page, context, embedding FROM chunks "
                "WHERE document_id=? ORDER BY position", (doc_id,)).fetchall()
            yield exported(doc_id, path, key, title, content_hash, metadata,
                           [r[:7] for r in rows], [np.frombuffer(r[7], np.float32) for r in rows])

    def file_hashes(self) -> list[tuple[str, str]]:
        return self.db.execute("SELECT path, file_hash FROM files ORDER BY path").fetchall()

    def stats(self) -> dict:
        def count(table: str) -> int:
            return self.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

        embedder, chunks = self.embedder(), count("chunks")
        return {"store": f"sqlite:{self.path}", "files": count("files"),
                "documents": count("documents"), "chunks": chunks,
                "embedder": f"{embedder[0]} ({embedder[1]}-d)" if embedder else None,
                "bytes": self.path.stat().st_size if self.path.exists() else 0,
                "dense search": ("HNSW graph, candidates re-scored exactly"
                                 if self._wants_ann(chunks) else "exact")}

    def close(self) -> None:
        self.db.close()


def _save_after(rows: int) -> int:
    """Changes a graph in memory takes before it is saved again: a tenth of it (at least 1,000,
    at most half the log a reader can replay)."""
    return min(max(1000, rows // 10), LOG_KEEP // 2)


def _batches(cursor, size: int) -> Iterator[list]:
    while rows := cursor.fetchmany(size):
        yield rows


def _scope_sql(source: str | None, where: Where) -> tuple[str, list]:
    """' AND …' over `documents d` for a source glob and metadata conditions, with the meaning
    objects.Condition.matches gives them (scalars only; numbers compared as numbers)."""
    sql, params = "", []
    if source is not None:
        sql, params = f" AND {SOURCE_SQL} GLOB ?", [source_glob(source)]
    for c in where:
        path = f'$."{c.key}"'  # the key is letters, digits, _ . - (objects.parse_where)
        if c.op in ("=", "!="):
            sql += (" AND (CASE json_type(d.metadata, ?) WHEN 'text' THEN json_extract(d.metadata, ?)"
                    " WHEN 'integer' THEN CAST(json_extract(d.metadata, ?) AS TEXT)"
                    " WHEN 'real' THEN CAST(json_extract(d.metadata, ?) AS TEXT)"
                    f" WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' END) {c.op} ?")
            params += [path] * 4 + [c.text]
        else:
            sql += (" AND (CASE WHEN json_type(d.metadata, ?) IN ('integer', 'real') THEN "
                    f"json_extract(d.metadata, ?) END) {c.op} ?")
            params += [path, path, c.value]
    return sql, params


class _Memory(KeywordRows):
    """What search reads, in memory, by position: the keyword index and row ids (KeywordRows)
    and each chunk's vector."""

    def __init__(self) -> None:
        super().__init__()
        self.vectors: np.ndarray | None = None  # (positions, dimension), sized at the first load
        self.ann: HnswIndex | None = None  # the graph's candidates, when the store wants one

    def vectors_of(self, rows: list[int]) -> dict[int, np.ndarray]:
        return {r: self.vectors[self.where[r]] for r in rows if r in self.where}

    def rescored(self, rows: np.ndarray, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The k best of candidate rows by their exact cosine (ties: the older row), rows
        removed since the graph saw them left out."""
        positions = np.array([self.where[r] for r in rows.tolist() if r in self.where], np.int64)
        if not len(positions):
            return []
        scores = self.vectors[positions] @ vector
        order = np.lexsort((self.rows[positions], -scores))[:k]
        return [(int(self.rows[positions[i]]), float(scores[i])) for i in order]

    def load_all(self, batches: Iterator[list], total: int) -> None:
        """The first load: batches of (rowid, embedding, terms, counts, length) rows, `total` in
        all, into vectors of exactly that size and keyword segments of up to LOAD_SEGMENT rows
        each — never every row's tuple, or every posting's sort, at once (at a million chunks
        those took more memory than the index they fill)."""
        parts: list[list[np.ndarray]] = [[], [], [], [], []]  # rows, terms, counts, per row, lengths
        n = held = 0
        for batch in batches:
            vectors, *columns = _columns(batch)
            if self.vectors is None:
                self.vectors = np.empty((total, vectors.shape[1]), np.float32)
            self.vectors[n : n + len(batch)] = vectors
            for part, column in zip(parts, columns):
                part.append(column)
            n, held = n + len(batch), held + len(batch)
            if held >= LOAD_SEGMENT:
                self._load_segment(parts)
                held = 0
        if held:
            self._load_segment(parts)
        if n:
            self.vectors = self.vectors[:n]

    def _load_segment(self, parts: list[list[np.ndarray]]) -> None:
        joined = [np.concatenate(p) for p in parts]
        for p in parts:
            p.clear()
        self.add_arrays(*joined, load=True)

    def load(self, data: list) -> None:
        """Rows of (rowid, embedding, terms, counts, length) added since the first load."""
        if not data:
            return
        vectors, *columns = _columns(data)
        positions = self.add_arrays(*columns)
        if self.vectors is None:
            self.vectors = np.zeros((0, vectors.shape[1]), np.float32)
        self.vectors = grown(self.vectors, self.size)
        self.vectors[positions] = vectors


def _columns(data: list) -> tuple[np.ndarray, ...]:
    """Rows of (rowid, embedding, terms, counts, length) as arrays: vectors, row ids, term ids
    end to end, their counts, terms a row, lengths."""
    n = len(data)
    return (np.frombuffer(b"".join(r[1] for r in data), np.float32).reshape(n, -1),
            np.fromiter((r[0] for r in data), np.int64, n),
            np.frombuffer(b"".join(r[2] for r in data), np.uint64),
            np.frombuffer(b"".join(r[3] for r in data), np.uint16),
            np.fromiter((len(r[2]) // 8 for r in data), np.int64, n),
            np.fromiter((r[4] for r in data), np.float32, n))
