"""The small-encoder classifier: the bundled sentence embedder (all-MiniLM-L6-v2, 22M parameters)
with a linear head over its mean-pooled embedding, fine-tuned end to end on the labelled
examples — the BERT-era option, minutes on a CPU. `frozen=True` trains the head alone on fixed
embeddings (seconds; the SetFit head without its contrastive step).

The training loop is a few lines of plain PyTorch rather than the transformers Trainer: the model
must keep the embedder's own mean pooling (a sequence-classification head would start from an
untrained [CLS] pooler), and a loop this size reads top to bottom."""

from __future__ import annotations

import contextlib
import json
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tunewise.embeddings.local import bundled_model_dir
from tunewise.tasks.base import Item, TaskError
from tunewise.train.hardware import cpu_has_bf16

HEAD = "head.pt"
LABELS = "labels.json"


@dataclass(frozen=True)
class EncoderRecipe:
    epochs: int = 4
    batch_size: int = 16
    learning_rate: float = 5e-5  # the encoder's; the new head learns 20x faster
    max_length: int = 128  # tokens of a text; longer texts are cut
    frozen: bool = False
    seed: int = 0


class EncoderClassifier:
    """Train with `fit`, save to a folder and `load` it back, `predict` labels."""

    def __init__(self, model, head, labels: list[str], max_length: int):
        self.model, self.head, self.labels, self.max_length = model, head, labels, max_length
        self.losses: list[float] = []  # mean training loss of each epoch
        self.seconds = 0.0
        self.tokens = 0  # real (non-padding) tokens trained on, all epochs: what training cost
        self.recipe: EncoderRecipe | None = None

    @classmethod
    def fit(cls, items: list[Item], labels: list[str], recipe: EncoderRecipe,
            base: str | Path | None = None, on_step=None) -> "EncoderClassifier":
        # lazy: torch takes 1.5 s to import
        import torch


        torch.manual_seed(recipe.seed)
        model = _sentence_transformer(base or bundled_model_dir(), recipe.max_length)
        dimension = _dimension(model)
        head = torch.nn.Linear(dimension, len(labels))
        classifier = cls(model, head, labels, recipe.max_length)
        classifier.recipe = recipe
        index = {x: i for i, x in enumerate(labels)}
        unknown = {str(i.gold) for i in items} - set(index)
        if unknown:
            raise TaskError(f"labels {sorted(unknown)} are not among {labels}")
        order = list(range(len(items)))
        params = [{"params": head.parameters(), "lr": recipe.learning_rate * 20}]
        if not recipe.frozen:
            params.append({"params": model.parameters(), "lr": recipe.learning_rate})
        optimizer = torch.optim.AdamW(params, weight_decay=0.01)
        model.train(not recipe.frozen)
        started = time.perf_counter()
        rng = random.Random(recipe.seed)
        for _ in range(recipe.epochs):
            rng.shuffle(order)
            total = 0.0
            for start in range(0, len(order), recipe.batch_size):
                batch = [items[j] for j in order[start:start + recipe.batch_size]]
                target = torch.tensor([index[str(i.gold)] for i in batch])
                logits = classifier._logits([i.text for i in batch], grad=not recipe.frozen)
                loss = torch.nn.functional.cross_entropy(logits, target)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * len(batch)
                if on_step:
                    on_step()
            classifier.losses.append(total / len(items))
        classifier.seconds = time.perf_counter() - started
        model.eval()
        return classifier

    def _logits(self, texts: list[str], grad: bool):
        # lazy: torch takes 1.5 s to import
        import torch

        # `preprocess` since sentence-transformers 6 (`tokenize` before)
        features = getattr(self.model, "preprocess", self.model.tokenize)(texts)
        if self.model.training or grad:
            self.tokens += int(features["attention_mask"].sum())
        with torch.set_grad_enabled(grad):
            embedding = self.model(features)["sentence_embedding"]  # (B, d), mean-pooled
        return self.head(embedding)  # (B, labels)

    def predict(self, texts: list[str], batch_size: int = 64) -> list[str]:
        return [max(p, key=p.get) for p in self.probabilities(texts, batch_size)]

    def probabilities(self, texts: list[str], batch_size: int = 32) -> list[dict[str, float]]:
        """Each text's probability of each label (softmax of the head's logits)."""
        # lazy: torch takes 1.5 s to import
        import torch

        # texts of like length batched together: less padding to compute (the order is restored)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[dict[str, float]] = [{} for _ in texts]
        # bf16 where the CPU multiplies it natively: 1.3x the sentences a second, the same labels
        # on 512 PhraseBank test sentences (bench/RESULTS.md, issue 36)
        fast = (torch.autocast("cpu", dtype=torch.bfloat16) if not _cuda() and cpu_has_bf16()
                else contextlib.nullcontext())
        with torch.inference_mode(), fast:
            for start in range(0, len(order), batch_size):
                part = order[start:start + batch_size]
                logits = self._logits([texts[i] for i in part], grad=False)
                for i, row in zip(part, logits.float().softmax(dim=1).tolist()):
                    out[i] = dict(zip(self.labels, row))
        return out

    def token_counts(self, texts: list[str]) -> list[int]:
        """Tokens the encoder reads of each text: what serving it costs."""
        ids = self.model.tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"]
        return [len(x) for x in ids]

    def save(self, folder: str | Path) -> None:
        """FOLDER/encoder is a standard sentence-transformers model whose last module is the
        head (a Dense layer with no activation): `SentenceTransformer(FOLDER/encoder).encode(texts)`
        gives each text's label logits without tunewise, in the order of its labels.json."""
        folder = Path(folder)
        _sentence_transformer([*self.model, _dense(self.head)], self.max_length).save(
            str(folder / "encoder"))
        labels = {"labels": self.labels, "id2label": dict(enumerate(self.labels)),
                  "max_length": self.max_length}
        (folder / "encoder" / LABELS).write_text(json.dumps(labels, indent=2))
        (folder / LABELS).write_text(json.dumps(
            {**labels, "losses": self.losses, "seconds": self.seconds}))
        if self.recipe is not None:  # what the cost model prices a fine-tune by (cost/systems.py)
            parameters = sum(p.numel() for p in self.model.parameters())
            (folder / "finetune.json").write_text(json.dumps({
                # a frozen encoder runs forward only (2·N a token); priced as a frozen base
                # (4·N, "lora"), an upper bound
                "config": {**asdict(self.recipe), "objective": "classify",
                           "method": "lora" if self.recipe.frozen else "full"},
                "result": {"tokens": self.tokens, "seconds": self.seconds,
                           "parameters": parameters, "losses": self.losses}}, indent=2))

    @classmethod
    def load(cls, folder: str | Path) -> "EncoderClassifier":
        # lazy: torch takes 1.5 s to import
        import torch

        folder = Path(folder)
        meta = json.loads((folder / LABELS).read_text())
        model = _sentence_transformer(folder / "encoder", meta["max_length"])
        if (folder / HEAD).exists():  # saved before the head was the model's last module
            head = torch.nn.Linear(_dimension(model), len(meta["labels"]))
            head.load_state_dict(torch.load(folder / HEAD))
        else:
            *body, dense = list(model)
            head = dense.linear
            model = _sentence_transformer(body, meta["max_length"])
        classifier = cls(model.eval(), head, meta["labels"], meta["max_length"])
        classifier.losses, classifier.seconds = meta["losses"], meta["seconds"]
        return classifier

    @staticmethod
    def saved(folder: str | Path) -> bool:
        return (Path(folder) / LABELS).exists()


def _sentence_transformer(source: str | Path | list, max_length: int):
    """A sentence-transformers model from a folder, or from its modules (a list)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # lazy: sentence_transformers takes 5.4 s to import
    from sentence_transformers import SentenceTransformer

    device = "cpu" if not _cuda() else None
    model = (SentenceTransformer(modules=source, device=device) if isinstance(source, list)
             else SentenceTransformer(str(source), device=device))
    model.max_seq_length = max_length
    return model


def _dense(head):
    """The head as sentence-transformers' Dense module (identity activation, same weights)."""
    # lazy: torch takes 1.5 s to import
    import torch

    try:  # lazy: sentence_transformers takes 5.4 s to import (its module moved in version 6)
        from sentence_transformers.sentence_transformer.modules import Dense
    except ImportError:  # lazy: as above, before version 6
        from sentence_transformers.models import Dense
    return Dense(head.in_features, head.out_features, activation_function=torch.nn.Identity(),
                 init_weight=head.weight.detach().clone(), init_bias=head.bias.detach().clone())


def _dimension(model) -> int:
    # renamed in sentence-transformers 6
    return getattr(model, "get_embedding_dimension", model.get_sentence_embedding_dimension)()


def _cuda() -> bool:
    # lazy: torch takes 1.5 s to import
    import torch

    return torch.cuda.is_available()
