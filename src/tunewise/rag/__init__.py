"""RAG answering: retrieve, pack the prompt within the context budget, generate, cite; abstain
when no passage is similar enough. The logic lives in `answer.py` and `prompt.py`."""

from tunewise.rag.answer import Answer, answer
from tunewise.rag.prompt import Passage, PromptError

__all__ = ["Answer", "answer", "PromptError", "Passage"]
