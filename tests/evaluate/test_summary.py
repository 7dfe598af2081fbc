"""Summaries of hand-written run folders, checked against values computed by hand, and the
`tunewise eval` commands end to end."""

import json
import math

import pytest
from typer.testing import CliRunner

from tests.conftest import QUESTIONS
from tunewise.cli import app
from tunewise.evaluate.runner import EvalError
from tunewise.evaluate.summary import record_scores, summary_of, to_markdown


def record(system, qid, prediction="", answers=("Paris",), **kw):
    base = {"system": system, "question_id": qid, "question": f"{qid}?", "answers": list(answers),
            "choices": [], "doc_ids": [], "unanswerable": False, "rag": False, "k": 5,
            "prediction": prediction, "abstained": False, "retrieved": [], "sources": [],
            "latency_s": 1.0, "first_token_s": 0.5, "retrieval_s": 0.0, "prompt_tokens": 10,
            "completion_tokens": 4}
    return {**base, **kw}


def write_run(folder, records):
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps({"questions": 4}))
    (folder / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def test_retrieval_scores_by_hand():
    r = record("s", "q", "Paris", rag=True, doc_ids=["d1"], k=5,
               retrieved=["/c/docs.jsonl#d9", "/c/docs.jsonl#d1", "/c/docs.jsonl#d3"])
    scores = record_scores(r)
    assert scores["recall@5"] == 1.0 and scores["mrr@5"] == 0.5
    assert scores["ndcg@5"] == pytest.approx(1 / math.log2(3))
    by_path = record("s", "q", "x", rag=True, doc_ids=["policies/travel.md"], k=2,
                     retrieved=["/c/policies/other.md", "/c/hr/travel.md", "/c/policies/travel.md"])
    assert record_scores(by_path)["recall@2"] == 0.0  # the gold file ranks third, past k


def test_summary_counts_failures_and_takes_the_latest_record(tmp_path):
    run = write_run(tmp_path / "run", [
        record("a", "q1", "Paris", latency_s=1.0),
        record("a", "q2", "London", latency_s=3.0),
        record("a", "q2", "Paris [1]", latency_s=2.0),  # a later record of q2 replaces the first
        {**record("a", "q3"), "error": "a: the endpoint answered 503"},
        record("a", "q4", "The documents do not contain it.", answers=(), unanswerable=True,
               abstained=True, latency_s=5.0, judge={"correct": None, "faithful": None,
                                                     "failed": True, "error": "no JSON",
                                                     "prompt_tokens": 30, "completion_tokens": 2}),
        record("b", "q1", "Rome"), record("b", "q2", "Rome"), record("b", "q4", "Paris",
                                                                       answers=(), unanswerable=True),
    ])
    summary = summary_of(run)
    a, b = summary.systems
    assert (a.questions, a.failed) == (4, 1)
    assert a.metrics["em"].mean == 1.0 and a.metrics["em"].n == 3  # q1, q2 (latest), q4 abstained
    assert a.metrics["abstained"].mean == pytest.approx(1 / 3)
    assert a.latency_median_s == 2.0 and a.latency_p95_s == 5.0
    assert a.judge_calls == 1 and a.judge_failed == 1 and "judge_correct" not in a.metrics
    assert a.judge_prompt_tokens == 30
    assert b.metrics["em"].mean == 0.0 and "contains" in b.metrics
    (em,) = [c for c in summary.comparisons if c.metric == "em"]
    assert (em.a, em.b, em.difference.n, em.difference.mean) == ("b", "a", 3, -1.0)
    text = to_markdown(summary)
    assert "| failed answers | 1 | 0 |" in text and "| em | 1.000 [1.000, 1.000] | 0.000" in text
    assert "Paired per question, b − a" in text
    with pytest.raises(EvalError, match="no system 'c'"):
        summary_of(run, compare=("a", "c"))
    with pytest.raises(EvalError, match="not an evaluation run"):
        summary_of(tmp_path)


def test_cli_prepare_run_summary_retrieval(tmp_path, sample_workspace, api_ws, monkeypatch):
    """The four commands on the sample set, the API model configured in tunewise.toml."""
    monkeypatch.chdir(tmp_path)
    url = api_ws.settings.models["api"].base_url
    (tmp_path / "tunewise.toml").write_text(
        f'[store]\nurl = "{sample_workspace.settings.store.url}"\n\n'
        f'[models.api]\nbackend = "openai"\nmodel = "scripted"\nbase_url = "{url}"\nmax_retries = 0\n')
    runner = CliRunner()
    prepared = runner.invoke(app, ["eval", "prepare", str(QUESTIONS), "--out", "q", "--seed", "3"])
    assert prepared.exit_code == 0, prepared.output
    said = " ".join(prepared.output.split())
    assert "(0 documents), dev.jsonl (6 questions), test.jsonl (26 questions)" in said
    assert "carry no contexts" in said
    run = runner.invoke(app, ["eval", "run", "--systems", "api,api+rag:k=3", "--questions",
                              "q/test.jsonl", "--out", "runs/x", "--limit", "5"])
    assert run.exit_code == 0, run.output
    said = " ".join(run.output.split())
    # the two systems and the baseline that fits (documents, no choices): baseline:extractive
    assert "answered 15, judged 0, already done 0, failed 0" in said
    assert "recall@3" in said and "paired per question: api+rag:k=3 − api" in said
    again = runner.invoke(app, ["eval", "run", "--systems", "api,api+rag:k=3", "--questions",
                                "q/test.jsonl", "--out", "runs/x", "--limit", "5"])
    assert "answered 0, judged 0, already done 15" in " ".join(again.output.split())
    as_json = runner.invoke(app, ["eval", "summary", "runs/x", "--output", "json"])
    data = json.loads(as_json.stdout)
    assert [s["system"] for s in data["systems"]] == ["api", "api+rag:k=3", "baseline:extractive"]
    assert data["systems"][1]["metrics"]["em"]["mean"] == 1.0
    md = runner.invoke(app, ["eval", "summary", "runs/x", "-o", "markdown", "--compare", "api,api+rag:k=3"])
    assert "| measure | api | api+rag:k=3 |" in md.stdout and "api − api+rag:k=3" in md.stdout
    rows = [line for line in md.stdout.splitlines() if line and not line.startswith("Paired")]
    assert all(line.startswith("|") and line.endswith("|") for line in rows)  # no wrapped rows
    retrieval = runner.invoke(app, ["eval", "retrieval", "--questions", str(QUESTIONS), "-k", "1,5"])
    assert retrieval.exit_code == 0, retrieval.output
    assert "hybrid convex" in retrieval.stdout and "recall@5" in retrieval.stdout
    bad = runner.invoke(app, ["eval", "run", "--systems", "gpt9", "--questions", "q/test.jsonl",
                              "--out", "runs/y"])
    assert bad.exit_code != 0 and "unknown model 'gpt9'" in str(bad.exception)
