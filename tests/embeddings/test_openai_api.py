"""The openai embedder through the official SDK against a real local HTTP server."""

import numpy as np
import pytest

from tests.conftest import SAMPLE
from tests.embeddings.openai_server import EmbeddingServer
from tunewise.config import EmbedderSettings, Settings
from tunewise.embeddings import EmbedderError, make_embedder
from tunewise.store import EmbedderMismatch
from tunewise.workspace import Workspace


def api_settings(server, **kw):
    return EmbedderSettings(backend="openai", model="test-embed", base_url=server.base_url,
                            api_key_env="TEST_EMBED_KEY", batch_size=3, max_retries=3, **kw)


def test_batches_orders_normalises_and_retries(monkeypatch):
    monkeypatch.setenv("TEST_EMBED_KEY", "sk-test")
    with EmbeddingServer(api_key="sk-test", fail_first=1) as server:
        embedder = make_embedder(api_settings(server))
        texts = [f"text number {i}" for i in range(7)]
        vectors = embedder.embed(texts)
    assert vectors.shape == (7, 64) and embedder.dimension == 64
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert len(server.requests) == 1 + 3  # one 429 retried, then ceil(7 / 3) batches
    assert [len(r["input"]) for r in server.requests[1:]] == [3, 3, 1]
    one = make_embedder(EmbedderSettings(backend="openai", model="test-embed",
                                         base_url=server.base_url)).tokenizer
    assert one.max_tokens == 8191


def test_bad_key_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("TEST_EMBED_KEY", "wrong")
    with EmbeddingServer(api_key="sk-test") as server:
        with pytest.raises(EmbedderError, match="failed"):
            make_embedder(api_settings(server)).embed(["x"])


def test_missing_key_without_base_url(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    embedder = make_embedder(EmbedderSettings(backend="openai", model="text-embedding-3-small"))
    with pytest.raises(EmbedderError, match="OPENAI_API_KEY"):
        embedder.embed(["x"])


def test_unknown_backend_lists_valid_ones():
    with pytest.raises(EmbedderError, match="local, onnx, openai"):
        make_embedder(EmbedderSettings(backend="word2vec"))


def test_ingest_and_search_through_the_api_embedder(tmp_path, monkeypatch, embedder):
    monkeypatch.delenv("TEST_EMBED_KEY", raising=False)
    with EmbeddingServer() as server:
        settings = Settings(embedder=api_settings(server)).replace(
            "store", url=f"sqlite:{tmp_path}/api.db")
        with Workspace(settings) as ws:
            report = ws.ingest([SAMPLE / "policies"])
            assert report.chunks > 0 and not report.failed
            assert ws.stats()["embedder"] == "openai:test-embed (64-d)"
            row = ws.store.keyword("Vaultwarden", 1)[0][0]
            chunk = ws.store.chunks([row])[row]
            # what was embedded (the chunk's context and text) finds it
            hits = ws.search(chunk.indexed_text, k=1, mode="dense")
            assert hits[0].chunk == chunk and hits[0].similarity == pytest.approx(1.0, abs=1e-4)
        local = Workspace(settings.replace("embedder", backend="local", model="all-MiniLM-L6-v2"),
                          embedder=embedder)
        with pytest.raises(EmbedderMismatch, match="openai:test-embed"):
            local.search("password", mode="hybrid")
        local.close()
