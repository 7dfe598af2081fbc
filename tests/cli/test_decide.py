"""`tunewise decide`: documents in, the decision report out, in one command that resumes — with
the team's questions, or with questions a teacher (a real OpenAI-compatible server) writes."""

import json

from typer.testing import CliRunner

from tests.conftest import QUESTIONS, SAMPLE
from tests.evaluate.scripted import ScriptedModel, last_user
from tests.models.chat_server import ChatServer
from tunewise.cli import app


def test_decide_ingests_evaluates_prices_and_reports_then_resumes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUNEWISE_REGISTRY", str(tmp_path / "models.toml"))
    few = tmp_path / "few.jsonl"
    few.write_text("".join(line + "\n" for line in QUESTIONS.read_text().splitlines()[:3]))
    argv = ["decide", str(SAMPLE / "policies"), "--questions", str(few), "--out", "run",
            "--max-tokens", "8", "--store", f"sqlite:{tmp_path / 's.db'}"]
    first = CliRunner().invoke(app, argv)
    assert first.exit_code == 0, first.output
    said = " ".join(first.output.split())
    assert "files:" in said and "added" in said and "report: run/report.html" in said
    records = [json.loads(x) for x in (tmp_path / "run" / "records.jsonl").read_text().splitlines()]
    systems = {r["system"] for r in records}
    assert {"local", "local+rag"} <= systems and any(s.startswith("baseline:") for s in systems)
    assert len(records) == 3 * len(systems)
    again = " ".join(CliRunner().invoke(app, argv).output.split())
    assert "unchanged" in again and f"answers: 0 now, {len(records)} before" in again


def test_decide_writes_its_questions_with_the_teacher_when_none_are_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUNEWISE_REGISTRY", str(tmp_path / "models.toml"))

    def teacher(messages):  # one question a passage, answered by the passage's first words
        passage = last_user(messages).split("\n\n", 1)[1].rsplit("\n\nWrite", 1)[0]
        words = passage.split()
        return f"Q: What does the text say about {' '.join(words[2:7])}?\nA: {' '.join(words[:6])}"

    with ChatServer(ScriptedModel(teacher), parallel=True) as server:
        (tmp_path / "tunewise.toml").write_text(
            f'[models.teacher]\nbackend = "openai"\nmodel = "t"\nbase_url = "{server.base_url}"\n'
            'api_key_env = "TUNEWISE_TEST_NO_KEY"\nmax_retries = 0\n')
        done = CliRunner().invoke(app, [
            "decide", str(SAMPLE / "policies"), "--teacher", "teacher", "--sample", "3",
            "--systems", "teacher+rag", "--out", "run", "--store", f"sqlite:{tmp_path / 's.db'}"])
    assert done.exit_code == 0, done.output
    written = (tmp_path / "run" / "questions.jsonl").read_text().splitlines()
    assert 1 <= len(written) <= 3 and "written by teacher" in " ".join(done.output.split())
    assert (tmp_path / "run" / "report.html").is_file()
