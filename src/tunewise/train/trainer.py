"""The Trainer every training run uses: transformers' Trainer that stops at the first non-finite
loss, counts real and trained tokens, batches rows of like length, and logs tokens/s. This module
imports torch and transformers (about 2 s): the training modules import it when they train."""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch
from transformers import Trainer, TrainerCallback

from tunewise.train.common import TrainingError, last_checkpoint, logs_folder


class Guarded(Trainer):
    """The Trainer, stopping at the first non-finite loss so that the last checkpoint stays
    the last good one; and counting the tokens that collators report as `_tokens` (real, not
    padding) and `_trained` (carrying loss).

    Reading a GPU's loss on the host every step would stall the GPU's queue, so there the
    first bad step is kept on the device and checked whenever the Trainer is about to log,
    evaluate, save or stop — before any checkpoint is written. On a CPU it is checked every
    step, before the optimizer applies it."""

    tokens = trained = 0
    _first_bad = _bad_loss = None
    # (model, inputs, items) -> (loss, outputs): replaces the model's own loss; the loss is
    # summed over the step's `items` target tokens when given, else a mean over the batch
    loss_function = None
    lengths = None  # each training row's tokens: batches of like lengths, little padding

    def _get_train_sampler(self, *args, **kwargs):
        if self.lengths is None:
            return super()._get_train_sampler(*args, **kwargs)
        # lazy: transformers takes 0.7 s to import
        from transformers.trainer_pt_utils import LengthGroupedSampler

        # random megabatches of 50 batches, each sorted by length: batches stay random, but a
        # batch of 16 sentences pads to ~its own length, not to the longest of the set
        return LengthGroupedSampler(self.args.train_batch_size * self.args.gradient_accumulation_steps,
                                    lengths=self.lengths)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        tokens, trained = inputs.pop("_tokens", 0), inputs.pop("_trained", 0)
        if model.training:
            self.tokens += tokens
            self.trained += trained
        if self.loss_function is None:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        # as the Trainer does for a model's own loss: summed over the tokens of the whole
        # step (every accumulated batch, every process) and scaled up by the processes,
        # whose gradients DDP averages — so 2 processes train exactly as 1
        loss, outputs = self.loss_function(model, inputs, num_items_in_batch)
        if num_items_in_batch is not None and self.args.average_tokens_across_devices:
            loss = loss * self.accelerator.num_processes
        return (loss, outputs) if return_outputs else loss

    def training_step(self, model, inputs, *args, **kwargs):
        loss = super().training_step(model, inputs, *args, **kwargs)
        step = self.state.global_step + 1
        value = loss.detach().float()
        if value.device.type == "cpu":
            if not math.isfinite(float(value)):
                self._stop(float(value), step, "before applying it")
            return loss
        if self._first_bad is None:
            self._first_bad = torch.full((), -1, dtype=torch.long, device=value.device)
            self._bad_loss = torch.zeros((), device=value.device)
        first = ~torch.isfinite(value) & (self._first_bad < 0)
        self._first_bad = torch.where(first, step, self._first_bad)
        self._bad_loss = torch.where(first, value, self._bad_loss)
        return loss

    def check_finite(self) -> None:
        if self._first_bad is not None and int(self._first_bad) >= 0:  # one host sync
            self._stop(float(self._bad_loss), int(self._first_bad), "before saving it")

    def _stop(self, loss: float, step: int, when: str) -> None:
        last = last_checkpoint(Path(self.args.output_dir).parent)
        kept = f"the last good checkpoint is {last}" if last else "no checkpoint was written yet"
        raise TrainingError(f"the loss became {loss} at step {step}: stopped {when}; {kept}. "
                            "Lower learning_rate and run again to resume.")

class Throughput(TrainerCallback):
    """Adds tokens/s since the last log to each log, before the integrations write it."""

    def __init__(self, trainer: Guarded):
        self.trainer, self.last = trainer, None

    def on_log(self, args, state, control, logs=None, **kw):
        now = (time.perf_counter(), self.trainer.tokens)
        if logs is not None and "loss" in logs and self.last is not None and now[0] > self.last[0]:
            logs["tokens_per_s"] = (now[1] - self.last[1]) / (now[0] - self.last[0])
        self.last = now

    def on_train_begin(self, args, state, control, **kw):
        self.last = (time.perf_counter(), self.trainer.tokens)

class Checks(TrainerCallback):
    """Runs the device-side loss check at the steps where the Trainer syncs anyway, and
    times the steady state (after the first steps, which include compiling) for tokens/s."""

    def __init__(self, trainer: Guarded):
        self.trainer, self.started = trainer, None

    def on_train_begin(self, args, state, control, **kw):
        self.warm = state.global_step + min(10, max(1, (state.max_steps - state.global_step) // 5))

    def on_step_end(self, args, state, control, **kw):
        if (control.should_log or control.should_save or control.should_evaluate
                or control.should_training_stop or state.global_step >= state.max_steps):
            self.trainer.check_finite()
        if state.global_step == self.warm:
            _synchronize()
            self.started, self.tokens = time.perf_counter(), self.trainer.tokens

    def on_train_end(self, args, state, control, **kw):
        self.trainer.check_finite()
        if self.started is not None:
            _synchronize()
            seconds = time.perf_counter() - self.started
            self.trainer.steady_tokens_per_s = (self.trainer.tokens - self.tokens) / seconds


class TimeLimit(TrainerCallback):
    """Stop training (with a checkpoint) once `minutes` of training have passed."""

    def __init__(self, minutes: float):
        self.limit, self.started = minutes * 60, None

    def on_train_begin(self, args, state, control, **kw):
        self.started = time.perf_counter()

    def on_step_end(self, args, state, control, **kw):
        if time.perf_counter() - self.started >= self.limit:
            control.should_training_stop = control.should_save = True


def _synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def guarded_trainer(loss_function=None, lengths=None, **kwargs):
    """A transformers Trainer with the guard above (`Guarded`) and its callbacks;
    `trainer.steady_tokens_per_s` is set at the end when the run was long enough to time.
    `loss_function(model, inputs, items) -> (loss, outputs)` replaces the model's own loss;
    `lengths` (each training row's tokens) batches rows of like length."""
    trainer = Guarded(**kwargs)
    trainer.loss_function = loss_function
    trainer.lengths = lengths
    trainer.steady_tokens_per_s = None
    trainer.add_callback(Checks(trainer))
    trainer.callback_handler.callbacks.insert(0, Throughput(trainer))  # before the writers
    for callback in trainer.callback_handler.callbacks:
        if type(callback).__name__ == "TensorBoardCallback" and callback.logging_dir is None:
            callback.logging_dir = str(logs_folder(Path(trainer.args.output_dir).parent))
    return trainer
