"""An uploaded file comes back as it was sent, but never as a live page on the server's origin:
HTML, SVG and other active types are downloaded (attachment, octet-stream, a sandboxing CSP),
PDFs and plain text open inline, and every file response says `nosniff`."""

import requests

from tests.serve.conftest import KEY

AUTH = {"Authorization": f"Bearer {KEY}"}


def upload(url: str, name: str, data: bytes) -> str:
    r = requests.post(f"{url}/v1/documents", headers=AUTH, timeout=120,
                      files={"file": (name, data, "application/octet-stream")})
    assert r.status_code in (200, 201), r.text
    return r.json()["id"]


def test_an_uploaded_page_is_downloaded_never_run_and_a_text_file_opens_inline(served):
    url, _ = served
    page = upload(url, "steal.html", b"<html><body><p>Heat pump notes for the installer.</p>"
                  b"<script>fetch('/x?k=' + localStorage.getItem('tunewise.key'))</script>"
                  b"</body></html>")
    got = requests.get(f"{url}/v1/documents/{page}/file", headers=AUTH, timeout=60)
    assert got.status_code == 200 and b"<script>" in got.content  # the file as it was sent
    assert got.headers["content-disposition"].startswith("attachment")
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in got.headers["content-security-policy"]
    text = upload(url, "note.txt", b"The outdoor unit needs 30 cm of clearance on each side.")
    shown = requests.get(f"{url}/v1/documents/{text}/file", headers=AUTH, timeout=60)
    assert shown.headers["content-disposition"].startswith("inline")
    assert shown.headers["content-type"].startswith("text/plain")
    assert shown.headers["x-content-type-options"] == "nosniff"


def test_a_query_past_the_limit_is_refused_before_it_is_searched(served):
    url, _ = served
    long = "heat pump " * 1000  # 10,000 characters
    got = requests.post(f"{url}/v1/search", json={"query": long}, headers=AUTH, timeout=60)
    assert got.status_code == 400 and "max_query_chars" in got.json()["error"]["message"]
    chat = requests.post(f"{url}/v1/chat/completions", headers=AUTH, timeout=60, json={
        "model": "docs", "messages": [{"role": "user", "content": long}]})
    assert chat.status_code == 400 and "max_query_chars" in chat.json()["error"]["message"]
    ok = requests.post(f"{url}/v1/search", json={"query": "heat pump", "k": 1}, headers=AUTH,
                       timeout=60)
    assert ok.status_code == 200


def test_a_question_that_leaves_a_retrieving_model_no_room_says_context_length_exceeded(served):
    url, _ = served
    got = requests.post(f"{url}/v1/chat/completions", headers=AUTH, timeout=120, json={
        "model": "docs", "messages": [{"role": "user", "content": "heat pump clearance " * 150}],
        "max_tokens": 8192})
    assert got.status_code == 400, got.text
    error = got.json()["error"]
    assert error["code"] == "context_length_exceeded" and "too long" in error["message"]
