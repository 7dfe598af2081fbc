"""tunewise: closed LLM API over your documents, fine-tune an open model, or train your own?

The names below are imported on first use, so `import tunewise.train.pretrain` (on a GPU machine
that has torch and transformers but not the document loaders, say) loads only what it needs."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS = {"Workspace": "tunewise.workspace", "Settings": "tunewise.config",
            "load_settings": "tunewise.config", "Document": "tunewise.objects",
            "Chunk": "tunewise.objects", "Hit": "tunewise.objects",
            "TunewiseError": "tunewise.errors"}
__all__ = ["Workspace", "Settings", "load_settings", "Document", "Chunk", "Hit", "TunewiseError",
           "__version__"]

if TYPE_CHECKING:
    from tunewise.config import Settings, load_settings
    from tunewise.errors import TunewiseError
    from tunewise.objects import Chunk, Document, Hit
    from tunewise.workspace import Workspace


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'tunewise' has no attribute {name!r}")
