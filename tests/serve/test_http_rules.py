"""Auth, malformed input, documents and search over plain HTTP."""

import threading
import time

import pytest
import requests

from tests.serve.conftest import KEY
from tunewise.serve.app import ServeError, check_exposure
from tunewise.serve.services import Busy, ModelQueue

AUTH = {"Authorization": f"Bearer {KEY}"}


class Http(requests.Session):
    """requests with a base URL."""

    def __init__(self, base: str):
        super().__init__()
        self.base = base

    def request(self, method, path, **kwargs):
        return super().request(method, self.base + path, timeout=120, **kwargs)


@pytest.fixture(scope="module")
def http(served):
    url, _ = served
    with Http(url) as client:
        yield client


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": KEY}, {"Authorization": f"Basic {KEY}"}])
def test_a_missing_or_bad_key_is_401(http, headers):
    for method, path in (("GET", "/v1/models"), ("POST", "/v1/search"),
                         ("POST", "/v1/chat/completions"), ("DELETE", "/v1/documents/x")):
        response = http.request(method, path, headers=headers, json={})
        assert response.status_code == 401, (method, path)
        assert "API key" in response.json()["error"]["message"]


def test_page_and_health_need_no_key(http):
    page = http.get("/")
    assert page.status_code == 200 and "<textarea" in page.text
    assert 'data-needs-key="true"' in page.text
    script = http.get("/app.js")
    assert script.status_code == 200 and "NEEDS_KEY" in script.text
    health = http.get("/health").json()
    assert health["status"] == "ok" and health["chunks"] > 0


def test_without_a_key_only_localhost():
    assert "localhost only" in check_exposure("127.0.0.1", ())
    with pytest.raises(ServeError, match="refusing to listen on 0.0.0.0 without an API key"):
        check_exposure("0.0.0.0", ())
    assert "required" in check_exposure("0.0.0.0", ("k",))
    from typer.testing import CliRunner

    from tunewise.cli import app

    refused = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0"], env={
        "TUNEWISE_SERVE_API_KEYS": ""})
    assert refused.exit_code == 2 and "without an API key" in " ".join(refused.output.split())


@pytest.mark.parametrize("path,body,status,message", [
    ("/v1/chat/completions", b"{not json", 400, "malformed JSON"),
    ("/v1/chat/completions", {}, 400, "messages: Field required"),
    ("/v1/chat/completions", {"messages": []}, 400, "at least 1 item"),
    ("/v1/chat/completions", {"messages": [{"role": "robot", "content": "hi"}]}, 400, "role"),
    ("/v1/chat/completions", {"messages": [{"role": "system", "content": "hi"}]}, 400,
     "at least one user message"),
    ("/v1/chat/completions", {"model": "gpt-9", "messages": [{"role": "user", "content": "x"}]},
     404, "unknown model 'gpt-9'; available: docs, local, local+rag"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "max_tokens": 0},
     400, "max_tokens"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "   "}]}, 400,
     "question is empty"),
    ("/v1/embeddings", {"input": []}, 400, "non-empty"),
    ("/v1/embeddings", {"input": 42}, 400, "input"),
    ("/v1/search", {"query": ""}, 400, "query"),
    ("/v1/search", {"query": "x", "k": 0}, 400, "k"),
    ("/v1/search", {"query": "x", "mode": "psychic"}, 400, "mode"),
    ("/v1/search", {"query": "x", "where": ["year>recent"]}, 400, "compares numbers"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}],
                              "where": ["no operator"]}, 400, "KEY=VALUE"),
])
def test_malformed_requests_get_a_4xx_with_a_message(http, path, body, status, message):
    if isinstance(body, bytes):
        response = http.post(path, data=body, headers={**AUTH, "Content-Type": "application/json"})
    else:
        response = http.post(path, json=body, headers=AUTH)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]["message"]


def test_upload_search_delete(http, tmp_path):
    fact = "The Kestrel staff canteen serves cardamom buns every Thursday at 14:30."
    files = {"file": ("canteen.txt", fact.encode(), "text/plain")}
    created = http.post("/v1/documents", files=files, headers=AUTH)
    assert created.status_code == 201, created.text
    doc = created.json()
    assert doc["status"] == "ingested" and doc["chunks"] == 1 and len(doc["id"]) == 16
    again = http.post("/v1/documents", files=files, headers=AUTH).json()
    assert again["id"] == doc["id"] and again["status"] == "unchanged"
    hits = http.post("/v1/search", json={"query": "cardamom buns canteen", "k": 1},
                     headers=AUTH).json()["data"]
    assert hits[0]["source"].endswith("canteen.txt") and "Thursday" in hits[0]["text"]
    nobody = http.post("/v1/search", json={"query": "cardamom buns canteen",
                                           "where": ["company=Nobody"]}, headers=AUTH)
    assert nobody.status_code == 200 and nobody.json()["data"] == []  # no document has it
    deleted = http.delete(f"/v1/documents/{doc['id']}", headers=AUTH)
    assert deleted.status_code == 200 and deleted.json()["documents"] == 1
    hits = http.post("/v1/search", json={"query": "cardamom buns canteen", "k": 3},
                     headers=AUTH).json()["data"]
    assert not any(h["source"].endswith("canteen.txt") for h in hits)
    assert http.delete(f"/v1/documents/{doc['id']}", headers=AUTH).status_code == 404
    assert http.delete("/v1/documents/..%2F..%2Fetc", headers=AUTH).status_code == 404


def test_bad_uploads_are_refused_and_lose_nothing(http):
    before = http.get("/health").json()["chunks"]
    big = http.post("/v1/documents", headers=AUTH,
                    files={"file": ("big.txt", b"x" * 600_000, "text/plain")})
    assert big.status_code == 413 and "upload limit" in big.json()["error"]["message"]
    corrupt = http.post("/v1/documents", headers=AUTH,
                        files={"file": ("report.pdf", b"%PDF-1.7 not really", "application/pdf")})
    assert corrupt.status_code == 422 and "report.pdf" in corrupt.json()["error"]["message"]
    empty = http.post("/v1/documents", headers=AUTH, files={"file": ("e.txt", b"", "text/plain")})
    assert empty.status_code == 400
    missing = http.post("/v1/documents", headers=AUTH)
    assert missing.status_code == 400 and "file" in missing.json()["error"]["message"]
    assert http.get("/health").json()["chunks"] == before


def test_a_full_queue_refuses_instead_of_piling_up():
    release = threading.Event()
    q = ModelQueue("slow", size=1)
    running = q.submit(release.wait)  # taken by the worker
    time.sleep(0.2)
    waiting = q.submit(lambda: "second")  # fills the one waiting place
    with pytest.raises(Busy, match="1 requests are waiting"):
        q.submit(lambda: "third")
    release.set()
    assert running.result(5) is True and waiting.result(5) == "second"
    q.close()


def test_without_keys_foreign_hosts_and_origins_are_refused(tmp_path, embedder):
    """No key means 'this machine only': a foreign Host header (DNS rebinding) or a page of
    another site posting a form (no preflight needed) is refused before the route runs."""
    from tests.serve.conftest import start
    from tunewise.config import Settings
    from tunewise.serve.app import create_app
    from tunewise.workspace import Workspace

    settings = Settings().replace("store", url=f"sqlite:{tmp_path / 'store.db'}").replace(
        "serve", uploads=str(tmp_path / "uploads"))
    ws = Workspace(settings, embedder=embedder)
    server, thread, url = start(create_app(ws, env={}))
    try:
        files = {"file": ("planted.txt", b"planted by a web page", "text/plain")}
        assert requests.get(url + "/v1/models").status_code == 200  # no key needed locally
        rebound = requests.get(url + "/v1/models", headers={"Host": "attacker.example:8000"})
        assert rebound.status_code == 421 and "attacker.example" in rebound.json()["error"]["message"]
        posted = requests.post(url + "/v1/documents", files=files,
                               headers={"Origin": "https://attacker.example"})
        assert posted.status_code == 403 and posted.json()["error"]["type"] == "permission_error"
        assert not (tmp_path / "uploads").exists()
        local = requests.post(url + "/v1/documents", files=files,
                              headers={"Origin": url.replace("127.0.0.1", "localhost")})
        assert local.status_code == 201
    finally:
        server.should_exit = True
        thread.join(timeout=30)
