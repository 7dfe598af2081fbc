"""The HNSW graph beside a SQLite store: it finds what exact search finds, follows writes from
other connections, is saved and caught up from the log, and a damaged, lagging or foreign file is
rebuilt or refused, never trusted."""

import json
import logging
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tunewise.config import ConfigError, StoreSettings
from tunewise.store import StoreError, WriteBatch, open_store
from tunewise.testing import stored

DIM = 32
HNSW = StoreSettings(ann="hnsw")


def clustered(n: int, seed: int = 0) -> np.ndarray:
    """Unit vectors around 40 centres: neighbourhoods, as real embeddings have."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, DIM))
    v = centres[rng.integers(0, 40, n)] + 0.4 * rng.standard_normal((n, DIM))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def write(store, first: int, vectors: np.ndarray) -> None:
    store.write(WriteBatch(documents=[stored(f"/docs/{i}.txt", [f"chunk number {i}"], [v])
                                      for i, v in enumerate(vectors, start=first)]))


@pytest.fixture
def url(tmp_path):
    store = open_store(f"sqlite:{tmp_path}/s.db")
    store.check_embedder("test-embedder", DIM)
    write(store, 0, clustered(3000))
    store.close()
    return f"sqlite:{tmp_path}/s.db"


def recall(store, queries: np.ndarray, k: int = 10) -> float:
    found = sum(len({r for r, _ in store.dense(q, k)} & {r for r, _ in store.dense(q, k, exact=True)})
                for q in queries)
    return found / (k * len(queries))


def test_hnsw_finds_what_exact_search_finds_with_exact_cosines(url):
    store = open_store(url, HNSW)
    queries = clustered(50, seed=1)
    assert recall(store, queries) >= 0.95
    assert store._memory.ann is not None and len(store._memory.ann) == 3000
    approx, exact = dict(store.dense(queries[0], 10)), dict(store.dense(queries[0], 10, exact=True))
    assert all(approx[r] == pytest.approx(exact[r], abs=1e-6) for r in approx.keys() & exact.keys())


def test_auto_searches_exactly_below_ann_min_chunks_and_with_hnsw_above(url):
    small = open_store(url, StoreSettings(ann="auto", ann_min_chunks=5000))
    small.dense(clustered(1)[0], 5)
    assert small._memory.ann is None and small.stats()["dense search"] == "exact"
    large = open_store(url, StoreSettings(ann="auto", ann_min_chunks=1000))
    large.dense(clustered(1)[0], 5)
    assert large._memory.ann is not None and large.stats()["dense search"].startswith("HNSW")
    assert open_store(url, StoreSettings(ann="exact")).stats()["dense search"] == "exact"


def test_graph_follows_additions_and_removals_by_another_connection(url):
    reader, writer = open_store(url, HNSW), open_store(url)
    reader.dense(clustered(1)[0], 5)
    new = clustered(200, seed=2)
    write(writer, 3000, new)
    writer.remove_path("/docs/3000.txt")
    hits = [r for r, _ in reader.dense(new[1], 5)]
    chunks = reader.chunks(hits)
    assert chunks[hits[0]].source == "/docs/3001.txt"  # the new chunk is its own best match
    assert all(reader.chunks([r for r, _ in reader.dense(new[0], 20)]).values())
    assert "/docs/3000.txt" not in {c.source for c in reader.chunks(
        [r for r, _ in reader.dense(new[0], 20)]).values()}
    assert len(reader._memory.ann) == 3199


def test_saved_graph_is_reloaded_and_caught_up_from_the_log(url, tmp_path):
    first = open_store(url, HNSW)
    first.dense(clustered(1)[0], 5)  # builds the graph and saves it
    saved = json.loads((tmp_path / "s.db.ann" / "header.json").read_text())
    assert saved["rows"] == 3000 and saved["embedder"] == "test-embedder"
    write(open_store(url), 3000, clustered(100, seed=3))  # written after the save
    later = open_store(url, HNSW)
    query = clustered(1, seed=3)[0]
    assert later.dense(query, 10) and len(later._memory.ann) == 3100
    assert later._memory.ann.unsaved == 100  # loaded, then 100 rows replayed: not rebuilt
    assert recall(later, clustered(30, seed=4)) >= 0.95


def test_damaged_graph_file_is_rebuilt_not_trusted(url, tmp_path, caplog):
    open_store(url, HNSW).dense(clustered(1)[0], 5)
    folder = tmp_path / "s.db.ann"
    (saved,) = folder.glob("*.usearch")
    data = bytearray(saved.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: the CRC no longer matches
    saved.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        store = open_store(url, HNSW)
        assert recall(store, clustered(20, seed=5)) >= 0.95
    assert "rebuilding it" in caplog.text
    assert len(store._memory.ann) == 3000 and store._memory.ann.unsaved == 0  # rebuilt and saved
    assert saved.name not in {p.name for p in folder.iterdir()}


def test_graph_behind_what_the_log_holds_is_rebuilt(url, monkeypatch, caplog):
    open_store(url, HNSW).dense(clustered(1)[0], 5)
    monkeypatch.setattr("tunewise.store.sqlite.LOG_KEEP", 10)
    write(open_store(url), 3000, clustered(50, seed=6))  # the log now keeps only the last 10
    with caplog.at_level(logging.WARNING):
        store = open_store(url, HNSW)
        store.dense(clustered(1)[0], 5)
    assert "further behind" in caplog.text and len(store._memory.ann) == 3050


def test_graph_saved_with_fewer_links_a_node_is_rebuilt_with_todays(url, monkeypatch, caplog):
    import tunewise.store.ann as ann

    monkeypatch.setattr(ann, "CONNECTIVITY", 16)  # as an earlier version built it
    open_store(url, HNSW).dense(clustered(1)[0], 5)
    monkeypatch.undo()
    with caplog.at_level(logging.WARNING):
        store = open_store(url, HNSW)
        store.dense(clustered(1)[0], 5)
    assert "built with 16 links a node" in caplog.text
    assert store._memory.ann.index.connectivity == ann.CONNECTIVITY != 16


def test_graph_of_another_embedder_is_refused_naming_the_rebuild_command(url, tmp_path):
    open_store(url, HNSW).dense(clustered(1)[0], 5)
    header = tmp_path / "s.db.ann" / "header.json"
    header.write_text(header.read_text().replace("test-embedder", "other-embedder"))
    store = open_store(url, HNSW)
    with pytest.raises(StoreError, match="tunewise store index --rebuild"):
        store.dense(clustered(1)[0], 5)
    assert store.index(rebuild=True) == {"rows": 3000, "built": True}
    assert recall(open_store(url, HNSW), clustered(10, seed=7)) >= 0.95


def test_index_after_an_ingest_saves_only_a_lagging_graph(url, tmp_path):
    store = open_store(url, StoreSettings(ann="auto", ann_min_chunks=5000))
    assert store.index(force=False) == {"rows": 3000, "built": False}  # below: none wanted
    assert not (tmp_path / "s.db.ann").exists()
    store = open_store(url, StoreSettings(ann="auto", ann_min_chunks=1000))
    assert store.index(force=False) == {"rows": 3000, "built": True}
    header = tmp_path / "s.db.ann" / "header.json"
    seq = json.loads(header.read_text())["seq"]
    for searched in (False, True):  # the graph on disk only, then also one in memory
        if searched:
            store.dense(clustered(1)[0], 5)
        write(store, 3000 + 10 * searched, clustered(10, seed=8 + searched))
        assert store.index(force=False)["built"] is False  # 10 behind: searches replay that
        assert json.loads(header.read_text())["seq"] == seq
    store.index()  # forced: brought up to date from the log, not rebuilt
    assert json.loads(header.read_text())["rows"] == 3020


def test_a_save_that_fails_for_a_full_disk_leaves_the_store_searchable(url, tmp_path):
    # A real failed write: the child may not grow any file past 64 KB (RLIMIT_FSIZE), as on a
    # full disk the graph's file (~200 KB) cannot be written, while the store is only read.
    script = textwrap.dedent(f"""
        import resource, signal
        import numpy as np
        from tunewise.config import StoreSettings
        from tunewise.store import open_store
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG)
        store = open_store({url!r}, StoreSettings(ann="hnsw"))
        store.stats()
        resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
        q = np.array({clustered(1, seed=9)[0].tolist()}, dtype=np.float32)
        found, exact = store.dense(q, 10), store.dense(q, 10, exact=True)
        print(len({{r for r, _ in found}} & {{r for r, _ in exact}}) >= 8, store._memory.ann is not None)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]
    assert "could not be saved" in done.stderr
    assert not (tmp_path / "s.db.ann" / "header.json").exists()


def test_store_settings_refuse_an_unknown_ann_mode():
    with pytest.raises(ConfigError, match="auto | hnsw | exact"):
        StoreSettings(ann="faiss")


def test_an_ingest_builds_the_graph_a_store_wants(tmp_path, embedder):
    from tests.conftest import SAMPLE
    from tunewise.config import Settings
    from tunewise.workspace import Workspace

    settings = Settings().replace("store", url=f"sqlite:{tmp_path}/w.db", ann="hnsw")
    with Workspace(settings, embedder=embedder) as ws:
        ws.ingest([SAMPLE / "policies"])
        header = json.loads((tmp_path / "w.db.ann" / "header.json").read_text())
        assert header["rows"] == ws.stats()["chunks"] > 0
        assert ws.search("how many vacation days", k=3)


def test_the_hnsw_library_and_llama_cpp_load_in_one_process():
    # usearch wheels after 2.12 break llama.cpp's model loading once imported (std::bad_cast in
    # its vocabulary): a server searching a large store must still load its local model
    script = textwrap.dedent("""
        import tunewise.store.ann
        from tunewise.config import ModelSettings
        from tunewise.models.local import LlamaCppModel, resolve
        model = LlamaCppModel("local", resolve("smollm2"), ModelSettings(context_window=256))
        print(model.llama.n_ctx())
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.split() == ["256"], done.stderr[-2000:]
