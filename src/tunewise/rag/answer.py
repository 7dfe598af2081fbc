"""RAG answering: retrieve, pack the prompt within the context budget, generate, cite; abstain
when no passage is similar enough, or when the passages do not support what the model said."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from tunewise.config import ConfigError, RagSettings
from tunewise.models.base import ChatModel, OnToken, Usage
from tunewise.rag.prompt import Passage, PromptError, pack, strip_citations
from tunewise.rag.support import says_not_found, support
from tunewise.retrieval import Retriever
from tunewise.store.base import Where


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    model: str
    passages: list[Passage] = field(default_factory=list)  # numbered as the answer cites them
    usage: Usage = Usage()
    latency_s: float = 0.0  # question to answer, retrieval included
    first_token_s: float | None = None  # question to first streamed token
    retrieval_s: float = 0.0
    abstained: bool = False  # no passage was similar enough, or the answer was not supported
    retrieved: list[str] = field(default_factory=list)  # documents of the hits, best first
    support: float | None = None  # share of the answer's new words found in the passages (RAG;
    # 1.0 when it claims nothing new)
    withheld: str = ""  # the model's answer, replaced by the abstain message: support too low
    filtered: str = ""  # the filter the question named: "filtered to company=3M, year=2018"
    relevance: float | None = None  # the cross-encoder's probability for the best passage

    @property
    def supported(self) -> bool | None:
        """True/False once checked against passages; None without retrieval."""
        return None if self.support is None else not self.withheld

    def to_dict(self) -> dict:
        """As `ask --json` prints it: the passages under "sources", as the server's answers
        carry them (the name clients already read)."""
        d = asdict(self)
        d["sources"] = d.pop("passages")
        d["usage"]["total_tokens"] = self.usage.total_tokens
        return d


def answer(question: str, model: ChatModel, settings: RagSettings, retriever: Retriever | None,
           k: int | None = None, min_passage_similarity: float | None = None,
           on_token: OnToken | None = None, max_tokens: int | None = None,
           instruction: str | None = None, where: Where = ()) -> Answer:
    """Answer `question` with `model`; with a retriever, from the documents it finds.
    `instruction` ("Answer with one word: yes, no or maybe.") follows the question in the
    prompt but is not part of the retrieval query."""
    started = time.perf_counter()
    question = question.strip()
    if not question:
        raise PromptError("the question is empty")
    budget = max_tokens or model.settings.max_tokens
    hits, filtered, relevance = [], "", None
    if retriever is not None:
        least = (settings.min_passage_similarity if min_passage_similarity is None
                 else min_passage_similarity)
        hits, named = retriever.search_explained(question, k=k, min_similarity=least, where=where)
        filtered = named.note
        relevance = _relevance(hits, retriever, settings)
        irrelevant = relevance is not None and relevance < settings.min_relevance
        if (not hits and settings.on_no_context == "abstain") or irrelevant:
            if on_token:
                on_token(settings.abstain_message)
            elapsed = time.perf_counter() - started
            return Answer(question, settings.abstain_message, model.name, latency_s=elapsed,
                          retrieval_s=elapsed, abstained=True, filtered=filtered,
                          retrieved=list(dict.fromkeys(h.chunk.source for h in hits)),
                          relevance=relevance)
    retrieval_s = time.perf_counter() - started
    asked = f"{question}\n{instruction.strip()}" if instruction else question
    messages, passages = pack(asked, hits, model, settings, budget)
    gen = model.generate(messages, max_tokens=budget, on_token=on_token)
    first = None if gen.first_token_s is None else retrieval_s + gen.first_token_s
    retrieved = list(dict.fromkeys(h.chunk.source for h in hits))
    text, score, withheld = gen.text.strip(), None, ""
    if passages and says_not_found(text):  # the model abstained in its own words
        return Answer(question, text, model.name, passages, gen.usage,
                      time.perf_counter() - started, first, retrieval_s, abstained=True,
                      retrieved=retrieved, filtered=filtered, relevance=relevance)
    if passages:
        score = support(strip_citations(text), [s.text for s in passages], question)
        score = 1.0 if score is None else score
        if score < settings.min_support:
            text, withheld = settings.abstain_message, text
            if on_token:  # what was streamed cannot be taken back: say it was not supported
                on_token(f"\n\n({settings.abstain_message} The answer above is not supported "
                         "by the passages.)")
    return Answer(question, text, model.name, passages, gen.usage,
                  time.perf_counter() - started, first, retrieval_s, abstained=bool(withheld),
                  retrieved=retrieved, support=score, withheld=withheld, filtered=filtered,
                  relevance=relevance)


def _relevance(hits: list, retriever: Retriever, settings: RagSettings) -> float | None:
    """The best passage's probability of answering the question, from a calibrated reranker
    (a cross-encoder) when `min_relevance` asks for it; None otherwise."""
    if not settings.min_relevance or not hits:
        return None
    if retriever.reranker is None or not getattr(retriever.reranker, "calibrated", False):
        raise ConfigError("[rag] min_relevance needs a cross-encoder reranker: set [retrieval] "
                          "rerank = \"cross-encoder\" and rerank_model (tunewise "
                          "finetune-retriever trains one), or min_relevance = 0")
    return max(h.score for h in hits)


__all__ = ["Answer", "Passage", "PromptError", "answer"]
