"""Rerankers: a cross-encoder read from a folder (here a tiny randomly initialised one: no real
reranker can be had offline, so this tests the plumbing, not the quality) and an LLM reranker
through the official SDK against a real OpenAI-compatible server with a scripted model."""

import pytest

from tests.evaluate.scripted import ScriptedModel, last_user, with_api_model
from tests.models.chat_server import ChatServer
from tunewise.rerank import RerankError, make_reranker
from tunewise.rerank.llm import ranked_scores
from tunewise.retrieval import Retriever

QUESTION = "How many days per week can I work remotely?"


@pytest.fixture(scope="module")
def cross_encoder(tmp_path_factory):
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from tunewise.embeddings.local import bundled_model_dir

    folder = tmp_path_factory.mktemp("cross-encoder")
    tokenizer = AutoTokenizer.from_pretrained(str(bundled_model_dir()))
    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, num_labels=1))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _retriever(ws, **settings):
    s = ws.settings.retrieval.__class__(**{**vars(ws.settings.retrieval), **settings})
    return Retriever(ws.store, ws.embedder, s, make_reranker(s, ws.model))


def test_cross_encoder_orders_the_candidates_by_its_scores(sample_workspace, cross_encoder):
    from sentence_transformers import CrossEncoder

    plain = _retriever(sample_workspace).search(QUESTION, k=8)
    reranked = _retriever(sample_workspace, rerank="cross-encoder", rerank_model=str(cross_encoder),
                          rerank_depth=8).search(QUESTION, k=3)
    scores = CrossEncoder(str(cross_encoder)).predict([(QUESTION, h.chunk.indexed_text) for h in plain])
    expected = [plain[i].chunk.id for i in sorted(range(len(plain)), key=lambda i: -scores[i])][:3]
    assert [h.chunk.id for h in reranked] == expected
    assert all(h.retriever == "hybrid+rerank" for h in reranked)
    assert [h.score for h in reranked] == sorted((h.score for h in reranked), reverse=True)
    by_id = {h.chunk.id: h.similarity for h in plain}
    assert all(h.similarity == pytest.approx(by_id[h.chunk.id]) for h in reranked)  # cosine kept


def test_llm_reranker_through_an_openai_compatible_server(sample_workspace):
    def reverse(messages):
        return "5, 4, 3, 2, 1" if "Rank the passages" in last_user(messages) else "?"

    with ChatServer(ScriptedModel(reverse)) as server:
        ws = with_api_model(sample_workspace, "ranker", server.base_url)
        plain = _retriever(ws).search(QUESTION, k=5)
        reranked = _retriever(ws, rerank="llm", rerank_model="ranker", rerank_depth=5).search(
            QUESTION, k=5)
        assert [h.chunk.id for h in reranked] == [h.chunk.id for h in reversed(plain)]
        assert "Question: " + QUESTION in last_user(server.requests[-1]["messages"])


def test_llm_reranker_fits_the_context_window_and_says_when_it_cannot(sample_workspace):
    with ChatServer(ScriptedModel(lambda m: "2")) as server:
        small = with_api_model(sample_workspace, "ranker", server.base_url, context_window=420)
        hits = _retriever(small, rerank="llm", rerank_model="ranker", rerank_depth=5).search(
            QUESTION, k=5)
        plain = _retriever(small).search(QUESTION, k=5)
        # "2" first, the others in their first-stage order
        assert [h.chunk.id for h in hits] == [plain[1].chunk.id] + [
            h.chunk.id for i, h in enumerate(plain) if i != 1]
        prompt = last_user(server.requests[-1]["messages"])
        assert len(prompt) // 3 + 7 <= 420 - 64  # the SDK backend's count, within the budget
        tiny = with_api_model(sample_workspace, "ranker", server.base_url, context_window=100)
        with pytest.raises(RerankError, match="do not fit .*lower rerank_depth"):
            _retriever(tiny, rerank="llm", rerank_model="ranker", rerank_depth=5).search(QUESTION)


def test_ranked_scores_and_settings_errors(sample_workspace):
    assert ranked_scores("3, 1", 4) == [3.0, 2.0, 4.0, 1.0]  # 3, 1 named first; then 2, 4
    assert ranked_scores("9, 1, 1, none", 3) == [3.0, 2.0, 1.0]
    s = sample_workspace.settings.retrieval
    with pytest.raises(RerankError, match="unknown reranker 'magic'; valid: none, cross-encoder"):
        make_reranker(s.__class__(rerank="magic"), sample_workspace.model)
    with pytest.raises(RerankError, match="needs rerank_model"):
        make_reranker(s.__class__(rerank="llm"), sample_workspace.model)
    assert make_reranker(s, sample_workspace.model) is None  # off by default
    missing = make_reranker(s.__class__(rerank="cross-encoder", rerank_model="/nope"), None)
    with pytest.raises(RerankError, match="is not a folder"):
        missing.scores("q", ["p"])
