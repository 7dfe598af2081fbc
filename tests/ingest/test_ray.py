"""Ingestion on a real local Ray cluster: a head node and a second node, each its own `ray start`
process with one CPU, so the two actors run in separate worker processes. A Ray ingest must store
exactly what a local ingest stores (chunk ids, texts, vectors within float tolerance), resume like
one, and lose nothing when a worker is killed mid-run."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SAMPLE
from tests.e2e.test_crash_and_concurrency import make_corpus
from tests.http_server import free_port

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster():
    """`ray start --head` plus `ray start --address=...`: the address of a two-node cluster."""
    from tunewise.ingest.ray import local_cluster

    with local_cluster(nodes=2, cpus=1) as address:
        yield address


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return [SAMPLE, make_corpus(tmp_path_factory.mktemp("ray") / "corpus", records=40, files=4)]


@pytest.fixture(scope="module")
def local_store(tmp_path_factory, corpus, embedder):
    """The same files ingested in this process: what the Ray ingest must reproduce."""
    from tunewise.workspace import Workspace

    path = tmp_path_factory.mktemp("local") / "store.db"
    with Workspace(_settings(path), embedder=embedder) as ws:
        report = ws.ingest(corpus)
    assert report.chunks > 50 and not report.failed
    return path


def _settings(path: Path):
    from tunewise.config import Settings

    # small batches: many are in flight at once, so the order they are written in is exercised
    return Settings().replace("store", url=f"sqlite:{path}").replace("ingest", batch_chunks=16)


def _contents(url: str) -> tuple[dict, dict]:
    """{chunk id: (document id, text, vector)} and {file: hash}, through the Store protocol."""
    from tunewise.store import open_store

    store = open_store(url)
    try:
        chunks = {c.id: (c.document_id, c.text, v) for stored in store.export()
                  for c, v in zip(stored.chunks, stored.vectors, strict=True)}
        return chunks, dict(store.file_hashes())
    finally:
        store.close()


def assert_same_store(ray_store: Path | str, local_path: Path) -> None:
    url = ray_store if isinstance(ray_store, str) else f"sqlite:{ray_store}"
    (got, got_files), (want, want_files) = _contents(url), _contents(f"sqlite:{local_path}")
    assert got.keys() == want.keys()
    assert got_files == want_files
    for cid, (doc, text, vector) in want.items():
        assert got[cid][:2] == (doc, text)
        np.testing.assert_allclose(got[cid][2], vector, atol=1e-5)


def test_ray_ingest_stores_what_a_local_ingest_stores_and_resumes(cluster, corpus, local_store,
                                                                  tmp_path):
    from tunewise.ingest import ingest
    from tunewise.ingest.ray import RayWorkers
    from tunewise.store import open_store

    path = tmp_path / "ray.db"
    settings = _settings(path)
    store = open_store(settings.store.url)
    with RayWorkers(settings, cluster) as pool:
        assert len(pool.actors) == 2 and len({pid for _, pid in pool.pids}) == 2
        first = ingest(corpus, store, pool, settings)
        again = ingest(corpus, store, pool, settings)
    store.close()
    assert not first.failed and first.chunks > 50
    assert_same_store(path, local_store)
    assert len(first.workers) == 2 and all(rss > 50 * 2**20 for _, rss in first.workers)
    assert again.chunks == 0 and len(again.unchanged) == len(first.added)


def test_ray_ingest_into_postgresql(cluster, corpus, local_store, pg_collection):
    """The cluster case: the driver writes a PostgreSQL collection, the same as SQLite gets."""
    from tunewise.ingest import ingest
    from tunewise.ingest.ray import RayWorkers
    from tunewise.store import open_store

    settings = _settings(local_store).replace("store", url=pg_collection)
    store = open_store(pg_collection)
    with RayWorkers(settings, cluster) as pool:
        report = ingest(corpus, store, pool, settings)
    store.close()
    assert not report.failed and report.chunks > 50
    assert_same_store(pg_collection, local_store)


def test_a_worker_killed_mid_run_loses_nothing(cluster, corpus, local_store, tmp_path):
    """SIGKILL one worker process as the first batch is handed out: Ray restarts the actor and
    retries its calls, and the store ends up exactly as a local ingest leaves it."""
    from tunewise.ingest import Progress, ingest
    from tunewise.ingest.ray import RayWorkers
    from tunewise.store import open_store

    class KillOnce(Progress):
        killed = None

        def embedding(self, chunks: int) -> None:
            if self.killed is None:
                self.killed = pool.pids[0][1]
                os.kill(self.killed, signal.SIGKILL)

    path, progress = tmp_path / "ray.db", KillOnce()
    settings = _settings(path)
    store = open_store(settings.store.url)
    with RayWorkers(settings, cluster) as pool:
        report = ingest(corpus, store, pool, settings, progress=progress)
        after = ray.get([a.describe.remote() for a in pool.actors])
    store.close()
    assert progress.killed is not None and progress.killed not in {pid for *_, pid in after}
    assert not report.failed
    assert_same_store(path, local_store)


def test_an_interrupted_ray_ingest_resumes_to_the_same_store(cluster, corpus, local_store, tmp_path):
    """Ctrl-C in the driver mid-run: what was written is consistent, and the same
    command again finishes the job, ending where a local ingest ends."""
    from tests.e2e.test_crash_and_concurrency import check_consistent
    from tunewise.ingest import Progress, ingest
    from tunewise.ingest.ray import RayWorkers
    from tunewise.store import open_store

    class StopAtBatch(Progress):
        batches = 0

        def embedding(self, chunks: int) -> None:
            self.batches += 1
            if self.batches == 4:  # the first has been written, 2 are on the workers
                raise KeyboardInterrupt

    path = tmp_path / "ray.db"
    settings = _settings(path)
    with RayWorkers(settings, cluster) as pool:
        store = open_store(settings.store.url)
        with pytest.raises(KeyboardInterrupt):
            ingest(corpus, store, pool, settings, progress=StopAtBatch())
        store.close()
        partial = check_consistent(path)
        store = open_store(settings.store.url)
        finished = ingest(corpus, store, pool, settings)
        store.close()
    assert 0 < len(partial) and finished.unchanged  # some files were done before the stop
    assert_same_store(path, local_store)


def test_cli_ingest_on_ray(cluster, tmp_path):
    from typer.testing import CliRunner

    from tunewise.cli import app

    store = ["--store", f"sqlite:{tmp_path / 'cli.db'}"]
    out = CliRunner().invoke(app, ["ingest", str(SAMPLE), "--ray", "--workers", "1", *store],
                              env={"RAY_ADDRESS": cluster})
    assert out.exit_code == 0, out.output
    assert "ray: 1 worker," in out.output and "21 added" in out.output


def test_an_unreachable_cluster_is_a_one_line_error_in_seconds(tmp_path):
    from tunewise.config import Settings
    from tunewise.ingest import IngestError
    from tunewise.ingest.ray import RayWorkers

    started = time.perf_counter()
    with pytest.raises(IngestError, match="no Ray cluster at '127.0.0.1:"):
        RayWorkers(Settings(), f"127.0.0.1:{free_port()}")
    assert time.perf_counter() - started < 30


def test_a_file_a_worker_cannot_see_is_reported_by_name(embedder):
    """On a cluster without shared storage the driver's paths are not on the worker's disk."""
    from pathlib import PurePath

    from tunewise.config import Settings
    from tunewise.ingest import FileJob
    from tunewise.ingest.ray import _Worker

    worker = _Worker.__new__(_Worker)  # the actor's class, in this process, with the loaded model
    worker.settings, worker.embedder = Settings(), embedder
    work = worker.read(FileJob(Path("/nowhere/annual-report.pdf"), None, {}, {}))
    assert work.name == str(PurePath("/nowhere/annual-report.pdf"))
    assert "not visible on Ray worker host" in work.failure and "same path" in work.failure
    assert worker.read(FileJob(SAMPLE / "policies" / "remote-work-policy.md", None, {}, {})).documents
