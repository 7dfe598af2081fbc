"""The PostgreSQL + pgvector store: the same contract as SQLite against a real server, plus
collections, schema versioning, copying a store, and two processes ingesting at once."""

import multiprocessing

import numpy as np
import pytest

from tests.conftest import SAMPLE
from tunewise.store import StoreError, WriteBatch, open_store
from tunewise.store.postgres import PostgresStore, parse_url
from tunewise.testing import CAT, StoreContract, vec


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def store(self, pg_collection):
        s = open_store(pg_collection)
        yield s
        s.close()


def test_collections_are_separate(pg_collection):
    a = PostgresStore(pg_collection)
    b = PostgresStore(pg_collection + "_other")
    try:
        a.check_embedder("e", 8)
        a.write(WriteBatch(documents=[CAT]))
        assert a.stats()["documents"] == 1 and b.stats()["documents"] == 0
        b.check_embedder("other-embedder", 4)  # each collection records its own
        assert a.embedder() == ("e", 8)
    finally:
        a.close()
        b.close()
        import psycopg

        with psycopg.connect(parse_url(pg_collection)[0], autocommit=True) as c:
            c.execute(f"DROP SCHEMA IF EXISTS tunewise_{parse_url(pg_collection)[1]}_other CASCADE")


def test_schema_version_is_checked(pg_collection):
    import psycopg

    store = PostgresStore(pg_collection)
    url, name = parse_url(pg_collection)
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(f"UPDATE tunewise_{name}.meta SET value='99' WHERE key='schema_version'")
    store.close()
    with pytest.raises(StoreError, match="schema version 99"):
        PostgresStore(pg_collection)


def test_bad_urls_are_clear_errors(postgres_url):
    with pytest.raises(StoreError, match="collection 'Bad-Name'"):
        parse_url(postgres_url + "#Bad-Name")
    with pytest.raises(StoreError, match="cannot connect to postgresql://u:\\*\\*\\*@"):
        PostgresStore("postgresql://u:secret@127.0.0.1:1/nope")


def test_hnsw_finds_what_exact_search_finds(pg_collection):
    rng = np.random.default_rng(0)
    store = PostgresStore(pg_collection)
    store.check_embedder("random", 8)
    from tunewise.testing import stored

    docs = [stored(f"/r/{i}.txt", [f"text {i}"], [v / np.linalg.norm(v)])
            for i, v in enumerate(rng.normal(size=(300, 8)).astype(np.float32))]
    store.write(WriteBatch(documents=docs))
    hits = 0
    for q in rng.normal(size=(20, 8)).astype(np.float32):
        q /= np.linalg.norm(q)
        approx = {r for r, _ in store.dense(q, 10)}
        exact = store.dense(q, 10, exact=True)
        assert [s for _, s in exact] == sorted((s for _, s in exact), reverse=True)
        hits += len(approx & {r for r, _ in exact})
    assert hits / 200 >= 0.95
    store.close()


def test_index_rebuild_keeps_search_and_ann_exact_scans_and_a_beam_past_pgvectors_is_capped(
        pg_collection):
    from tunewise.config import StoreSettings
    from tunewise.testing import stored

    rng = np.random.default_rng(1)
    store = PostgresStore(pg_collection, settings=StoreSettings(ef_search=40))
    store.check_embedder("random", 8)
    vectors = rng.normal(size=(200, 8)).astype(np.float32)
    store.write(WriteBatch(documents=[stored(f"/r/{i}.txt", [f"text {i}"], [v / np.linalg.norm(v)])
                                      for i, v in enumerate(vectors)]))
    store.remove_path("/r/0.txt")
    assert store.index(rebuild=True) == {"rows": 199, "built": True}
    # pgvector takes 1 to 1,000: a wider beam set before its library loads is dropped to 40 with
    # a warning, and after that refused; so the store asks for 1,000
    beyond = PostgresStore(pg_collection, pool_size=1, settings=StoreSettings(ef_search=5000))
    for _ in range(2):
        assert len(beyond.dense(vectors[1] / np.linalg.norm(vectors[1]), 10)) == 10
    beyond.close()
    exact = PostgresStore(pg_collection, settings=StoreSettings(ann="exact"))
    q = vectors[0] / np.linalg.norm(vectors[0])
    assert exact.dense(q, 10) == store.dense(q, 10, exact=True)
    assert len(store.dense(q, 10)) == 10
    store.close()
    exact.close()


def test_index_build_memory_holds_the_graph_between_64_mb_and_the_setting():
    from tunewise.store.postgres import build_memory_mb

    assert build_memory_mb(300_000, 384, 4096) > 608  # the index 300,000 chunks measured
    assert build_memory_mb(1_000_000, 384, 4096) == 2929
    assert build_memory_mb(1_000_000, 384, 1024) == 1024
    assert build_memory_mb(10, 384, 4096) == 64


def test_pgvector_graph_is_built_with_32_links_and_a_rebuild_gives_them_to_an_old_index(
        pg_collection):
    from tunewise.store.postgres import BUILD_BEAM, LINKS

    want = {f"m={LINKS}", f"ef_construction={BUILD_BEAM}"}
    store = PostgresStore(pg_collection)
    store.check_embedder("random", 8)

    def options() -> set[str]:
        with store._tx() as c:
            return set(c.execute("SELECT reloptions FROM pg_class WHERE oid = %s::regclass",
                                 (f"{store.schema}.chunks_embedding",)).fetchone()[0] or [])

    assert options() == want and LINKS == 32
    with store._tx(write=True) as c:  # an index as an earlier version made it: pgvector's defaults
        c.execute(f"DROP INDEX {store.schema}.chunks_embedding")
        c.execute(f"CREATE INDEX chunks_embedding ON {store.schema}.chunks "
                  "USING hnsw (embedding vector_cosine_ops)")
    assert options() == set()
    store.index(rebuild=True)
    assert options() == want
    store.close()


def _ingest(url: str, folder: str) -> str:
    from tunewise.config import Settings
    from tunewise.workspace import Workspace

    with Workspace(Settings().replace("store", url=url)) as ws:
        report = ws.ingest([folder])
    return f"{len(report.added)} {len(report.failed)}"


def test_two_processes_ingest_into_one_store(pg_collection, tmp_path):
    # the same folder from two processes at once: every file once, nothing lost or doubled
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        results = pool.starmap(_ingest, [(pg_collection, str(SAMPLE))] * 2)
    assert all(r.split()[1] == "0" for r in results), results
    store = open_store(pg_collection)
    stats = store.stats()
    assert stats["files"] == 21 and stats["documents"] == 24 and stats["chunks"] == 34
    ids = [c.id for c in store.iter_chunks()]
    assert len(ids) == len(set(ids)) == 34
    store.close()


def test_copy_sqlite_to_postgres_and_back_keeps_search(sample_workspace, pg_collection, tmp_path):
    from typer.testing import CliRunner

    from tunewise.cli import app
    from tunewise.workspace import Workspace

    sqlite_url = sample_workspace.settings.store.url
    runner = CliRunner()
    there = runner.invoke(app, ["store", "copy", "--from", sqlite_url, "--to", pg_collection])
    assert there.exit_code == 0, there.output
    assert "copied 24 documents, 34 chunks, 21 files" in there.output
    import psycopg

    url, name = parse_url(pg_collection)
    with psycopg.connect(url) as c:  # the copy dropped the HNSW index to load, then rebuilt it
        assert c.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND indexname = "
                         "'chunks_embedding'", (f"tunewise_{name}",)).fetchone()[0].count("hnsw")
    back_url = f"sqlite:{tmp_path / 'back.db'}"
    back = runner.invoke(app, ["store", "copy", "--from", pg_collection, "--to", back_url])
    assert back.exit_code == 0, back.output
    original = sample_workspace.store
    for url in (pg_collection, back_url):
        copy = open_store(url)
        assert copy.embedder() == original.embedder()
        assert copy.file_hashes() == original.file_hashes()
        a, b = list(original.export()), list(copy.export())
        assert [d.id for d in a] == [d.id for d in b]
        for x, y in zip(a, b):
            assert [c.text for c in x.chunks] == [c.text for c in y.chunks]
            assert np.allclose(x.vectors, y.vectors, atol=1e-7)
        copy.close()
    # the same questions find the same passages through the whole retrieval stack
    with Workspace(sample_workspace.settings.replace("store", url=pg_collection),
                   embedder=sample_workspace.embedder) as pg:
        for mode in ("dense", "keyword", "hybrid"):
            top = pg.search("How many days per week can I work remotely?", k=1, mode=mode)
            assert top[0].chunk.source.endswith("remote-work-policy.md"), mode
        dense_pg = [h.chunk.id for h in pg.search("firmware climate chamber", k=5, mode="dense")]
    dense_sqlite = [h.chunk.id for h in sample_workspace.search("firmware climate chamber", k=5,
                                                                 mode="dense")]
    assert dense_pg == dense_sqlite
    # a copy run twice is the same store (resumable)
    again = runner.invoke(app, ["store", "copy", "--from", sqlite_url, "--to", pg_collection])
    assert again.exit_code == 0 and open_store(pg_collection).stats()["chunks"] == 34


def test_keyword_search_is_bm25_by_hand(pg_collection):
    import math

    from tunewise.store.bm25 import K1, B
    from tunewise.testing import stored

    store = PostgresStore(pg_collection)
    store.check_embedder("e", 8)
    docs = [stored("/a.txt", ["Cats purr."], [vec(1)]),
            stored("/b.txt", ["Cats and dogs."], [vec(1)]),
            stored("/c.txt", ["Dogs bark loudly at dogs."], [vec(1)])]
    store.write(WriteBatch(documents=docs))
    rows = {c.document_id: r for r, c in store.chunks(list(range(1, 10))).items()}

    def bm25(tf, dl, n, df, avgdl):
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        return idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * dl / avgdl))

    # stemmed, stopwords out: cat purr | cat dog | dog bark loud dog  → lengths 2, 2, 4
    avgdl = (2 + 2 + 4) / 3
    for memory in (True, False):  # the in-memory index and SQL
        got = dict(store.keyword("dogs", 5, memory=memory))
        assert got[rows[docs[2].id]] == pytest.approx(bm25(2, 4, 3, 2, avgdl))
        assert got[rows[docs[1].id]] == pytest.approx(bm25(1, 2, 3, 2, avgdl))
        assert rows[docs[0].id] not in got
    # deleting a document updates the statistics: N=2, df(dog)=1, avgdl=2 — also in the memory
    # of another process's store, through chunk_log
    other = PostgresStore(pg_collection)
    other.keyword("dogs", 5)
    store.remove_path("/c.txt")
    for memory in (True, False):
        assert store.keyword("dogs", 5, memory=memory) == [
            (rows[docs[1].id], pytest.approx(bm25(1, 2, 2, 1, 2.0)))]
    assert other.keyword("dogs", 5) == store.keyword("dogs", 5)
    other.close()
    store.close()


def same(a: list[tuple[int, float]], b: list[tuple[int, float]]) -> bool:
    """The same rows in the same order with the same scores (to float precision)."""
    return [r for r, _ in a] == [r for r, _ in b] and [v for _, v in a] == pytest.approx(
        [v for _, v in b])


def test_max_score_pruning_changes_nothing(sample_workspace, pg_collection):
    from tunewise.store.copy import copy_store

    store = PostgresStore(pg_collection)
    copy_store(sample_workspace.store, store)
    from tests.conftest import QUESTIONS
    from tunewise.evaluate.datasets import load_questions

    pruned_any = False
    for q in load_questions(QUESTIONS):
        for k in (1, 3, 10):
            full = store.keyword(q.question, k, prune=False, memory=False)
            for other in (store.keyword(q.question, k, memory=False),  # pruned SQL
                          store.keyword(q.question, k)):  # the in-memory index
                assert [r for r, _ in other] == [r for r, _ in full], (q.question, k)
                assert [v for _, v in other] == pytest.approx([v for _, v in full])
            pruned_any |= len(full) > 0
    assert pruned_any
    # scoped by metadata or source, as in SQL
    q = "How much is the per diem for business travel?"
    for source in ("*policies*", "*engineering*"):
        scoped = store.keyword(q, 5, source=source)
        assert same(scoped, store.keyword(q, 5, source=source, memory=False))
        assert all(source.strip("*") in c.source for c in store.chunks(
            [r for r, _ in scoped]).values())
    assert store.keyword(q, 5, source="*policies*")
    store.close()


def test_uploads_and_removals_reach_another_process_memory(pg_collection):
    """Two stores (two servers) on one collection: a search after the other's write applies
    only what changed, and ranks as SQL does."""
    from tunewise.testing import stored

    a, b = PostgresStore(pg_collection), PostgresStore(pg_collection)
    a.check_embedder("e", 8)
    a.write(WriteBatch(documents=[stored(f"/{i}.txt", [f"heat pump {i} compressor warranty"],
                                         [vec(1)]) for i in range(20)]))
    assert len(b.keyword("compressor", 50)) == 20
    memory = b._memory
    a.write(WriteBatch(documents=[stored("/new.txt", ["a new compressor manual"], [vec(1)])]))
    a.remove_path("/3.txt")
    got = b.keyword("compressor manual", 50)
    assert b._memory is memory and memory.bm25.live == 20 and memory.dead() == 1
    assert same(got, b.keyword("compressor manual", 50, memory=False))
    assert got[0][0] == max(r for r, _ in got)  # the new chunk, found through the other store
    a.close()
    b.close()


def test_a_collection_from_before_chunk_context_is_migrated(pg_collection):
    """A collection whose tsvector was built from the text alone gets the context column and
    an index over context and text on open; its rows and BM25 statistics stay as they were."""
    import psycopg

    from tunewise.store import WriteBatch
    from tunewise.store.postgres import PostgresStore, parse_url
    from tunewise.testing import CAT, DIM

    store = PostgresStore(pg_collection)
    store.check_embedder("test-embedder", DIM)
    store.write(WriteBatch(documents=[CAT]))
    before = store.keyword("kitten purr", 5)
    store.close()
    base, collection = parse_url(pg_collection)
    s = f"tunewise_{collection}"
    with psycopg.connect(base, autocommit=True) as conn:  # the schema as it was
        conn.execute(f"ALTER TABLE {s}.chunks DROP COLUMN tsv")
        conn.execute(f"ALTER TABLE {s}.chunks DROP COLUMN context")
        conn.execute(f"ALTER TABLE {s}.chunks ADD COLUMN tsv tsvector GENERATED ALWAYS AS "
                     "(to_tsvector('english', text)) STORED")
    again = PostgresStore(pg_collection)
    assert again.keyword("kitten purr", 5) == before
    assert [c.text for c in again.iter_chunks()] == [c.text for c in CAT.chunks]
    again.close()


def test_tsvector_text_is_parsed_as_postgresql_unnests_it(postgres_url):
    """The in-memory keyword index reads tsvectors as text: its lexemes and position counts must be
    PostgreSQL's own, quotes, backslashes, hyphens, numbers and repeats included."""
    import psycopg

    from tunewise.store.postgres import _lexemes

    texts = ["O'Neil's rock 'n' roll rocks, rocked and rolls", r"back\slash C:\path\to\file.txt",
             "self-renewal of p53 HSCs in 2019: 12.5% vs. 3,400", "''quoted'' \"double\" it's",
             "e-mail me@example.com http://x.org/a?b=c", "", "the and of"]
    with psycopg.connect(postgres_url) as c:
        for text in texts:
            tsv, words, counts = c.execute(
                "SELECT v::text, ARRAY(SELECT lexeme FROM unnest(v)), "
                "ARRAY(SELECT coalesce(array_length(positions, 1), 1) FROM unnest(v)) "
                "FROM to_tsvector('english', %s) v", (text,)).fetchone()
            assert _lexemes(tsv) == (words, counts), text
