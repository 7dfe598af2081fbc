"""The answerability check: an answer whose words the passages do not hold is withheld, one the
model itself declines is an abstention, and eval measures abstention on each kind of question."""

import dataclasses

import pytest

from tests.evaluate.scripted import ScriptedModel, with_api_model
from tests.models.chat_server import ChatServer
from tunewise.rag import answer
from tunewise.rag.support import claim_words, says_not_found, support

PASSAGE = "The per diem for business travel is EUR 52 per day in Germany; hotels are paid separately."


def test_support_counts_the_words_an_answer_adds_beyond_the_question():
    question = "How much is the per diem for business travel?"
    assert support("EUR 52 per day [1]".replace("[1]", ""), [PASSAGE], question) == 1.0
    # new: usd, 99, paid, globex — only "paid" is in the passage; "per diem" is the question's
    assert support("The per diem is USD 99, paid by Globex.", [PASSAGE], question) == 0.25
    assert support("EUR 99 a day", [PASSAGE], question) == pytest.approx(2 / 3)  # 99 is not
    assert support("Yes.", [PASSAGE], question) is None  # claims nothing new
    assert support("Maybe.", [PASSAGE], question) is None  # a verdict, not a fact
    assert claim_words("Hotels were paid") == {"hotel", "paid"}  # plural s, stopwords dropped


def test_a_refusal_in_the_models_own_words_is_an_abstention():
    assert says_not_found("The documents do not contain the answer to this question.")
    assert says_not_found("I'm sorry, the context does not mention the Broncos.")
    assert not says_not_found("The Panthers did not contain the Broncos' offense.")


@pytest.fixture
def inventing_ws(sample_workspace):
    """`api` answers the per-diem question from the passage and everything else with an
    invention the documents do not hold."""
    def reply(messages):
        text = messages[-1]["content"]
        if "per diem" in text:
            return "EUR 52 per day [1]"
        if "approves" in text:
            return "The documents do not contain it."
        return "Zorblax Industries paid 9,999 florins in 1871 [1]"

    with ChatServer(ScriptedModel(reply)) as server:
        yield with_api_model(sample_workspace, "api", server.base_url, max_tokens=20)


def test_an_unsupported_answer_is_withheld(inventing_ws):
    ws = inventing_ws
    good = ws.ask("How much is the per diem for business travel?", model="api")
    assert good.supported and good.support == 1.0 and not good.abstained and "52" in good.text
    pieces = []
    bad = ws.ask("What is the one-time home-office allowance for remote employees?", model="api",
                 on_token=pieces.append)
    assert bad.passages and bad.support < 0.2 and bad.supported is False and bad.abstained
    assert bad.text == ws.settings.rag.abstain_message and "Zorblax" in bad.withheld
    assert "not supported by the passages" in "".join(pieces)  # streamed: said afterwards
    declined = ws.ask("Who approves a firmware release candidate?", model="api")
    assert declined.passages and declined.abstained and declined.text == "The documents do not contain it."
    off = dataclasses.replace(ws.settings.rag, min_support=0.0)
    kept = answer("What is the one-time home-office allowance for remote employees?",
                  ws.model("api"), off, ws.retriever)
    assert not kept.abstained and "Zorblax" in kept.text and kept.support < 0.2


def test_eval_measures_abstention_on_answerable_and_unanswerable_questions(inventing_ws, tmp_path):
    from tunewise.evaluate.datasets import Question
    from tunewise.evaluate.runner import run_eval
    from tunewise.evaluate.summary import summary_of
    from tunewise.systems import parse_systems

    questions = [
        Question("a", "How much is the per diem for business travel?", ("EUR 52",)),
        Question("b", "What is the one-time home-office allowance for remote employees?",
                 ("EUR 400",)),
        Question("u", "How much is the per diem for travel to the Moon?", unanswerable=True),
        Question("v", "What is the remote-work allowance for employees on Mars?",
                 unanswerable=True)]
    ws = inventing_ws
    run_eval(ws, parse_systems("api+rag", ws.settings.models), questions, tmp_path / "run")
    m = summary_of(tmp_path / "run").systems[0].metrics
    # a: supported answer; b: invented, withheld (a false abstention); u: "EUR 52 per day" is
    # in the passages, so it is answered (wrongly); v: invented, withheld (right)
    assert m["abstained_answerable"].mean == 0.5 and m["abstained_unanswerable"].mean == 0.5
    assert m["abstained"].mean == 0.5
