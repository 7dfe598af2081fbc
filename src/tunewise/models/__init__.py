"""Chat models by name, from the [models.NAME] tables of the settings.

A backend is one module with `CAPABILITIES` and `make(name, settings)`, plus one line in
`BACKENDS`; nothing outside the backend's module branches on its name."""

from __future__ import annotations

import importlib
from types import ModuleType

from tunewise.config import ModelSettings
from tunewise.models.base import Capabilities, ChatModel, Generation, Messages, ModelError, Usage

BACKENDS = {
    "local": "tunewise.models.local",  # in-process GGUF (llama.cpp) or Hugging Face folder
    "openai": "tunewise.models.openai_api",  # any OpenAI-compatible endpoint
}


def _backend(name: str, settings: ModelSettings) -> ModuleType:
    if settings.backend not in BACKENDS:
        raise ModelError(f"model {name!r}: unknown backend {settings.backend!r}; "
                         f"valid: {', '.join(BACKENDS)}")
    return importlib.import_module(BACKENDS[settings.backend])


def capabilities(settings: ModelSettings, name: str = "") -> Capabilities:
    """A configured model's capabilities without loading it (the cost model prices by them)."""
    return _backend(name or settings.model, settings).CAPABILITIES


def make_model(name: str, models: dict[str, ModelSettings]) -> ChatModel:
    if name not in models:
        raise ModelError(f"unknown model {name!r}; configured: {', '.join(sorted(models))}")
    return _backend(name, models[name]).make(name, models[name])


__all__ = ["Capabilities", "ChatModel", "Generation", "Messages", "ModelError", "Usage",
           "make_model", "capabilities", "BACKENDS"]
