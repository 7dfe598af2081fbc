"""Prompt building: retrieved chunks merged per document into numbered passages (the answer cites
them by number; a passage's `source` is the document it comes from), and packed into
the model's context window minus the answer budget, counted with the model's own tokenizer."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from tunewise.config import RagSettings
from tunewise.errors import TunewiseError
from tunewise.models.base import ChatModel, Messages
from tunewise.objects import Hit

_CITATION = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")  # "[1]", "[1, 3]": the prompt asks for them


def strip_citations(text: str) -> str:
    """The answer without "[1]"-style source markers, which no gold answer contains."""
    return _CITATION.sub("", text).strip()


class PromptError(TunewiseError):
    """A question that cannot be asked as it is (empty, or longer than the model's context)."""


class QuestionTooLong(PromptError):
    """The question alone leaves no room in the model's context window (the server's 400 says
    `context_length_exceeded`, as the chat route's does for a model alone)."""

    code = "context_length_exceeded"


@dataclass(frozen=True)
class Passage:
    """A numbered passage of the prompt: one chunk, or overlapping chunks of one document merged."""

    number: int
    source: str
    title: str
    page: int | None
    text: str
    score: float
    similarity: float | None
    header: str = ""  # the table header of a passage that starts inside a table (Chunk.table_header)

    def cite(self, short: bool = False) -> str:
        """"[2] /docs/policy.pdf, page 3"; `short` names the file only, as the prompt does, so that
        the prompt (and a greedy answer) does not depend on where the documents lie."""
        name = self.source.rsplit("/", 1)[-1] if short else self.source
        return f"[{self.number}] {name}" + (f", page {self.page}" if self.page else "")


def merge_hits(hits: list[Hit]) -> list[Passage]:
    """One passage per run of overlapping or adjacent chunks of a document, best score first."""
    by_doc: dict[str, list[Hit]] = {}
    for h in hits:
        by_doc.setdefault(h.chunk.document_id, []).append(h)
    merged: list[tuple[float, Hit, str, float | None]] = []
    for doc_hits in by_doc.values():
        doc_hits.sort(key=lambda h: h.chunk.start)
        run, text, end = doc_hits[0], doc_hits[0].chunk.text, doc_hits[0].chunk.end
        best, sim = run.score, run.similarity
        for h in doc_hits[1:]:
            if h.chunk.start <= end:  # overlaps the run: append only the new part
                text += h.chunk.text[end - h.chunk.start :]
                end, best = max(end, h.chunk.end), max(best, h.score)
                sim = _best(sim, h.similarity)
            else:
                merged.append((best, run, text, sim))
                run, text, end, best, sim = h, h.chunk.text, h.chunk.end, h.score, h.similarity
        merged.append((best, run, text, sim))
    merged.sort(key=lambda m: -m[0])
    return [Passage(i, h.chunk.source, h.chunk.title, h.chunk.page, text, score, sim,
                   h.chunk.table_header) for i, (score, h, text, sim) in enumerate(merged, start=1)]


def _best(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def messages_for(question: str, passages: list[Passage], settings: RagSettings) -> Messages:
    """With passages: the system prompt and the filled-in template; without: the bare question,
    as the model alone would be asked."""
    if not passages:
        return [{"role": "user", "content": question}]
    context = "\n\n".join(f"{s.cite(short=True)}\n" + (f"{s.header}\n" if s.header else "") + s.text
                          for s in passages)
    messages = [{"role": "user", "content": settings.prompt.format(context=context, question=question)}]
    return ([{"role": "system", "content": settings.system}] + messages) if settings.system else messages


def pack(question: str, hits: list[Hit], model: ChatModel, settings: RagSettings,
         max_tokens: int) -> tuple[Messages, list[Passage]]:
    """The messages for `question` with as many passages as fit in the context window minus
    `max_tokens`, best first; a source that does not fit is left out, a smaller later one may fit."""
    if not question.strip():
        raise PromptError("the question is empty")
    budget = model.context_window - max_tokens
    base = model.count_tokens(messages_for(question, [], settings))
    if base > budget:
        raise QuestionTooLong(f"the question is too long: {base} tokens, and the model "
                          f"{model.name} holds {model.context_window} with {max_tokens} kept "
                          "for the answer")
    kept: list[Passage] = []
    for source in merge_hits(hits):
        trial = kept + [source]
        if model.count_tokens(messages_for(question, _renumber(trial), settings)) <= budget:
            kept = trial
    kept = _renumber(kept)
    return messages_for(question, kept, settings), kept


def _renumber(passages: list[Passage]) -> list[Passage]:
    return [replace(p, number=i) for i, p in enumerate(passages, start=1)]
