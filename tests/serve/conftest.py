"""A real tunewise server (uvicorn on a free port, in a thread) over its own copy of the sample
corpus and the bundled local model, with one API key."""

import socket
import threading
import time

import pytest

from tests.conftest import SAMPLE

KEY = "test-key-0123456789"


def start(app):
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def served(tmp_path_factory, embedder, local_model):
    """(base URL, workspace) of a running server; uploads go to its own folder."""
    from tunewise.config import Settings
    from tunewise.serve.app import create_app
    from tunewise.workspace import Workspace

    root = tmp_path_factory.mktemp("serve")
    settings = Settings().replace("store", url=f"sqlite:{root / 'store.db'}").replace(
        "serve", api_keys=(KEY,), uploads=str(root / "uploads"), max_upload_mb=0.5,
        runs=str(root / "runs"))
    (root / "runs" / "pilot").mkdir(parents=True)
    (root / "runs" / "pilot" / "report.html").write_text(
        "<!doctype html><title>report</title><h1>Recommended: level 1, RAG</h1>")
    ws = Workspace(settings, embedder=embedder, models={"local": local_model})
    assert not ws.ingest([SAMPLE]).failed
    server, thread, url = start(create_app(ws))
    yield url, ws
    server.should_exit = True
    thread.join(timeout=30)
