"""Fixtures for the evaluation tests: a workspace over the sample store whose model `api` is a
scripted model behind a real local OpenAI-compatible server."""

import pytest

from tests.conftest import QUESTIONS
from tests.evaluate.scripted import ScriptedModel, last_user, with_api_model
from tests.models.chat_server import ChatServer
from tunewise.evaluate.datasets import load_questions

GOLD = {q.question: q.answers[0] for q in load_questions(QUESTIONS)}


def oracle(messages):
    """Knows every sample answer; without retrieved context it only knows the first eight."""
    text = last_user(messages)
    question = next(q for q in GOLD if q in text)
    if "Context:" in text or list(GOLD).index(question) < 8:
        return f"{GOLD[question]} [1]"
    return "I do not know."


@pytest.fixture
def api_ws(sample_workspace, tmp_path):
    """A workspace over the sample store whose model `api` is a scripted model served over HTTP."""
    model = ScriptedModel(oracle)
    with ChatServer(model, parallel=True) as server:
        ws = with_api_model(sample_workspace, "api", server.base_url, max_tokens=20)
        ws.server, ws.scripted = server, model
        yield ws
