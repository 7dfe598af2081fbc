"""An LLM reranker: any configured chat model reads the query and the numbered candidates (cut to
fit its context window) and answers with their numbers, most relevant first. Candidates it does
not name keep their retrieval order after the named ones."""

from __future__ import annotations

import re

from tunewise.config import RetrievalSettings
from tunewise.models import ChatModel, ModelError
from tunewise.rerank.base import RerankError

PROMPT = """Rank the passages by how well they answer the question. Answer with the passage \
numbers only, most relevant first, separated by commas (for example: 3, 1, 2).

Question: {query}

{passages}"""
ANSWER_TOKENS = 64


class LLMReranker:
    calibrated = False  # scores are ranks

    def __init__(self, model: ChatModel, passage_chars: int = 1200):
        self.model, self.passage_chars = model, passage_chars
        self.name = f"llm:{model.name}"

    def _messages(self, query: str, passages: list[str], chars: int) -> list[dict]:
        numbered = "\n\n".join(f"[{i}] {' '.join(p.split())[:chars]}"
                               for i, p in enumerate(passages, start=1))
        return [{"role": "user", "content": PROMPT.format(query=query, passages=numbered)}]

    def scores(self, query: str, passages: list[str]) -> list[float]:
        if not passages:
            return []
        budget = self.model.context_window - ANSWER_TOKENS
        chars = self.passage_chars
        messages = self._messages(query, passages, chars)
        while self.model.count_tokens(messages) > budget and chars > 80:  # shorten to fit
            chars //= 2
            messages = self._messages(query, passages, chars)
        if self.model.count_tokens(messages) > budget:
            raise RerankError(f"{len(passages)} passages do not fit {self.model.name}'s context "
                              f"window of {self.model.context_window} tokens: lower rerank_depth")
        try:
            reply = self.model.generate(messages, max_tokens=ANSWER_TOKENS).text
        except ModelError as exc:
            raise RerankError(f"the reranking model failed: {exc}") from exc
        return ranked_scores(reply, len(passages))


def ranked_scores(reply: str, n: int) -> list[float]:
    """Scores from a reply naming passage numbers: the first named scores highest; unnamed (or
    out-of-range, or repeated) numbers keep their order below the named ones."""
    order = []
    for number in (int(x) for x in re.findall(r"\d+", reply)):
        if 1 <= number <= n and number - 1 not in order:
            order.append(number - 1)
    order += [i for i in range(n) if i not in order]
    scores = [0.0] * n
    for rank, i in enumerate(order):
        scores[i] = float(n - rank)
    return scores


def make(settings: RetrievalSettings, model_of) -> LLMReranker:
    if not settings.rerank_model:
        raise RerankError("rerank = \"llm\" needs rerank_model: the name of a model in [models]")
    return LLMReranker(model_of(settings.rerank_model))
