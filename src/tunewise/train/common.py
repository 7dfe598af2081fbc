"""What every training run shares: its error, the base model it starts from (a GGUF file, a
Hugging Face folder, or the bundled SmolLM2), and its folder — checkpoints to resume from, logs.
The device and speed measurements are in hardware.py; a recipe's settings and the Trainer's
arguments in recipe.py; the Trainer itself in trainer.py."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from tunewise.errors import TunewiseError
from tunewise.models import hf
from tunewise.models.base import ModelError
from tunewise.models.local import resolve
from tunewise.train.hardware import on_gpu


class TrainingError(TunewiseError):
    """A training run that cannot start or go on; the message says why and what was kept."""


def resolve_base(base: str) -> Path:
    try:
        return resolve(base)
    except ModelError as exc:  # the same message, as the error training commands report
        raise TrainingError(str(exc)) from None


def load_base(base: str, dtype=None, quantized: bool = False):
    """(model, tokenizer, gguf path or None), trainable. A GGUF file is dequantised to float32
    by transformers, which is what training needs; `quantized` loads a Hugging Face folder in
    4 bits (NF4, bfloat16 compute) for QLoRA."""
    path = resolve_base(base)
    quantization = None
    if quantized:
        if not (on_gpu() and importlib.util.find_spec("bitsandbytes")):
            raise TrainingError("method qlora needs a CUDA GPU and bitsandbytes (pip install "
                                "bitsandbytes); use method lora here")
        if path.suffix == ".gguf":
            raise TrainingError("method qlora quantizes a Hugging Face model folder; a GGUF base "
                                "is dequantised for training: use method lora")
        # lazy: torch takes 1.5 s to import; transformers takes 0.7 s to import
        import torch
        from transformers import BitsAndBytesConfig

        dtype = torch.bfloat16
        quantization = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                          bnb_4bit_compute_dtype=torch.bfloat16)
    try:
        tokenizer = hf.load_tokenizer(path)
        model = hf.load_causal_lm(path, dtype, trainable=True, quantization=quantization)
    except ModelError as exc:
        raise TrainingError(f"cannot load base model: {exc}") from None
    return model, tokenizer, path if path.suffix == ".gguf" else None


def logged_to(trainer) -> str | None:
    """The folder of the run's TensorBoard event files, when it wrote any."""
    folder = logs_folder(Path(trainer.args.output_dir).parent)
    return str(folder) if folder.is_dir() and any(folder.rglob("events.out.tfevents.*")) else None


def logs_folder(out: Path) -> Path:
    """Where a run's TensorBoard event files go."""
    return out / "logs"


def check_resumable(out: Path, model_config, method: str | None = None) -> None:
    """Refuse, in one line, to resume checkpoints of another model shape: loading them would end
    in a page of tensor size mismatches."""
    last = last_checkpoint(out)
    if last is None:
        return
    lora = (last / "adapter_config.json").is_file()
    if method is not None and lora != (method in ("lora", "qlora")):
        raise TrainingError(
            f"{out} holds checkpoints of a {'LoRA' if lora else 'full'} fine-tune, not {method}: "
            f"resume with the recipe that wrote them, or start fresh with another --out (or "
            f"delete {out / 'checkpoints'})")
    if not (last / "config.json").is_file():
        return
    saved = json.loads((last / "config.json").read_text())
    keys = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
            "num_key_value_heads", "intermediate_size")
    differ = [f"{k} {saved.get(k)} there, {getattr(model_config, k, None)} now" for k in keys
              if k in saved and saved.get(k) != getattr(model_config, k, None)]
    if differ:
        raise TrainingError(
            f"{out} holds checkpoints of another model ({'; '.join(differ)}): resume with the "
            f"recipe that wrote them, or start fresh with another --out (or delete "
            f"{out / 'checkpoints'})")


def last_checkpoint(out: Path) -> Path | None:
    # lazy: transformers takes 0.7 s to import
    from transformers.trainer_utils import get_last_checkpoint

    folder = Path(out) / "checkpoints"
    found = get_last_checkpoint(str(folder)) if folder.is_dir() else None
    return Path(found) if found else None
