"""What fine-tuning and pretraining share: loading a base model (GGUF file, Hugging Face folder,
or the bundled SmolLM2), the device, and resource measurements."""

from __future__ import annotations

import math
import os
import resource
import sys
from pathlib import Path


class TrainingError(RuntimeError):
    """A training run that cannot start or go on; the message says why and what was kept."""


def resolve_base(base: str) -> Path:
    from tunewise.models.base import ModelError
    from tunewise.models.local import resolve

    try:
        return resolve(base)
    except ModelError as exc:  # the same message, as the error training commands report
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


def training_arguments(out: Path, *, batch_size: int, grad_accum: int, lr: float, epochs: float,
                       max_steps: int, scheduler: str, warmup: float, weight_decay: float,
                       logging_steps: int, save_steps: int, eval_strategy: str, seed: int,
                       shuffle: bool = True, eval_steps: int | None = None, bf16: bool = False):
    """TrainingArguments shared by fine-tuning and pretraining: checkpoints in OUT/checkpoints
    (the last two kept), the device picked, gloo between CPU processes under torchrun."""
    import torch
    from transformers import TrainingArguments

    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    return TrainingArguments(
        output_dir=str(out / "checkpoints"), per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=batch_size, gradient_accumulation_steps=grad_accum,
        learning_rate=lr, num_train_epochs=epochs, max_steps=max_steps,
        lr_scheduler_type=scheduler, warmup_steps=warmup, weight_decay=weight_decay,
        logging_steps=logging_steps, save_strategy="steps", save_steps=save_steps,
        save_total_limit=2, eval_strategy=eval_strategy, eval_steps=eval_steps, report_to=[],
        seed=seed, data_seed=seed, train_sampling_strategy="random" if shuffle else "sequential",
        remove_unused_columns=False, dataloader_num_workers=0, bf16=bf16,
        use_cpu=not torch.cuda.is_available(),
        # several CPU processes (torchrun / accelerate launch) talk over gloo
        ddp_backend="gloo" if distributed and not torch.cuda.is_available() else None)


def last_checkpoint(out: Path) -> Path | None:
    from transformers.trainer_utils import get_last_checkpoint

    folder = Path(out) / "checkpoints"
    found = get_last_checkpoint(str(folder)) if folder.is_dir() else None
    return Path(found) if found else None


def _guarded_class():
    from transformers import Trainer

    class Guarded(Trainer):
        """The Trainer, stopping at the first non-finite loss before the optimizer applies it,
        so the last checkpoint stays the last good one; and counting the tokens that collators
        report as `_tokens` (real, not padding) and `_trained` (carrying loss)."""

        tokens = trained = 0

        def compute_loss(self, model, inputs, *args, **kwargs):
            tokens, trained = inputs.pop("_tokens", 0), inputs.pop("_trained", 0)
            if model.training:
                self.tokens += tokens
                self.trained += trained
            return super().compute_loss(model, inputs, *args, **kwargs)

        def training_step(self, model, inputs, *args, **kwargs):
            loss = super().training_step(model, inputs, *args, **kwargs)
            if not math.isfinite(float(loss)):
                last = last_checkpoint(Path(self.args.output_dir).parent)
                kept = f"the last good checkpoint is {last}" if last else "no checkpoint was written yet"
                raise TrainingError(
                    f"the loss became {float(loss)} at step {self.state.global_step + 1}: stopped "
                    f"before applying it; {kept}. Lower learning_rate and run again to resume.")
            return loss

    return Guarded


def guarded_trainer(**kwargs):
    """A transformers Trainer (built lazily: transformers is slow to import) with the guard above."""
    return _guarded_class()(**kwargs)


def read_recipe(cls, table: str, path: str | Path | None, **overrides):
    """A `cls` config from the [table] of a recipe TOML, then `overrides` (None values ignored);
    an unknown key is an error that lists the valid ones."""
    import dataclasses
    import tomllib

    values = {}
    if path is not None:
        try:
            values = tomllib.loads(Path(path).read_text()).get(table, {})
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise TrainingError(f"cannot read recipe {path}: {exc}") from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise TrainingError(f"unknown {table} setting {unknown[0]!r}; valid: {', '.join(sorted(known))}")
    return cls(**values)
