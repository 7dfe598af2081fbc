"""Fine-tuning a causal LM on chat examples, or on the documents themselves (continued
pretraining: the causal LM loss on every token of the raw text) — LoRA (PEFT) or full, with the
transformers Trainer.

The recipe reads top to bottom in `finetune()`: load the data and the base model, encode with the
model's chat template (loss on the answers only), pack, train with checkpoints and per-epoch
validation, then write the adapter, a merged Hugging Face model and a GGUF file, and register
the result as a named model that `ask`, `eval` and the server can use."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from tunewise.config import register_model
from tunewise.data.formats import load_examples
from tunewise.models import hf
from tunewise.train.common import TrainingError, check_resumable, last_checkpoint, load_base, resolve_base
from tunewise.train.corpus import in_validation
from tunewise.train.gguf_export import export_gguf
from tunewise.train.recipe import TrainingSettings, compiling, read_recipe, use_attention
from tunewise.train.schedule import (
    Plan,
    batch_for,
    carve,
    plan_training,
    record_progress,
    scheduled_trainer,
    training_record,
    tuned,
)
from tunewise.train.sequences import IGNORE, Encoded, PackedCollator, PaddedCollator, encode, pack

METHODS = ("lora", "qlora", "full")  # qlora: LoRA over a 4-bit base (bitsandbytes, CUDA)
DEFAULT_LR = {"lora": 2e-4, "qlora": 2e-4, "full": 2e-5}


@dataclass(frozen=True)
class FinetuneRecipe(TrainingSettings):
    """A recipe: the [finetune] table of a recipe TOML (examples/finetune-lora.toml). The
    settings shared with pretraining (batch, steps, warmup, checkpoints …) are TrainingSettings'."""

    base: str = "smollm2"  # the bundled SmolLM2-135M-Instruct, a .gguf file or a model folder
    method: str = "lora"  # lora | qlora (4-bit base: CUDA and bitsandbytes) | full
    epochs: float = 3.0
    max_length: int = 512  # tokens per row; longer examples are cut
    packing: bool = True
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_targets: str = "all-linear"  # or a comma list: q_proj,v_proj
    scheduler: str = "cosine"
    shuffle: bool = True  # False: examples in file order (reproducible across process counts)
    merge: bool = True  # write OUT/merged (LoRA merged into the base)
    gguf: str = "f16"  # OUT/model.gguf from a GGUF base: f16 | q8_0 | f32 | none
    # The schedule (train/schedule.py): `epochs` passes or `min_steps` optimizer steps,
    # whichever is more; without a validation file, `val_fraction` of the training examples is
    # held out, evaluated every `eval_steps` steps (0: about ten times a run), the best
    # checkpoint kept, and training stopped after `early_stopping` evaluations without
    # improvement (0: never).
    min_steps: int = 0
    val_fraction: float = 0.0
    eval_steps: int = 0
    early_stopping: int = 0
    # pick the learning rate on the validation part first: "auto" (the default rate ×0.5, ×1,
    # ×2.5) or "1e-4,2e-4,5e-4"; each a short trial (a quarter of the steps); "": off
    tune: str = ""

    @property
    def lr(self) -> float:
        return self.learning_rate if self.learning_rate is not None else DEFAULT_LR[self.method]


def load_recipe(path: str | Path | None, **overrides) -> FinetuneRecipe:
    """The recipe file's [finetune] table, then `overrides` (None values ignored)."""
    recipe = read_recipe(FinetuneRecipe, "finetune", path, **overrides)
    if recipe.method not in METHODS:
        raise TrainingError(f"unknown method {recipe.method!r}; valid: {', '.join(METHODS)}")
    return recipe


@dataclass
class FinetuneResult:
    out: str
    name: str | None = None
    adapter: str | None = None
    merged: str | None = None
    gguf: str | None = None
    examples: int = 0
    truncated: int = 0
    rows: int = 0
    steps: int = 0
    objective: str = "instructions"  # instructions (answers carry the loss) | documents (all text)
    losses: list[float] = field(default_factory=list)  # logged training losses, in order
    val_losses: list[float] = field(default_factory=list)  # one per validation pass
    logs: str | None = None  # TensorBoard event files: `tensorboard --logdir LOGS`
    tokens: int = 0  # real (non-padding) tokens trained on in this process
    trained_tokens: int = 0  # of which carried loss (the answers)
    seconds: float = 0.0
    tokens_per_s: float = 0.0  # over the whole run, compilation included
    steady_tokens_per_s: float | None = None  # after the first steps
    parameters: int = 0  # of the base model
    mfu: float = 0.0  # of the steady (else whole-run) rate: 6·N FLOPs a token (4·N for LoRA)
    peak_flops: float = 0.0  # the device's measured matmul FLOP/s, the MFU denominator
    peak_memory_mb: float = 0.0
    plan: Plan | None = None  # what the schedule planned (examples, tokens, steps, time)
    # embedding rows trained beside LoRA: the special tokens the answers carry (the end of a
    # turn) — a base model never learned to emit them, and LoRA alone cannot reach their rows
    token_rows: list[int] = field(default_factory=list)


def finetune(data: str | Path | None, out: str | Path, recipe: FinetuneRecipe,
             val: str | Path | None = None, model=None, tokenizer=None,
             documents: Iterable[str] | None = None,
             say: Callable[[str], None] | None = None) -> FinetuneResult:
    """Train on `data` (any instruction format), validate on `val` (or on a part carved from
    `data`: `recipe.val_fraction`), write OUT; or, given `documents` (texts) instead, continue
    pretraining on them. The plan (examples, tokens, steps, time) goes to `say` before training.
    An OUT that holds checkpoints resumes from the last one. `model`/`tokenizer` replace loading
    `recipe.base` (tests pass a tiny random model)."""
    out = Path(out)
    result = FinetuneResult(str(out))
    if (data is None) == (documents is None):
        raise TrainingError("fine-tune on instruction data or on documents: give one of them")
    gguf_source = None
    if model is None:
        model, tokenizer, gguf_source = load_base(recipe.base, quantized=recipe.method == "qlora")
    if documents is not None:
        result.objective = "documents"
        train_set, val_set, result.examples = text_blocks(documents, tokenizer, recipe.max_length)
        recipe = dataclasses.replace(recipe, packing=True)  # one block a row, full length
        tokens = sum(len(row[0]) for row in train_set)
    else:
        train_examples = load_examples(data).examples
        val_examples = load_examples(val).examples if val else []
        if not val_examples:
            train_examples, val_examples = carve(train_examples, recipe.val_fraction, recipe.seed)
        train_set, result.examples, result.truncated = _encode(train_examples, tokenizer, recipe)
        if recipe.method in ("lora", "qlora"):
            result.token_rows = special_labels(train_set, tokenizer)
        val_set = _encode(val_examples, tokenizer, recipe)[0] if val_examples else None
        tokens = sum(len(e) for e in train_set)
        if recipe.packing:
            train_set = pack(train_set, recipe.max_length)
            val_set = pack(val_set, recipe.max_length) if val_set else None
    recipe = batch_for(recipe, tokens, result.examples)
    result.rows = len(train_set)
    result.parameters = sum(p.numel() for p in model.parameters())
    result.plan = plan_training(recipe, result.examples, len(val_set or []), tokens, result.rows,
                                result.parameters, "full" if recipe.method == "full" else "lora")
    if say:
        say(f"plan: {result.plan.describe()}")
    check_resumable(out, model.config, recipe.method)
    model.config.use_cache = False  # a KV cache would also disable the packed-sequence mask
    use_attention(model, recipe)

    def trainer_for(model, recipe: FinetuneRecipe, plan: Plan, folder: Path):
        if recipe.method in ("lora", "qlora"):
            model = with_lora(model, recipe, token_rows=result.token_rows)
        return _trainer(model, tokenizer, train_set, val_set, folder, recipe, plan)

    if recipe.tune:
        recipe = tuned(recipe, result.plan, out, model, trainer_for, say)
    trainer = trainer_for(model, recipe, result.plan, out)
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=last_checkpoint(out) is not None)
    result.seconds = time.perf_counter() - started
    record_progress(result, trainer, "full" if recipe.method == "full" else "lora")
    if trainer.is_world_process_zero():
        _write_outputs(trainer.model, tokenizer, out, recipe, gguf_source, result)
    return result


def text_blocks(documents: Iterable[str], tokenizer, length: int, val_fraction: float = 0.05
                ) -> tuple[list[list[Encoded]], list[list[Encoded]] | None, int]:
    """(training rows, validation rows or None, documents): every document's tokens followed by
    the end-of-text token, concatenated and cut into rows of `length` that carry loss on every
    token, as pretraining does. Documents go to validation by a hash of their text (the same rule
    as pretraining's), once there are 20 or more; a last row shorter than `length` is kept."""
    texts = [t for t in documents if t.strip()]
    if not texts:
        raise TrainingError("no document text to train on")
    held = [in_validation(t, val_fraction) for t in texts] if len(texts) >= 20 else [False] * len(texts)
    end = [] if tokenizer.eos_token_id is None else [tokenizer.eos_token_id]
    streams: dict[bool, list[int]] = {False: [], True: []}
    for text, is_val in zip(texts, held):
        streams[is_val] += tokenizer(text, add_special_tokens=False)["input_ids"] + end

    def rows(ids: list[int]) -> list[list[Encoded]]:
        return [[Encoded(ids[i:i + length], ids[i:i + length])] for i in range(0, len(ids), length)
                if len(ids[i:i + length]) > 1]

    return rows(streams[False]), rows(streams[True]) or None, len(texts)


def count_tokens(data: str | Path, base: str, max_length: int) -> tuple[int, float]:
    """(examples, mean tokens an example) of a data file as `base`'s chat template and tokenizer
    render them, each cut at `max_length`: what a plan's token count rests on."""
    loaded = load_examples(data)
    if not loaded.examples:
        raise TrainingError(f"{data}: no valid example to count")
    tokenizer = hf.load_tokenizer(resolve_base(base))
    lengths = [min(len(tokenizer(tokenizer.apply_chat_template(e.chat(), tokenize=False),
                                 add_special_tokens=False)["input_ids"]), max_length)
               for e in loaded.examples]
    return len(lengths), sum(lengths) / len(lengths)


def _encode(examples, tokenizer, recipe: FinetuneRecipe) -> tuple[list[Encoded], int, int]:
    encoded, truncated = [], 0
    for e in examples:
        full = encode(tokenizer, e.chat(), 10**9)
        truncated += len(full) > recipe.max_length
        cut = Encoded(full.input_ids[: recipe.max_length], full.labels[: recipe.max_length])
        if cut.trained_tokens:  # an answer cut off entirely teaches nothing
            encoded.append(cut)
    if not encoded:
        raise TrainingError("no example has answer tokens within max_length "
                            f"{recipe.max_length}: raise max_length")
    return encoded, len(encoded), truncated


def special_labels(examples: list[Encoded], tokenizer) -> list[int]:
    """The special tokens (the chat template's, e.g. Gemma's `<end_of_turn>`) that the answers'
    labels hold: their embedding rows must be trained too, or a model whose pretraining never
    ended a turn can learn where an answer ends but not to say so — it writes a look-alike
    token of the same neighbourhood and runs on to max_tokens."""
    special = {i for i, t in tokenizer.added_tokens_decoder.items() if t.special}
    special |= set(tokenizer.all_special_ids)
    return sorted({t for e in examples for t in e.labels if t in special})


def with_lora(model, recipe: FinetuneRecipe, task_type: str = "CAUSAL_LM",
              token_rows: list[int] | None = None):
    """`model` with LoRA adapters of `recipe` (SEQ_CLS: peft also trains the new head in full)
    and, with `token_rows`, those rows of the (tied) embeddings trained beside them."""
    # lazy: peft takes 3.9 s to import
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if recipe.method == "qlora":
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=recipe.gradient_checkpointing)
    targets = recipe.lora_targets if recipe.lora_targets == "all-linear" else [
        t.strip() for t in recipe.lora_targets.split(",") if t.strip()]
    return get_peft_model(model, LoraConfig(
        r=recipe.lora_r, lora_alpha=recipe.lora_alpha, lora_dropout=recipe.lora_dropout,
        target_modules=targets, task_type=task_type, trainable_token_indices=token_rows or None))


def _trainer(model, tokenizer, train_set, val_set, out: Path, recipe: FinetuneRecipe, plan: Plan):
    # compiled, every batch has one shape (rows of max_length, a short last batch filled with
    # rows that carry no loss), so the graph is compiled once, not again at every epoch's end
    shape = (recipe.max_length, recipe.batch_size) if compiling(recipe) else (None, None)
    collator = (PackedCollator if recipe.packing else PaddedCollator)(tokenizer.pad_token_id, *shape)
    return scheduled_trainer(model, recipe, plan, out, train_set, val_set, _Counting(collator),
                             lr=recipe.lr, scheduler=recipe.scheduler, shuffle=recipe.shuffle,
                             loss_function=answer_loss if answers_only_logits() else None,
                             lengths=None if recipe.packing else [len(e) for e in train_set])


def answers_only_logits() -> bool:
    """Whether this transformers takes a (batch, position) mask for `logits_to_keep`."""
    # lazy: transformers takes 0.7 s to import
    from transformers import modeling_utils

    return hasattr(modeling_utils, "slice_logits_to_keep")


def answer_loss(model, inputs: dict, items=None):
    """The causal-LM loss of the tokens that carry a label, with logits computed only at the
    positions that predict them (summed over `items` tokens when given, else the batch's mean).
    The vocabulary projection of every other position is work that teaches nothing: for a short
    answer after a prompt that is most of a step (SmolLM2's 49k-word head, Gemma 3's 262k)."""
    # lazy: torch takes 1.5 s to import
    import torch

    labels = inputs.pop("labels")
    keep = torch.zeros_like(labels, dtype=torch.bool)  # (B, T): position t predicts label t+1
    keep[:, :-1] = labels[:, 1:] != IGNORE
    outputs = model(**inputs, logits_to_keep=keep)  # logits: (kept positions, vocabulary)
    targets = labels[:, 1:][keep[:, :-1]]
    loss = torch.nn.functional.cross_entropy(outputs.logits.float(), targets, reduction="sum")
    # `items`: the target tokens of the whole step (all accumulated batches and processes), as
    # the Trainer counts them; else this batch's mean
    return loss / (items if items is not None else max(1, targets.numel())), outputs


class _Counting:
    """Adds the batch's real (non-padding) and loss-carrying token counts for the statistics."""

    def __init__(self, collate):
        self.collate = collate

    def __call__(self, items) -> dict:
        batch = self.collate(items)
        rows = items if isinstance(items[0], list) else [[e] for e in items]
        batch["_tokens"] = sum(len(e) for row in rows for e in row)
        batch["_trained"] = sum(e.trained_tokens for row in rows for e in row)
        return batch


def _write_outputs(model, tokenizer, out: Path, recipe: FinetuneRecipe, gguf_source,
                   result: FinetuneResult) -> None:
    if recipe.method in ("lora", "qlora"):
        model.save_pretrained(out / "adapter")
        tokenizer.save_pretrained(out / "adapter")
        result.adapter = str(out / "adapter")
        if recipe.method == "qlora" and recipe.merge:  # merge into the unquantized base
            # lazy: peft takes 3.9 s to import
            from peft import PeftModel

            model = PeftModel.from_pretrained(load_base(recipe.base)[0], out / "adapter")
        model = model.merge_and_unload() if recipe.merge else None
    if model is not None:
        model.config.use_cache = True
        model.save_pretrained(out / "merged", safe_serialization=True)
        tokenizer.save_pretrained(out / "merged")
        result.merged = str(out / "merged")
    if model is not None and gguf_source is not None and recipe.gguf != "none":
        result.gguf = str(export_gguf(model, gguf_source, out / "model.gguf", recipe.gguf))
    served = result.gguf or result.merged
    if served:
        result.name = recipe.name or f"ft-{out.resolve().name}"
        register_model(result.name, served)
    (out / "finetune.json").write_text(training_record(recipe, result))
