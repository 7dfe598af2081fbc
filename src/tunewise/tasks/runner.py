"""Task runs: every system predicts every test item of a task set; each prediction is appended to
RUN/records.jsonl as soon as it exists (the same file, manifest and resume rules as question
runs, so `eval summary` and `report` read both).

Systems of a task run (systems.py parses them):
- a prompted model, `MODEL` (zero-shot) or `MODEL:shots=4` (the 4 training examples nearest to
  the input by embedding — retrieval applied to labelled examples); output constrained to the
  task's JSON schema where the backend can (llama.cpp grammar, OpenAI `response_format`) and
  parsed strictly: an unparseable answer is a counted failure;
- `encoder` / `encoder:frozen` (classify): the bundled embedder fine-tuned as a classifier;
- `finetune:lora` / `finetune:full`: an LLM (SmolLM2, or `:base=gemma3` …) fine-tuned on the
  training part with a short prompt (`tasks.base.brief_messages`), then asked with it;
- `finetune:head` / `finetune:head-full` (classify): the LLM with a classification head on its
  last token (train/head.py), one forward a text, no decoding;
- `baseline:NAME`: the task's no-model baselines.
With `train_sizes`, each trainable system is also trained on seeded nested subsets of the
training part and recorded as `SYSTEM@N`: the learning curve."""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from tunewise.config import ModelSettings
from tunewise.data.formats import Example, write_examples
from tunewise.evaluate.runner import (
    RECORDS,
    EvalError,
    FailureStreak,
    RecordWriter,
    RunReport,
    load_records,
    write_manifest,
)
from tunewise.models import make_model
from tunewise.models.base import ModelError
from tunewise.parts import Parts
from tunewise.systems import SIZE, TRAINED_FOLDER, System
from tunewise.tasks import task_named
from tunewise.tasks.base import Item, ParseError, TaskSpec, brief_messages
from tunewise.tasks.encoder import EncoderClassifier, EncoderRecipe
from tunewise.train.common import TrainingError, resolve_base
from tunewise.train.finetune import FinetuneRecipe, finetune, load_recipe
from tunewise.train.head import HeadClassifier, train_head

ALL = -1  # a train size: the whole training part


@dataclass(frozen=True)
class TaskOptions:
    max_tokens: int | None = None  # answer budget; None: the task's own
    max_input_tokens: int = 1536  # what a prompted model reads of one input (and its examples)
    # examples each learning system is trained on (ALL: the whole training part); one run per size
    train_sizes: tuple[int, ...] = (-1,)
    seed: int = 0
    instruction: str = ""  # added to the task's instruction
    finetune_epochs: float = 2.0
    finetune_min_steps: int = 100  # an LLM fine-tune's floor of optimizer steps (small sets)
    finetune_lr: float | None = None  # None: the method's default (LoRA 2e-4, full 2e-5)
    finetune_tune: str = ""  # "auto" or "1e-4,2e-4": the rate picked on the validation part
    encoder_epochs: int = 4
    train_file: str = ""  # where the training part was read from (kept in run.json for serving)
    teacher: str = ""  # the model whose labels the training part holds (`data label`), if one
    labelling_cost: float | None = None  # what those labels cost, US$ (None: no price)


def digest(items: list[Item]) -> str:
    h = hashlib.sha256()
    for i in items:
        h.update(json.dumps([i.id, i.text, i.gold], sort_keys=True).encode())
    return h.hexdigest()[:16]


def subsets(train: list[Item], sizes: tuple[int, ...], seed: int) -> dict[int, list[Item]]:
    """Nested seeded subsets {size: items}: each size's items include the smaller ones'; ALL (or
    a size beyond the training part) is the whole training part."""
    order = list(train)
    random.Random(seed).shuffle(order)
    wanted = sorted({len(train) if n == ALL or n >= len(train) else n for n in sizes if n})
    return {n: (list(train) if n == len(train) else order[:n]) for n in wanted}


def run_task(ws: Parts, task_name: str, systems: list[System], train: list[Item], test: list[Item],
             out: str | Path, options: TaskOptions = TaskOptions(),
             on_record: Callable[[dict], None] | None = None,
             on_status: Callable[[str], None] | None = None) -> RunReport:
    """Predict every test item with every system into OUT, resuming what OUT holds."""
    task = task_named(task_name)
    out = Path(out)
    spec = task.spec(train + test, options.instruction)
    _check_systems(task, spec, systems, train, test)
    _check_manifest(out, task_name, spec, train, test, options)
    done = load_records(out)
    writer = RecordWriter(out / RECORDS)
    counts = {"answered": 0, "judged": 0, "skipped": 0, "failed": 0}
    say = on_status or (lambda _: None)
    runner = Predictors(ws, task, spec, train, out, options, say)
    try:
        for system in systems:
            sizes = subsets(train, options.train_sizes, options.seed) if learns(task, system) \
                else {len(train): train}
            for n, part in sizes.items():
                name = system.name if n == len(train) else f"{system.name}{SIZE}{n}"
                todo = [i for i in test if (prev := done.get((name, i.id))) is None
                        or prev.get("error")]
                counts["skipped"] += len(test) - len(todo)
                if on_record:
                    for _ in range(len(test) - len(todo)):
                        on_record({})
                if not todo:
                    continue
                predict, streak = runner.predictor(system, name, part), FailureStreak(name)
                for record in predict(todo):
                    record = {"system": name, "train_size": n, **_record_base(task_name, record)}
                    writer.write(record)
                    counts["failed" if record.get("error") else "answered"] += 1
                    if on_record:
                        on_record(record)
                    streak.add(record)
    finally:
        writer.close()
    return RunReport(**counts)


def learns(task, system: System) -> bool:
    """Whether `system` is fitted to the training part (a learning-curve point per train size):
    a trained system, or a baseline that learns (TF-IDF), not one that only counts."""
    if system.baseline:
        return any(b.name == system.baseline and b.learns for b in task.baselines)
    return bool(system.trained)


def _check_systems(task, spec: TaskSpec, systems: list[System], train: list[Item],
                   test: list[Item]) -> None:
    """Every system fits the task before anything runs (not after an hour of training)."""
    baselines = [b.name for b in task.baselines]
    unseen = sorted({str(i.gold) for i in test} - {str(i.gold) for i in train}) if spec.labels else []
    for s in systems:
        if s.base:
            try:
                resolve_base(s.base)
            except TrainingError as exc:
                raise EvalError(f"{s.name}: {exc}") from None
        if unseen and s.trained.startswith(("encoder", "head")):
            raise EvalError(f"{s.name}: the test part has labels no training example shows "
                            f"({', '.join(unseen)}): a classifier cannot learn them")
        if s.baseline and s.baseline not in baselines:
            raise EvalError(f"{s.name}: not a baseline of the {task.name} task; valid: "
                            + ", ".join(f"baseline:{b}" for b in baselines))
        if s.trained.startswith(("encoder", "head")) and not spec.labels:
            what = "the encoder" if s.trained.startswith("encoder") else "a classification head"
            raise EvalError(f"{s.name}: {what} classifies; the {task.name} task has no labels")
        if s.rag:
            raise EvalError(f"{s.name}: task runs read each item's own text; drop '+rag'")
        if s.examples and not Path(s.examples).is_file():
            raise EvalError(f"{s.name}: examples={s.examples}: no such file")


def _record_base(task_name: str, fields: dict) -> dict:
    """A task record carries the fields question runs have, so shared code reads both."""
    return {"task": task_name, "rag": False, "k": 0, "doc_ids": [], "answers": [], "choices": [],
            "unanswerable": False, "abstained": False, "retrieved": [], "sources": [],
            "first_token_s": None, "retrieval_s": 0.0, **fields}


class Predictors:
    """Makes the predict function of each system: (items) -> records, training what must be
    trained first (into RUN/trained/NAME, reused on resume)."""

    def __init__(self, ws: Parts, task, spec: TaskSpec, train: list[Item], out: Path,
                 options: TaskOptions, say: Callable[[str], None]):
        self.ws, self.task, self.spec, self.train = ws, task, spec, train
        self.out, self.options, self.say = out, options, say
        self._pools: dict[str, tuple[list[Item], np.ndarray]] = {}  # shots' examples, embedded

    def predictor(self, system: System, name: str, part: list[Item]):
        if system.baseline:
            return self._baseline(system, part)
        if system.trained in ("encoder", "encoder-frozen"):
            return self._encoder(system, name, part)
        if system.trained.startswith("head"):
            return self._head(system, name, part)
        if system.trained:
            model = self._finetuned(system, name, part)
            return self._prompted(model, 0, brief=True)
        return self._prompted(self.ws.model(system.model), system.shots or 0, system.view,
                              examples=system.examples)

    # --- no model -------------------------------------------------------------------------------
    def _baseline(self, system: System, part: list[Item]):
        baseline = next(b for b in self.task.baselines if b.name == system.baseline)
        self.say(f"fitting {system.name} on {len(part)} examples")
        state = baseline.fit(part, self.spec)

        def predict(items: list[Item]):
            for item in items:
                started = time.perf_counter()
                value = baseline.predict(state, item)
                yield self._scored(item, self.task.answer_text(self.spec, value), value, None,
                                   time.perf_counter() - started)
        return predict

    # --- prompted models --------------------------------------------------------------------------
    def _prompted(self, model, shots: int, how: str = "", brief: bool = False,
                  examples: str = ""):
        schema = self.task.schema(self.spec)
        structured = schema is not None and getattr(model.capabilities, "structured", False)
        budget = self.options.max_tokens or self.task.answer_tokens

        def predict(items: list[Item]):
            for item in items:
                messages = self._messages(model, item, self._shots(item, shots, examples), how,
                                          brief)
                try:
                    gen = (model.generate(messages, budget, schema=schema) if structured
                           else model.generate(messages, budget))
                except ModelError as exc:
                    yield {"question_id": item.id, "question": item.id, "error": str(exc)}
                    continue
                try:
                    parsed, problem = self.task.parse(self.spec, gen.text), None
                except ParseError as exc:
                    parsed, problem = None, str(exc)
                yield {**self._scored(item, gen.text, parsed, problem, gen.latency_s),
                       "prompt_tokens": gen.usage.prompt_tokens,
                       "completion_tokens": gen.usage.completion_tokens, "shots": shots,
                       "constrained": structured}
        return predict

    def _messages(self, model, item: Item, shots: list[Item], how: str = "",
                  brief: bool = False) -> list[dict]:
        """The prompt within `max_input_tokens` of input (and the model's window): a long input
        is cut to its most relevant passages (extract) or its beginning, examples likewise;
        `brief`: the short prompt of a fine-tuned model."""
        limit = min(self.options.max_input_tokens,
                    model.context_window - (self.options.max_tokens or self.task.answer_tokens) - 64)
        chars = limit * 4  # about 4 characters a token; checked with the model's count below
        for _ in range(6):
            share = chars // (len(shots) + 1)
            cut = [replace(s, text=self._view(s.text, share, how)) for s in shots]
            text = self._view(item.text, share, how)
            messages = (brief_messages(self.spec, text) if brief
                        else self.task.messages(self.spec, text, cut))
            if model.count_tokens(messages) <= limit + 200:
                return messages
            chars = int(chars * 0.75)
        return messages

    def _view(self, text: str, chars: int, how: str = "") -> str:
        return view(text, chars, self.task.queries(self.spec), self.ws.embedder, how)

    def _shots(self, item: Item, k: int, examples: str = "") -> list[Item]:
        """The k examples nearest to the item — of the training part, or of the task set file
        `examples` — least similar first, so the closest is right before the input."""
        if k <= 0:
            return []
        if examples not in self._pools:
            pool = self.train
            if examples:
                # lazy: datasets imports the document loaders
                from tunewise.tasks.datasets import load_items

                pool = load_items(examples)[1]
            self.say(f"embedding {len(pool)} examples for few-shot prompts")
            self._pools[examples] = (pool, self.ws.embedder.embed([t.text[:2000] for t in pool]))
        pool, vectors = self._pools[examples]
        query = self.ws.embedder.embed([item.text[:2000]])[0]
        best = np.argsort(vectors @ query)[::-1][:k]
        return [pool[i] for i in best[::-1] if pool[i].id != item.id]

    # --- trained systems --------------------------------------------------------------------------
    def _encoder(self, system: System, name: str, part: list[Item]):
        folder = self.out / TRAINED_FOLDER / name
        if EncoderClassifier.saved(folder):
            classifier = EncoderClassifier.load(folder)
        else:
            recipe = EncoderRecipe(epochs=self.options.encoder_epochs, seed=self.options.seed,
                                   frozen=system.trained == "encoder-frozen")
            self.say(f"training {name} on {len(part)} examples ({recipe.epochs} epochs)")
            classifier = EncoderClassifier.fit(part, list(self.spec.labels), recipe)
            folder.mkdir(parents=True, exist_ok=True)
            classifier.save(folder)

        def predict(items: list[Item]):
            started = time.perf_counter()
            probabilities = classifier.probabilities([i.text for i in items])
            each = (time.perf_counter() - started) / max(1, len(items))
            tokens = classifier.token_counts([i.text for i in items])
            for item, p, n in zip(items, probabilities, tokens):
                label = max(p, key=p.get)
                yield {**self._scored(item, label, label, None, each), "prompt_tokens": n,
                       "probabilities": {k: round(v, 4) for k, v in p.items()},
                       "train_seconds": round(classifier.seconds, 2)}
        return predict

    def _head(self, system: System, name: str, part: list[Item]):
        folder = self.out / TRAINED_FOLDER / name
        chars = self.options.max_input_tokens * 4
        if not HeadClassifier.saved(folder):
            recipe = task_recipe(system, self.options, _model_name(folder))
            self.say(f"training {name} ({recipe.method} + a classification head on "
                     f"{recipe.base}) on {len(part)} examples")
            train_head([(self._view(i.text, chars), str(i.gold)) for i in part],
                       self.spec.labels, folder, recipe, say=self.say)
        classifier = HeadClassifier.load(folder)

        def predict(items: list[Item]):
            texts = [self._view(i.text, chars) for i in items]
            started = time.perf_counter()
            probabilities = classifier.probabilities(texts)
            each = (time.perf_counter() - started) / max(1, len(items))
            for item, p, n in zip(items, probabilities, classifier.token_counts(texts)):
                label = max(p, key=p.get)
                yield {**self._scored(item, label, label, None, each), "prompt_tokens": n,
                       "probabilities": {k: round(v, 4) for k, v in p.items()},
                       "train_seconds": round(classifier.seconds, 2)}
        return predict

    def _finetuned(self, system: System, name: str, part: list[Item]):
        folder = self.out / TRAINED_FOLDER / name
        if not (folder / "finetune.json").exists():
            examples = instruction_examples(self.task, self.spec, part, self._view,
                                            self.options.max_input_tokens * 4, brief=True)
            write_examples(folder / "train.jsonl", examples)
            # registered as a model (`ask`, `serve`) under the run's and system's name
            recipe = task_recipe(system, self.options, _model_name(folder))
            self.say(f"fine-tuning {name} ({recipe.method} on {recipe.base}) on {len(part)} examples")
            finetune(folder / "train.jsonl", folder, recipe, say=self.say)
        # the GGUF export runs on llama.cpp, which also constrains the answer to the schema
        gguf = folder / "model.gguf"
        served = gguf if gguf.exists() else folder / "merged"
        return make_model(name, {name: ModelSettings(backend="local", model=str(served))})

    def _scored(self, item: Item, text: str, parsed, problem: str | None, seconds: float) -> dict:
        return {"question_id": item.id, "question": item.id, "text": item.text, "gold": item.gold,
                "prediction": text, "parsed": parsed, "parse_error": problem,
                "latency_s": round(seconds, 4), "prompt_tokens": 0, "completion_tokens": 0}


def instruction_examples(task, spec: TaskSpec, items: list[Item],
                         read: Callable[[str, int], str], chars: int, brief: bool = False) -> list:
    """Chat examples in the exact zero-shot prompt a task run asks with (`brief`: the short
    prompt a task fine-tune is asked with), the gold answer as the assistant's turn: what
    fine-tuning on a task trains on (each input through `read`)."""
    def prompt(text: str) -> list[dict]:
        return brief_messages(spec, text) if brief else task.messages(spec, text, [])

    return [Example(tuple((m["role"], m["content"]) for m in prompt(read(i.text, chars)))
                    + (("assistant", task.answer_text(spec, i.gold)),), meta={"id": i.id})
            for i in items]


def task_recipe(system: System, options: TaskOptions, name: str) -> FinetuneRecipe:
    """The recipe of a task fine-tune (train/schedule.py): one example a row, padded to the
    batch's longest (every step sees a batch of examples; no packing), the batch chosen from
    the examples' length, `finetune_epochs` passes or `finetune_min_steps` steps, whichever is
    more, and a tenth of the training part held out to keep the best checkpoint and stop early."""
    return load_recipe(None, method="full" if system.trained.endswith("full") else "lora",
                       base=system.base or None, epochs=options.finetune_epochs,
                       min_steps=options.finetune_min_steps, learning_rate=options.finetune_lr,
                       seed=options.seed, batch_size=0, packing=False, val_fraction=0.1,
                       early_stopping=3, max_length=options.max_input_tokens + 256, name=name,
                       tune=options.finetune_tune or None)


def _model_name(folder: Path) -> str:
    """`RUN/trained/finetune:lora@100` -> `RUN-finetune-lora-100`: a model name to register."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{folder.parent.parent.name}-{folder.name}")


def view(text: str, chars: int, queries: list[str], embedder, how: str = "") -> str:
    """What a model with a small window reads of `text`: all of it when it fits, else its
    passages most like each of the task's `queries` (extract's keys; `how` "head": its
    beginning) or, without queries, its beginning."""
    if len(text) <= chars:
        return text
    if queries and how != "head":
        return passages_for(text, queries, chars, embedder)
    return text[:chars].rsplit(" ", 1)[0]


def passages_for(text: str, queries: list[str], chars: int, embedder) -> str:
    """The passages of a long document most similar to each query (a key's description), taken
    in turn (the best for each, then the second best …) until `chars` are used, in document
    order: how a model with a small window sees a 20-page contract."""
    size = 600
    pieces = [text[i:i + size] for i in range(0, len(text), size)]
    vectors = embedder.embed(pieces)
    rankings = [list(np.argsort(vectors @ q)[::-1]) for q in embedder.embed(queries)]
    chosen: list[int] = [0]  # the opening names the parties and often the date
    while sum(len(pieces[i]) for i in chosen) + size <= chars and any(rankings):
        for ranking in rankings:
            while ranking and ranking[0] in chosen:
                ranking.pop(0)
            if ranking and sum(len(pieces[i]) for i in chosen) + size <= chars:
                chosen.append(ranking.pop(0))
    return "\n…\n".join(pieces[i] for i in sorted(chosen))


def _check_manifest(out: Path, task: str, spec: TaskSpec, train: list[Item], test: list[Item],
                    options: TaskOptions) -> None:
    """A run folder belongs to one task set and one setup; resuming with others is refused."""
    write_manifest(out, {
        "task": task, "spec": spec.to_json(), "questions": len(test),
        "questions_digest": digest(test), "train": len(train), "train_digest": digest(train),
        "max_tokens": options.max_tokens, "max_input_tokens": options.max_input_tokens,
        "seed": options.seed, "instruction": options.instruction,
        "finetune_epochs": options.finetune_epochs, "encoder_epochs": options.encoder_epochs},
        {"train_sizes": list(options.train_sizes), "finetune_min_steps": options.finetune_min_steps,
         "finetune_lr": options.finetune_lr, "finetune_tune": options.finetune_tune,
         **({"train_file": str(Path(options.train_file).resolve())} if options.train_file else {}),
         **({"teacher": options.teacher, "labelling_cost": options.labelling_cost}
            if options.teacher else {})})
