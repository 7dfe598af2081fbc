"""Fitting the retriever: pairs mined from a real store, the bundled embedder and a cross-encoder
from its weights trained for a few steps (the loss falls), and a store re-embedded with the
result, resumably."""

import json

import numpy as np
import pytest

from tests.conftest import QUESTIONS
from tunewise.evaluate.retrieval import matches
from tunewise.train.retriever import (
    RetrieverTrainingError,
    load_pairs,
    train_embedder,
    train_reranker,
    trained_stage,
)


@pytest.fixture(scope="module")
def pairs(sample_workspace):
    return load_pairs(sample_workspace, QUESTIONS, negatives=2)


@pytest.fixture(scope="module")
def trained_embedder(pairs, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ret") / "embedder"
    # one batch of 8 pairs (distinct passages), seen 3 times at a high rate: its loss must fall
    distinct = list({p.positive: p for p in pairs}.values())[:8]
    return train_embedder(distinct, folder, "ft-test", epochs=3, batch_size=8, lr=1e-4)


def test_mined_pairs_hold_a_gold_chunk_and_negatives_from_other_documents(sample_workspace, pairs):
    questions = {json.loads(line)["question"]: json.loads(line)["sources"]
                 for line in QUESTIONS.read_text().splitlines()}
    chunks = {c.indexed_text: c.source for c in sample_workspace.store.iter_chunks()}
    assert len(pairs) == len(questions)
    for p in pairs:
        gold = questions[p.question]
        assert any(matches(chunks[p.positive], g) for g in gold)
        assert 1 <= len(p.negatives) <= 2
        assert not any(matches(chunks[n], g) for n in p.negatives for g in gold)


def test_pairs_with_a_passage_given_need_no_gold_document(sample_workspace, tmp_path):
    data = tmp_path / "pairs.jsonl"
    data.write_text(json.dumps({"question": "How many days may I work remotely?",
                                "passage": "Employees may work remotely three days a week."}) + "\n")
    [pair] = load_pairs(sample_workspace, data, negatives=3)
    assert pair.positive.startswith("Employees may work") and len(pair.negatives) == 3


def test_questions_whose_documents_are_not_in_the_store_are_a_clear_error(sample_workspace, tmp_path):
    data = tmp_path / "q.jsonl"
    data.write_text(json.dumps({"question": "What is the capital of Peru?",
                                "doc_ids": ["atlas/peru.md"]}) + "\n")
    with pytest.raises(RetrieverTrainingError, match="no question's passage was found"):
        load_pairs(sample_workspace, data)


def test_embedder_training_lowers_the_loss_and_saves_a_named_embedder(trained_embedder):
    from tunewise.embeddings.local import LocalEmbedder

    assert trained_embedder.steps == 3 and trained_embedder.tokens > 0
    assert trained_embedder.losses[-1] < trained_embedder.losses[0]
    loaded = LocalEmbedder(trained_embedder.folder)
    assert loaded.name == "ft-test"  # what a store records, not the folder's name "embedder"
    vectors = loaded.embed(["remote work", "expense claims"])
    assert vectors.shape == (2, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert trained_stage(trained_embedder.folder) == trained_embedder


@pytest.fixture(scope="module")
def trained_reranker(pairs, tmp_path_factory):
    some = list({p.positive: p for p in pairs}.values())[:8]  # 8 positives + 16 negatives in one
    return train_reranker(some, tmp_path_factory.mktemp("ret") / "reranker", "ft-test-reranker",
                          epochs=3, batch_size=24, lr=1e-4)  # batch, seen 3 times


def test_reranker_training_lowers_the_loss_and_serves_as_the_cross_encoder(pairs, trained_reranker):
    from tunewise.rerank.cross_encoder import CrossEncoderReranker

    trained, some = trained_reranker, list({p.positive: p for p in pairs}.values())
    assert trained.steps == 3 and trained.losses[-1] < trained.losses[0]
    scores = CrossEncoderReranker(trained.folder).scores(some[0].question,
                                                         [some[0].positive, *some[0].negatives])
    assert len(scores) == 3 and all(0 < s < 1 for s in scores)  # probabilities


def test_min_relevance_abstains_before_generating_when_the_best_passage_scores_below_it(
        sample_workspace, trained_reranker):
    from dataclasses import replace

    from tunewise.rag.answer import answer
    from tunewise.rerank.cross_encoder import CrossEncoderReranker
    from tunewise.retrieval import Retriever

    ws = sample_workspace
    retriever = Retriever(ws.store, ws.embedder, ws.settings.retrieval,
                          CrossEncoderReranker(trained_reranker.folder))
    question = "How many days per week may employees work remotely?"
    strict = replace(ws.settings.rag, min_relevance=0.9999)
    refused = answer(question, ws.model("local"), strict, retriever, max_tokens=8)
    assert refused.abstained and refused.usage.completion_tokens == 0  # the model was not asked
    assert 0 < refused.relevance < 0.9999 and refused.text == strict.abstain_message
    lenient = replace(ws.settings.rag, min_relevance=1e-6)
    answered = answer(question, ws.model("local"), lenient, retriever, max_tokens=8)
    assert answered.usage.completion_tokens > 0 and answered.relevance == refused.relevance


def test_min_relevance_without_a_calibrated_reranker_is_a_clear_error(sample_workspace):
    from dataclasses import replace

    from tunewise.config import ConfigError
    from tunewise.rag.answer import answer
    from tunewise.rerank.llm import LLMReranker
    from tunewise.retrieval import Retriever

    ws = sample_workspace
    rag = replace(ws.settings.rag, min_relevance=0.5)
    for reranker in (None, LLMReranker(ws.model("local"))):
        retriever = Retriever(ws.store, ws.embedder, ws.settings.retrieval, reranker)
        with pytest.raises(ConfigError, match="needs a cross-encoder reranker"):
            answer("How many days may I work remotely?", ws.model("local"), rag, retriever)


def test_reembedding_writes_the_new_embedders_vectors_and_resumes_after_a_crash(
        sample_workspace, trained_embedder, tmp_path):
    from tunewise.embeddings.local import LocalEmbedder
    from tunewise.store import open_store
    from tunewise.store.copy import copy_store

    new = LocalEmbedder(trained_embedder.folder)
    source = sample_workspace.store
    target = open_store(f"sqlite:{tmp_path / 'new.db'}")
    seen = []

    def crash_after_three():
        seen.append(1)
        if len(seen) > 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        copy_store(source, target, batch_documents=2, on_document=crash_after_three, embedder=new)
    assert 0 < target.stats()["documents"] < source.stats()["documents"]
    assert target.stats()["files"] == 0  # no file is marked complete before all of it is in
    report = copy_store(source, target, batch_documents=2, embedder=new)
    assert report.skipped == 2 and target.embedder() == ("ft-test", 384)
    assert {k: target.stats()[k] for k in ("documents", "chunks", "files")} == \
        {k: source.stats()[k] for k in ("documents", "chunks", "files")}
    chunk = next(iter(target.iter_chunks()))
    [(_, cos)] = target.dense(new.embed([chunk.indexed_text])[0], 1)
    assert cos == pytest.approx(1.0, abs=1e-4)  # the stored vector is the new embedder's
    target.close()


def test_cli_fits_the_embedder_reembeds_the_store_and_search_uses_both(sample_workspace, tmp_path):
    from typer.testing import CliRunner

    from tunewise.cli import app

    source = sample_workspace.settings.store.url
    run = CliRunner().invoke(app, ["finetune-retriever", str(QUESTIONS), "--out", str(tmp_path / "ret"),
                                   "--no-reranker", "--epochs", "0.25", "--batch-size", "8",
                                   "--store", source])
    assert run.exit_code == 0, run.output
    record = json.loads((tmp_path / "ret" / "retriever.json").read_text())
    assert record["pairs"] == 32 and record["embedder"]["name"] == "ft-ret"
    assert "reranker" not in record and "store reembed" in run.stdout
    config, new = tmp_path / "tunewise.toml", f"sqlite:{tmp_path / 'new.db'}"
    run = CliRunner().invoke(app, ["store", "reembed", "--embedder", str(tmp_path / "ret" / "embedder"),
                                   "--from", source, "--to", new, "--use", "--config", str(config)])
    assert run.exit_code == 0, run.output
    assert f'url = "{new}"' in config.read_text()
    run = CliRunner().invoke(app, ["search", "remote work days", "--config", str(config)])
    assert run.exit_code == 0 and "remote-work-policy.md" in run.stdout, run.output


def test_a_system_retrieving_with_a_fitted_retriever_is_recorded_summarised_and_priced(
        sample_workspace, trained_embedder, trained_reranker, tmp_path):
    import shutil

    from tunewise.config import Settings
    from tunewise.cost.prices import load_prices
    from tunewise.cost.systems import price_run
    from tunewise.evaluate.datasets import load_questions
    from tunewise.evaluate.runner import run_eval
    from tunewise.evaluate.summary import summary_of, table_rows
    from tunewise.retrieval.fitted import record_reembedded
    from tunewise.store import open_store
    from tunewise.store.copy import copy_store
    from tunewise.systems import parse_systems

    folder = tmp_path / "ret"
    for stage in (trained_embedder, trained_reranker):
        shutil.copytree(stage.folder, folder / stage.what)
    (folder / "retriever.json").write_text(json.dumps(
        {s.what: {**s.to_dict(), "folder": str(folder / s.what)}
         for s in (trained_embedder, trained_reranker)}))
    ws = sample_workspace
    from tunewise.embeddings.local import LocalEmbedder

    target = open_store(f"sqlite:{folder / 'store.db'}")
    copy_store(ws.store, target, embedder=LocalEmbedder(str(folder / "embedder")))
    target.close()
    assert record_reembedded(folder / "embedder", f"sqlite:{folder / 'store.db'}")

    systems = parse_systems(f"local+rag,local+rag:retriever={folder}")
    run_eval(ws, systems, load_questions(QUESTIONS)[:2], tmp_path / "run", max_tokens=8)
    summary = summary_of(tmp_path / "run")
    header, rows = table_rows(summary)
    [retrievers] = [r for r in rows if r[0] == "retriever"]
    assert retrievers[1] == "all-MiniLM-L6-v2, hybrid convex α=0.6"
    assert retrievers[2] == "ft-test, hybrid convex α=0.6, reranked by cross-encoder:ft-test-reranker"
    settings = Settings()
    priced = {r.system: r for r in price_run(summary, settings, load_prices(settings.cost.prices))
              if r.kind == "self-hosted"}
    fitted, plain = priced[systems[1].name], priced["local+rag"]
    assert fitted.level == "open model, fitted retriever + RAG" and plain.level == "open model + RAG"
    assert fitted.training.usd > 0 and plain.training is None
    assert "retriever (" in fitted.training_basis


def test_pseudo_questions_are_a_sentence_of_a_chunk_and_the_rest_of_it(sample_workspace):
    from tunewise.train.retriever import pseudo_items

    items = pseudo_items(sample_workspace.store, 10, seed=1)
    chunks = {c.id: c for c in sample_workspace.store.iter_chunks()}
    assert 5 <= len(items) <= 10 and items == pseudo_items(sample_workspace.store, 10, seed=1)
    for query, passage, (kind, chunk_id) in items:
        assert kind == "chunk" and query in chunks[chunk_id].text and query not in passage
        assert 6 <= len(query.split()) <= 40
