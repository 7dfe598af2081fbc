"""Chat through any OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp server, Ollama) with the
official SDK: streaming, the SDK's retries with backoff on 429/5xx, timeouts, usage and latency."""

from __future__ import annotations

import contextlib
import threading
import time
from functools import cached_property

from tunewise.config import ModelSettings
from tunewise.models.base import Capabilities, Generation, Messages, ModelError, OnToken, Usage
from tunewise.openai_client import openai_client

DEFAULT_CONTEXT = 8192
# The endpoint batches concurrent requests; a provider bills per token; response_format takes a
# JSON schema (OpenAI, vLLM, llama.cpp's C++ server and Ollama as `json_schema`; llama-cpp-python's
# server as `json_object` with a `schema`: [models] schema_format).
CAPABILITIES = Capabilities(concurrent=True, priced_per_token=True, structured=True)


class TruncatedAnswer(ModelError):
    """The endpoint ended an answer without saying why (no finish reason): the answer is not
    whole, and must never pass for an empty or short one. `retry`: nothing of it was shown yet."""

    def __init__(self, message: str, retry: bool):
        super().__init__(message)
        self.retry = retry


# One bound per endpoint and limit, shared by every model object that calls it.
_IN_FLIGHT: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_IN_FLIGHT_LOCK = threading.Lock()


class OpenAIChatModel:
    capabilities = CAPABILITIES

    def __init__(self, name: str, settings: ModelSettings):
        self.name, self.settings = name, settings
        self.context_window = settings.context_window or DEFAULT_CONTEXT
        self.in_flight = contextlib.nullcontext()
        if settings.schema_format not in ("auto", "json_schema", "json_object", "none"):
            raise ModelError(f"[models.{name}] schema_format = {settings.schema_format!r}: "
                             "auto, json_schema, json_object or none")
        self._schema_format = ("json_schema" if settings.schema_format == "auto"
                               else settings.schema_format)
        if settings.max_concurrency > 0:
            key = (str(settings.base_url), settings.max_concurrency)
            with _IN_FLIGHT_LOCK:
                self.in_flight = _IN_FLIGHT.setdefault(
                    key, threading.BoundedSemaphore(settings.max_concurrency))

    @cached_property
    def client(self):
        return openai_client(self.settings, f"model {self.name!r}", ModelError)

    def count_tokens(self, messages: Messages) -> int:
        # No tokenizer offline for remote models: 1 token per 3 characters over-counts English
        # BPE (about 4 characters a token), so the prompt stays inside the window.
        return sum(len(m["content"]) // 3 + 4 for m in messages) + 3

    def generate(self, messages: Messages, max_tokens: int | None = None,
                 on_token: OnToken | None = None, schema: dict | None = None) -> Generation:
        # lazy: openai takes 0.4 s to import
        import openai

        s = self.settings
        args = dict(model=s.model, messages=messages, temperature=s.temperature,
                    max_tokens=max_tokens or s.max_tokens)
        fmt = self._schema_format
        if schema is not None and fmt != "none":
            args["response_format"] = _response_format(schema, fmt)
        started = time.perf_counter()
        try:
            for attempt in range(s.max_retries + 1):
                try:
                    with self.in_flight:
                        if on_token is None:
                            return self._whole(args, messages, started)
                        return self._stream(args, messages, on_token, started)
                except TruncatedAnswer as exc:
                    if not exc.retry or attempt == s.max_retries:
                        raise
                    time.sleep(min(2.0, 0.25 * 2 ** attempt))  # nothing was shown: ask again
        except openai.AuthenticationError as exc:
            raise ModelError(f"{self.name}: the endpoint refused the API key in "
                             f"${s.api_key_env} ({exc.status_code})") from exc
        except openai.APIConnectionError as exc:
            raise ModelError(f"{self.name}: cannot reach {self.client.base_url} ({exc})") from exc
        except openai.APIStatusError as exc:
            refused = "response_format" in _message(exc) and schema is not None
            if refused and s.schema_format == "auto" and fmt == "json_schema":
                # a server that takes a schema only as json_object (llama-cpp-python's): from now
                # on this model sends it so
                self._schema_format = "json_object"
                return self.generate(messages, max_tokens, on_token, schema)
            raise ModelError(f"{self.name}: the endpoint answered {exc.status_code}: "
                             f"{_message(exc)}"
                             + (f" (set [models.{self.name}] schema_format = \"json_object\" or "
                                "\"none\")" if refused else "")) from exc
        except openai.OpenAIError as exc:
            raise ModelError(f"{self.name}: {exc}") from exc

    def _whole(self, args: dict, messages: Messages, started: float) -> Generation:
        response = self.client.chat.completions.create(**args)
        choice = response.choices[0] if response.choices else None
        text = (choice.message.content or "") if choice else ""
        if choice is None or choice.finish_reason is None:
            raise self._truncated(text, retry=True)
        return Generation(text, _usage(response.usage, messages, text, self),
                          time.perf_counter() - started)

    def _stream(self, args: dict, messages: Messages, on_token: OnToken,
                started: float) -> Generation:
        parts, first, usage, finished = [], None, None, False
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
                finished = finished or choice.finish_reason is not None
        text = "".join(parts)
        if not finished:  # retried only when nothing reached the caller yet
            raise self._truncated(text, retry=not parts)
        return Generation(text, _usage(usage, messages, text, self),
                          time.perf_counter() - started, first)

    def _truncated(self, text: str, retry: bool) -> TruncatedAnswer:
        now = self.settings.max_concurrency
        advice = (f"lower [models.{self.name}] max_concurrency (now {now})" if now
                  else f"set [models.{self.name}] max_concurrency")
        return TruncatedAnswer(
            f"{self.name}: the endpoint ended the answer without a finish reason after "
            f"{len(text)} characters (a server that cuts streams when busy, as llama.cpp's "
            f"does): {advice} to the requests it serves at once, e.g. 1", retry)


def _response_format(schema: dict, fmt: str) -> dict:
    if fmt == "json_object":
        return {"type": "json_object", "schema": schema}
    return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema,
                                                   "strict": True}}


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
