"""Fine-tuning an LLM as a classifier: the base model with a linear head on the hidden state of a
text's last token (transformers' sequence-classification models — LlamaForSequenceClassification,
Gemma3TextForSequenceClassification — through AutoModelForSequenceClassification), LoRA (the new
head trained in full) or full, by the same guarded Trainer, schedule and validation part as the
generative fine-tune. One forward a text and no decoding: the label is the argmax, and a softmax
gives every label's probability.

OUT/merged is a plain transformers folder — weights, tokenizer and the label names in its
config (id2label) — that `AutoModelForSequenceClassification.from_pretrained(OUT/merged)` loads
without tunewise; OUT/finetune.json records the recipe, plan and result as the generative
fine-tune's does (the cost model prices it from there)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from tunewise.models import hf
from tunewise.models.base import ModelError
from tunewise.train.common import TrainingError, check_resumable, last_checkpoint, resolve_base
from tunewise.train.finetune import FinetuneRecipe, with_lora
from tunewise.train.recipe import use_attention
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

MERGED = "merged"


@dataclass
class HeadResult:
    out: str
    labels: list[str]
    examples: int = 0
    truncated: int = 0
    steps: int = 0
    losses: list[float] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)
    logs: str | None = None
    tokens: int = 0
    trained_tokens: int = 0  # one a text: the label is the only target
    seconds: float = 0.0
    tokens_per_s: float = 0.0
    steady_tokens_per_s: float | None = None
    parameters: int = 0
    mfu: float = 0.0
    peak_flops: float = 0.0
    peak_memory_mb: float = 0.0
    plan: Plan | None = None
    objective: str = "classify"


def train_head(examples: Sequence[tuple[str, str]], labels: Sequence[str], out: str | Path,
               recipe: FinetuneRecipe, val: Sequence[tuple[str, str]] = (), model=None,
               tokenizer=None, say: Callable[[str], None] | None = None) -> HeadResult:
    """Fine-tune `recipe.base` with a classification head on (text, label) `examples`; validate
    on `val` or on `recipe.val_fraction` of the examples; write OUT. A label outside `labels`, or
    fewer examples than a batch, is refused before anything loads; an OUT with checkpoints
    resumes. `model`/`tokenizer` replace loading the base (tests pass a tiny random model)."""
    out, labels = Path(out), list(labels)
    _check_labels(examples, labels)
    if model is None:
        model, tokenizer = load_classifier(recipe.base, labels)
    if not val:
        examples, val = carve(examples, recipe.val_fraction, recipe.seed)
    result = HeadResult(str(out), labels)
    train_set, result.examples, result.truncated = _encode(examples, labels, tokenizer, recipe)
    val_set = _encode(val, labels, tokenizer, recipe)[0] if val else None
    recipe = batch_for(recipe, sum(len(e[0]) for e in train_set), result.examples)
    if result.examples < recipe.batch_size:
        raise TrainingError(f"{result.examples} examples are fewer than a batch of "
                            f"{recipe.batch_size}: lower batch_size or add examples")
    model.config.pad_token_id = tokenizer.pad_token_id  # the head reads the last non-pad token
    model.config.use_cache = False
    result.parameters = sum(p.numel() for p in model.parameters())
    method = "full" if recipe.method == "full" else "lora"
    result.plan = plan_training(recipe, result.examples, len(val_set or []),
                                sum(len(e[0]) for e in train_set), len(train_set),
                                result.parameters, method)
    if say:
        say(f"plan: {result.plan.describe()}")
    check_resumable(out, model.config, recipe.method)
    use_attention(model, recipe)

    def trainer_for(model, recipe: FinetuneRecipe, plan: Plan, folder: Path):
        model = with_lora(model, recipe, "SEQ_CLS") if recipe.method != "full" else model
        return scheduled_trainer(model, recipe, plan, folder, train_set, val_set,
                                 _Collator(tokenizer.pad_token_id), lr=recipe.lr,
                                 scheduler=recipe.scheduler, shuffle=recipe.shuffle,
                                 lengths=[len(x) for x, _ in train_set])

    if recipe.tune:
        recipe = tuned(recipe, result.plan, out, model, trainer_for, say)
    trainer = trainer_for(model, recipe, result.plan, out)
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=last_checkpoint(out) is not None)
    result.seconds = time.perf_counter() - started
    record_progress(result, trainer, method)
    if trainer.is_world_process_zero():
        merged = trainer.model.merge_and_unload() if recipe.method != "full" else trainer.model
        merged.config.use_cache = True
        merged.save_pretrained(out / MERGED, safe_serialization=True)
        tokenizer.save_pretrained(out / MERGED)
        (out / "finetune.json").write_text(training_record(recipe, result, objective="classify"))
    return result


def load_classifier(base: str, labels: Sequence[str]):
    """(model, tokenizer): `base` (bundled name, .gguf file or model folder) with a new head of
    `labels`, float32 and trainable; a base transformers cannot read is one line."""
    path = resolve_base(base)
    try:
        tokenizer = hf.load_tokenizer(path)
        model = hf.load_sequence_classifier(path, labels, trainable=True)
    except ModelError as exc:
        raise TrainingError(f"cannot load base model: {exc}") from None
    return model, tokenizer


class HeadClassifier:
    """A trained head, loaded from OUT (or OUT/merged): `predict` labels and `probabilities`."""

    def __init__(self, model, tokenizer, max_length: int = 512):
        self.model, self.tokenizer, self.max_length = model.eval(), tokenizer, max_length
        self.labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        self.seconds = 0.0

    @classmethod
    def load(cls, folder: str | Path) -> "HeadClassifier":
        folder = Path(folder)
        folder = folder / MERGED if (folder / MERGED).is_dir() else folder
        try:
            tokenizer = hf.load_tokenizer(folder)
            model = hf.load_sequence_classifier(folder)
        except ModelError as exc:
            raise TrainingError(f"cannot load the classifier in {folder}: {exc}") from None
        record = folder.parent / "finetune.json"
        saved = json.loads(record.read_text()) if record.is_file() else {}
        classifier = cls(model, tokenizer, saved.get("config", {}).get("max_length", 512))
        classifier.seconds = saved.get("result", {}).get("seconds", 0.0)  # what training took
        return classifier

    @staticmethod
    def saved(folder: str | Path) -> bool:
        return (Path(folder) / MERGED / "config.json").is_file() and (
            Path(folder) / "finetune.json").is_file()

    def probabilities(self, texts: Sequence[str], batch_size: int = 16) -> list[dict[str, float]]:
        """Each text's probability of every label, one forward pass a batch."""
        # lazy: torch takes 1.5 s to import
        import torch

        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                batch = self.tokenizer(list(texts[start:start + batch_size]), truncation=True,
                                       max_length=self.max_length, padding=True,
                                       return_tensors="pt")
                p = self.model(**batch).logits.float().softmax(-1)  # (B, labels)
                out += [dict(zip(self.labels, row)) for row in p.tolist()]
        return out

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [max(p, key=p.get) for p in self.probabilities(texts)]

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        ids = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)["input_ids"]
        return [len(x) for x in ids]


def _check_labels(examples, labels: list[str]) -> None:
    if len(labels) < 2:
        raise TrainingError(f"a classification head needs at least two labels; got {labels}")
    unknown = sorted({str(y) for _, y in examples} - set(labels))
    if unknown:
        raise TrainingError(f"labels {unknown} are not among the head's {labels}")


def _encode(examples, labels: list[str], tokenizer, recipe: FinetuneRecipe):
    """[(token ids, label index)], examples, how many were cut to max_length."""
    index = {x: i for i, x in enumerate(labels)}
    ids = tokenizer([t for t, _ in examples], add_special_tokens=True)["input_ids"]
    encoded = [(x[:recipe.max_length], index[str(y)]) for x, (_, y) in zip(ids, examples) if x]
    return encoded, len(encoded), sum(len(x) > recipe.max_length for x in ids)


class _Collator:
    """(ids, label) pairs → a right-padded batch, with the real-token count for the statistics."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, items) -> dict:
        # lazy: torch takes 1.5 s to import
        import torch

        width = max(len(x) for x, _ in items)
        return {"input_ids": torch.tensor([x + [self.pad_id] * (width - len(x)) for x, _ in items]),
                "attention_mask": torch.tensor([[1] * len(x) + [0] * (width - len(x))
                                                for x, _ in items]),
                "labels": torch.tensor([y for _, y in items]),
                "_tokens": sum(len(x) for x, _ in items), "_trained": len(items)}
