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


def test_a_llama_cpp_server_labels_inputs_as_a_teacher_with_their_cost(llama_server, tmp_path):
    """`data label`'s path against a real OpenAI-compatible server: every input is labelled or
    counted unparseable (never guessed), each labelled line carries the teacher's tokens and
    cost, and a second run asks nothing again."""
    import json

    from tunewise.config import Settings
    from tunewise.tasks.base import Item, TaskSpec
    from tunewise.tasks.label import label_items, rejected_path
    from tunewise.workspace import Workspace

    teacher = ModelSettings(backend="openai", model="smollm2", base_url=llama_server,
                            api_key_env="TUNEWISE_TEST_NO_KEY", max_concurrency=1,
                            input_price=0.15, output_price=0.60, max_retries=0)
    settings = Settings().replace("store", url=f"sqlite:{tmp_path / 's.db'}")
    settings = settings.__class__(**{**vars(settings), "models": {"lcpp": teacher}})
    spec = TaskSpec("classify", ("negative", "positive"))
    inputs = [Item("a", "Profit rose sharply and the outlook is excellent.", None),
              Item("b", "The company went bankrupt and fired everyone.", None),
              Item("c", "Sales grew for the fifth year in a row.", None)]
    out = tmp_path / "teacher.jsonl"
    with Workspace(settings) as ws:
        report = label_items(ws, "classify", spec, inputs, "lcpp", out)
        assert report.labelled + report.rejected == 3 and report.failed == 0, report.errors
        lines = [json.loads(x) for x in out.read_text().splitlines()]
        assert all(x["gold"] in spec.labels and x["teacher_cost"] > 0 for x in lines)
        assert report.spent == pytest.approx(sum(x["teacher_cost"] for x in lines) + sum(
            json.loads(x)["teacher_cost"] for x in (rejected_path(out).read_text().splitlines()
                                                    if rejected_path(out).exists() else [])),
            rel=1e-3)
        again = label_items(ws, "classify", spec, inputs, "lcpp", out)
    assert (again.skipped, again.labelled, again.rejected) == (3, 0, 0)
