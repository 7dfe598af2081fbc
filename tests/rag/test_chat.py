"""Conversations: follow-ups rewritten into standalone questions by the bundled model."""

from typer.testing import CliRunner

from tests.conftest import SAMPLE
from tunewise.cli import app


def test_follow_up_is_rewritten_before_retrieval(sample_workspace, local_model):
    talk = sample_workspace.conversation()
    first = talk.ask("What is the hotel limit per night in Stockholm?")
    assert first.question == "What is the hotel limit per night in Stockholm?"  # first turn as is
    follow = talk.ask("And in Paris?")
    assert follow.question != "And in Paris?" and follow.question.endswith("?")
    assert "hotel" in follow.question.lower()  # the rewrite carries the topic over
    assert follow.passages[0].source.endswith("travel-expense-policy.md")
    assert [q for q, _ in talk.turns] == ["What is the hotel limit per night in Stockholm?",
                                          "And in Paris?"]


def test_chat_command_streams_answers_until_exit(tmp_path):
    store = ["--store", f"sqlite:{tmp_path}/s.db"]
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(SAMPLE / "policies"), *store]).exit_code == 0
    result = runner.invoke(app, ["chat", *store], input="How much is the per diem for business "
                           "travel?\n\nAnd for hotels in Berlin?\nexit\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("you> ") == 4  # three prompts answered or skipped, then exit
    assert "52" in result.stdout and "travel-expense-policy.md" in result.stdout
