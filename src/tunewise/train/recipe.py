"""A training recipe's shared settings (`TrainingSettings`, read from TOML like tunewise.toml) and
the transformers TrainingArguments built from them: precision, optimizer, attention kernel,
compilation and where the curves are reported, each checked against this machine first."""

from __future__ import annotations

import importlib.util
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from tunewise.config import build_section
from tunewise.train.common import TrainingError
from tunewise.train.hardware import cpu_has_bf16, on_gpu


@dataclass(frozen=True)
class TrainingSettings:
    """The settings every training recipe shares (fine-tuning and pretraining extend it), read
    from a recipe TOML and checked by the same code as tunewise.toml (`config.build_section`)."""

    batch_size: int = 8  # rows per device and step
    grad_accum: int = 1
    learning_rate: float | None = None  # None: the recipe's own default
    max_steps: int = -1  # > 0 stops after this many optimizer steps
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    save_steps: int = 100  # checkpoints in OUT/checkpoints; a rerun resumes from the last
    logging_steps: int = 10
    seed: int = 0
    name: str | None = None  # register the result as this model name
    # Speed and memory (README "Training on a GPU"; measured by bench/gpu_training.py).
    # auto: bf16 autocast where the GPU or the CPU (AVX512-BF16, AMX) has it (weights and AdamW
    # state stay float32: the updates of small learning rates survive), else float32 | bf16 |
    # fp16 | fp32
    precision: str = "auto"
    # auto: fused AdamW on a GPU, AdamW on a CPU; adamw_8bit, paged_adamw_8bit (bitsandbytes,
    # CUDA) keep the optimizer state in 8 bits; any optimizer name of the transformers Trainer
    optimizer: str = "auto"
    compile: bool | None = None  # torch.compile the model; None: on a CUDA GPU, off on a CPU
    gradient_checkpointing: bool = False  # recompute activations in the backward pass: less memory
    # auto: flash_attention_2 where the flash-attn package and a GPU are there (packed examples
    # run as variable-length sequences), else sdpa | sdpa | flex_attention | eager
    attention: str = "auto"
    fsdp: str = ""  # under torchrun/accelerate: e.g. "full_shard auto_wrap" shards the model
    # Where the run's curves go (loss, learning rate, tokens/s, validation loss): tensorboard
    # (event files in OUT/logs: `tensorboard --logdir OUT/logs`), wandb, mlflow (when installed
    # and configured), several comma-separated, or none.
    report_to: str = "tensorboard"


PRECISIONS = ("auto", "bf16", "fp16", "fp32")


ATTENTIONS = ("auto", "sdpa", "flash_attention_2", "flex_attention", "eager")


BITSANDBYTES_OPTIMIZERS = ("adamw_8bit", "adamw_bnb_8bit", "paged_adamw_8bit", "paged_adamw_32bit",
                           "paged_adamw", "lion_8bit", "paged_lion_8bit")


def compiling(config: TrainingSettings) -> bool:
    return on_gpu() if config.compile is None else config.compile


def attention_implementation(config: TrainingSettings) -> str:
    """The attention kernel for training: a named one, or the fastest available that keeps packed
    examples apart (flash-attn's variable-length kernel, else SDPA with the block mask)."""
    if config.attention not in ATTENTIONS:
        raise TrainingError(f"unknown attention {config.attention!r}; valid: {', '.join(ATTENTIONS)}")
    flash = importlib.util.find_spec("flash_attn") is not None and on_gpu()
    if config.attention == "flash_attention_2" and not flash:
        raise TrainingError("attention flash_attention_2 needs a CUDA GPU and the flash-attn "
                            "package (pip install flash-attn); use attention = \"sdpa\"")
    if config.attention == "flex_attention" and not on_gpu():
        raise TrainingError("attention flex_attention trains on a GPU only (PyTorch has no "
                            "backward pass for it on a CPU); use attention = \"sdpa\"")
    if config.attention == "auto":
        return "flash_attention_2" if flash else "sdpa"
    return config.attention


def use_attention(model, config: TrainingSettings) -> None:
    name = attention_implementation(config)
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation(name)
    else:  # older transformers
        model.config._attn_implementation = name


def _speed_arguments(config: TrainingSettings) -> dict:
    """Precision, optimizer, compilation and memory options as TrainingArguments, checked first
    so that what this machine cannot do is one clear line."""
    # lazy: torch takes 1.5 s to import
    import torch

    gpu = on_gpu()
    if config.precision not in PRECISIONS:
        raise TrainingError(f"unknown precision {config.precision!r}; valid: {', '.join(PRECISIONS)}")
    bf16_ok = torch.cuda.is_bf16_supported() if gpu else cpu_has_bf16()
    precision = ("bf16" if bf16_ok else "fp32") if config.precision == "auto" else config.precision
    if precision == "fp16" and not gpu:
        raise TrainingError("precision fp16 needs a CUDA GPU; use bf16 or fp32 on a CPU")
    optimizer = config.optimizer
    if optimizer == "auto":
        optimizer = "adamw_torch_fused" if gpu else "adamw_torch"
    if optimizer in BITSANDBYTES_OPTIMIZERS and not (
            gpu and importlib.util.find_spec("bitsandbytes") is not None):
        raise TrainingError(f"optimizer {optimizer} needs a CUDA GPU and bitsandbytes "
                            "(pip install bitsandbytes); use optimizer = \"auto\" here")
    ampere = gpu and torch.cuda.get_device_capability()[0] >= 8
    arguments = {"bf16": precision == "bf16", "fp16": precision == "fp16", "optim": optimizer,
                 "tf32": True if ampere else None, "torch_compile": compiling(config),
                 "fsdp": config.fsdp or "",
                 # the Trainer's NaN filter reads every step's loss on the host: a sync per
                 # step (the guard below checks on the device instead)
                 "logging_nan_inf_filter": False}
    if config.gradient_checkpointing:  # named only when on: newer transformers renamed it
        arguments.update(gradient_checkpointing=True,
                         gradient_checkpointing_kwargs={"use_reentrant": False})
    return arguments


def training_arguments(out: Path, config: TrainingSettings, *, lr: float, epochs: float,
                       scheduler: str, eval_strategy: str, shuffle: bool = True,
                       eval_steps: int | None = None, drop_last: bool = False,
                       max_steps: int | None = None, keep_best: bool = False):
    """TrainingArguments shared by fine-tuning and pretraining: checkpoints in OUT/checkpoints
    (the last two kept), the device picked, gloo between CPU processes under torchrun, and the
    speed options of the recipe. `keep_best` (with step-wise evaluation) saves at every
    evaluation and loads the checkpoint of the lowest validation loss at the end."""
    # lazy: transformers takes 0.7 s to import
    from transformers import TrainingArguments

    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    gpu = on_gpu()
    return TrainingArguments(
        output_dir=str(out / "checkpoints"), per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum, learning_rate=lr,
        num_train_epochs=epochs, max_steps=max_steps or config.max_steps,
        lr_scheduler_type=scheduler,
        warmup_steps=config.warmup_ratio, weight_decay=config.weight_decay,
        logging_steps=config.logging_steps, save_strategy="steps",
        save_steps=eval_steps if keep_best else config.save_steps,
        save_total_limit=2, eval_strategy=eval_strategy, eval_steps=eval_steps,
        load_best_model_at_end=keep_best, metric_for_best_model="eval_loss" if keep_best else None,
        greater_is_better=False if keep_best else None,
        report_to=reporters(config),
        seed=config.seed, data_seed=config.seed,
        train_sampling_strategy="random" if shuffle else "sequential",
        remove_unused_columns=False, dataloader_num_workers=0, dataloader_drop_last=drop_last,
        prediction_loss_only=True,  # validation keeps the loss, not every logit (GBs at 262k vocab)
        use_cpu=not gpu,
        # several CPU processes (torchrun / accelerate launch) talk over gloo
        ddp_backend="gloo" if distributed and not gpu else None, **_speed_arguments(config))


REPORTERS = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}  # name: package


def reporters(config: TrainingSettings) -> list[str]:
    """The integrations the Trainer reports to, each checked to be installed."""
    wanted = [r.strip() for r in config.report_to.split(",") if r.strip() not in ("", "none")]
    for name in wanted:
        if name not in REPORTERS:
            raise TrainingError(f"report_to {name!r}: valid are {', '.join(REPORTERS)} or none")
        if importlib.util.find_spec(REPORTERS[name]) is None:
            raise TrainingError(f"report_to {name!r} needs the {REPORTERS[name]} package: pip install "
                                f"{REPORTERS[name]}, or report_to = \"none\"")
    return wanted


def read_recipe(cls, table: str, path: str | Path | None, **overrides):
    """A `cls` config from the [table] of a recipe TOML, then `overrides` (None values ignored),
    checked and coerced as tunewise.toml is: an unknown key is an error that lists the valid ones."""
    values = {}
    if path is not None:
        try:
            values = tomllib.loads(Path(path).read_text()).get(table, {})
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise TrainingError(f"cannot read recipe {path}: {exc}") from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    return build_section(cls, table, values)
