"""Answers from the sample corpus with the bundled local model, through the API and the CLI."""

import json

import pytest
from typer.testing import CliRunner

from tests.conftest import SAMPLE
from tunewise.cli import app


@pytest.fixture(scope="module")
def ws(sample_workspace, local_model):
    return sample_workspace


# Questions the 135M-parameter bundled model answers right (6 to 9 of the 32 sample questions,
# depending on small changes to the prompt; see bench/RESULTS.md): these tests check the
# pipeline, issue 4's evaluation measures the model.
@pytest.mark.parametrize("question, expected, source", [
    ("What is the one-time home-office allowance for remote employees?", "EUR 400",
     "remote-work-policy.md"),
    ("How much is the per diem for business travel?", "EUR 52", "travel-expense-policy.md"),
    ("What are the dimensions of the HX200 outdoor unit?", "1,100 x 950 x 480 mm",
     "hx-series-datasheet.pdf"),
])
def test_answers_cite_the_right_source(ws, question, expected, source):
    answer = ws.ask(question)
    assert expected in answer.text
    assert not answer.abstained and answer.passages
    assert any(s.source.endswith(source) for s in answer.passages)
    assert answer.usage.prompt_tokens > 0 and answer.usage.completion_tokens > 0
    assert answer.latency_s >= answer.retrieval_s > 0


def test_off_topic_question_abstains_without_calling_the_model(ws):
    answer = ws.ask("Who won the football world cup in 2018?")
    assert answer.abstained and answer.passages == [] and answer.usage.total_tokens == 0
    assert answer.text == ws.settings.rag.abstain_message


def test_no_rag_asks_the_model_alone(ws):
    answer = ws.ask("What is the capital of France? Answer in one sentence.", rag=False)
    assert "Paris" in answer.text and answer.passages == [] and not answer.abstained


def test_streamed_answer_and_first_token(ws):
    pieces = []
    answer = ws.ask("How much is the per diem for business travel?", on_token=pieces.append)
    assert "".join(pieces).strip() == answer.text and "52" in answer.text
    assert 0 < answer.first_token_s < answer.latency_s


def test_cli_ask_json_and_errors(tmp_path):
    runner = CliRunner()
    store = ["--store", f"sqlite:{tmp_path}/s.db"]
    assert runner.invoke(app, ["ingest", str(SAMPLE / "policies"), *store]).exit_code == 0
    question = "How much is the per diem for business travel?"
    result = runner.invoke(app, ["ask", question, "--json", *store])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert "52" in data["text"] and data["sources"][0]["source"].endswith("travel-expense-policy.md")
    assert {"prompt_tokens", "completion_tokens", "total_tokens"} <= set(data["usage"])
    assert data["latency_s"] > 0 and data["model"] == "local"
    plain = runner.invoke(app, ["ask", question, *store])
    assert "52" in plain.stdout and "[1] " in plain.stdout


def test_cli_errors_exit_2_without_traceback(monkeypatch, capsys, tmp_path, local_model):
    from tests.models.chat_server import ChatServer
    from tunewise import cli

    monkeypatch.setenv("TEST_CHAT_KEY", "sk-wrong")
    with ChatServer(local_model, api_key="sk-right") as locked, \
            ChatServer(local_model, status=500) as broken:
        config = tmp_path / "t.toml"
        config.write_text(
            '[models.down]\nbackend = "openai"\nmodel = "x"\n'
            'base_url = "http://127.0.0.1:9/v1"\nmax_retries = 0\n'
            f'[models.locked]\nbackend = "openai"\nmodel = "x"\nbase_url = "{locked.base_url}"\n'
            'api_key_env = "TEST_CHAT_KEY"\n'
            f'[models.broken]\nbackend = "openai"\nmodel = "x"\nbase_url = "{broken.base_url}"\n'
            'max_retries = 0\n')
        _expect_errors(cli, monkeypatch, capsys, tmp_path, config)


def _expect_errors(cli, monkeypatch, capsys, tmp_path, config):
    for argv, message in [
        (["ask", "  ", "--no-rag"], "the question is empty"),
        (["ask", "why? " * 5000, "--no-rag"], "the question is too long"),
        (["ask", "hello", "--model", "nope"], "unknown model 'nope'"),
        (["ask", "hello", "--model", "down", "--no-rag"], "cannot reach"),
        (["ask", "hello", "--model", "locked", "--no-rag"], "refused the API key in $TEST_CHAT_KEY"),
        (["ask", "hello", "--model", "broken", "--no-rag"], "answered 500: model overloaded"),
    ]:
        monkeypatch.setattr("sys.argv", ["tunewise", *argv, "--config", str(config),
                                         "--store", f"sqlite:{tmp_path}/e.db"])
        with pytest.raises(SystemExit) as exit_info:
            cli.main()
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and message in err and "Traceback" not in err


def test_cli_ask_open_opens_the_cited_pdf_at_its_page(tmp_path, monkeypatch):
    from tests.hostile_files import OSPREY, pdf_of

    (tmp_path / "osprey.pdf").write_bytes(pdf_of(OSPREY))
    opened = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    store = ["--store", f"sqlite:{tmp_path}/s.db"]
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(tmp_path / "osprey.pdf"), *store]).exit_code == 0
    question = "What is the Osprey boiler service code for a blocked flue?"
    result = runner.invoke(app, ["ask", question, "-k", "1", "--open", "1", *store])
    assert result.exit_code == 0, result.output
    assert opened == [(tmp_path / "osprey.pdf").resolve().as_uri() + "#page=2"]
    missing = runner.invoke(app, ["ask", question, "-k", "1", "--open", "3", *store])
    assert missing.exit_code == 2 and "no source 3" in " ".join(missing.output.split())
