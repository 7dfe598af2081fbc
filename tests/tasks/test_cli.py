"""The task commands as a user types them: prepare a CSV, run, report, and instruction data."""

import json

from typer.testing import CliRunner

from tests.tasks.conftest import sentiment_items
from tunewise.cli import app


def test_prepare_run_and_report_a_classification_csv(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = sentiment_items(60, seed=4)
    (tmp_path / "news.csv").write_text("headline,tone\n" + "".join(
        f'"{i.text}",{i.gold}\n' for i in rows))
    cli = CliRunner()
    prepared = cli.invoke(app, ["eval", "prepare", "news.csv", "--task", "classify", "--text",
                                "headline", "--label", "tone", "--out", "fpb"])
    assert prepared.exit_code == 0, prepared.output
    assert "train.jsonl (48 items)" in prepared.output
    ran = cli.invoke(app, ["eval", "run", "--questions", "fpb/test.jsonl", "--systems",
                           "encoder:frozen", "--train-sizes", "12,all", "--out", "runs/fpb"])
    assert ran.exit_code == 0, ran.output
    assert "macro_f1" in ran.output and "encoder:frozen@12" in ran.output
    assert "baseline:tfidf@12" in ran.output  # the task's baselines come with it
    assert "f1[negative]" in ran.output  # a metric name, not swallowed as markup
    reported = cli.invoke(app, ["report", "runs/fpb"])
    assert reported.exit_code == 0, reported.output
    assert "learning curve" in (tmp_path / "runs/fpb/report.html").read_text().lower()
    data = cli.invoke(app, ["data", "from-task", "fpb/train.jsonl", "--out", "fpb-chat.jsonl"])
    assert data.exit_code == 0, data.output
    first = json.loads((tmp_path / "fpb-chat.jsonl").read_text().splitlines()[0])
    assert first["messages"][0]["role"] == "system" and "negative, neutral, positive" in \
        first["messages"][0]["content"]
    assert json.loads(first["messages"][-1]["content"])["label"] in ("negative", "neutral", "positive")


def test_a_task_run_names_an_unknown_model_and_a_bad_train_size(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "set"
    folder.mkdir()
    for name, seed in (("train.jsonl", 1), ("test.jsonl", 2)):
        (folder / name).write_text("".join(json.dumps(i.to_record("classify")) + "\n"
                                           for i in sentiment_items(6, seed)))
    cli = CliRunner()
    unknown = cli.invoke(app, ["eval", "run", "--questions", "set/test.jsonl", "--systems",
                               "gpt-9", "--out", "r"])
    assert unknown.exit_code == 2 and "unknown model 'gpt-9'" in unknown.output
    sizes = cli.invoke(app, ["eval", "run", "--questions", "set/test.jsonl", "--systems",
                             "encoder", "--train-sizes", "ten", "--out", "r"])
    assert sizes.exit_code == 2 and "whole numbers" in sizes.output
