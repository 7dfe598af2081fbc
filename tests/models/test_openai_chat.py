"""The openai backend through the official SDK against a real local server that runs the bundled
model."""

import socket

import pytest

from tests.models.chat_server import ChatServer
from tunewise.config import ModelSettings
from tunewise.models import ModelError, make_model

QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]


def remote(server_url: str, **kw):
    settings = ModelSettings(backend="openai", model="smollm2", base_url=server_url,
                             api_key_env="TEST_CHAT_KEY", max_tokens=30, **kw)
    return make_model("remote", {"remote": settings})


def test_chat_stream_usage_and_retry(local_model, monkeypatch):
    monkeypatch.setenv("TEST_CHAT_KEY", "sk-local")
    with ChatServer(local_model, api_key="sk-local", fail_first=1) as server:
        model = remote(server.base_url)
        answer = model.generate(QUESTION)
        pieces = []
        streamed = model.generate(QUESTION, on_token=pieces.append)
    expected = local_model.generate(QUESTION, max_tokens=30)
    assert answer.text == expected.text and "Paris" in answer.text
    assert answer.usage == expected.usage  # the server's own counts, passed through
    assert "".join(pieces) == streamed.text == expected.text and len(pieces) > 1
    assert streamed.usage == expected.usage and streamed.first_token_s is not None
    assert len(server.requests) == 3  # one 429, retried, then the two calls
    assert server.requests[-1]["temperature"] == 0.0 and server.requests[-1]["max_tokens"] == 30


def test_wrong_key(local_model, monkeypatch):
    monkeypatch.setenv("TEST_CHAT_KEY", "sk-wrong")
    with ChatServer(local_model, api_key="sk-local") as server:
        with pytest.raises(ModelError, match=r"refused the API key in \$TEST_CHAT_KEY"):
            remote(server.base_url).generate(QUESTION)


def test_endpoint_error_is_one_line(local_model):
    with ChatServer(local_model, status=503) as server:
        with pytest.raises(ModelError, match="answered 503: model overloaded"):
            remote(server.base_url, max_retries=0).generate(QUESTION)


def test_unreachable_endpoint():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ModelError, match="cannot reach"):
        remote(f"http://127.0.0.1:{port}/v1", max_retries=0, timeout=5).generate(QUESTION)


def test_missing_key_for_the_real_api(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    model = make_model("gpt", {"gpt": ModelSettings(backend="openai", model="gpt-4o-mini")})
    with pytest.raises(ModelError, match=r"needs an API key in \$OPENAI_API_KEY"):
        model.generate(QUESTION)


def test_a_cut_stream_is_asked_again_or_fails_naming_the_setting(local_model):
    """A stream that ends without a finish reason is not a (short or empty) answer: asked again
    when nothing of it was shown, otherwise a failure that names the setting to lower."""
    from tunewise.models.openai_api import TruncatedAnswer

    with ChatServer(local_model, cut_first=1) as server:
        pieces = []
        answer = remote(server.base_url).generate(QUESTION, on_token=pieces.append)
        assert "Paris" in answer.text and "".join(pieces) == answer.text
        assert len(server.requests) == 2  # cut, then asked again
    with ChatServer(local_model, cut_first=10) as server:
        with pytest.raises(TruncatedAnswer, match=r"set \[models.remote\] max_concurrency"):
            remote(server.base_url, max_retries=1).generate(QUESTION, on_token=lambda t: None)
        assert len(server.requests) == 2


def test_max_concurrency_bounds_the_requests_in_flight(local_model):
    import threading

    with ChatServer(local_model, parallel=True) as server:
        model = remote(server.base_url, max_concurrency=1)
        threads = [threading.Thread(target=model.generate, args=(QUESTION,)) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert server.most_in_flight == 1 and len(server.requests) == 3
