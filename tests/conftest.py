"""Shared fixtures: the real bundled embedder (loaded once), sample corpus paths, fresh stores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.register_assert_rewrite("tunewise.testing")  # the shipped Store contract's asserts

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample" / "corpus"
QUESTIONS = ROOT / "sample" / "questions.jsonl"


@pytest.fixture(scope="session")
def embedder():
    from tunewise.embeddings.local import LocalEmbedder

    return LocalEmbedder()


@pytest.fixture
def settings(tmp_path):
    from tunewise.config import Settings

    return Settings().replace("store", url=f"sqlite:{tmp_path / 'store.db'}")


@pytest.fixture(scope="session")
def sample_workspace(tmp_path_factory, embedder, local_model):
    """The sample corpus ingested once for the read-only retrieval tests; its `local` model is
    the session's (loaded on first use)."""
    from tunewise.config import Settings
    from tunewise.workspace import Workspace

    path = tmp_path_factory.mktemp("sample") / "store.db"
    ws = Workspace(Settings().replace("store", url=f"sqlite:{path}"), embedder=embedder,
                   models={"local": local_model})
    report = ws.ingest([SAMPLE])
    assert not report.failed, report.failed
    yield ws
    ws.close()


@pytest.fixture(scope="session")
def local_model():
    """The bundled SmolLM2-135M-Instruct, on llama.cpp where installed, loaded once."""
    from tunewise.config import ModelSettings
    from tunewise.models.local import make as make_local

    return make_local("local", ModelSettings())


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory):
    """A real PostgreSQL with pgvector: TUNEWISE_TEST_POSTGRES_URL when set (a system server),
    else one started from the `pgserver` package (about a second) and stopped at the end."""
    url = os.environ.get("TUNEWISE_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("pgdata"), cleanup_mode="stop")
    yield server.get_uri()
    server.cleanup()


@pytest.fixture
def pg_collection(postgres_url, request):
    """A fresh collection URL per test, dropped afterwards."""
    import re

    import psycopg

    name = "t_" + re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:30] + f"_{os.getpid()}"
    yield f"{postgres_url}#{name}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS tunewise_{name} CASCADE")
