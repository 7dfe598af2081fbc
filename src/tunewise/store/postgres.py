"""PostgreSQL + pgvector store, for teams that share one document database: the same Store
protocol as SQLite. Dense search is pgvector's HNSW index (cosine); keyword search is BM25 over
PostgreSQL's full-text lexemes (a stored tsvector per chunk), scored in each process from an
in-memory index of the collection's postings that triggers keep current (`chunk_log`: every chunk
added or removed, by whichever process; a search first applies what changed), or in SQL over the
GIN index (`memory=False`, the reference it is tested against). Every write is one transaction.
A collection is a schema (`postgresql://…#NAME`, default `default`), so several live in one
database. Writers to one collection take a transaction-scoped advisory lock, so concurrent
ingestion from several processes queues instead of colliding on the same document."""

from __future__ import annotations

import json
import re
import threading
import time
import zlib
from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np

from tunewise.config import StoreSettings
from tunewise.objects import DEFAULT_COLLECTION, Chunk, source_glob
from tunewise.store.base import (
    METADATA_VALUES,
    EmbedderMismatch,
    Store,
    StoredDocument,
    StoreError,
    Where,
    WriteBatch,
    check_collection,
)
from tunewise.store.bm25 import K1, LOG_KEEP, B, KeywordRows, inverse_document_frequency, stem_id
from tunewise.store.sql import SOURCE_SQL, chunk_from_row, exported, grouped_values

SCHEMA_VERSION = 1
TEXT_CONFIG = "english"  # PostgreSQL's stemmer and stopwords for the keyword index

SCHEMA = """
CREATE TABLE IF NOT EXISTS {s}.meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.documents (
    id TEXT PRIMARY KEY, path TEXT NOT NULL, key TEXT NOT NULL, title TEXT,
    content_hash TEXT NOT NULL, n_chunks INTEGER NOT NULL, metadata JSONB,
    updated_at DOUBLE PRECISION);
CREATE INDEX IF NOT EXISTS documents_path ON {s}.documents (path);
CREATE TABLE IF NOT EXISTS {s}.files (
    path TEXT PRIMARY KEY, file_hash TEXT NOT NULL, updated_at DOUBLE PRECISION);
CREATE TABLE IF NOT EXISTS {s}.chunks (
    row BIGSERIAL PRIMARY KEY, id TEXT NOT NULL UNIQUE,
    document_id TEXT NOT NULL REFERENCES {s}.documents (id) ON DELETE CASCADE,
    position INTEGER NOT NULL, text TEXT NOT NULL, start_offset INTEGER, end_offset INTEGER,
    page INTEGER,
    embedding vector NOT NULL,  -- typed vector(DIM) once the embedder is recorded
    context TEXT NOT NULL DEFAULT '',  -- title › heading, indexed with the text
    tsv tsvector GENERATED ALWAYS AS (to_tsvector('{config}', context || ' ' || text)) STORED,
    doclen INTEGER NOT NULL);   -- stemmed words without stopwords, counted with repeats
CREATE INDEX IF NOT EXISTS chunks_document ON {s}.chunks (document_id);
CREATE INDEX IF NOT EXISTS chunks_tsv ON {s}.chunks USING gin (tsv);
CREATE TABLE IF NOT EXISTS {s}.lexemes (lexeme TEXT PRIMARY KEY, df INTEGER NOT NULL);
INSERT INTO {s}.meta VALUES ('bm25_chunks', '0'), ('bm25_length', '0') ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS {s}.chunk_log (
    seq BIGSERIAL PRIMARY KEY, row BIGINT NOT NULL, added BOOLEAN NOT NULL);
"""
# Writers hold the collection's advisory lock until they commit, so log entries commit in the
# order of their sequence numbers and a reader that has seen entry n has seen every one before.
LOG_TRIGGER = """
CREATE OR REPLACE FUNCTION {s}.log_chunk() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO {s}.chunk_log (row, added) VALUES (NEW.row, true);
    ELSE
        INSERT INTO {s}.chunk_log (row, added) VALUES (OLD.row, false);
    END IF;
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER chunk_logged AFTER INSERT OR DELETE ON {s}.chunks
    FOR EACH ROW EXECUTE FUNCTION {s}.log_chunk()
"""
# Each chunk's tsvector in its text form ('lexeme':1,5 'other':3) and its length, as the in-memory
# keyword index reads them (parsed by _lexemes, which cut a process's first keyword search at 100k
# chunks from 9.9 to 7.8 s against unnesting the lexemes in SQL: bench/postgres_store.py).
POSTINGS_SQL = "SELECT c.row, c.doclen, c.tsv::text FROM {s}.chunks c WHERE {where} ORDER BY c.row"
# Keyword search is BM25 (k1, b as in store/bm25.py) over PostgreSQL's full-text index: the GIN
# index finds the chunks with any query lexeme, the term frequencies come from their tsvectors,
# the document frequencies from `lexemes`, kept current by every write under the writer lock.
# Scores are rounded for ordering: the sum's order follows the plan, and equal texts must tie.
# (ts_rank_cd has no inverse document frequency: on SciFact it scored nDCG@10 0.418 against
# BM25's 0.687.)
KEYWORD_SQL = """
WITH q AS (SELECT * FROM unnest(%(lexemes)s::text[], %(idfs)s::float8[]) AS q (lexeme, idf))
SELECT c.row, round(sum(q.idf * t.tf * (%(k1)s + 1)
                  / (t.tf + %(k1)s * (1 - %(b)s + %(b)s * c.doclen / %(avgdl)s)))::numeric,
                  9)::float8 AS score
FROM {s}.chunks c
CROSS JOIN LATERAL (
    SELECT u.lexeme, coalesce(array_length(u.positions, 1), 1) AS tf
    FROM unnest(ts_filter(setweight(c.tsv, 'A', %(lexemes)s), '{{a}}')) u) t
JOIN q ON q.lexeme = t.lexeme
WHERE c.tsv @@ to_tsquery('simple', %(tsquery)s){where}
GROUP BY c.row ORDER BY score DESC, c.row LIMIT %(k)s
"""
DOCLEN_SQL = ("(SELECT coalesce(sum(coalesce(array_length(positions, 1), 1)), 0) "
              "FROM unnest(to_tsvector('{config}', %s)))")


def parse_url(url: str) -> tuple[str, str]:
    """(connection URL, collection) from `postgresql://…[#collection]`."""
    base, _, collection = url.partition("#")
    return base, check_collection(collection or DEFAULT_COLLECTION)


def _glob_to_like(pattern: str) -> str:
    """A store source glob (* and ?) as a LIKE pattern; % and _ in the text are literal."""
    out = []
    for ch in pattern:
        out.append({"*": "%", "?": "_", "%": r"\%", "_": r"\_", "\\": "\\\\"}.get(ch, ch))
    return "".join(out)


# pgvector's graph: 32 links a node and a build beam of 128. Its defaults (16 and 64) reached
# recall@10 0.888 at a million chunks with ef_search 150 and 0.911 with 300; SQLite's 64 links
# made pgvector's build 9x slower at 30,000 chunks (bench/RESULTS.md).
LINKS, BUILD_BEAM = 32, 128
HNSW_OPTIONS = f"m = {LINKS}, ef_construction = {BUILD_BEAM}"
HNSW_SQL = ("CREATE INDEX IF NOT EXISTS chunks_embedding ON {s}.chunks "
            f"USING hnsw (embedding vector_cosine_ops) WITH ({HNSW_OPTIONS})")


def build_memory_mb(rows: int, dimension: int, most: int) -> int:
    """maintenance_work_mem for building the index of `rows` vectors: the graph with room to
    spare (its index measured 608 MB at 300,000 384-d chunks), at least 64 MB, at most `most`."""
    graph = rows * (4 * dimension + 16 * LINKS) / 2**20
    return int(min(most, max(64, 1.5 * graph)))


class PostgresStore(Store):
    def __init__(self, url: str, pool_size: int = 4, settings: StoreSettings | None = None):
        # [store] ann = "exact" scans every vector; otherwise pgvector's HNSW index answers, with
        # ef_search as its candidate list (raised to k for deeper searches), as in SQLite.
        self.settings = settings or StoreSettings()
        try:
            from psycopg_pool import ConnectionPool
        except ImportError as exc:  # pragma: no cover - an install without the extra
            raise StoreError("the postgres store needs psycopg: pip install 'tunewise[postgres]'") \
                from exc
        self.url, self.collection = parse_url(url)
        self.schema = f"tunewise_{self.collection}"
        try:
            self.pool = ConnectionPool(self.url, min_size=1, max_size=pool_size, open=True,
                                       timeout=30, kwargs={"autocommit": False})
            self.pool.wait(timeout=30)
        except Exception as exc:
            raise StoreError(f"cannot connect to {self._safe_url()}: {exc}") from exc
        self._memory: KeywordRows | None = None
        self._memory_lock = threading.Lock()
        self._create()

    def _safe_url(self) -> str:
        return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", self.url)

    def __repr__(self) -> str:
        return f"PostgresStore({self._safe_url()!r}, collection={self.collection!r})"

    @contextmanager
    def _tx(self, write: bool = False) -> Iterator:
        """A connection inside one transaction; a writer first takes the collection's lock."""
        # lazy: optional extra [postgres]
        import psycopg

        try:
            with self.pool.connection() as conn:
                with conn.transaction():
                    if write:
                        conn.execute("SELECT pg_advisory_xact_lock(%s)",
                                     (zlib.crc32(self.schema.encode()),))
                    yield conn
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL ({self.collection}): {exc}") from exc

    def _create(self) -> None:
        with self._tx(write=True) as c:
            c.execute("CREATE EXTENSION IF NOT EXISTS vector")
            c.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
            for statement in SCHEMA.format(s=self.schema, config=TEXT_CONFIG).split(";"):
                if statement.strip():
                    c.execute(statement)
            self._add_context_column(c)
            c.execute(LOG_TRIGGER.format(s=self.schema))
            row = c.execute(f"SELECT value FROM {self.schema}.meta WHERE key='schema_version'"
                            ).fetchone()
            if row is None:
                c.execute(f"INSERT INTO {self.schema}.meta VALUES ('schema_version', %s)",
                          (str(SCHEMA_VERSION),))
            elif int(row[0]) != SCHEMA_VERSION:
                raise StoreError(f"store schema version {row[0]}, this tunewise reads "
                                 f"{SCHEMA_VERSION}")

    def _add_context_column(self, c) -> None:
        """A collection written before chunks had a context: add it, and index it with the text
        (its rows have no context, so their terms and BM25 statistics are unchanged)."""
        s = self.schema
        found = c.execute("SELECT 1 FROM information_schema.columns WHERE table_schema = %s AND "
                          "table_name = 'chunks' AND column_name = 'context'", (s,)).fetchone()
        if found:
            return
        c.execute(f"ALTER TABLE {s}.chunks ADD COLUMN context TEXT NOT NULL DEFAULT ''")
        c.execute(f"ALTER TABLE {s}.chunks DROP COLUMN tsv")  # its GIN index goes with it
        c.execute(f"ALTER TABLE {s}.chunks ADD COLUMN tsv tsvector GENERATED ALWAYS AS "
                  f"(to_tsvector('{TEXT_CONFIG}', context || ' ' || text)) STORED")
        c.execute(f"CREATE INDEX IF NOT EXISTS chunks_tsv ON {s}.chunks USING gin (tsv)")

    # -- embedder ---------------------------------------------------------------------------
    def embedder(self) -> tuple[str, int] | None:
        with self._tx() as c:
            return self._embedder(c)

    def _embedder(self, c) -> tuple[str, int] | None:
        rows = dict(c.execute(f"SELECT key, value FROM {self.schema}.meta "
                              "WHERE key IN ('embedder', 'dimension')").fetchall())
        return (rows["embedder"], int(rows["dimension"])) if "embedder" in rows else None

    def check_embedder(self, name: str, dimension: int) -> None:
        with self._tx(write=True) as c:
            current = self._embedder(c)
            if current is None:
                c.execute(f"INSERT INTO {self.schema}.meta VALUES ('embedder', %s), "
                          "('dimension', %s)", (name, str(int(dimension))))
                # the column gets its dimension now, which HNSW needs to index it
                c.execute(f"ALTER TABLE {self.schema}.chunks ALTER COLUMN embedding TYPE "
                          f"vector({int(dimension)})")
                c.execute(HNSW_SQL.format(s=self.schema))
            elif current != (name, dimension):
                raise EmbedderMismatch(
                    f"{self} was built with embedder {current[0]} ({current[1]}-d), not {name} "
                    f"({dimension}-d); use that embedder, or another collection for this one")

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """Load many chunks faster: the HNSW index is dropped and built once at the end (pgvector
        builds it several times faster than it grows it insert by insert). Searches meanwhile
        are exact scans: slower, still correct."""
        with self._tx(write=True) as c:
            c.execute(f"DROP INDEX IF EXISTS {self.schema}.chunks_embedding")
        try:
            yield
        finally:
            with self._tx(write=True) as c:
                self._build_memory(c)
                c.execute(HNSW_SQL.format(s=self.schema))

    def index(self, rebuild: bool = False, progress: Callable[[int, int], None] | None = None,
              force: bool = True) -> dict:
        """pgvector keeps its HNSW index current on every write; `rebuild` builds it anew
        (compacted: removed rows' entries dropped). After an ingest (not `force`): nothing to do."""
        if not (rebuild or force):
            return {"rows": 0, "built": False}
        with self._tx(write=rebuild) as c:
            if not rebuild:
                return {"rows": self._rows(c), "built": False}
            rows = self._build_memory(c)
            # an index made with other options (pgvector's defaults, before) takes these now
            c.execute(f"ALTER INDEX {self.schema}.chunks_embedding SET ({HNSW_OPTIONS})")
            c.execute(f"REINDEX INDEX {self.schema}.chunks_embedding")
        return {"rows": rows, "built": True}

    def _rows(self, c) -> int:
        return c.execute(f"SELECT count(*) FROM {self.schema}.chunks").fetchone()[0]

    def _build_memory(self, c) -> int:
        """Let this transaction's index build hold the whole graph (pgvector's documentation: a build
        is much faster when it fits in maintenance_work_mem), up to `[store] index_memory_mb`;
        the rows it is sized for."""
        rows = self._rows(c)
        dimension = (self._embedder(c) or ("", 0))[1]
        megabytes = build_memory_mb(rows, dimension, self.settings.index_memory_mb)
        c.execute(f"SET LOCAL maintenance_work_mem = '{megabytes}MB'")
        return rows

    # -- writing ----------------------------------------------------------------------------
    def file_hash(self, path: str) -> str | None:
        with self._tx() as c:
            row = c.execute(f"SELECT file_hash FROM {self.schema}.files WHERE path=%s",
                            (path,)).fetchone()
        return row[0] if row else None

    def document_hashes(self, path: str) -> dict[str, str]:
        with self._tx() as c:
            return dict(c.execute(f"SELECT id, content_hash FROM {self.schema}.documents "
                                  "WHERE path=%s", (path,)).fetchall())

    def write(self, batch: WriteBatch) -> None:
        now = time.time()
        s = self.schema
        doclen = DOCLEN_SQL.format(config=TEXT_CONFIG)
        with self._tx(write=True) as c:
            stale = batch.delete_ids + [d.id for d in batch.documents]
            self._delete_documents(c, stale)
            with c.cursor() as cur:
                for d in batch.documents:
                    doc = d.document
                    cur.execute(f"INSERT INTO {s}.documents VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                                (d.id, doc.path, doc.key, doc.title, d.content_hash, len(d.chunks),
                                 json.dumps(doc.metadata, default=str), now))
                    vectors = np.ascontiguousarray(d.vectors, dtype=np.float32)
                    cur.executemany(
                        f"INSERT INTO {s}.chunks (id, document_id, position, text, start_offset, "
                        "end_offset, page, embedding, context, doclen) VALUES (%s, %s, %s, %s, %s, "
                        f"%s, %s, %s::vector, %s, {doclen})",
                        [(ch.id, d.id, ch.position, text, ch.start, ch.end, ch.page,
                          _vector_literal(vectors[i]), context, context + " " + text)
                         for i, ch in enumerate(d.chunks)
                         for text, context in [(ch.text.replace("\x00", ""),
                                                ch.context.replace("\x00", ""))]])
                if batch.files:
                    cur.executemany(
                        f"INSERT INTO {s}.files VALUES (%s, %s, %s) ON CONFLICT (path) DO UPDATE "
                        "SET file_hash = EXCLUDED.file_hash, updated_at = EXCLUDED.updated_at",
                        [(path, digest_, now) for path, digest_ in batch.files])
            self._count_terms(c, [d.id for d in batch.documents], +1)
            c.execute(f"DELETE FROM {s}.chunk_log WHERE seq <= (SELECT max(seq) FROM "
                      f"{s}.chunk_log) - %s", (LOG_KEEP,))

    def _count_terms(self, c, doc_ids: list[str], sign: int) -> None:
        """Add (+1) or subtract (-1) these documents' chunks in the BM25 statistics."""
        if not doc_ids:
            return
        s = self.schema
        c.execute(
            f"INSERT INTO {s}.lexemes AS l (lexeme, df) SELECT u.lexeme, %s * count(*) "
            f"FROM {s}.chunks c, unnest(c.tsv) u WHERE c.document_id = ANY(%s) GROUP BY u.lexeme "
            "ON CONFLICT (lexeme) DO UPDATE SET df = l.df + EXCLUDED.df", (sign, doc_ids))
        n, length = c.execute(f"SELECT count(*), coalesce(sum(doclen), 0) FROM {s}.chunks "
                              "WHERE document_id = ANY(%s)", (doc_ids,)).fetchone()
        c.execute(f"UPDATE {s}.meta SET value = (value::bigint + %s)::text WHERE key = "
                  "'bm25_chunks'", (sign * n,))
        c.execute(f"UPDATE {s}.meta SET value = (value::bigint + %s)::text WHERE key = "
                  "'bm25_length'", (sign * length,))

    def _delete_documents(self, c, doc_ids: list[str]) -> None:
        if doc_ids:  # chunks go with their documents (ON DELETE CASCADE)
            self._count_terms(c, doc_ids, -1)
            c.execute(f"DELETE FROM {self.schema}.documents WHERE id = ANY(%s)", (doc_ids,))

    def set_metadata(self, metadata: dict[str, dict]) -> int:
        changed = 0
        with self._tx(write=True) as c:
            for doc_id, m in metadata.items():
                changed += c.execute(f"UPDATE {self.schema}.documents SET metadata = %s WHERE id = %s",
                                     (json.dumps(m, default=str), doc_id)).rowcount
        return changed

    def remove_path(self, path: str) -> int:
        folder = path.rstrip("/") + "/"
        under = "path = %s OR left(path, %s) = %s"
        params = (path, len(folder), folder)
        with self._tx(write=True) as c:
            ids = [r[0] for r in c.execute(f"SELECT id FROM {self.schema}.documents WHERE {under}",
                                           params).fetchall()]
            self._delete_documents(c, ids)
            c.execute(f"DELETE FROM {self.schema}.files WHERE {under}", params)
        return len(ids)

    def paths(self) -> list[str]:
        with self._tx() as c:
            return [r[0] for r in c.execute(
                f"SELECT path FROM {self.schema}.documents UNION "
                f"SELECT path FROM {self.schema}.files ORDER BY 1").fetchall()]

    def files(self) -> list[tuple[str, int, int]]:
        with self._tx() as c:
            return [(r[0], int(r[1]), int(r[2])) for r in c.execute(
                f"SELECT path, count(*), sum(n_chunks) FROM {self.schema}.documents "
                "GROUP BY path ORDER BY path").fetchall()]

    def metadata_values(self, most: int = METADATA_VALUES) -> dict[str, list]:
        with self._tx() as c:
            rows = c.execute(
                f"WITH v AS (SELECT DISTINCT e.key AS key, e.value AS value FROM "
                f"{self.schema}.documents d, jsonb_each(d.metadata) e WHERE jsonb_typeof(e.value) "
                "IN ('string', 'number')) SELECT key, value FROM v WHERE key IN (SELECT key FROM "
                "v GROUP BY key HAVING count(*) <= %s)", (most,)).fetchall()
        return grouped_values(rows)  # psycopg gives JSON strings and numbers as Python values

    # -- reading ----------------------------------------------------------------------------
    def _scope(self, source: str | None, where: Where) -> tuple[str, dict]:
        """' AND c.document_id IN (…)' for a source glob and metadata conditions, with named
        parameters; the meaning of objects.Condition.matches (scalars; numbers as numbers)."""
        conditions, params = [], {}
        if source is not None:
            conditions.append(f"{SOURCE_SQL} LIKE %(scope_source)s")
            params["scope_source"] = _glob_to_like(source_glob(source))
        for i, c in enumerate(where):
            key, value = f"%(scope_key{i})s", f"%(scope_value{i})s"
            params[f"scope_key{i}"] = c.key
            if c.op in ("=", "!="):
                conditions.append(f"(CASE WHEN jsonb_typeof(d.metadata -> {key}) IN ('string', "
                                  f"'number', 'boolean') THEN d.metadata ->> {key} END) {c.op} {value}")
                params[f"scope_value{i}"] = c.text
            else:
                conditions.append(f"(CASE WHEN jsonb_typeof(d.metadata -> {key}) = 'number' THEN "
                                  f"(d.metadata ->> {key})::float8 END) {c.op} {value}")
                params[f"scope_value{i}"] = float(c.value)
        if not conditions:
            return "", {}
        return (f" AND c.document_id IN (SELECT id FROM {self.schema}.documents d WHERE "
                f"{' AND '.join(conditions)})", params)

    def dense(self, vector: np.ndarray, k: int, source: str | None = None, where: Where = (),
              exact: bool = False) -> list[tuple[int, float]]:
        """The k most similar chunks by the HNSW index (approximate, as pgvector's is), or by a
        full scan with `exact` (for measuring the index's recall) or metadata conditions (HNSW
        filters after its search, which could leave fewer than k of a narrow filter)."""
        if k <= 0:
            return []
        scope, params = self._scope(source, where)
        q = _vector_literal(np.asarray(vector, dtype=np.float32))
        # ORDER BY the bare distance uses the index; "+ 0" hides it from the planner.
        exact = exact or bool(where) or self.settings.ann == "exact"
        order = "(c.embedding <=> %(q)s::vector)" + (" + 0" if exact else "")
        with self._tx() as c:
            # pgvector takes 1 to 1,000 (`[store] ef_search` allows more, for SQLite's graph)
            ef_search = min(max(self.settings.ef_search, int(k)), 1000)
            c.execute(f"SET LOCAL hnsw.ef_search = {ef_search}")
            rows = c.execute(
                f"SELECT c.row, 1 - (c.embedding <=> %(q)s::vector) FROM {self.schema}.chunks c "
                f"WHERE true{scope} ORDER BY {order} LIMIT %(k)s",
                {"q": q, "k": int(k), **params}).fetchall()
        return [(int(r), float(s)) for r, s in rows]

    def keyword(self, query: str, k: int, source: str | None = None, where: Where = (),
                prune: bool = True, memory: bool = True) -> list[tuple[int, float]]:
        """BM25 over the chunks that contain any word of the query (OR, as BM25 scores any
        overlap; plainto_tsquery would demand every word): from the in-memory index, brought up
        to date first; or with `memory=False` in SQL.

        In SQL, max-score pruning (Turtle & Flood 1995) keeps this exact but cheaper: a first pass over
        the chunks holding the two rarest words gives a k-th best score θ; a word contributes at
        most idf·(k1+1), so chunks holding only the commonest words, whose bounds sum below θ,
        cannot enter the top k and are not scored."""
        words = re.findall(r"\w+", query.lower())
        if not words or k <= 0:
            return []
        scope, params = self._scope(source, where)
        s = self.schema
        if memory:
            return self._keyword_in_memory(" ".join(words), k, scope, params)
        sql = KEYWORD_SQL.format(s=s, config=TEXT_CONFIG, where=scope)
        with self._tx() as c:  # the query's lexemes: already stemmed, so matched with 'simple'
            lexemes = [r[0] for r in c.execute(
                f"SELECT DISTINCT lexeme FROM unnest(to_tsvector('{TEXT_CONFIG}', %s))",
                (" ".join(words),)).fetchall()]
            stats = dict(c.execute(f"SELECT key, value::bigint FROM {s}.meta WHERE key IN "
                                   "('bm25_chunks', 'bm25_length')").fetchall())
            n = stats.get("bm25_chunks", 0)
            df = dict(c.execute(f"SELECT lexeme, df FROM {s}.lexemes WHERE lexeme = ANY(%s) "
                                "AND df > 0", (lexemes,)).fetchall()) if lexemes else {}
            if not df or not n:
                return []
            idf = {t: float(inverse_document_frequency(n, d)) for t, d in df.items()}

            def score(match: list[str], limit: int) -> list:
                return c.execute(sql, {
                    "lexemes": list(idf), "idfs": list(idf.values()), "tsquery": " | ".join(
                        "'" + t.replace("'", "''") + "'" for t in match),
                    "n": n, "avgdl": max(stats["bm25_length"] / n, 1e-9), "k1": K1, "b": B,
                    "k": int(limit), **params}).fetchall()

            commonest_first = sorted(idf, key=idf.get)
            essential = commonest_first
            if prune and len(idf) > 2:
                first = score(commonest_first[-2:], k)
                if len(first) >= k:
                    theta, bound, cut = float(first[k - 1][1]), 0.0, 0
                    for t in commonest_first:
                        bound += idf[t] * (K1 + 1)
                        if bound >= theta:
                            break
                        cut += 1
                    essential = commonest_first[cut:]
            rows = score(essential, k)
        return [(int(r), float(v)) for r, v in rows if v > 0]

    def _keyword_in_memory(self, words: str, k: int, scope: str, params: dict
                           ) -> list[tuple[int, float]]:
        with self._tx() as c:
            mem = self._keyword_memory(c)
            lexemes = [r[0] for r in c.execute(
                f"SELECT DISTINCT lexeme FROM unnest(to_tsvector('{TEXT_CONFIG}', %s))",
                (words,)).fetchall()]
            rows = np.array([r[0] for r in c.execute(
                f"SELECT c.row FROM {self.schema}.chunks c WHERE true{scope}", params).fetchall()],
                dtype=np.int64) if scope else None
        query = np.unique(np.array([stem_id(x) for x in lexemes], dtype=np.uint64))
        return [(r, v) for r, v in mem.top(mem.bm25.scores(query), k, rows) if v > 0]

    def _keyword_memory(self, c) -> KeywordRows:
        """The in-memory keyword index, brought up to date inside `c`'s transaction (one
        snapshot: the log and the rows it names agree): unchanged, or by the chunks logged since
        its last look, or (first use, or too far behind) read whole."""
        s = self.schema
        first, last = c.execute(f"SELECT min(seq), max(seq) FROM {s}.chunk_log").fetchone()
        last = last or 0
        with self._memory_lock:  # server threads share the store
            mem = self._memory
            if mem is None or mem.needs_reload(first):
                mem = KeywordRows()
                _load_postings(mem, c.execute(POSTINGS_SQL.format(s=s, where="true")).fetchall())
            elif last > mem.seq:
                added = mem.replay(c.execute(
                    f"SELECT row, added FROM {s}.chunk_log WHERE seq > %s ORDER BY seq",
                    (mem.seq,)).fetchall())
                if added:
                    _load_postings(mem, c.execute(POSTINGS_SQL.format(
                        s=s, where="c.row = ANY(%s)"), (added,)).fetchall())
            mem.seq = max(mem.seq, last)
            self._memory = mem
        return mem

    def similarities(self, vector: np.ndarray, rows: list[int]) -> list[float]:
        if not rows:
            return []
        q = _vector_literal(np.asarray(vector, dtype=np.float32))
        with self._tx() as c:
            found = dict(c.execute(
                f"SELECT row, 1 - (embedding <=> %s::vector) FROM {self.schema}.chunks "
                "WHERE row = ANY(%s)", (q, list(map(int, rows)))).fetchall())
        return [float(found[r]) if r in found else float("nan") for r in rows]

    _CHUNK = ("c.row, c.id, c.document_id, c.position, c.text, c.start_offset, c.end_offset, "
              "c.page, d.path, d.key, d.title, c.context")

    def chunks(self, rows: list[int]) -> dict[int, Chunk]:
        if not rows:
            return {}
        with self._tx() as c:
            data = c.execute(f"SELECT {self._CHUNK} FROM {self.schema}.chunks c JOIN "
                             f"{self.schema}.documents d ON d.id = c.document_id "
                             "WHERE c.row = ANY(%s)", (list(map(int, rows)),)).fetchall()
        return {r[0]: chunk_from_row(r[1:]) for r in data}

    def iter_chunks(self, source: str | None = None, where: Where = ()) -> Iterator[Chunk]:
        scope, params = self._scope(source or None, where)
        with self._tx() as c:
            data = c.execute(f"SELECT {self._CHUNK} FROM {self.schema}.chunks c JOIN "
                             f"{self.schema}.documents d ON d.id = c.document_id WHERE true{scope}"
                             " ORDER BY d.path, d.key, c.position", params).fetchall()
        for r in data:
            yield chunk_from_row(r[1:])

    def export(self) -> Iterator[StoredDocument]:
        s = self.schema
        with self._tx() as c:
            docs = c.execute(f"SELECT id, path, key, title, content_hash, metadata FROM "
                             f"{s}.documents ORDER BY path, key").fetchall()
        for doc_id, path, key, title, content_hash, metadata in docs:
            with self._tx() as c:
                rows = c.execute(f"SELECT id, position, text, start_offset, end_offset, page, "
                                 f"context, embedding::text FROM {s}.chunks WHERE document_id=%s "
                                 "ORDER BY position", (doc_id,)).fetchall()
            yield exported(doc_id, path, key, title, content_hash, metadata,
                           [r[:7] for r in rows],
                           [np.array(json.loads(r[7]), dtype=np.float32) for r in rows])

    def file_hashes(self) -> list[tuple[str, str]]:
        with self._tx() as c:
            return [tuple(r) for r in c.execute(
                f"SELECT path, file_hash FROM {self.schema}.files ORDER BY path").fetchall()]

    def stats(self) -> dict:
        s = self.schema
        with self._tx() as c:
            counts = c.execute(f"SELECT (SELECT count(*) FROM {s}.files), (SELECT count(*) FROM "
                               f"{s}.documents), (SELECT count(*) FROM {s}.chunks), "
                               f"pg_total_relation_size('{s}.chunks') + "
                               f"pg_total_relation_size('{s}.documents')").fetchone()
            embedder = self._embedder(c)
        return {"store": f"{self._safe_url()}#{self.collection}", "files": counts[0],
                "documents": counts[1], "chunks": counts[2],
                "embedder": f"{embedder[0]} ({embedder[1]}-d)" if embedder else None,
                "bytes": counts[3]}

    def close(self) -> None:
        self.pool.close()


def _load_postings(mem: KeywordRows, data: list) -> None:
    """Add rows of (row, length, tsvector text) to the in-memory index."""
    if not data:
        return
    ids: dict[str, int] = {}  # a lexeme's id, hashed once per load rather than once per chunk
    terms, counts = [], []
    for _, _, tsv in data:
        words, n = _lexemes(tsv)
        terms.append(np.array([ids.get(w) or ids.setdefault(w, stem_id(w)) for w in words],
                              dtype=np.uint64).tobytes())
        counts.append(np.minimum(np.array(n, dtype=np.int64), 65535).astype(np.uint16).tobytes())
    mem.add([int(r[0]) for r in data], terms, counts, [r[1] for r in data])


def _lexemes(tsv: str) -> tuple[list[str], list[int]]:
    """A tsvector's text form, 'lexeme':1,5 'o''neil':2 …, as its lexemes and how often each
    occurs (its positions). to_tsvector's lexemes hold no spaces, so " '" separates them."""
    if not tsv:
        return [], []
    words, counts = [], []
    for token in tsv[1:].split(" '"):
        word, sep, positions = token.rpartition("':")
        if not sep:  # a lexeme without positions
            word, positions = token.rstrip("'"), ""
        words.append(word.replace("''", "'").replace("\\\\", "\\"))
        counts.append(positions.count(",") + 1)
    return words, counts


def _vector_literal(v: np.ndarray) -> str:
    # pgvector's text form; repr of float32 round-trips exactly
    return "[" + ",".join(map(repr, map(float, v))) + "]"


