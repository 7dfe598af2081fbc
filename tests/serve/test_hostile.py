"""A real `tunewise serve` process probed as a hostile client would (loopback only, bounded):
nothing is read before the key, bodies are bounded as they stream, uploads are never lost,
bombs are refused by name, and two teams' keys never see each other's collections — over plain
HTTP and through the official `openai` SDK."""

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests

from tests.hostile_files import (
    docx_bytes,
    docx_paragraph_bomb,
    docx_with_body,
    html_siblings,
    pdf_bytes,
    pdf_flate_bomb,
    pdf_page_tree_loop,
    raw,
)
from tests.http_server import free_port, wait_until_up

ADMIN, HR, ENG = "admin-key-0123456789", "hr-key-0123456789", "eng-key-0123456789"
CONFIG = """
[store]
url = "sqlite:store.db"
[ingest]
max_unpacked_mb = 4
max_paragraphs = 2000
max_pages = 40
max_memory_mb = 200
max_seconds = 60
[serve]
upload_wait_s = 600  # these tests wait for the outcome; test_upload_queue.py tests the 202
api_keys = ["{admin}"]
max_upload_mb = 1
max_body_kb = 64
uploads = "uploads"
runs = "runs"
header_timeout_s = 2
body_timeout_s = 3
[serve.keys.hr]
key_env = "HR_KEY"
read = ["hr"]
write = ["hr"]
[serve.keys.eng]
key_env = "ENG_KEY"
read = ["eng"]
write = ["eng"]
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(base URL, working folder) of a `tunewise serve` process with three keys."""
    root = tmp_path_factory.mktemp("hostile")
    (root / "tunewise.toml").write_text(CONFIG.format(admin=ADMIN))
    for run, store in (("demo", "sqlite:store.db#hr"), ("eng-run", "sqlite:store.db#eng"),
                       ("no-store", None)):
        (root / "runs" / run).mkdir(parents=True)
        (root / "runs" / run / "report.html").write_text(f"<html><h1>Decision report {run}</h1></html>")
        (root / "runs" / run / "run.json").write_text(json.dumps({"store": store}))
    port = free_port()
    env = {**os.environ, "HR_KEY": HR, "ENG_KEY": ENG, "HF_HUB_OFFLINE": "1"}
    log = open(root / "server.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "tunewise", "serve", "--port", str(port)],
                               cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_until_up(url + "/health", process)
    yield url, root
    process.terminate()
    process.wait(timeout=30)


def auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def test_nothing_is_read_before_the_key(server):
    url, root = server
    started = time.time()
    # 200 MB announced, not one byte sent: the 401 comes back at once
    status, body = raw(url, "POST /v1/documents HTTP/1.1\nHost: x\nContent-Length: 200000000\n"
                       "Content-Type: multipart/form-data; boundary=b\n", read_first=True)
    assert status == 401 and b"API key" in body
    status, _ = raw(url, "POST /v1/search HTTP/1.1\nHost: x\nContent-Length: 100000000\n"
                    "Content-Type: application/json\n", read_first=True)
    assert status == 401
    assert time.time() - started < 10
    malformed = requests.post(url + "/v1/search", data=b"{not json",
                              headers={"Content-Type": "application/json"})
    assert malformed.status_code == 401  # the key first, the JSON after
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert requests.get(url + path).status_code == 401
    assert not any((root / "uploads").rglob("*.*")) if (root / "uploads").exists() else True


def test_bodies_are_bounded_as_they_arrive(server):
    url, _ = server
    status, body = raw(url, f"POST /v1/search HTTP/1.1\nHost: x\nAuthorization: Bearer {HR}\n"
                       "Content-Length: 5000000\nContent-Type: application/json\n", read_first=True)
    assert status == 413 and b"max_body_kb" in body
    # no Content-Length: chunked, 64 KB a piece, the server stops it past the limit
    piece = b"x" * 65536
    chunks = [b"%x\r\n%s\r\n" % (len(piece), piece)] * 40 + [b"0\r\n\r\n"]
    status, body = raw(url, f"POST /v1/search HTTP/1.1\nHost: x\nAuthorization: Bearer {HR}\n"
                       "Transfer-Encoding: chunked\nContent-Type: application/json\n", chunks)
    assert status == 413 and b"max_body_kb" in body
    big = requests.post(url + "/v1/documents", headers=auth(HR),
                        files={"file": ("big.txt", b"y" * 1_300_000, "text/plain")})
    assert big.status_code == 413 and "max_upload_mb" in big.json()["error"]["message"]


def test_an_upload_is_never_lost_to_a_later_failure(server):
    url, root = server
    fact = b"The hostile-test canteen serves lingonberry pancakes on Fridays."
    kept = requests.post(url + "/v1/documents", headers=auth(HR),
                         files={"file": ("keep.txt", fact, "text/plain")})
    assert kept.status_code == 201, kept.text
    doc_id = kept.json()["id"]
    # the same bytes under other names: one document, nothing deleted
    for name in ("keep.pdf", "copy.txt", "again.md"):
        same = requests.post(url + "/v1/documents", headers=auth(HR),
                             files={"file": (name, fact, "application/octet-stream")})
        assert same.status_code == 200 and same.json()["status"] == "unchanged", same.text
        assert same.json()["id"] == doc_id and same.json()["filename"] == "keep.txt"
    listed = requests.get(url + "/v1/documents", headers=auth(HR)).json()["data"]
    assert [d["source"] for d in listed] == ["keep.txt"] and listed[0]["id"] == doc_id
    bad = requests.post(url + "/v1/documents", headers=auth(HR),
                        files={"file": ("report.pdf", b"%PDF-1.7 broken", "application/pdf")})
    assert bad.status_code == 422 and "report.pdf" in bad.json()["error"]["message"]
    files = sorted(p.name for p in (root / "uploads").rglob("*") if p.is_file())
    assert files == ["keep.txt"]  # the failure left nothing, took nothing
    hits = requests.post(url + "/v1/search", headers=auth(HR),
                         json={"query": "lingonberry pancakes", "k": 1}).json()["data"]
    assert hits[0]["source"] == "keep.txt"  # an upload by its name, never a server path
    gone = requests.delete(f"{url}/v1/documents/{doc_id}", headers=auth(HR))
    assert gone.status_code == 200 and gone.json()["documents"] == 1
    assert requests.get(url + "/v1/documents", headers=auth(HR)).json()["data"] == []
    assert not any(p.is_file() for p in (root / "uploads").rglob("*"))


@pytest.mark.parametrize("name,content,limit", [
    ("bomb.docx", lambda: docx_bytes(["zip bomb"], padding=6 * 2**20), "max_unpacked_mb"),
    ("empty.docx", lambda: docx_bytes([""] * 3000 + ["one line"]), "max_paragraphs"),
    ("long.pdf", lambda: pdf_bytes(60), "max_pages"),
    ("paragraphs.docx", lambda: docx_paragraph_bomb(300_000), "max_paragraphs"),
    ("flate.pdf", lambda: pdf_flate_bomb(300), "max_memory_mb"),
    ("loop.pdf", pdf_page_tree_loop, "corrupt or unreadable PDF"),
    ("nested.jsonl", lambda: b"[" * 100_000 + b"\n" + b'{"id": ' + b"9" * 5000 + b"}\n",
     "nested too deeply"),
])
def test_bombs_are_refused_by_the_limit_they_break(server, name, content, limit):
    url, root = server
    data = content()
    assert len(data) < 1_000_000  # small on the wire
    started = time.time()
    refused = requests.post(url + "/v1/documents", headers=auth(ENG),
                            files={"file": (name, data, "application/octet-stream")})
    assert refused.status_code == 422 and limit in refused.json()["error"]["message"]
    assert time.time() - started < 20
    assert requests.get(url + "/health", timeout=5).ok


@pytest.mark.parametrize("name,status", [("..", 400), ("a/..", 400), ("", 400), ("x" * 300 + ".txt", 201)])
def test_bad_file_names_are_a_4xx_and_leave_nothing(server, name, status):
    url, root = server
    body = f"note for {len(name)} {name[:5]!r}".encode()
    response = requests.post(url + "/v1/documents", headers=auth(ENG),
                             files={"file": (name, body, "text/plain")})
    assert response.status_code == status, response.text
    assert "error" in response.json() if status >= 400 else len(response.json()["filename"]) < 200
    if status == 201:
        assert requests.delete(f"{url}/v1/documents/{response.json()['id']}",
                               headers=auth(ENG)).status_code == 200
    assert not any(p.is_file() for p in (root / "uploads").rglob("*"))


@pytest.mark.parametrize("path,body", [
    ("/v1/chat/completions", b'{"messages": [{"role": "user", "content": "a\\ud800b"}]}'),
    ("/v1/embeddings", b'{"input": "a\\ud800b"}'),
    ("/v1/search", b'{"query": "a\\ud800b"}'),
])
def test_a_lone_surrogate_is_a_400_in_the_openai_shape(server, path, body):
    url, _ = server
    response = requests.post(url + path, data=body,
                             headers={**auth(ADMIN), "Content-Type": "application/json"})
    assert response.status_code == 400
    message = response.json()["error"]["message"].lower()
    assert "surrogate" in message or "unicode" in message


def test_two_teams_never_see_each_other(server):
    url, _ = server
    secret = b"Project Halcyon: the HR reorganisation is announced on the ninth of March."
    up = requests.post(url + "/v1/documents", headers=auth(HR),
                       files={"file": ("halcyon.txt", secret, "text/plain")})
    assert up.status_code == 201 and up.json()["collection"] == "hr"
    doc_id = up.json()["id"]
    question = {"query": "When is Project Halcyon announced?", "k": 3}
    mine = requests.post(url + "/v1/search", headers=auth(HR), json=question).json()["data"]
    assert mine[0]["source"] == "halcyon.txt"
    theirs = requests.post(url + "/v1/search", headers=auth(ENG), json=question).json()["data"]
    assert all("Halcyon" not in h["text"] for h in theirs)
    for method, path, kwargs in (
            ("POST", "/v1/search", {"json": {**question, "collection": "hr"}}),
            ("GET", "/v1/documents?collection=hr", {}),
            ("DELETE", f"/v1/documents/{doc_id}?collection=hr", {}),
            ("POST", "/v1/documents?collection=hr",
             {"files": {"file": ("x.txt", b"planted", "text/plain")}})):
        refused = requests.request(method, url + path, headers=auth(ENG), **kwargs)
        assert refused.status_code == 403, (method, path)
        assert "Halcyon" not in refused.text and doc_id not in refused.text
    guessed = requests.delete(f"{url}/v1/documents/{doc_id}", headers=auth(ENG))  # in eng
    assert guessed.status_code == 404 and "hr" not in guessed.json()["error"]["message"]
    assert requests.get(url + "/v1/documents", headers=auth(ENG)).json()["data"] == []
    # the admin key manages every collection
    listed = requests.get(url + "/v1/documents?collection=hr", headers=auth(ADMIN)).json()
    assert [d["id"] for d in listed["data"]] == [doc_id]

    from openai import OpenAI, PermissionDeniedError

    hr = OpenAI(base_url=url + "/v1", api_key=HR)
    eng = OpenAI(base_url=url + "/v1", api_key=ENG)
    assert [m.id for m in hr.models.list()] == [m.id for m in eng.models.list()]
    asked = [{"role": "user", "content": "When is Project Halcyon announced?"}]
    answer = hr.chat.completions.create(model="docs", messages=asked, max_tokens=4)
    assert any(s["source"] == "halcyon.txt" for s in answer.model_extra["sources"])
    other = eng.chat.completions.create(model="docs", messages=asked, max_tokens=4)
    assert all("Halcyon" not in s["text"] for s in other.model_extra["sources"])
    with pytest.raises(PermissionDeniedError):
        eng.chat.completions.create(model="docs", messages=asked, max_tokens=4,
                                    extra_body={"collection": "hr"})
    assert requests.delete(f"{url}/v1/documents/{doc_id}?collection=hr",
                           headers=auth(ADMIN)).status_code == 200


def test_reports_are_read_only_by_keys_of_their_runs_collection(server):
    url, _ = server
    assert requests.get(url + "/reports/demo").status_code == 401
    page = requests.get(url + "/reports/demo", headers=auth(HR))
    assert page.status_code == 200 and "Decision report demo" in page.text
    assert requests.get(url + "/reports/..%2Fstore.db", headers=auth(HR)).status_code == 404
    listed = requests.get(url + "/v1/reports", headers=auth(HR)).json()["data"]
    assert [r["run"] for r in listed] == ["demo"] and listed[0]["collection"] == "hr"
    for run in ("demo", "no-store"):  # another team's run, and one that searched no store
        hidden = requests.get(url + f"/reports/{run}", headers=auth(ENG))
        assert hidden.status_code == 404 and "hr" not in hidden.text
    assert [r["run"] for r in requests.get(url + "/v1/reports", headers=auth(ENG)).json()["data"]] \
        == ["eng-run"]
    everything = requests.get(url + "/v1/reports", headers=auth(ADMIN)).json()["data"]
    assert sorted(r["run"] for r in everything) == ["demo", "eng-run", "no-store"]
    assert requests.get(url + "/reports/no-store", headers=auth(ADMIN)).status_code == 200


def test_the_server_answers_while_a_bomb_is_read(server):
    """The bomb is read in a reader process: health and search answer meanwhile."""
    url, _ = server
    done = {}

    def upload():
        done["status"] = requests.post(url + "/v1/documents", headers=auth(ENG), files={
            "file": ("bomb2.pdf", pdf_flate_bomb(290), "application/pdf")}).status_code

    thread = threading.Thread(target=upload)
    thread.start()
    answered = 0
    while thread.is_alive():
        assert requests.get(url + "/health", timeout=5).ok
        assert requests.post(url + "/v1/search", headers=auth(ENG), timeout=10,
                             json={"query": "anything", "mode": "keyword"}).ok
        answered += 1
    thread.join()
    assert done["status"] == 422 and answered >= 1


def test_amplifying_uploads_are_refused_by_name_and_unfinished_tags_read_at_once(server):
    """Issue 38's bombs: a .docx that unpacks into ~70 characters of text a byte, and 1 MB of
    `<a` (minutes in the standard library's parser)."""
    url, _ = server
    line = b"<w:p><w:r><w:t>" + b"amplified " * 200 + b"</w:t></w:r></w:p>"  # under the limits
    bomb = requests.post(url + "/v1/documents", headers=auth(ENG), files={  # of this server
        "file": ("text-bomb.docx", docx_with_body(line * 1_500), "application/octet-stream")})
    assert bomb.status_code == 422 and "max_text_ratio" in bomb.json()["error"]["message"]
    tags = requests.post(url + "/v1/documents", headers=auth(ENG), files={
        "file": ("tags.html", b"<p>unfinished</p>" + b"<a" * 500_000, "text/html")})
    assert tags.status_code == 201, tags.text
    requests.delete(f"{url}/v1/documents/{tags.json()['id']}", headers=auth(ENG))


def test_html_that_once_never_finished_is_read_and_a_giant_word_is_cut_to_chunks(server):
    url, _ = server
    page = requests.post(url + "/v1/documents", headers=auth(ENG),
                         files={"file": ("siblings.html", html_siblings(100_000), "text/html")})
    assert page.status_code == 201, page.text
    word = requests.post(url + "/v1/documents", headers=auth(ENG),
                         files={"file": ("word.txt", b"q" * 900_000, "text/plain")})
    assert word.status_code == 201, word.text
    hits = requests.post(url + "/v1/search", headers=auth(ENG),
                         json={"query": "qqqq", "k": 5, "mode": "keyword"}).json()["data"]
    assert all(len(h["text"]) <= 256 * 32 for h in hits)
    for up in (page, word):
        requests.delete(f"{url}/v1/documents/{up.json()['id']}", headers=auth(ENG))


def test_a_prompt_longer_than_the_context_window_is_a_400(server):
    url, _ = server
    response = requests.post(url + "/v1/chat/completions", headers=auth(HR), json={
        "model": "local", "messages": [{"role": "user", "content": "word " * 9000}], "max_tokens": 4})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "context_length_exceeded" and "context window" in error["message"]


@pytest.mark.parametrize("collection", ["../x", "A", "x" * 80])
def test_a_bad_collection_name_is_a_400_not_a_store_outage(server, collection):
    url, _ = server
    response = requests.post(url + "/v1/search", headers=auth(ADMIN),
                             json={"query": "q", "collection": collection})
    assert response.status_code == 400 and "Retry-After" not in response.headers
    assert "collection" in response.json()["error"]["message"]


def test_a_client_that_trickles_its_headers_or_body_is_cut(server):
    url, _ = server
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        started = time.time()
        closed = False
        for byte in b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
            try:
                s.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            time.sleep(0.1)
            if time.time() - started > 8:
                break
        closed = closed or s.recv(1) == b""
    assert closed and time.time() - started < 8  # header_timeout_s = 2
    status, body = raw(url, f"POST /v1/search HTTP/1.1\nHost: x\nAuthorization: Bearer {HR}\n"
                       "Content-Length: 100\nContent-Type: application/json\n",
                       [b'{"query"'] + [1.0, b" "] * 8)  # a byte a second
    assert status == 408 and b"body_timeout_s" in body


def test_a_cited_upload_opens_only_for_keys_that_may_read_it(server):
    url, _ = server
    pdf = pdf_bytes(3)
    up = requests.post(url + "/v1/documents", headers=auth(HR),
                       files={"file": ("pages.pdf", pdf, "application/pdf")})
    assert up.status_code == 201, up.text
    doc_id = up.json()["id"]
    hits = requests.post(url + "/v1/search", headers=auth(HR),
                         json={"query": "Page 2 of a long document", "k": 3}).json()["data"]
    linked = [h for h in hits if h["source"] == "pages.pdf"]
    assert linked and all(h["url"] == f"/v1/documents/{doc_id}/file?collection=hr#page={h['page']}"
                          for h in linked)
    got = requests.get(url + linked[0]["url"].split("#")[0], headers=auth(HR))
    assert got.status_code == 200 and got.content == pdf
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"].startswith("inline")
    assert requests.get(f"{url}/v1/documents/{doc_id}/file?collection=hr",
                        headers=auth(ENG)).status_code == 403
    assert requests.get(f"{url}/v1/documents/{doc_id}/file", headers=auth(ENG)).status_code == 404
    assert requests.get(f"{url}/v1/documents/{doc_id}/file").status_code == 401
    requests.delete(f"{url}/v1/documents/{doc_id}", headers=auth(HR))
