"""The one loader of Hugging Face models, offline: a GGUF file (transformers dequantises it to
float32) or a model folder. The local chat backend and training both load through here."""

from __future__ import annotations

import functools
import os
from pathlib import Path

from tunewise.models.base import ModelError


def source(path: Path) -> dict:
    """from_pretrained arguments for a .gguf file or a model folder."""
    if path.suffix == ".gguf":
        return {"pretrained_model_name_or_path": str(path.parent), "gguf_file": path.name}
    return {"pretrained_model_name_or_path": str(path)}


def load_tokenizer(path: Path):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # lazy: transformers takes 0.7 s to import
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(**source(path))
    except (OSError, ValueError) as exc:
        raise ModelError(f"transformers cannot load the tokenizer of {path}: {exc}") from exc
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(path: Path, dtype=None, trainable: bool = False, quantization=None):
    """The model in `dtype` (float32 by default). `trainable` drops the "quantized" marks a GGUF
    file leaves on the now plain float tensors: the Trainer refuses a model that carries them."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # lazy: torch takes 1.5 s to import; transformers takes 0.7 s to import
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    _silence_gguf_progress_bar()
    try:
        extra = {"quantization_config": quantization} if quantization is not None else {}
        model = AutoModelForCausalLM.from_pretrained(**source(path), dtype=dtype or torch.float32,
                                                     **extra)
    except (OSError, ValueError) as exc:
        raise ModelError(f"transformers cannot load {path}: {exc}") from exc
    if trainable and path.suffix == ".gguf":
        model.hf_quantizer, model.is_quantized = None, False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
    return model


def _silence_gguf_progress_bar() -> None:
    """transformers draws a tqdm bar while dequantising a GGUF file, outside its own
    disable_progress_bar() switch; the bar would garble `tunewise ask` output."""
    # lazy: transformers takes 0.7 s to import
    from transformers import modeling_gguf_pytorch_utils as gguf_utils

    if hasattr(gguf_utils, "tqdm") and not isinstance(gguf_utils.tqdm, functools.partial):
        gguf_utils.tqdm = functools.partial(gguf_utils.tqdm, disable=True)
