"""A real evaluation run for the report tests: an API model (a scripted model named gpt-4o-mini
behind a real OpenAI-compatible server, so the price table prices it) with and without retrieval,
and the bundled local model with retrieval, on the 32 sample questions."""

import pytest

from tests.conftest import QUESTIONS
from tests.evaluate.conftest import oracle
from tests.evaluate.scripted import ScriptedModel, with_api_model
from tests.models.chat_server import ChatServer
from tunewise.evaluate.datasets import load_questions
from tunewise.evaluate.runner import run_eval
from tunewise.systems import parse_systems

SYSTEMS = "gpt-4o-mini,gpt-4o-mini+rag,local+rag"


@pytest.fixture(scope="session")
def decision_run(sample_workspace, local_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("decision") / "run"
    with ChatServer(ScriptedModel(oracle), parallel=True) as server:
        ws = with_api_model(sample_workspace, "gpt-4o-mini", server.base_url, model="gpt-4o-mini")
        report = run_eval(ws, parse_systems(SYSTEMS, ws.settings.models),
                          load_questions(QUESTIONS), out, max_tokens=8)
    assert report.failed == 0
    return out, ws.settings
