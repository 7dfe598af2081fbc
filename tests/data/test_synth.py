"""Synthesis from the sample store with a teacher behind a real local OpenAI-compatible server
(scripted replies, so that every filter is exercised), resume after a failure, and the CLI."""

import json

import pytest
from typer.testing import CliRunner

from tests.evaluate.scripted import ScriptedModel, last_user
from tests.models.chat_server import ChatServer
from tunewise.cli import app
from tunewise.config import ModelSettings
from tunewise.data.formats import load_examples
from tunewise.data.synth import parse_pairs, synthesize, verdict
from tunewise.models import ModelError, make_model


def test_pairs_parse_from_teacher_text():
    text = "Sure!\nQ: What is X?\nA: X is a thing.\n\nQ2: Why?\nA2: Because\nit is.\nq: Last?\na: Yes."
    assert parse_pairs(text) == [("What is X?", "X is a thing."), ("Why?", "Because it is."),
                                 ("Last?", "Yes.")]
    assert parse_pairs("no pairs here") == []


def test_filters():
    passage = "The per diem for business travel is EUR 52 per day in Germany."
    assert verdict("What is the daily allowance?", "EUR 52 per day", passage, []) == "kept"
    assert verdict("What is the allowance?", "EUR 75 per night abroad", passage, []) == "unsupported"
    assert verdict("What is the allowance?", "the", passage, []) == "unsupported"  # claims nothing
    assert verdict("What is the per diem?", "EUR 52", passage, []) == "kept"
    assert verdict("Per diem?", "EUR 52", passage, []) == "length"
    assert verdict("What is the per diem?", "EUR 52 " * 40, passage, []) == "length"
    assert verdict("What is the per diem?", "USD 99", passage, []) == "unsupported"
    assert verdict("What is the per diem?", "EUR 52", passage,
                   ["What is the per diem amount?"]) == "duplicate"  # ROUGE-L 0.89 > 0.7


def teacher_reply(messages):
    """Three pairs per passage: one grounded in it, one invented, one repeated in every chunk."""
    passage = last_user(messages).split("\n\n", 1)[1].rsplit("\n\nWrite", 1)[0]
    words = passage.split()
    grounded = " ".join(words[:6])
    return (f"Q: {' '.join(words[2:10])}?\nA: {grounded}\n"
            "Q: What colour is the sky over the office?\nA: Bright purple with stripes\n"
            "Q: What does this passage talk about?\nA: " + grounded)


@pytest.fixture
def teacher():
    scripted = ScriptedModel(teacher_reply)
    with ChatServer(scripted) as server:
        model = make_model("teacher", {"teacher": ModelSettings(
            backend="openai", model="t", base_url=server.base_url, max_retries=0,
            input_price=0.15, output_price=0.6)})
        model.server, model.scripted = server, scripted
        yield model


def test_synthesize_filters_and_costs(sample_workspace, teacher, tmp_path):
    chunks = list(sample_workspace.store.iter_chunks())[:5]
    report = synthesize(chunks, teacher, tmp_path / "synth.jsonl", per_chunk=3)
    assert report.chunks == 5 and report.kept + sum(report.dropped.values()) == 15
    assert report.dropped["unsupported"] == 5  # the invented answer, every time
    assert report.dropped["duplicate"] == 4  # the repeated question, after its first time
    examples = load_examples(tmp_path / "synth.jsonl").examples
    assert len(examples) == report.kept == 6
    assert {e.meta["chunk_id"] for e in examples} == {c.id for c in chunks}
    assert report.prompt_tokens > 100
    assert report.cost == pytest.approx((report.prompt_tokens * 0.15 + report.completion_tokens * 0.6) / 1e6)


def test_synthesis_resumes_after_a_failure(sample_workspace, teacher, tmp_path):
    chunks = list(sample_workspace.store.iter_chunks())[:6]
    server, scripted = teacher.server, teacher.scripted

    def fails_from_the_fourth(messages):
        if scripted.calls >= 4:
            server.status = 503
        return teacher_reply(messages)

    scripted.reply = fails_from_the_fourth
    first = synthesize(chunks, teacher, tmp_path / "s.jsonl")
    assert first.chunks == 4 and len(first.failed) == 2 and "503" in first.failed[0]
    # a crash between writing a chunk's pairs and marking it done: those pairs are dropped
    with open(tmp_path / "s.jsonl", "a") as f:
        f.write(json.dumps({"messages": [{"role": "user", "content": "orphan?"},
                                         {"role": "assistant", "content": "x"}],
                            "meta": {"chunk_id": chunks[5].id}}) + "\n")
    with open(tmp_path / "s.jsonl.progress.jsonl", "a") as f:
        f.write('{"chunk_id": "torn')
    server.status, scripted.reply, asked = None, teacher_reply, len(server.requests)
    second = synthesize(chunks, teacher, tmp_path / "s.jsonl")
    assert (second.resumed, second.chunks, second.failed) == (4, 2, [])
    assert len(server.requests) - asked == 2
    examples = load_examples(tmp_path / "s.jsonl").examples
    assert "orphan?" not in [e.prompt for e in examples]
    assert len(examples) == first.kept + second.kept
    assert {e.meta["chunk_id"] for e in examples} == {c.id for c in chunks}


def test_cli_synth_import_stats(sample_workspace, teacher, tmp_path, monkeypatch, local_model):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tunewise.toml").write_text(
        f'[store]\nurl = "{sample_workspace.settings.store.url}"\n\n'
        f'[models.t]\nbackend = "openai"\nmodel = "t"\nbase_url = "{teacher.server.base_url}"\n'
        'output_price = 0.6\n')
    runner = CliRunner()
    made = runner.invoke(app, ["data", "synth", "--teacher", "t", "--out", "s.jsonl", "--limit", "4"])
    said = " ".join(made.output.split())
    assert made.exit_code == 0, made.output
    assert "chunks: 4 done now, 0 before, 0 failed" in said and "teacher t:" in said
    again = runner.invoke(app, ["data", "synth", "--teacher", "t", "--out", "s.jsonl", "--limit", "4"])
    assert "chunks: 0 done now, 4 before" in " ".join(again.output.split())
    imported = runner.invoke(app, ["data", "import", "s.jsonl", "--out", "d", "--val-fraction", "0.25"])
    assert imported.exit_code == 0 and "wrote d/train.jsonl" in " ".join(imported.output.split())
    stats = runner.invoke(app, ["data", "stats", "d/train.jsonl", "--model", "local"])
    assert stats.exit_code == 0 and "over context" in stats.output and "8192" in stats.output


def test_teacher_errors_are_model_errors(tmp_path):
    model = make_model("t", {"t": ModelSettings(backend="openai", model="t",
                                                base_url="http://127.0.0.1:9/v1", max_retries=0, timeout=1)})
    with pytest.raises(ModelError):
        model.generate([{"role": "user", "content": "x"}])


def test_teacher_cost_falls_back_to_the_price_table():
    from tunewise.data.synth import teacher_cost

    named = ModelSettings(backend="openai", model="gpt-4o-mini")  # no prices of its own
    assert teacher_cost(named, 1_000_000, 1_000_000) == pytest.approx(0.15 + 0.60)
    own = ModelSettings(backend="openai", model="gpt-4o-mini", input_price=1.0, output_price=1.0)
    assert teacher_cost(own, 1_000_000, 0) == pytest.approx(1.0)
    assert teacher_cost(ModelSettings(backend="openai", model="in-house"), 10**6, 10**6) == 0.0
    assert teacher_cost(ModelSettings(), 10**6, 10**6) == 0.0  # the bundled local teacher


def test_raft_examples_put_the_gold_chunk_among_distractors(sample_workspace):
    from tunewise.data.formats import Example
    from tunewise.data.synth import raft_examples

    ws = sample_workspace
    chunks = {c.id: c for c in ws.store.iter_chunks()}
    gold = next(c for c in chunks.values() if "EUR 52" in c.text)
    pair = Example((("user", "How much is the per diem for business travel?"),
                    ("assistant", "EUR 52")), {"chunk_id": gold.id})
    examples = raft_examples([pair] * 40, chunks, ws.settings.rag, distractors=3, no_gold=0.25,
                             retriever=ws.retriever)
    with_gold = [e for e in examples if e.meta["raft"] == "gold"]
    assert len(examples) == 40 and 20 <= len(with_gold) <= 38  # about 3 in 4 keep the gold chunk
    for e in examples:
        prompt, reply = e.messages[-2][1], e.messages[-1][1]
        assert e.messages[0] == ("system", ws.settings.rag.system)  # the inference prompt
        assert prompt.count("\n[") + prompt.startswith("[") >= 3 and "per diem" in prompt
        if e.meta["raft"] == "gold":
            number = reply.split("[")[1].split("]")[0]
            assert gold.text[:40] in prompt.split(f"\n[{number}] ")[1]  # cites the gold passage
            assert reply.startswith("EUR 52 [") and '"' in reply  # and quotes it
        else:
            assert reply == "EUR 52" and gold.text[:40] not in prompt
    # the retriever's near misses: travel-policy chunks other than the gold one come first
    assert any(gold.source in e.messages[-2][1] or "travel" in e.messages[-2][1].lower()
               for e in examples if e.meta["raft"] == "no gold")


def test_paraphrases_keep_the_facts_resume_and_feed_continued_pretraining(sample_workspace,
                                                                          teacher, tmp_path):
    from tunewise.data.synth import paraphrase
    from tunewise.train.corpus import document_texts

    def reword(messages):
        """Odd calls keep the passage's words in another order; even ones drop its facts."""
        passage = last_user(messages).split("passage only.\n\n", 1)[1]
        return " ".join(reversed(passage.split())) if teacher.scripted.calls % 2 else "Nice text."

    teacher.scripted.reply = reword
    chunks = list(sample_workspace.store.iter_chunks())[:4]
    out = tmp_path / "para.jsonl"
    assert paraphrase(chunks[:3], teacher, out, copies=2) == 3  # one of each chunk's two kept
    records = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["id"].rsplit("~", 1)[0] for r in records] == [c.id for c in chunks[:3]]
    asked = len(teacher.server.requests)
    assert paraphrase(chunks, teacher, out, copies=2) == 1  # resumes: only the fourth chunk
    assert len(teacher.server.requests) - asked == 2
    texts = list(document_texts([out])[0])
    assert len(texts) == 4 and all(t.strip() for t in texts)  # documents finetune --corpus reads
