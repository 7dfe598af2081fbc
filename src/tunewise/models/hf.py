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


# Gemma's turn format (its instruction-tuned models' template, the system prompt folded into the
# first user turn): the base GGUF carries no chat template, and fine-tuning and serving must use
# the same one. A rendered prefix is a prefix of the whole, as train/sequences.py needs.
GEMMA_TEMPLATE = (
    "{{ bos_token }}{% set ns = namespace(system='') %}{% for m in messages %}"
    "{% if m['role'] == 'system' %}{% set ns.system = m['content'] + '\n\n' %}{% else %}"
    "<start_of_turn>{{ 'model' if m['role'] == 'assistant' else 'user' }}\n"
    "{% if m['role'] == 'user' %}{{ ns.system }}{% set ns.system = '' %}{% endif %}"
    "{{ m['content'] | trim }}<end_of_turn>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}")
FALLBACK_TEMPLATES = {"gemma3": GEMMA_TEMPLATE, "gemma3_text": GEMMA_TEMPLATE}


def fallback_template(architecture: str) -> str | None:
    """The chat template of a model family whose base GGUF carries none."""
    return FALLBACK_TEMPLATES.get(architecture)


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
    if tokenizer.chat_template is None and "<start_of_turn>" in tokenizer.get_vocab():
        tokenizer.chat_template = GEMMA_TEMPLATE
    return tokenizer


def load_causal_lm(path: Path, dtype=None, trainable: bool = False, quantization=None):
    """The model in `dtype` (float32 by default). `trainable` drops the "quantized" marks a GGUF
    file leaves on the now plain float tensors: the Trainer refuses a model that carries them."""
    extra = {"quantization_config": quantization} if quantization is not None else {}
    return _load("AutoModelForCausalLM", path, dtype, trainable, **extra)


def load_sequence_classifier(path: Path, labels=None, trainable: bool = False):
    """The model with a sequence-classification head, float32: a new head of `labels` on a base
    (a GGUF file or a causal-LM folder), or the trained one a folder holds (labels None)."""
    extra = {} if labels is None else {
        "num_labels": len(labels), "id2label": dict(enumerate(labels)),
        "label2id": {x: i for i, x in enumerate(labels)}}
    return _load("AutoModelForSequenceClassification", path, None, trainable, **extra)


def _load(auto: str, path: Path, dtype, trainable: bool, **extra):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # lazy: torch takes 1.5 s to import; transformers takes 0.7 s to import
    import torch
    import transformers
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    _silence_gguf_progress_bar()
    try:
        model = getattr(transformers, auto).from_pretrained(
            **source(path), dtype=dtype or torch.float32, **extra)
    except (OSError, ValueError, KeyError) as exc:
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
