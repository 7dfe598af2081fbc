"""A scripted chat model for tests: its reply is a function of the messages, so that a real
OpenAI-compatible server (tests/models/chat_server.py) can stand in for a paid API with known
answers. Usage counts words, as a tokenizer would count tokens."""

from __future__ import annotations

import time
from typing import Callable

from tunewise.models.base import Generation, Usage


class ScriptedModel:
    def __init__(self, reply: Callable[[list[dict]], str], delay: float = 0.0):
        self.reply, self.delay, self.calls = reply, delay, 0

    def generate(self, messages, max_tokens=None, on_token=None) -> Generation:
        self.calls += 1
        time.sleep(self.delay)
        text = self.reply(messages)
        if on_token:
            for word in text.split(" "):
                on_token(word + " ")
        prompt = sum(len(m["content"].split()) for m in messages)
        return Generation(text, Usage(prompt, len(text.split())), self.delay)


def last_user(messages: list[dict]) -> str:
    return next(m["content"] for m in reversed(messages) if m["role"] == "user")


def with_api_model(ws, name: str, base_url: str, model: str = "scripted", **options):
    """A Workspace like `ws` (sharing its store and embedder) with one more model, NAME, served
    by the OpenAI-compatible server at `base_url`."""
    from tunewise.config import ModelSettings
    from tunewise.workspace import Workspace

    settings = ws.settings
    models = {**settings.models, name: ModelSettings(
        backend="openai", model=model, base_url=base_url, max_retries=0,
        api_key_env="TUNEWISE_TEST_NO_KEY", **options)}
    return Workspace(settings.__class__(**{**vars(settings), "models": models}), store=ws.store,
                     embedder=ws.embedder, models={"local": ws.model("local")})
