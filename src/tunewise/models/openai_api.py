"""Chat through any OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp server, Ollama) with the
official SDK: streaming, the SDK's retries with backoff on 429/5xx, timeouts, usage and latency."""

from __future__ import annotations

import time
from functools import cached_property

from tunewise.config import ModelSettings
from tunewise.models.base import Capabilities, Generation, Messages, ModelError, OnToken, Usage
from tunewise.openai_client import openai_client

DEFAULT_CONTEXT = 8192
# The endpoint batches concurrent requests; a provider bills per token.
CAPABILITIES = Capabilities(concurrent=True, priced_per_token=True)


class OpenAIChatModel:
    capabilities = CAPABILITIES

    def __init__(self, name: str, settings: ModelSettings):
        self.name, self.settings = name, settings
        self.context_window = settings.context_window or DEFAULT_CONTEXT

    @cached_property
    def client(self):
        return openai_client(self.settings, f"model {self.name!r}", ModelError)

    def count_tokens(self, messages: Messages) -> int:
        # No tokenizer offline for remote models: 1 token per 3 characters over-counts English
        # BPE (about 4 characters a token), so the prompt stays inside the window.
        return sum(len(m["content"]) // 3 + 4 for m in messages) + 3

    def generate(self, messages: Messages, max_tokens: int | None = None,
                 on_token: OnToken | None = None) -> Generation:
        import openai

        s = self.settings
        args = dict(model=s.model, messages=messages, temperature=s.temperature,
                    max_tokens=max_tokens or s.max_tokens)
        started = time.perf_counter()
        try:
            if on_token is None:
                response = self.client.chat.completions.create(**args)
                text = response.choices[0].message.content or ""
                usage = _usage(response.usage, messages, text, self)
                return Generation(text, usage, time.perf_counter() - started)
            return self._stream(args, messages, on_token, started)
        except openai.AuthenticationError as exc:
            raise ModelError(f"{self.name}: the endpoint refused the API key in "
                             f"${s.api_key_env} ({exc.status_code})") from exc
        except openai.APIConnectionError as exc:
            raise ModelError(f"{self.name}: cannot reach {self.client.base_url} ({exc})") from exc
        except openai.APIStatusError as exc:
            raise ModelError(f"{self.name}: the endpoint answered {exc.status_code}: "
                             f"{_message(exc)}") from exc
        except openai.OpenAIError as exc:
            raise ModelError(f"{self.name}: {exc}") from exc

    def _stream(self, args: dict, messages: Messages, on_token: OnToken,
                started: float) -> Generation:
        parts, first, usage = [], None, None
        stream = self.client.chat.completions.create(
            **args, stream=True, stream_options={"include_usage": True})
        for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                delta = choice.delta.content or ""
                if delta:
                    first = first if first is not None else time.perf_counter() - started
                    parts.append(delta)
                    on_token(delta)
        text = "".join(parts)
        return Generation(text, _usage(usage, messages, text, self),
                          time.perf_counter() - started, first)


def _usage(reported, messages: Messages, text: str, model: OpenAIChatModel) -> Usage:
    if reported is not None:
        return Usage(reported.prompt_tokens or 0, reported.completion_tokens or 0)
    return Usage(model.count_tokens(messages), len(text) // 3)  # the server sent none


def _message(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error", {}).get("message") or body)
    return str(exc.message if hasattr(exc, "message") else exc)


def make(name: str, settings: ModelSettings) -> OpenAIChatModel:
    return OpenAIChatModel(name, settings)
