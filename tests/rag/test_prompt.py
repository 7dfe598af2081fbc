import pytest

from tunewise.config import ModelSettings, RagSettings
from tunewise.models.local import make as make_local
from tunewise.objects import Chunk, Hit
from tunewise.rag.prompt import PromptError, merge_hits, pack


def hit(doc: str, start: int, text: str, score: float, page=None) -> Hit:
    chunk = Chunk(f"{doc}-{start}", doc, start, text, start, start + len(text), f"/d/{doc}.md",
                  doc, page)
    return Hit(chunk, score, "hybrid", score)


def test_overlapping_chunks_of_a_document_merge():
    text = "Alpha beta gamma. Delta epsilon zeta. Eta theta iota."
    a = hit("d1", 0, text[:37], 0.5)  # "Alpha ... zeta."
    b = hit("d1", 18, text[18:], 0.9)  # overlaps a from "Delta"
    c = hit("d2", 0, "Other document.", 0.7)
    d = hit("d1", 500, "Far away in the same document.", 0.2)
    sources = merge_hits([a, b, c, d])
    assert [s.text for s in sources] == [text, "Other document.", "Far away in the same document."]
    assert [s.number for s in sources] == [1, 2, 3] and sources[0].score == 0.9


@pytest.fixture(scope="module")
def tiny_model():
    """The real bundled model and tokenizer, with a context window of 300 tokens."""
    return make_local("tiny", ModelSettings(context_window=300))


def test_prompt_never_exceeds_a_tiny_context_window(tiny_model):
    filler = "the heat pump compressor runs quietly. "
    hits = [hit(f"d{i}", 0, f"Passage {i}: " + filler * (3 + i), 1 - i / 10)
            for i in range(8)]
    messages, sources = pack("Which compressor is quiet?", hits, tiny_model, RagSettings(), 64)
    assert tiny_model.count_tokens(messages) + 64 <= 300
    assert 0 < len(sources) < 8  # some passages fit, not all
    assert [s.number for s in sources] == list(range(1, len(sources) + 1))
    assert all(f"[{s.number}] {s.source.rsplit('/', 1)[-1]}\n" in messages[-1]["content"]
               for s in sources)
    out = tiny_model.generate(messages, max_tokens=64)  # llama.cpp accepts it: within n_ctx
    assert out.usage.prompt_tokens + out.usage.completion_tokens <= 300


def test_empty_and_enormous_questions(tiny_model):
    with pytest.raises(PromptError, match="empty"):
        pack("   ", [], tiny_model, RagSettings(), 64)
    with pytest.raises(PromptError, match="too long: .* holds 300"):
        pack("why? " * 400, [], tiny_model, RagSettings(), 64)
