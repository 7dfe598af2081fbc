"""Against a real llama.cpp server (llama-cpp-python's OpenAI-compatible one, with the bundled
GGUF): it ends a stream early when another request arrives — a role chunk, then `[DONE]`. Such
an answer must fail, naming the setting, never pass for an empty one; `max_concurrency = 1`
keeps every answer whole."""

import subprocess
import sys
import threading

import pytest

from tests.http_server import free_port, wait_until_up
from tunewise.config import ModelSettings
from tunewise.models import make_model
from tunewise.models.local import bundled_gguf
from tunewise.models.openai_api import TruncatedAnswer

pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python[server] is not installed")


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    port = free_port()
    log = open(tmp_path_factory.mktemp("lcpp") / "server.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model",
                                str(bundled_gguf()), "--port", str(port), "--n_ctx", "2048"],
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    wait_until_up(url + "/models", process)
    yield url
    process.terminate()
    process.wait(timeout=30)


def _three_at_once(model) -> list:
    """Three streamed answers asked at once: each a Generation or the error it raised."""
    results = [None] * 3

    def ask(i):
        question = [{"role": "user", "content": f"Write two sentences about heat pumps ({i})."}]
        try:
            results[i] = model.generate(question, on_token=lambda t: None)
        except TruncatedAnswer as exc:
            results[i] = exc

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _model(url: str, **options):
    settings = ModelSettings(backend="openai", model="smollm2", base_url=url, max_tokens=24,
                             api_key_env="TUNEWISE_TEST_NO_KEY", **options)
    return make_model("lcpp", {"lcpp": settings})


def test_cut_streams_fail_by_name_and_the_bound_keeps_answers_whole(llama_server):
    unbounded = _three_at_once(_model(llama_server, max_retries=0))
    cut = [r for r in unbounded if isinstance(r, TruncatedAnswer)]
    assert cut, "the server answered three streams at once: nothing to test"
    assert all("max_concurrency" in str(e) for e in cut)
    assert all(r.text.strip() for r in unbounded if not isinstance(r, TruncatedAnswer))
    bounded = _three_at_once(_model(llama_server, max_concurrency=1))
    assert all(not isinstance(r, TruncatedAnswer) and r.text.strip() for r in bounded)
