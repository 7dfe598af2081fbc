"""The trivial systems every run measures beside the real ones, so that a report never
recommends a system that a constant answer would match:

- `baseline:majority` — the most common gold answer of the question set, for every question
  (questions with choices: yes/no/maybe, multiple choice). A model that says "yes" to all of
  PubMedQA scores exactly this.
- `baseline:abstain` — "not in the documents" for every question (sets with unanswerable
  questions).
- `baseline:extractive` — no LLM: the sentence of the best retrieved passage that shares the
  most words with the question.
"""

from __future__ import annotations

import time
from collections import Counter
from functools import cached_property

from tunewise.documents.chunker import SENTENCE_END
from tunewise.evaluate.datasets import Question
from tunewise.objects import content_words
from tunewise.parts import Parts
from tunewise.systems import BASELINE, System, parse_system


def baselines_for(questions: list[Question], has_documents: bool) -> list[System]:
    """The baselines that fit this question set."""
    kinds = []
    if any(q.choices for q in questions):
        kinds.append("majority")
    if any(q.unanswerable for q in questions):
        kinds.append("abstain")
    if has_documents:
        kinds.append("extractive")
    return [parse_system(BASELINE + kind) for kind in kinds]


def with_baselines(systems: list[System], questions: list[Question],
                   has_documents: bool) -> list[System]:
    """`systems`, then the baselines that fit the questions and are not among them already: the
    trivial systems every run measures beside the real ones."""
    named = {s.name for s in systems}
    return systems + [b for b in baselines_for(questions, has_documents) if b.name not in named]


def majority_answer(questions: list[Question]) -> str:
    counts = Counter(q.answers[0].strip().lower() for q in questions if q.answers)
    return counts.most_common(1)[0][0] if counts else ""


def best_sentence(question: str, passage: str) -> str:
    """The sentence of `passage` sharing the most words with `question` (the first on ties)."""
    wanted = content_words(question)
    sentences = [s.strip() for s in SENTENCE_END.split(passage) if s.strip()]
    if not sentences:
        return ""
    return max(sentences, key=lambda s: len(wanted & content_words(s)))


class Baselines:
    """The baselines' answers for one run: its question set (for the majority answer, worked
    out once) and the workspace whose retriever the extractive baseline uses."""

    def __init__(self, ws: Parts, questions: list[Question], where: tuple = ()):
        self.ws, self.questions, self.where = ws, questions, where

    @cached_property
    def majority(self) -> str:
        return majority_answer(self.questions)

    def answer(self, system: System, q: Question) -> dict:
        """The fields of an answer record (runner._answer's) for a baseline."""
        started = time.perf_counter()
        sources, retrieval_s, abstained = [], 0.0, False
        if system.baseline == "majority":
            text = self.majority
        elif system.baseline == "abstain":
            text, abstained = self.ws.settings.rag.abstain_message, True
        else:
            hits = self.ws.retriever.search(q.question, k=1, where=self.where)
            retrieval_s = time.perf_counter() - started
            text = best_sentence(q.question, hits[0].chunk.text) if hits else ""
            abstained = not hits
            sources = [{"source": h.chunk.source, "score": round(h.score, 4),
                        "text": h.chunk.text} for h in hits]
        return {"prediction": text, "abstained": abstained,
                "retrieved": list(dict.fromkeys(s["source"] for s in sources)),
                "sources": sources, "latency_s": round(time.perf_counter() - started, 4),
                "first_token_s": None, "retrieval_s": round(retrieval_s, 4),
                "prompt_tokens": 0, "completion_tokens": 0}
