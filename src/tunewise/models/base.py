"""The ChatModel protocol: messages in (OpenAI format), text out, with token usage and timing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Protocol

from tunewise.errors import TunewiseError

if TYPE_CHECKING:
    from tunewise.config import ModelSettings

Messages = list[dict[str, str]]  # [{"role": "system" | "user" | "assistant", "content": "..."}]
OnToken = Callable[[str], None]


class ModelError(TunewiseError):
    """A model that cannot be loaded or called; the message is one line that says why."""
    http_status = 502
    kind = "model_error"


class ContextLengthExceeded(ModelError):
    """The prompt does not fit the model's context window: the caller's to shorten (OpenAI's
    400 with code context_length_exceeded)."""
    http_status = 400
    kind = "invalid_request_error"
    code = "context_length_exceeded"


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Generation:
    text: str
    usage: Usage
    latency_s: float  # request to last token
    first_token_s: float | None = None  # request to first token, when streamed


@dataclass(frozen=True)
class Capabilities:
    """What callers need to know about a backend, asked of the model instead of its name."""

    concurrent: bool  # several requests at once help (the endpoint batches): callers run them in parallel
    priced_per_token: bool  # billed per token by a provider; otherwise priced as weights you host
    # generate() takes `schema` (a JSON schema) and the answer follows it: llama.cpp grammars,
    # OpenAI's response_format. Others are asked in the prompt and their answers parsed strictly.
    structured: bool = False


class ChatModel(Protocol):
    name: str
    settings: "ModelSettings"  # max_tokens is the default answer budget
    capabilities: Capabilities  # the backend's; also `tunewise.models.capabilities(settings)`

    @property
    def context_window(self) -> int:
        """Tokens the model sees at once: prompt plus answer."""

    def count_tokens(self, messages: Messages) -> int:
        """Prompt tokens of `messages` with the model's chat template (an upper estimate where
        the tokenizer is not available offline)."""

    def generate(self, messages: Messages, max_tokens: int | None = None,
                 on_token: OnToken | None = None) -> Generation:
        """The answer; `on_token` receives the text as it streams. A `structured` backend also
        takes `schema=`, a JSON schema the answer must follow."""
