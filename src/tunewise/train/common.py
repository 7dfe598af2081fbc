"""What fine-tuning and pretraining share: loading a base model (GGUF file, Hugging Face folder,
or the bundled SmolLM2), the device, and resource measurements."""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path


class TrainingError(RuntimeError):
    """A training run that cannot start or go on; the message says why and what was kept."""


def resolve_base(base: str) -> Path:
    from tunewise.models.local import resolve

    try:
        return resolve(base)
    except Exception as exc:  # ModelError: re-raised as a training error, same message
        raise TrainingError(str(exc)) from None


def load_base(base: str, dtype=None):
    """(model, tokenizer, gguf path or None). A GGUF file is dequantised to float32 by
    transformers, which is what training needs."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from tunewise.models.local import _silence_gguf_progress_bar

    path = resolve_base(base)
    hf_logging.disable_progress_bar()
    _silence_gguf_progress_bar()
    source = ({"pretrained_model_name_or_path": str(path.parent), "gguf_file": path.name}
              if path.suffix == ".gguf" else {"pretrained_model_name_or_path": str(path)})
    try:
        tokenizer = AutoTokenizer.from_pretrained(**source)
        model = AutoModelForCausalLM.from_pretrained(**source, dtype=dtype or torch.float32)
    except (OSError, ValueError) as exc:
        raise TrainingError(f"cannot load base model {path}: {exc}") from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if path.suffix == ".gguf":
        # The GGUF weights are now plain float32 tensors; only the "quantized" marks remain, and
        # the Trainer refuses to train a model that carries them.
        model.hf_quantizer, model.is_quantized = None, False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
    return model, tokenizer, path if path.suffix == ".gguf" else None


def peak_memory_mb() -> float:
    """Peak resident memory of this process (CPU) or peak allocated GPU memory, in MiB."""
    import torch

    if torch.cuda.is_available() and torch.cuda.max_memory_allocated():
        return torch.cuda.max_memory_allocated() / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024
