"""A decision a user can act on: trivial baselines are measured in every run and a system that
does not beat them significantly is never recommended; below the quality floor nothing
qualifies, and the report says so and what to try next. Scripted systems with known answers
behind the real OpenAI-compatible test server."""

import json

import pytest
from typer.testing import CliRunner

from tests.evaluate.scripted import ScriptedModel, last_user, with_api_model
from tests.models.chat_server import ChatServer
from tunewise.cli import app
from tunewise.evaluate.baselines import baselines_for, best_sentence
from tunewise.evaluate.datasets import load_questions
from tunewise.evaluate.runner import run_eval
from tunewise.report.build import build_report
from tunewise.report.render import headline, write_report
from tunewise.systems import parse_systems

# 40 yes/no/maybe questions, 24 of them "yes": the majority answer scores 0.6
ANSWERS = ["yes"] * 24 + ["no"] * 12 + ["maybe"] * 4


@pytest.fixture(scope="module")
def choice_questions(tmp_path_factory):
    path = tmp_path_factory.mktemp("choices") / "questions.jsonl"
    path.write_text("".join(json.dumps({
        "id": f"c{n:02d}", "question": f"Does treatment {n} reduce the symptom?",
        "answers": [a], "choices": ["yes", "no", "maybe"]}) + "\n"
        for n, a in enumerate(ANSWERS)))
    return load_questions(path)


def _oracle(messages):
    n = int(last_user(messages).split("treatment ")[1].split()[0])
    return ANSWERS[n]


def test_a_system_that_always_says_yes_is_never_recommended(sample_workspace, choice_questions,
                                                            tmp_path):
    baselines = baselines_for(choice_questions, has_documents=True)
    assert [b.name for b in baselines] == ["baseline:majority", "baseline:extractive"]
    yes = ScriptedModel(lambda messages: "yes")
    with ChatServer(yes, parallel=True) as a, ChatServer(ScriptedModel(_oracle), parallel=True) as b:
        ws = with_api_model(with_api_model(sample_workspace, "yes", a.base_url), "expert",
                            b.base_url)
        systems = parse_systems("yes,expert", ws.settings.models) + baselines
        run_eval(ws, systems, choice_questions, tmp_path / "both", max_tokens=4)
        only_yes = parse_systems("yes", ws.settings.models) + baselines
        run_eval(ws, only_yes, choice_questions, tmp_path / "yes", max_tokens=4)
    r = build_report(tmp_path / "both", ws.settings, queries_per_day=1000)
    assert r.metric == "accuracy" and r.qualified and r.recommended.system == "expert"
    majority = next(c for c in r.baselines if c.system == "baseline:majority")
    assert majority.quality.mean == pytest.approx(0.6)
    sayer = next(c for c in r.candidates if c.system == "yes")
    assert sayer.quality.mean == pytest.approx(0.6) and not sayer.qualifies
    assert any("beats the best trivial baseline, baseline:majority" in x for x in r.reasons)
    alone = build_report(tmp_path / "yes", ws.settings, queries_per_day=1000)
    assert not alone.qualified and alone.recommended.system == "yes"
    assert headline(alone).startswith("None of the measured systems is good enough")
    assert any("does not significantly beat baseline:majority" in x for x in alone.reasons)


def test_below_the_floor_nothing_qualifies(decision_run, tmp_path):
    run, settings = decision_run
    r = build_report(run, settings, queries_per_day=1000, min_score=1.5)
    assert not r.qualified and all(not c.qualifies for c in r.candidates)
    assert any("below the floor 1.5" in x for x in r.reasons)
    assert any("tunewise finetune" in x for x in r.changes)  # what to try next
    assert build_report(run, settings, queries_per_day=1000, min_score=0.5).qualified
    result = CliRunner().invoke(app, ["report", str(run), "--min-score", "1.5",
                                      "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "None of the measured systems is good enough" in " ".join(result.output.split())
    assert "What to try next" in (tmp_path / "report.md").read_text()


def test_the_extractive_baseline_picks_the_sentence_that_matches():
    passage = ("The HX200 is a heat pump. Its defrost cycle runs every 40 minutes. "
               "Warranty is five years.")
    assert best_sentence("How often does the defrost cycle run?", passage) == \
        "Its defrost cycle runs every 40 minutes."


def test_wrong_answers_are_split_by_where_they_went_wrong(decision_run, tmp_path):
    """Of local+rag's wrong answers: the gold document missing from the retrieved ones (invest
    in retrieval) or in the prompt and still answered wrongly (invest in the model)."""
    from tunewise.evaluate.retrieval import matches
    from tunewise.evaluate.summary import record_scores

    run, settings = decision_run
    r = build_report(run, settings, queries_per_day=1000)
    line = next(x for x in r.failures if x.startswith("local+rag:"))
    records = [json.loads(x) for x in (run / "records.jsonl").read_text().splitlines()]
    mine = [x for x in records if x["system"] == "local+rag"]
    wrong = [x for x in mine if record_scores(x)["f1"] < 0.5]
    missed = [x for x in wrong if not any(matches(s, g) for s in x["retrieved"]
                                          for g in x["doc_ids"])]  # a JSONL record is "path#key"
    assert line.startswith(f"local+rag: {len(wrong)} of {len(mine)} answers wrong (f1 < 0.5) — "
                           f"{len(missed)} with the gold document not retrieved, "
                           f"{len(wrong) - len(missed)} with it in the prompt")
    assert not any(x.startswith("gpt-4o-mini+rag:") for x in r.failures)  # never wrong
    write_report(r, tmp_path)
    assert "Where the wrong answers went wrong" in (tmp_path / "report.md").read_text()


def test_what_to_try_next_puts_the_model_first_when_the_evidence_was_retrieved(
        sample_workspace, tmp_path):
    from tests.conftest import QUESTIONS

    wrong = ScriptedModel(lambda messages: "Nobody knows.")  # evidence in the prompt, no answer
    with ChatServer(wrong, parallel=True) as server:
        ws = with_api_model(sample_workspace, "wrong", server.base_url)
        run_eval(ws, parse_systems("wrong+rag", ws.settings.models), load_questions(QUESTIONS),
                 tmp_path / "run", max_tokens=8)
    r = build_report(tmp_path / "run", ws.settings, queries_per_day=1000, min_score=0.5)
    assert not r.qualified and "most gain is in the model" in r.failures[0]
    first_model = next(i for i, x in enumerate(r.changes) if x.startswith("a stronger model"))
    first_retrieval = next(i for i, x in enumerate(r.changes) if "retrieval" in x)
    assert first_model < first_retrieval
