"""Instruction formats in, OpenAI messages out; every bad record reported with its line."""

import json

import pytest

from tunewise.data.formats import DataError, Example, load_examples, write_examples


def write_lines(path, records):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def test_each_format_converts_to_messages(tmp_path):
    path = write_lines(tmp_path / "mixed.jsonl", [
        {"instruction": "Translate to French", "input": "cat", "output": "chat"},
        {"instruction": "Say hi", "output": "Hi!", "system": "Be brief."},
        {"conversations": [{"from": "human", "value": "2+2?"}, {"from": "gpt", "value": "4"},
                           {"from": "human", "value": "and 3+3?"}, {"from": "gpt", "value": "6"}]},
        {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"},
                      {"role": "assistant", "content": "A"}]},
        {"question": "Capital of France?", "answer": "Paris"},
        {"question": "Colour?", "answers": ["blue", "azure"], "context": "The sky is blue."},
    ])
    loaded = load_examples(path)
    assert loaded.problems == []
    a, b, c, d, e, f = loaded.examples
    assert a.messages == (("user", "Translate to French\n\ncat"), ("assistant", "chat"))
    assert b.messages[0] == ("system", "Be brief.")
    assert [r for r, _ in c.messages] == ["user", "assistant", "user", "assistant"]
    assert d.chat()[0] == {"role": "system", "content": "S"}
    assert e.messages == (("user", "Capital of France?"), ("assistant", "Paris"))
    assert f.messages[0][1] == "Context:\nThe sky is blue.\n\nQuestion: Colour?" and f.answer == "blue"


def test_alpaca_json_array(tmp_path):
    path = tmp_path / "alpaca.json"
    path.write_text(json.dumps([{"instruction": "A", "output": "B"}, {"instruction": "C"}]))
    loaded = load_examples(path)
    assert len(loaded.examples) == 1 and loaded.problems == ["item 2: no 'output' text"]


def test_bad_records_are_reported_by_line_and_the_rest_kept(tmp_path):
    path = write_lines(tmp_path / "bad.jsonl", [
        {"instruction": "ok", "output": "fine"},
        "{not json",
        {"messages": [{"role": "user", "content": "Q"}]},
        {"messages": [{"role": "assistant", "content": "A"}, {"role": "user", "content": "Q"}]},
        {"messages": [{"role": "robot", "content": "Q"}]},
        {"conversations": [{"from": "alien", "value": "x"}]},
        {"question": "Q?", "answer": ""},
        {"something": "else"},
        "[1, 2]",
    ])
    loaded = load_examples(path)
    assert len(loaded.examples) == 1
    assert loaded.problems == [
        "line 2: invalid JSON (Expecting property name enclosed in double quotes)",
        "line 3: the last turn is not the assistant's: nothing to learn",
        "line 4: turn 1 is 'assistant', expected 'user' (turns alternate, starting with the user)",
        "line 5: message 1: role must be one of system, user, assistant",
        "line 6: turn 1: unknown speaker 'alien'",
        "line 7: no 'answer' text",
        "line 8: unknown record: expected 'messages', 'conversations', 'instruction' or 'question'",
        "line 9: not a JSON object"]


def test_unusable_files_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        load_examples(tmp_path / "missing.jsonl")
    with pytest.raises(DataError, match=r"no valid examples \(line 1: invalid JSON"):
        load_examples(write_lines(tmp_path / "x.jsonl", ["nope"]))
    with pytest.raises(DataError, match="valid: auto, openai"):
        load_examples(tmp_path / "x.jsonl", fmt="csv")


def test_written_examples_read_back_identically(tmp_path):
    examples = [Example((("user", "Q1"), ("assistant", "A1")), {"source": "a.md"}),
                Example((("system", "S"), ("user", "Q2"), ("assistant", "A2")))]
    write_examples(tmp_path / "out" / "train.jsonl", examples)
    again = load_examples(tmp_path / "out" / "train.jsonl").examples
    assert again == examples and again[0].meta == {"source": "a.md"}
