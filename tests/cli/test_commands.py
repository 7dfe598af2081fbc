"""Every command of the CLI: it has --help with an example, and bad arguments end in one line
and exit code 1 or 2 — never a traceback (each command is found by walking the command tree, so
a new command is covered without editing this file)."""

import pytest
import typer
from typer.testing import CliRunner

from tests.conftest import QUESTIONS, SAMPLE
from tunewise.cli import app


def _commands() -> list[str]:
    def walk(cmd, path: list[str]):
        if hasattr(cmd, "commands"):  # a group (typer's own click types)
            for name, sub in cmd.commands.items():
                yield from walk(sub, path + [name])
        else:
            yield " ".join(path)

    return sorted(walk(typer.main.get_command(app), []))


COMMANDS = _commands()


def test_the_tree_is_what_the_readme_lists():
    assert COMMANDS == sorted([
        "ask", "chat", "cost", "data from-log", "data from-task", "data import", "data label",
        "data paraphrase", "data stats", "data synth", "decide", "eval prepare", "eval retrieval",
        "eval run", "eval summary", "finetune", "finetune-retriever", "ingest", "mcp",
        "plan finetune", "plan pretrain", "predict", "pretrain", "remove", "report", "search",
        "serve", "stats", "store copy", "store index", "store metadata",
        "store reembed", "tokenizer train"])


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command):
    result = CliRunner().invoke(app, [*command.split(), "--help"])
    assert result.exit_code == 0 and "Example:" in result.stdout, result.output


def _bad_arguments(tmp):
    missing, store = str(tmp / "missing"), ["--store", f"sqlite:{tmp / 's.db'}"]
    not_a_run = str(tmp)
    return {
        "ingest": [[missing, *store], [str(SAMPLE / "policies"), "--chunk-size", "0", *store],
                   [str(SAMPLE / "policies"), "--meta", "novalue", *store],
                   [str(SAMPLE / "policies"), "--chunk-overlap", "-3", *store],
                   [str(SAMPLE / "policies"), "--workers", "2", *store],
                   [str(SAMPLE / "policies"), "--ray", "--workers", "0", *store]],
        "remove": [[missing, "--store", "mysql://x"]],
        "search": [["q", "-k", "0", *store], ["q", "--mode", "fuzzy", *store],
                   ["q", "--where", "year>recent", *store]],
        "ask": [["q", "--model", "nope", *store], ["q", "-k", "-1", *store]],
        "chat": [["--model", "nope", *store]],
        "stats": [["--store", "mysql://db/docs"], ["--config", missing]],
        "serve": [["--host", "0.0.0.0", *store]],
        "mcp": [["--config", missing]],
        "eval prepare": [[missing, "--out", str(tmp / "p")],
                         [str(QUESTIONS), "--out", str(tmp / "p"), "--task", "translate"],
                         [str(QUESTIONS), "--out", str(tmp / "p"), "--task", "classify"],
                         [str(QUESTIONS), "--out", str(tmp / "p"), "--dev-fraction", "2"],
                         [str(QUESTIONS), "--out", str(tmp / "p"), "--format", "csv"]],
        "eval run": [["--systems", "+rag", "--questions", str(QUESTIONS), "--out", str(tmp / "r")],
                     ["--systems", "local", "--questions", missing, "--out", str(tmp / "r")],
                     ["--systems", "local", "--questions", str(QUESTIONS), "--out", str(tmp / "r"),
                      "--concurrency", "0", "--limit", "-2"]],
        "eval summary": [[not_a_run], [missing]],
        "eval retrieval": [["--beir", missing, *store], ["--questions", str(QUESTIONS), "-k", "x"]],
        "data import": [[missing, "--out", str(tmp / "d")],
                        [str(QUESTIONS), "--out", str(tmp / "d"), "--val-fraction", "1.5"]],
        "data stats": [[missing]],
        "data from-task": [[missing, "--out", str(tmp / "d.jsonl")],
                           [str(QUESTIONS), "--out", str(tmp / "d.jsonl")]],
        "data synth": [["--teacher", "nope", "--out", str(tmp / "s.jsonl"), *store]],
        "data paraphrase": [["--teacher", "nope", "--out", str(tmp / "p.jsonl"), *store],
                            ["--copies", "0", "--out", str(tmp / "p.jsonl"), *store]],
        "finetune": [["--data", missing, "--out", str(tmp / "ft")],
                     ["--data", str(QUESTIONS), "--out", str(tmp / "ft"), "--method", "qlora"],
                     ["--data", str(QUESTIONS), "--out", str(tmp / "ft"), "--recipe", missing],
                     ["--out", str(tmp / "ft")], ["--plan", "--size", "7b"]],
        "finetune-retriever": [[missing, "--out", str(tmp / "ret"), *store],
                               [str(QUESTIONS), "--out", str(tmp / "ret"), "--no-embedder",
                                "--no-reranker", *store],
                               [str(QUESTIONS), "--out", str(tmp / "ret"), *store]],
        "tokenizer train": [["--corpus", str(SAMPLE), "--out", str(tmp / "t"), "--vocab-size", "100"],
                            ["--corpus", missing, "--out", str(tmp / "t")]],
        "pretrain": [["--corpus", missing, "--out", str(tmp / "pt"), "--max-steps", "1"],
                     ["--plan", "--size", "7b"]],
        "plan pretrain": [["--size", "huge"], ["--tokens", "-5"], ["--gpus", "0"]],
        "plan finetune": [["--size", "huge", "--examples", "5", "--tokens-per-example", "9"],
                          ["--size", "7b"],
                          ["--examples", "5", "--tokens-per-example", "9", "--gpu", "h900"]],
        "cost": [["--systems", "nope"], ["--gpu", "h900"], ["-q", "-5"], ["--run", not_a_run]],
        "report": [[not_a_run], [missing]],
        "decide": [[missing, *store], [str(SAMPLE / "policies"), "--sample", "0", *store],
                   [str(SAMPLE / "policies"), "--systems", "nope", "--out", str(tmp / "d"), *store],
                   [missing, "--task", "classify", "--out", str(tmp / "dt")],
                   [str(QUESTIONS), "--task", "translate", "--out", str(tmp / "dt")],
                   [str(SAMPLE / "policies"), str(SAMPLE), "--task", "classify"],
                   [str(QUESTIONS), "--task", "classify", "--train-sizes", "x,y"]],
        "predict": [["nope", str(QUESTIONS), "--out", str(tmp / "p.jsonl")],
                    ["nope", missing, "--out", str(tmp / "p.jsonl"), "--batch", "0"]],
        "data label": [[str(QUESTIONS), "--task", "classify", "--teacher", "local",
                        "--out", str(tmp / "l.jsonl")],
                       [missing, "--task", "classify", "--teacher", "local", "--labels", "a,b",
                        "--out", str(tmp / "l.jsonl")],
                       [str(QUESTIONS), "--task", "extract", "--teacher", "local",
                        "--out", str(tmp / "l.jsonl")],
                       [str(QUESTIONS), "--task", "classify", "--teacher", "nope", "--labels",
                        "a,b", "--text", "question", "--out", str(tmp / "l.jsonl")]],
        "data from-log": [[missing, "--out", str(tmp / "f.jsonl")],
                          [str(QUESTIONS), "--task", "translate", "--out", str(tmp / "f.jsonl")]],
        "store metadata": [["--store", "mysql://x"]],
        "store index": [["--store", "mysql://x"], ["--store", f"sqlite:{tmp / 'i.db'}#Bad"]],
        "store copy": [["--from", "mysql://x", "--to", f"sqlite:{tmp / 'c.db'}"],
                       ["--from", f"sqlite:{tmp / 'none.db'}", "--to", "sqlite:" + missing + "/x/y.db"]],
        "store reembed": [["--embedder", missing, "--to", f"sqlite:{tmp / 'r.db'}"],
                          ["--embedder", "all-MiniLM-L6-v2", "--from", f"sqlite:{tmp / 'none.db'}",
                           "--to", f"sqlite:{tmp / 'r.db'}"]],
    }


def test_bad_arguments_end_in_one_line_never_a_traceback(tmp_path, monkeypatch, capsys):
    from tunewise import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUNEWISE_REGISTRY", str(tmp_path / "models.toml"))
    cases = _bad_arguments(tmp_path)
    assert set(cases) == set(COMMANDS)  # a new command needs its bad arguments here
    for command, argvs in cases.items():
        for argv in argvs:
            monkeypatch.setattr("sys.argv", ["tunewise", *command.split(), *argv])
            with pytest.raises(SystemExit) as exit_info:
                cli.main()
            captured = capsys.readouterr()
            said = captured.err + captured.out
            assert exit_info.value.code in (1, 2), (command, argv, said)
            assert "Traceback" not in said and said.strip(), (command, argv, said)
