"""Chat models by name, from the [models.NAME] tables of the settings."""

from __future__ import annotations

from tunewise.config import ModelSettings
from tunewise.models.base import ChatModel, Generation, Messages, ModelError, Usage

BACKENDS = ("local", "openai")


def make_model(name: str, models: dict[str, ModelSettings]) -> ChatModel:
    if name not in models:
        raise ModelError(f"unknown model {name!r}; configured: {', '.join(sorted(models))}")
    settings = models[name]
    if settings.backend == "openai":
        from tunewise.models.openai_api import OpenAIChatModel

        return OpenAIChatModel(name, settings)
    if settings.backend == "local":
        from tunewise.models.local import make_local_model

        return make_local_model(name, settings)
    raise ModelError(f"model {name!r}: unknown backend {settings.backend!r}; "
                     f"valid: {', '.join(BACKENDS)}")


__all__ = ["ChatModel", "Generation", "Messages", "ModelError", "Usage", "make_model", "BACKENDS"]
