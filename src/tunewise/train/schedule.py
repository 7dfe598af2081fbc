"""The schedule of a fine-tune, in optimizer steps: a floor of steps (a few hundred short
examples must still get enough updates to learn from), a validation part carved from the
training examples (never the test part) that picks the best checkpoint and stops training early,
and the plan printed before anything trains: examples, tokens, steps, the estimated time.

Why a floor: a run set in epochs alone gives 100 short examples 7 steps at batch 16 (issue 35
measured 4–14 steps and a fine-tune below its own prompt); a run set in steps alone overfits a
small set. So: `epochs` passes or `min_steps` steps, whichever is more, and the validation loss
decides which checkpoint is kept."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence, TypeVar

from tunewise.cost.training import flops_per_token
from tunewise.train.common import TrainingError, logged_to
from tunewise.train.hardware import measured_peak_flops, on_gpu, speed
from tunewise.train.recipe import TrainingSettings, training_arguments

T = TypeVar("T")

# Of a CPU's measured float32 matmul peak, what a task fine-tune of a 100M-class model reaches:
# SmolLM2-135M LoRA + head on PhraseBank under bf16 autocast, 2 cores with AVX512-BF16: 0.52
# (bench/RESULTS.md, 2026-12-06); a CPU without bf16 trains at about 0.6x that, so a middle value
CPU_TRAINING_MFU = 0.4
GPU_TRAINING_MFU = 0.06  # small models on a GPU, as [cost] finetune_mfu assumes


@dataclass(frozen=True)
class Plan:
    """What a fine-tune is about to do, printed before it starts and kept in finetune.json."""

    examples: int  # training examples (after the validation part was carved out)
    validation: int  # examples held out to choose the checkpoint (0: none)
    tokens: int  # real tokens of one pass over the training examples
    batch: int  # examples (or packed rows) per optimizer step
    rows: int  # rows per pass: examples, or packed rows
    steps: int  # optimizer steps
    eval_every: int  # steps between validation passes (0: none)
    patience: int  # validation passes without improvement before stopping (0: never)
    seconds: float  # estimated on this machine

    def to_json(self) -> dict:
        """What finetune.json keeps: the fields, the epochs and the sentence `describe` prints."""
        return {**dataclasses.asdict(self), "epochs": self.epochs, "description": self.describe()}

    @property
    def epochs(self) -> float:
        return self.steps * self.batch / max(1, self.rows)

    def describe(self) -> str:
        held = (f", {self.validation} held out for validation every {self.eval_every} steps"
                + (f" (stops after {self.patience} without improvement; the best is kept)"
                   if self.patience else "")) if self.validation else ", no validation part"
        return (f"{self.examples} examples ({self.tokens:,} tokens, "
                f"{self.tokens / max(1, self.examples):.0f} an example){held}; "
                f"{self.steps} steps of {self.batch} = {self.epochs:.1f} epochs; "
                f"about {_duration(self.seconds)} here")


def plan_training(recipe, examples: int, validation: int, tokens: int, rows: int,
                  parameters: int, method: str) -> Plan:
    """The plan of a run: `recipe` (epochs, min_steps, batch_size, grad_accum, eval_steps,
    early_stopping) over `rows` rows holding `examples` examples and `tokens` tokens."""
    batch = recipe.batch_size * recipe.grad_accum
    steps = recipe.max_steps if recipe.max_steps > 0 else steps_for(
        rows, batch, recipe.epochs, recipe.min_steps)
    every = (recipe.eval_steps or eval_interval(steps)) if validation else 0
    trained = tokens * steps * batch / max(1, rows)
    seconds = estimate_seconds(trained, flops_per_token(parameters, method=method),
                               measured_peak_flops(), on_gpu())
    return Plan(examples, validation, tokens, batch, rows, steps, every,
                recipe.early_stopping if validation else 0, seconds)


def scheduled_trainer(model, recipe: TrainingSettings, plan: Plan, out: Path, train_set, val_set,
                      collator, *, lr: float, scheduler: str, shuffle: bool = True,
                      loss_function=None, lengths: list[int] | None = None):
    """The guarded Trainer running `plan`: its steps, a validation pass every `plan.eval_every`
    steps with the best checkpoint kept, and early stopping after `plan.patience` passes
    without improvement. With `lengths` (rows padded to their batch's longest), batches are
    drawn among rows of like length (measured 2x fewer padding tokens on PhraseBank)."""
    # lazy: transformers takes 0.7 s to import (train/trainer.py imports it and torch)
    from transformers import EarlyStoppingCallback

    from tunewise.train.trainer import guarded_trainer

    stepwise = bool(val_set) and plan.eval_every > 0
    args = training_arguments(out, recipe, lr=lr, epochs=recipe.epochs, scheduler=scheduler,
                              shuffle=shuffle, max_steps=plan.steps,
                              eval_strategy="steps" if stepwise else "no",
                              eval_steps=plan.eval_every if stepwise else None, keep_best=stepwise)
    trainer = guarded_trainer(loss_function, lengths if shuffle else None, model=model, args=args,
                              train_dataset=train_set, eval_dataset=val_set if stepwise else None,
                              data_collator=collator)
    if stepwise and plan.patience:
        trainer.add_callback(EarlyStoppingCallback(early_stopping_patience=plan.patience))
    return trainer


def tuned(recipe, plan: Plan, out: Path, model, trainer_for: Callable,
          say: Callable[[str], None] | None = None):
    """`recipe` with the learning rate among `recipe.tune`'s whose short trial (a quarter of the
    planned steps, at least 20) reaches the lowest validation loss. Each trial trains a copy of
    `model` with `trainer_for(model, recipe, plan, folder)`; results are kept in OUT/tune.json,
    so a rerun (or a resumed run) reads them instead of training again."""
    if not plan.validation:
        raise TrainingError("tuning the learning rate needs a validation part: give --val, or "
                            "val_fraction > 0 with enough examples")
    candidates = tune_rates(recipe)
    record = out / "tune.json"
    done = json.loads(record.read_text()) if record.is_file() else {}
    steps = min(plan.steps, max(20, plan.steps // 4))
    short = dataclasses.replace(plan, steps=steps, eval_every=max(1, steps // 4), patience=0)
    for lr in candidates:
        key = f"{lr:g}"
        if key not in done:
            trial = trainer_for(copy.deepcopy(model), dataclasses.replace(
                recipe, learning_rate=lr, report_to="none"), short, out / "tune" / key)
            trial.train()
            losses = [h["eval_loss"] for h in trial.state.log_history if "eval_loss" in h]
            shutil.rmtree(out / "tune", ignore_errors=True)  # the trial's checkpoints: not needed
            done[key] = min(losses) if losses else math.inf
            out.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps(done, indent=2))
        if say:
            say(f"tune: lr {key}, {steps} steps: best validation loss {done[key]:.4f}")
    best = min(candidates, key=lambda lr: done[f"{lr:g}"])
    if say:
        say(f"tune: training with lr {best:g}")
    return dataclasses.replace(recipe, learning_rate=best)


def record_progress(result, trainer, method: str) -> None:
    """What a finished Trainer leaves in a run's result (finetune.json): steps, training and
    validation losses, tokens, the TensorBoard folder and the speed."""
    history = trainer.state.log_history
    result.steps = trainer.state.global_step
    result.losses = [h["loss"] for h in history if "loss" in h]
    result.val_losses = [h["eval_loss"] for h in history if "eval_loss" in h]
    result.trained_tokens = trainer.trained
    result.logs = logged_to(trainer)
    # LoRA and QLoRA skip the base's weight gradients: 4·N FLOPs a token, not 6·N
    vars(result).update(speed(trainer, result.seconds, result.parameters, method))


def tune_rates(recipe) -> list[float]:
    """`recipe.tune`: "auto" (the recipe's rate ×0.5, ×1, ×2.5) or comma-separated rates."""
    if recipe.tune == "auto":
        return [recipe.lr * f for f in (0.5, 1.0, 2.5)]
    try:
        rates = [float(x) for x in recipe.tune.split(",") if x.strip()]
    except ValueError:
        rates = []
    if not rates or min(rates) <= 0:
        raise TrainingError(f"tune = {recipe.tune!r}: \"auto\" or learning rates such as "
                            "\"1e-4,2e-4,5e-4\"")
    return rates


def training_record(recipe, result, **config) -> str:
    """finetune.json: the recipe (its learning rate resolved: the default, or the one tuning
    picked) and the result, its plan with the sentence printed before training."""
    data = dataclasses.asdict(result)
    if result.plan is not None:
        data["plan"] = result.plan.to_json()
    return json.dumps({"config": {**dataclasses.asdict(recipe), "learning_rate": recipe.lr, **config},
                       "result": data}, indent=2)


def carve(items: Sequence[T], fraction: float, seed: int, least: int = 8,
          most: int = 300) -> tuple[list[T], list[T]]:
    """(training, validation): a seeded share of `items` held out, at most `most`; nothing held
    out when the share would be fewer than `least` items or leave fewer than that to train on."""
    held = min(most, round(len(items) * fraction))
    if fraction <= 0 or held < least or len(items) - held < least:
        return list(items), []
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    chosen = set(order[:held])
    return ([x for i, x in enumerate(items) if i not in chosen],
            [x for i, x in enumerate(items) if i in chosen])


def batch_for(recipe, tokens: int, examples: int, budget: int = 2048, most: int = 16):
    """`recipe` with its batch chosen from the data when it has none (batch_size 0): about
    `budget` tokens a step, 1 to `most` examples — 16 short sentences, one long contract."""
    if recipe.batch_size > 0:
        return recipe
    mean = tokens / max(1, examples)
    return dataclasses.replace(recipe, batch_size=int(max(1, min(most, budget // max(1, mean)))))


def steps_for(rows: int, batch: int, epochs: float, min_steps: int = 0) -> int:
    """Optimizer steps: `epochs` passes over `rows` rows in batches of `batch`, or `min_steps`,
    whichever is more."""
    return max(math.ceil(epochs * rows / max(1, batch)), min_steps, 1)


def eval_interval(steps: int, evaluations: int = 10) -> int:
    """Steps between validation passes: about `evaluations` over the run, at least 5 steps
    apart, and at least one pass (at the end of a short run)."""
    return min(steps, max(5, steps // evaluations))


def estimate_seconds(tokens: float, flops_per_token: float, peak_flops: float,
                     gpu: bool = False) -> float:
    """Training time from its FLOPs and the device's measured matmul peak at the MFU a small
    model reaches there."""
    return tokens * flops_per_token / (peak_flops * (GPU_TRAINING_MFU if gpu else CPU_TRAINING_MFU))


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
