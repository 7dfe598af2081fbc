"""The official openai SDK against the running server: chat (plain and streamed), models,
embeddings; sources and usage in every answer."""

import numpy as np
import pytest
from openai import OpenAI

from tests.serve.conftest import KEY

QUESTION = "How many days per week can I work remotely?"


@pytest.fixture(scope="module")
def client(served):
    url, _ = served
    return OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0, timeout=120)


def test_models_lists_every_system(client, served):
    ids = [m.id for m in client.models.list().data]
    assert ids[:3] == ["docs", "local", "local+rag"]
    docs = next(m for m in client.models.list().data if m.id == "docs")
    assert docs.model_extra["retrieval"] is True


def test_chat_with_sources_and_usage(client):
    reply = client.chat.completions.create(
        model="docs", messages=[{"role": "user", "content": QUESTION}], max_tokens=24)
    assert reply.choices[0].message.content.strip()
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.prompt_tokens > 100 and 0 < reply.usage.completion_tokens <= 24
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    sources = reply.model_extra["sources"]
    assert sources[0]["source"].endswith("remote-work-policy.md")
    assert "three days per week" in sources[0]["text"]
    assert reply.model_extra["abstained"] is False


def test_streamed_answer_equals_the_plain_one(client):
    messages = [{"role": "user", "content": QUESTION}]
    plain = client.chat.completions.create(model="docs", messages=messages, max_tokens=16)
    chunks = list(client.chat.completions.create(model="docs", messages=messages, max_tokens=16,
                                                 stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip() == plain.choices[0].message.content  # greedy: the same tokens
    assert chunks[0].choices[0].delta.role == "assistant"
    with_sources = [c for c in chunks if c.model_extra.get("sources")]
    assert with_sources and with_sources[0].model_extra["sources"][0]["source"].endswith(
        "remote-work-policy.md")
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens == plain.usage.completion_tokens


def test_model_without_retrieval_gets_the_whole_conversation(client):
    reply = client.chat.completions.create(model="local", max_tokens=8, messages=[
        {"role": "system", "content": "You answer in one word."},
        {"role": "user", "content": "What colour is the sky on a clear day?"}])
    assert reply.model_extra["sources"] == [] and reply.choices[0].message.content
    assert reply.usage.prompt_tokens > 10


def test_off_topic_question_abstains_without_the_model(client, served):
    _, ws = served
    reply = client.chat.completions.create(
        model="docs", messages=[{"role": "user", "content": "Who won the 2018 football world cup?"}])
    assert reply.model_extra["abstained"] is True
    assert reply.choices[0].message.content == ws.settings.rag.abstain_message
    assert reply.usage.completion_tokens == 0


def test_embeddings_are_the_embedders_vectors(client, served):
    _, ws = served
    texts = ["remote work allowance", "firmware release candidate"]
    got = client.embeddings.create(model="all-MiniLM-L6-v2", input=texts)
    assert [d.index for d in got.data] == [0, 1] and len(got.data[0].embedding) == 384
    expected = ws.embedder.embed(texts)
    assert np.allclose(np.array([d.embedding for d in got.data]), expected, atol=1e-5)
    assert got.usage.prompt_tokens >= 6
    floats = client.embeddings.create(model="x", input=texts[0], encoding_format="float")
    assert np.allclose(floats.data[0].embedding, expected[0], atol=1e-6)
