"""A conversation over the documents: each follow-up is rewritten into a standalone question
(by the same model) before retrieval, so "and in Sweden?" finds what the whole exchange is about."""

from __future__ import annotations

from dataclasses import dataclass, field

from tunewise.config import RagSettings
from tunewise.models.base import ChatModel, OnToken
from tunewise.rag import Answer, answer
from tunewise.retrieval import Retriever

REWRITE = """Rewrite the follow-up question as one standalone question that can be understood \
without the conversation. Reply with the question only.

Example:
User: How long is the warranty on the HX200?
Assistant: Five years.
Follow-up question: And on the HX400?
Standalone question: How long is the warranty on the HX400?

Conversation:
{history}
Follow-up question: {question}
Standalone question:"""


@dataclass
class Conversation:
    model: ChatModel
    settings: RagSettings
    retriever: Retriever | None
    k: int | None = None
    where: tuple = ()  # metadata conditions on the documents searched (objects.Condition)
    turns: list[tuple[str, str]] = field(default_factory=list)  # (question, answer)
    remember: int = 3  # turns shown to the rewriter

    def standalone(self, question: str) -> str:
        """The follow-up as a question of its own; the question itself on the first turn."""
        if not self.turns:
            return question
        history = "\n".join(f"User: {q}\nAssistant: {a}" for q, a in self.turns[-self.remember:])
        prompt = [{"role": "user", "content": REWRITE.format(history=history, question=question)}]
        reply = self.model.generate(prompt, max_tokens=64).text.strip()
        line = reply.split("\n")[0].strip()
        for prefix in ("Standalone question:", "User:", "Question:"):  # small models echo these
            line = line.removeprefix(prefix).strip()
        # A small model may answer instead of rewriting: keep its line only if it is a question.
        return line if line.endswith("?") and len(line) < 400 else question

    def ask(self, question: str, on_token: OnToken | None = None) -> Answer:
        result = answer(self.standalone(question.strip()), self.model, self.settings,
                        self.retriever, k=self.k, on_token=on_token, where=self.where)
        self.turns.append((question.strip(), result.text))
        return result
