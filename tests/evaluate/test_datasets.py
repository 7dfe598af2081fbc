"""Question sets: JSONL (with per-line errors), SQuAD v1.1/v2.0, BEIR and PubMedQA, and
`prepare` with seeded splits. The real shared datasets are read where their counts are known."""

import json
import os
from pathlib import Path

import pytest

from tests.conftest import QUESTIONS, ROOT
from tunewise.evaluate.datasets import (
    DatasetError,
    Question,
    detect_format,
    documents_of,
    load_questions,
    prepare,
)

DATA = Path(os.environ.get("TUNEWISE_DATA", ROOT.parent / "shared" / "data"))
needs_data = pytest.mark.skipif(not DATA.exists(), reason="../shared/data is not here")

SQUAD_V2 = {"version": "v2.0", "data": [{"title": "Tiny_Town", "paragraphs": [
    {"context": "Tiny Town has 300 people. Its mayor is Ana Ruiz.", "qas": [
        {"id": "q1", "question": "Who is the mayor?", "is_impossible": False,
         "answers": [{"text": "Ana Ruiz", "answer_start": 36}, {"text": "Ana Ruiz", "answer_start": 36}]},
        {"id": "q2", "question": "Who founded Tiny Town?", "is_impossible": True, "answers": [],
         "plausible_answers": [{"text": "Ana Ruiz", "answer_start": 36}]}]},
    {"context": "The river is 12 km long.", "qas": [
        {"id": "q3", "question": "How long is the river?",
         "answers": [{"text": "12 km", "answer_start": 13}, {"text": "12 km long", "answer_start": 13}]}]}]}]}


def test_jsonl_questions_from_the_sample_set():
    qs = load_questions(QUESTIONS)
    assert len(qs) == 32 and qs[0].id == "q01"
    assert qs[0].answers == ("three days per week", "3")
    assert qs[0].doc_ids == ("policies/remote-work-policy.md",)  # "sources" is read as doc_ids


def test_jsonl_errors_name_the_line(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "A?", "answers": ["a"]}\n{"question": \n')
    with pytest.raises(DatasetError, match=r"q.jsonl line 2: invalid JSON"):
        load_questions(path)
    path.write_text('{"question": "A?"}\n\n{"answers": ["b"]}\n')
    with pytest.raises(DatasetError, match=r"line 3: no 'question'"):
        load_questions(path)
    path.write_text('{"id": 1, "question": "A?"}\n{"id": 1, "question": "B?"}\n')
    with pytest.raises(DatasetError, match=r"line 2: duplicate id '1'"):
        load_questions(path)
    path.write_text('{"question": "A?", "answers": [1, 2]}\n')
    with pytest.raises(DatasetError, match=r"line 1: expected a string or a list of strings"):
        load_questions(path)


def test_unknown_and_missing_files_are_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        load_questions(tmp_path / "missing.jsonl", "jsonl")
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(DatasetError, match="unknown question format"):
        load_questions(tmp_path / "x.csv")
    with pytest.raises(DatasetError, match="valid: auto, jsonl"):
        load_questions(QUESTIONS, "csv")


def test_squad_v2_keeps_unanswerable_questions_and_dedups_answers(tmp_path):
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(SQUAD_V2))
    assert detect_format(path) == "squad"
    q1, q2, q3 = load_questions(path)
    assert q1.answers == ("Ana Ruiz",) and not q1.unanswerable and q1.doc_ids == ("000-000",)
    assert q2.answers == () and q2.unanswerable
    assert q3.answers == ("12 km", "12 km long") and q3.doc_ids == ("000-001",)
    docs = documents_of(path)
    first = SQUAD_V2["data"][0]["paragraphs"][0]["context"]
    assert docs == [{"id": "000-000", "title": "Tiny Town", "text": first},
                    {"id": "000-001", "title": "Tiny Town", "text": "The river is 12 km long."}]


def test_question_round_trips_through_jsonl(tmp_path):
    q = Question("7", "Is it?", ("yes",), "ctx", ("d1",), ("yes", "no", "maybe"), "One word.", True)
    path = tmp_path / "q.jsonl"
    path.write_text(q.to_json() + "\n")
    assert load_questions(path) == [q]


@needs_data
def test_xquad_has_its_published_counts():
    qs = load_questions(DATA / "xquad-en" / "xquad.en.json")
    assert len(qs) == 1190 and all(q.answers and len(q.doc_ids) == 1 for q in qs)
    assert len(documents_of(DATA / "xquad-en" / "xquad.en.json")) == 240


@needs_data
def test_pubmedqa_official_split_and_choices():
    test = load_questions(DATA / "pubmedqa", split="test")
    dev = load_questions(DATA / "pubmedqa", split="dev")
    assert len(test) == 500 and len(dev) == 500 and not {q.id for q in test} & {q.id for q in dev}
    assert all(q.choices == ("yes", "no", "maybe") and q.answers[0] in q.choices for q in test)
    assert sum(q.answers == ("yes",) for q in test) == 276  # the published label counts
    assert test[0].instruction and test[0].context
    docs = documents_of(DATA / "pubmedqa")
    assert len(docs) == 1000 and "title" not in docs[0]  # the title is the question: no leak


@needs_data
def test_beir_questions_carry_their_relevant_documents():
    qs = load_questions(DATA / "scifact", split="test")
    assert len(qs) == 300 and all(q.doc_ids and not q.answers for q in qs)
    with pytest.raises(DatasetError, match="no such split"):
        load_questions(DATA / "scifact", split="validation")


@needs_data
def test_withheld_paragraphs_make_on_topic_unanswerable_questions(tmp_path):
    xquad = DATA / "xquad-en" / "xquad.en.json"
    counts = prepare(xquad, tmp_path / "w", dev_fraction=0.0, withhold=0.5)
    docs = [json.loads(x) for x in (tmp_path / "w" / "documents.jsonl").read_text().splitlines()]
    questions = load_questions(tmp_path / "w" / "test.jsonl")
    kept = {d["id"] for d in docs}
    # every article (5 paragraphs) keeps 3 and loses 2: each of its questions stays on topic
    assert counts["withheld"] == 96 and len(docs) == 144 and len({k[:3] for k in kept}) == 48
    for q in questions:
        assert q.unanswerable == (q.doc_ids[0] not in kept)
    assert counts["unanswerable"] == sum(q.unanswerable for q in questions) == 466
    again = prepare(xquad, tmp_path / "w2", dev_fraction=0.0, withhold=0.5)
    assert again == counts and (tmp_path / "w2" / "test.jsonl").read_bytes() == (
        tmp_path / "w" / "test.jsonl").read_bytes()
    with pytest.raises(DatasetError, match="withhold 1.0"):
        prepare(xquad, tmp_path / "x", withhold=1.0)


def test_prepare_writes_documents_and_seeded_splits(tmp_path):
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(SQUAD_V2))
    counts = prepare(path, tmp_path / "a", dev_fraction=1 / 3, seed=1)
    assert counts == {"documents": 2, "dev": 1, "test": 2, "withheld": 0, "unanswerable": 0}
    dev, test = load_questions(tmp_path / "a" / "dev.jsonl"), load_questions(tmp_path / "a" / "test.jsonl")
    assert sorted(q.id for q in dev + test) == ["q1", "q2", "q3"]
    assert all(q.instruction == "Answer with a short phrase." for q in dev + test)
    assert [q.unanswerable for q in dev + test].count(True) == 1
    prepare(path, tmp_path / "b", dev_fraction=1 / 3, seed=1)
    assert (tmp_path / "a" / "test.jsonl").read_text() == (tmp_path / "b" / "test.jsonl").read_text()
    splits = set()
    for seed in range(8):
        prepare(path, tmp_path / "c", dev_fraction=1 / 3, seed=seed)
        splits.add(load_questions(tmp_path / "c" / "dev.jsonl")[0].id)
    assert len(splits) > 1  # the seed matters
    lines = (tmp_path / "a" / "documents.jsonl").read_text().splitlines()
    assert [json.loads(x)["id"] for x in lines] == ["000-000", "000-001"]


def test_synthesized_pairs_load_as_questions_whose_gold_is_their_chunks_document(tmp_path):
    from tunewise.evaluate.retrieval import matches

    path = tmp_path / "synth.jsonl"
    lines = [{"messages": [{"role": "user", "content": "How long is the trial?"},
                           {"role": "assistant", "content": "30 days"}],
              "meta": {"chunk_id": "c1", "source": "docs/terms.md"}},
             {"messages": [{"role": "user", "content": "Who funded it?"},
                           {"role": "assistant", "content": "NIH"}],
              "meta": {"chunk_id": "c2", "source": "corpus.jsonl#4983"}}]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    first, second = load_questions(path)
    assert (first.question, first.answers, first.doc_ids) == ("How long is the trial?", ("30 days",),
                                                            ("docs/terms.md",))
    assert second.doc_ids == ("4983",) and matches("corpus.jsonl#4983", second.doc_ids[0])
