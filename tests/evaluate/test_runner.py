"""Evaluation runs through the official SDK against a real local OpenAI-compatible server (a
scripted model behind it gives known answers), plus one run of the bundled local model."""

import json
import threading
import time

import pytest

from tests.conftest import QUESTIONS
from tests.evaluate.conftest import oracle
from tests.evaluate.scripted import ScriptedModel, with_api_model
from tests.models.chat_server import ChatServer
from tunewise.evaluate.datasets import load_questions
from tunewise.evaluate.runner import RECORDS, EvalError, _Pace, load_records, run_eval
from tunewise.evaluate.summary import summary_of
from tunewise.systems import parse_systems


def test_run_scores_each_system_on_each_question(api_ws, tmp_path):
    questions = load_questions(QUESTIONS)[:12]
    systems = parse_systems("api,api+rag", api_ws.settings.models)
    seen = []
    report = run_eval(api_ws, systems, questions, tmp_path / "run", on_record=seen.append)
    assert (report.answered, report.skipped, report.failed) == (24, 0, 0) and len(seen) == 24
    records = load_records(tmp_path / "run")
    rag = records[("api+rag", "q12")]
    assert rag["prediction"] == "eight units [1]" and rag["sources"] and rag["retrieved"]
    assert rag["prompt_tokens"] > 50 and rag["completion_tokens"] == 3 and rag["first_token_s"] is not None
    assert records[("api", "q12")]["prediction"] == "I do not know."
    summary = summary_of(tmp_path / "run")
    by = {s.system: s for s in summary.systems}
    assert by["api"].metrics["em"].mean == pytest.approx(8 / 12)
    assert by["api+rag"].metrics["em"].mean == 1.0
    assert by["api+rag"].metrics["recall@5"].mean == 1.0  # every gold file retrieved
    assert "recall@5" not in by["api"].metrics
    (c_em,) = [c for c in summary.comparisons if c.metric == "em"]
    assert (c_em.a, c_em.b) == ("api+rag", "api") and c_em.difference.mean == pytest.approx(4 / 12)


def test_an_interrupted_run_resumes_where_it_stopped(api_ws, tmp_path):
    questions = load_questions(QUESTIONS)[:10]
    systems = parse_systems("api", api_ws.settings.models)
    server, model = api_ws.server, api_ws.scripted

    def dies_after_four(messages):  # the API goes down after four answers
        if model.calls >= 4:
            server.status = 503
        return oracle(messages)

    model.reply = dies_after_four
    with pytest.raises(EvalError, match=r"api: 5 answers in a row failed.*503"):
        run_eval(api_ws, systems, questions, tmp_path / "run", concurrency=1)
    first = load_records(tmp_path / "run")
    assert sum(not r.get("error") for r in first.values()) == 4 and len(first) == 9
    # the process dies while writing a line: the torn line is ignored and answered again
    with open(tmp_path / "run" / RECORDS, "a") as f:
        f.write('{"system": "api", "question_id": "q10", "predic')
    server.status, model.reply, asked_before = None, oracle, len(server.requests)
    report = run_eval(api_ws, systems, questions, tmp_path / "run")
    assert (report.skipped, report.answered, report.failed) == (4, 6, 0)
    assert len(server.requests) - asked_before == 6  # only the failed and the missing ones
    final = load_records(tmp_path / "run")
    assert len(final) == 10 and not any(r.get("error") for r in final.values())
    assert summary_of(tmp_path / "run").systems[0].metrics["em"].mean == pytest.approx(8 / 10)


def test_a_run_recorded_under_an_old_option_name_resumes_under_the_current_one(api_ws, tmp_path):
    questions = load_questions(QUESTIONS)[:3]
    run_eval(api_ws, parse_systems("api+rag:min_passage_similarity=0.2"), questions,
             tmp_path / "run")
    path = tmp_path / "run" / RECORDS  # as a run written before the option was renamed
    path.write_text(path.read_text().replace(":min_passage_similarity=", ":min_similarity="))
    asked_before = len(api_ws.server.requests)
    report = run_eval(api_ws, parse_systems("api+rag:min_passage_similarity=0.2"), questions,
                      tmp_path / "run")
    assert (report.skipped, report.answered) == (3, 0)
    assert len(api_ws.server.requests) == asked_before
    assert [s.system for s in summary_of(tmp_path / "run").systems] == [
        "api+rag:min_passage_similarity=0.2"]


def test_a_run_folder_refuses_other_questions(api_ws, tmp_path):
    questions = load_questions(QUESTIONS)
    systems = parse_systems("api", api_ws.settings.models)
    run_eval(api_ws, systems, questions[:2], tmp_path / "run")
    with pytest.raises(EvalError, match="other questions, questions_digest"):
        run_eval(api_ws, systems, questions[:3], tmp_path / "run")
    with pytest.raises(EvalError, match="other max_tokens"):
        run_eval(api_ws, systems, questions[:2], tmp_path / "run", max_tokens=5)
    # another system on the same questions is welcome
    more = run_eval(api_ws, parse_systems("api,api+rag", api_ws.settings.models), questions[:2],
                    tmp_path / "run")
    assert (more.skipped, more.answered) == (2, 2)


def test_a_larger_limit_extends_a_run(api_ws, tmp_path):
    questions, systems = load_questions(QUESTIONS), parse_systems("api", api_ws.settings.models)
    first = run_eval(api_ws, systems, questions, tmp_path / "run", limit=3)
    second = run_eval(api_ws, systems, questions, tmp_path / "run", limit=5)
    assert (first.answered, second.skipped, second.answered) == (3, 3, 2)
    assert len(load_records(tmp_path / "run")) == 5


def test_api_models_answer_concurrently_within_the_bound(api_ws, tmp_path):
    lock, state = threading.Lock(), {"now": 0, "most": 0}

    def slow(messages):
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.15)
        with lock:
            state["now"] -= 1
        return oracle(messages)

    api_ws.scripted.reply = slow
    systems = parse_systems("api", api_ws.settings.models)
    run_eval(api_ws, systems, load_questions(QUESTIONS)[:12], tmp_path / "run", concurrency=3)
    assert state["most"] == 3


def test_pacing_spaces_out_calls():
    pace = _Pace(rpm=1200)  # one call every 50 ms
    started = time.monotonic()
    for _ in range(5):
        pace.wait()
    assert time.monotonic() - started >= 0.19  # the first call goes at once, four wait
    assert _Pace(None).interval == 0


def test_local_model_with_and_without_rag(sample_workspace, local_model, tmp_path):
    questions = [q for q in load_questions(QUESTIONS) if q.id in ("q06", "q16")]
    systems = parse_systems("local,local+rag:k=3", sample_workspace.settings.models)
    run_eval(sample_workspace, systems, questions, tmp_path / "run", max_tokens=40)
    records = load_records(tmp_path / "run")
    assert "52" in records[("local+rag:k=3", "q06")]["prediction"]
    assert records[("local+rag:k=3", "q06")]["k"] == 3
    assert all(r["completion_tokens"] <= 40 for r in records.values())
    summary = {s.system: s for s in summary_of(tmp_path / "run").systems}
    assert summary["local+rag:k=3"].metrics["recall@3"].mean == 1.0
    assert summary["local+rag:k=3"].metrics["contains"].mean >= 0.5
    lines = (tmp_path / "run" / RECORDS).read_text().splitlines()
    assert len(lines) == 4 and all(json.loads(x)["system"] in summary for x in lines)


def test_the_instruction_follows_the_question_in_the_prompt(api_ws, tmp_path):
    from tunewise.evaluate.datasets import Question

    q = Question("p1", "How much is the per diem for business travel?", ("EUR 52",),
                 instruction="Answer with the amount only.")
    run_eval(api_ws, parse_systems("api,api+rag", api_ws.settings.models), [q], tmp_path / "run")
    alone, with_rag = (r["messages"][-1]["content"] for r in api_ws.server.requests)
    assert alone == "How much is the per diem for business travel?\nAnswer with the amount only."
    assert with_rag.endswith("per diem for business travel?\nAnswer with the amount only.")
    # the retrieval query was the bare question: the travel policy was found all the same
    assert any("travel-expense" in s for s in load_records(tmp_path / "run")[("api+rag", "p1")]["retrieved"])


def test_cut_streams_are_failed_answers_never_empty_ones(sample_workspace, tmp_path):
    """A server that cuts a stream when another request arrives (llama.cpp's) made 8 of 10
    answers empty strings, scored as predictions. Now they are failed answers that name the
    setting; bounded to one request in flight, every answer is whole."""
    questions = load_questions(QUESTIONS)[:4]
    with ChatServer(ScriptedModel(oracle, delay=0.2), parallel=True, cut_when_busy=True) as server:
        ws = with_api_model(sample_workspace, "lcpp", server.base_url, max_tokens=20)
        systems = parse_systems("lcpp", ws.settings.models)
        report = run_eval(ws, systems, questions, tmp_path / "cut", concurrency=4)
        records = load_records(tmp_path / "cut").values()
        assert report.failed >= 1
        assert all(r.get("error") or r["prediction"].strip() for r in records)
        assert any("max_concurrency" in (r.get("error") or "") for r in records)
        bounded = with_api_model(sample_workspace, "lcpp", server.base_url, max_tokens=20,
                                 max_concurrency=1)
        again = run_eval(bounded, systems, questions, tmp_path / "whole", concurrency=4)
        assert again.failed == 0 and again.answered == 4
