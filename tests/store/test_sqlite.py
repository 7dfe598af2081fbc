import sqlite3

import pytest

from tunewise.config import StoreSettings
from tunewise.store import StoreError, open_store
from tunewise.store.sqlite import SQLiteStore
from tunewise.testing import StoreContract


class TestSQLiteStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path):
        s = SQLiteStore(tmp_path / "store.db")
        yield s
        s.close()


class TestSQLiteStoreWithHnsw(StoreContract):
    """The same contract with every dense search answered by the HNSW graph."""

    @pytest.fixture
    def store(self, tmp_path):
        s = SQLiteStore(tmp_path / "store.db", StoreSettings(ann="hnsw"))
        yield s
        s.close()


def test_open_store_by_url(tmp_path):
    for url in (f"sqlite:{tmp_path}/a.db", f"sqlite:///{tmp_path}/b.db", f"{tmp_path}/c.db"):
        store = open_store(url)
        assert isinstance(store, SQLiteStore)
        store.close()
    with pytest.raises(StoreError, match="valid forms"):
        open_store("mysql://nope")


def test_a_collection_is_a_file_of_its_own(tmp_path):
    from tunewise.store import WriteBatch, with_collection
    from tunewise.testing import CAT, DIM, DOG

    url = f"sqlite:{tmp_path}/store.db"
    assert with_collection(url, "hr") == f"{url}#hr"
    assert with_collection("postgresql://u@h/db#old", "hr") == "postgresql://u@h/db#hr"
    with pytest.raises(StoreError, match="lower-case"):
        with_collection(url, "../hr")
    with pytest.raises(StoreError, match="lower-case"):
        open_store(f"{url}#Bad Name")
    default, hr = open_store(f"{url}#default"), open_store(with_collection(url, "hr"))
    assert default.path == tmp_path / "store.db" and hr.path == tmp_path / "store.hr.db"
    for store, doc in ((default, CAT), (hr, DOG)):
        store.check_embedder("test-embedder", DIM)
        store.write(WriteBatch(documents=[doc]))
    assert default.paths() == ["/docs/cats.md"] and hr.paths() == ["/docs/dogs.txt"]
    default.close()
    hr.close()


def test_store_is_a_wal_sqlite_file(tmp_path):
    SQLiteStore(tmp_path / "s.db").close()
    db = sqlite3.connect(tmp_path / "s.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    assert {"documents", "chunks", "files", "meta"} <= tables


def test_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable SQLite store"):
        SQLiteStore(path)


def test_other_connection_sees_writes(tmp_path):
    from tunewise.store import WriteBatch
    from tunewise.testing import CAT, DOG, vec

    reader, writer = SQLiteStore(tmp_path / "s.db"), SQLiteStore(tmp_path / "s.db")
    writer.check_embedder("e", 8)
    writer.write(WriteBatch(documents=[CAT]))
    assert len(reader.dense(vec(1), 10)) == 2
    writer.write(WriteBatch(documents=[DOG]))
    assert len(reader.dense(vec(1), 10)) == 3  # the vector cache noticed the other writer


def test_a_reader_applies_only_what_changed(tmp_path, monkeypatch):
    """Another connection's uploads and removals reach a reader through chunk_log: it reads the
    new chunks only, and searches as a fresh reader does."""
    import random

    import numpy as np

    from tunewise.store import WriteBatch
    from tunewise.store import sqlite as module
    from tunewise.testing import stored

    rng = random.Random(0)
    words = "heat pump compressor defrost warranty invoice winter quiet cycle fan coil".split()

    def doc(i):
        texts = [" ".join(rng.choice(words) for _ in range(12)) for _ in range(3)]
        vectors = [v / np.linalg.norm(v) for v in np.random.default_rng(i).normal(size=(3, 8))]
        return stored(f"/docs/{i}.md", texts, [v.astype(np.float32) for v in vectors])

    path = tmp_path / "s.db"
    reader, writer = SQLiteStore(path), SQLiteStore(path)
    writer.check_embedder("e", 8)
    docs = [doc(i) for i in range(40)]
    writer.write(WriteBatch(documents=docs[:30]))
    query = np.ones(8, np.float32) / np.sqrt(8)
    reader.dense(query, 5)
    memory = reader._memory
    writer.write(WriteBatch(documents=docs[30:32]))  # an upload
    writer.write(WriteBatch(delete_ids=[docs[3].id]))  # a removal
    writer.write(WriteBatch(documents=[docs[5]]))  # a document replaced: removed, added again
    read = []
    monkeypatch.setattr(module.SQLiteStore, "_apply", lambda self, mem, log: (
        read.append(len(log)), original(self, mem, log))[1])
    fresh = SQLiteStore(path)
    assert reader.dense(query, 10) == fresh.dense(query, 10)
    assert reader.keyword("compressor warranty", 10) == fresh.keyword("compressor warranty", 10)
    assert reader._memory is memory and read == [6 + 3 + 6]  # the log since, not the store
    assert memory.bm25.live == 31 * 3 and memory.dead() == 6
    assert reader.similarities(query, [r for r, _ in fresh.dense(query, 3)]) == pytest.approx(
        [s for _, s in fresh.dense(query, 3)])
    # a reader further behind than the log keeps reloads everything
    monkeypatch.setattr(module, "LOG_KEEP", 2)
    writer.write(WriteBatch(documents=docs[32:40]))
    assert reader.dense(query, 10) == SQLiteStore(path).dense(query, 10)
    assert reader._memory is not memory and read == [15]


original = SQLiteStore._apply


def _open_at_once(path, barrier, results):
    barrier.wait()
    try:
        store = SQLiteStore(path)
        store.check_embedder("e", 8)
        store.close()
        results.put("ok")
    except Exception as exc:  # reported to the parent, which asserts
        results.put(repr(exc))


def test_processes_creating_one_store_at_once(tmp_path):
    """Switching a new file to WAL takes an exclusive lock that SQLite may refuse at once
    ("database is locked", without the busy wait): opening retries. Before the fix, 50 of 60
    such rounds failed here."""
    import multiprocessing

    for round_ in range(8):
        barrier, results = multiprocessing.Barrier(3), multiprocessing.Queue()
        procs = [multiprocessing.Process(target=_open_at_once,
                                         args=(tmp_path / f"{round_}.db", barrier, results))
                 for _ in range(3)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert [results.get() for _ in procs] == ["ok"] * 3


def test_a_store_from_before_chunk_context_is_migrated(tmp_path):
    """Stores written before chunks had a context get the column on open; nothing is lost."""
    from tunewise.store import WriteBatch
    from tunewise.store.sqlite import SQLiteStore
    from tunewise.testing import CAT, DIM

    store = SQLiteStore(tmp_path / "old.db")
    store.check_embedder("test-embedder", DIM)
    store.write(WriteBatch(documents=[CAT]))
    store.db.executescript(  # the table as it was, without the column
        "CREATE TABLE old AS SELECT rowid, id, document_id, position, text, start, end, page, "
        "embedding, terms, counts, length FROM chunks; DROP TABLE chunks; "
        "ALTER TABLE old RENAME TO chunks;")
    store.close()
    again = SQLiteStore(tmp_path / "old.db")
    assert [c.text for c in again.iter_chunks()] == [c.text for c in CAT.chunks]
    assert len(again.keyword("kitten", 5)) == 1 and all(c.context == "" for c in again.iter_chunks())


def test_a_first_load_in_several_keyword_segments_ranks_as_one(tmp_path, monkeypatch):
    import random

    import numpy as np

    from tunewise.store import WriteBatch
    from tunewise.testing import stored

    rng = random.Random(3)
    words = "heat pump compressor defrost warranty invoice winter quiet cycle fan coil valve".split()
    docs = [stored(f"/d/{i}.txt", [" ".join(rng.choice(words) for _ in range(rng.randint(3, 20)))],
                   [np.eye(4, dtype=np.float32)[i % 4]]) for i in range(80)]
    writer = SQLiteStore(tmp_path / "s.db")
    writer.check_embedder("e", 4)
    writer.write(WriteBatch(documents=docs))
    queries = ("compressor warranty", "quiet winter fan", "valve coil")
    whole = [SQLiteStore(tmp_path / "s.db").keyword(q, 10) for q in queries]
    monkeypatch.setattr("tunewise.store.sqlite.LOAD_SEGMENT", 7)
    monkeypatch.setattr("tunewise.store.sqlite.BUILD_BATCH", 5)
    parted = SQLiteStore(tmp_path / "s.db")
    got = [parted.keyword(q, 10) for q in queries]
    assert len(parted._memory.bm25.segments) == 8  # 80 rows, batches of 5, segments from 7
    for a, b in zip(got, whole):
        assert [r for r, _ in a] == [r for r, _ in b]
        assert [s for _, s in a] == pytest.approx([s for _, s in b], rel=1e-5)
    writer.remove_path("/d/3.txt")
    writer.write(WriteBatch(documents=[stored("/d/new.txt", ["compressor warranty valve"],
                                              [np.eye(4, dtype=np.float32)[0]])]))
    fresh = SQLiteStore(tmp_path / "s.db").keyword("compressor warranty", 10)
    after = parted.keyword("compressor warranty", 10)  # the upload and removal, from the log
    assert [r for r, _ in after] == [r for r, _ in fresh]
    assert [s for _, s in after] == pytest.approx([s for _, s in fresh], rel=1e-5)
