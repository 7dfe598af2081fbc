"""The LLM judge: verdict parsing, and the whole path through a real local OpenAI-compatible
server, with a scripted judge (known verdicts, garbage) and with the bundled model itself."""

import pytest

from tests.conftest import QUESTIONS
from tests.evaluate.conftest import oracle
from tests.evaluate.scripted import ScriptedModel, last_user
from tests.models.chat_server import ChatServer
from tunewise.config import ModelSettings
from tunewise.evaluate.datasets import load_questions
from tunewise.evaluate.judge import judge, judge_messages, parse_verdict
from tunewise.evaluate.runner import load_records, run_eval
from tunewise.evaluate.summary import summary_of, to_markdown
from tunewise.models import make_model
from tunewise.systems import parse_systems


@pytest.mark.parametrize("reply, context, expected", [
    ('{"correct": true, "faithful": false}', True, (1.0, 0.0)),
    ('Sure! ```json\n{"correct": false, "faithful": true}\n```', True, (0.0, 1.0)),
    ('{"correct": "yes", "faithful": null}', False, (1.0, None)),
    ('{"correct": 1}', False, (1.0, None)),
])
def test_verdicts_parse(reply, context, expected):
    assert parse_verdict(reply, with_context=context) == expected


@pytest.mark.parametrize("reply, message", [
    ("The answer looks right to me.", "no JSON object"),
    ("{correct: true}", "not valid JSON"),
    ('{"faithful": true}', "lacks a true/false 'correct'"),
    ('{"correct": true}', "lacks a true/false 'faithful'"),
    ('{"correct": "probably", "faithful": true}', "correct='probably'"),
])
def test_garbage_verdicts_raise(reply, message):
    with pytest.raises(ValueError, match=message):
        parse_verdict(reply, with_context=True)


def test_judge_prompt_holds_gold_context_and_answer():
    text = judge_messages("Q?", ["A1", "A2"], "my answer", "the context")[1]["content"]
    assert "A1 | A2" in text and "the context" in text and "my answer" in text
    assert '"faithful": null' in judge_messages("Q?", ["A"], "x", None)[1]["content"]


def grader(messages):
    """Correct when the graded answer holds a gold answer; faithful when it is in the context."""
    text = last_user(messages)
    gold = text.split("Gold answer(s): ", 1)[1].split("\n", 1)[0].split(" | ")
    graded = text.split("Answer to grade: ", 1)[1].split("\n", 1)[0]
    correct = any(g.lower() in graded.lower() for g in gold)
    if "Context:" not in text:
        return f'{{"correct": {str(correct).lower()}, "faithful": null}}'
    context = text.split("Context:\n", 1)[1].split("\n\nAnswer to grade:", 1)[0]
    faithful = graded.replace(" [1]", "").lower() in context.lower()
    return f'{{"correct": {str(correct).lower()}, "faithful": {str(faithful).lower()}}}'


@pytest.fixture
def judged_ws(api_ws):
    with ChatServer(ScriptedModel(grader)) as judge_server:
        api_ws.settings.models["judge"] = ModelSettings(
            backend="openai", model="judge", base_url=judge_server.base_url, max_retries=0)
        api_ws.judge_server = judge_server
        yield api_ws


def test_judge_scores_a_run_and_counts_its_tokens(judged_ws, tmp_path):
    questions = load_questions(QUESTIONS)[:10]
    systems = parse_systems("api,api+rag", judged_ws.settings.models)
    report = run_eval(judged_ws, systems, questions, tmp_path / "run", judge_model="judge")
    assert report.judged == 20 and len(judged_ws.judge_server.requests) == 20
    by = {s.system: s for s in summary_of(tmp_path / "run").systems}
    assert by["api"].metrics["judge_correct"].mean == pytest.approx(0.8)  # oracle knows 8 of 10
    assert "judge_faithful" not in by["api"].metrics  # no context without retrieval
    assert by["api+rag"].metrics["judge_correct"].mean == 1.0
    assert by["api+rag"].metrics["judge_faithful"].n == 10
    assert by["api"].judge_calls == 10 and by["api"].judge_failed == 0
    assert by["api"].judge_prompt_tokens > 100 and by["api"].judge_completion_tokens == 40
    # a second run judges nothing again
    again = run_eval(judged_ws, systems, questions, tmp_path / "run", judge_model="judge")
    assert again.judged == 0 and len(judged_ws.judge_server.requests) == 20


def test_a_judge_that_returns_garbage_is_counted_as_failed(judged_ws, tmp_path):
    questions = load_questions(QUESTIONS)[:6]
    systems = parse_systems("api", judged_ws.settings.models)
    run_eval(judged_ws, systems, questions, tmp_path / "run")  # answers first, unjudged
    judge_model = judged_ws.judge_server.model
    judge_model.reply = lambda m: "garbage" if judge_model.calls % 2 else grader(m)
    report = run_eval(judged_ws, systems, questions, tmp_path / "run", judge_model="judge")
    assert (report.answered, report.judged) == (0, 6)  # verdicts added to the earlier answers
    s = summary_of(tmp_path / "run").systems[0]
    assert s.judge_calls == 6 and s.judge_failed == 3
    assert s.metrics["judge_correct"].n == 3  # averaged over the verdicts that exist ...
    assert "| judge failed | 3 |" in to_markdown(summary_of(tmp_path / "run"))  # ... and shown
    failed = [r["judge"] for r in load_records(tmp_path / "run").values() if r["judge"]["failed"]]
    assert all("no JSON object" in v["error"] and v["reply"] == "garbage" for v in failed)


def test_an_unreachable_judge_fails_the_verdict_not_the_run(api_ws, tmp_path):
    api_ws.settings.models["judge"] = ModelSettings(
        backend="openai", model="judge", base_url="http://127.0.0.1:9/v1", max_retries=0, timeout=2)
    run_eval(api_ws, parse_systems("api", api_ws.settings.models), load_questions(QUESTIONS)[:2],
             tmp_path / "run", judge_model="judge")
    verdicts = [r["judge"] for r in load_records(tmp_path / "run").values()]
    assert all(v["failed"] and "judge call failed" in v["error"] for v in verdicts)


def test_the_bundled_model_as_judge_over_http(local_model):
    """Whatever the 135M model replies, the verdict is parsed or marked failed, and its tokens
    are counted."""
    with ChatServer(local_model) as server:
        model = make_model("j", {"j": ModelSettings(backend="openai", model="smollm2",
                                                    base_url=server.base_url)})
        verdict = judge(model, "What is the capital of France?", ["Paris"], "Paris.", None)
    assert verdict.prompt_tokens > 50 and verdict.completion_tokens > 0
    assert verdict.failed == (verdict.correct is None)
    assert verdict.failed or verdict.correct in (0.0, 1.0)


def test_oracle_is_what_the_runner_tests_assume():
    assert oracle([{"role": "user", "content": "How much is the per diem for business travel?"}]) \
        == "EUR 52 [1]"
