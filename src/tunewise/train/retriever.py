"""Fitting the retriever to a corpus — the cheapest fine-tune a team can make: the bundled
embedder trained on (question, passage) pairs, and a cross-encoder reranker trained from the same
MiniLM weights on the same pairs.

Pairs come from questions that name their gold documents (a BEIR folder, a SQuAD file, a JSONL
question set with `doc_ids`: the gold document's chunk the store ranks highest for the question is
the passage), from `tunewise data synth` output (each question's own chunk), or from JSONL lines
that give the passage itself (`{"question", "passage"}`). Hard negatives are mined from the store:
chunks the current retriever ranks high for the question that belong to no gold document, below
the very top few, which are often relevant passages nobody labelled (the false negatives that GPL
and sentence-transformers' `mine_hard_negatives` keep out with a margin or a rank range).

The embedder learns with MultipleNegativesRankingLoss (every other passage in the batch is a
negative, plus one mined negative a question); the cross-encoder with binary cross-entropy over
each positive and its mined negatives. Both loops are plain PyTorch around sentence-transformers'
own losses, because the library's trainers need `datasets` (pyarrow and more) for what is here a
few hundred to a few thousand pairs. Each stage writes its folder when it is done, and a second
run skips the stages already written."""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tunewise.documents.chunker import SENTENCE_END
from tunewise.embeddings.local import MANIFEST, bundled_model_dir, resolve_model_dir
from tunewise.errors import TunewiseError
from tunewise.evaluate.datasets import load_questions
from tunewise.evaluate.retrieval import matches
from tunewise.jsonl import read_objects
from tunewise.parts import Parts
from tunewise.retrieval.fitted import RECORD, Trained, trained_stage

NEGATIVE_RANKS = (3, 30)  # mined negatives come from these ranks of the store's own search
HEAD_LR = 100  # the cross-encoder's new head learns this many times faster than the body
MAX_TOKENS = 256  # passages are chunks of at most the embedder's 254 tokens
OnStep = Callable[[float], None]


class RetrieverTrainingError(TunewiseError):
    """Training pairs that cannot be read or are too few; the message says which and why."""


@dataclass(frozen=True)
class Pair:
    question: str
    positive: str  # the passage as the embedder reads it (context, then text)
    negatives: tuple[str, ...] = ()


# -- pairs ------------------------------------------------------------------------------------
def load_pairs(ws: Parts, path: str | Path, fmt: str = "auto", split: str | None = None,
               negatives: int = 4, seed: int = 0, on_pair: Callable[[], None] | None = None
               ) -> list[Pair]:
    """Training pairs from `path` (see the module's docstring), each with up to `negatives`
    hard negatives mined from `ws`'s store. Questions whose passage cannot be found are left
    out; none found at all is an error that says why."""
    return mine_pairs(ws, _items(ws, Path(path), fmt, split), negatives, seed, on_pair, path)


def mine_pairs(ws: Parts, items: list[tuple[str, str | None, tuple]], negatives: int = 4, seed: int = 0,
               on_pair: Callable[[], None] | None = None, path: str | Path = "the data"
               ) -> list[Pair]:
    """Pairs from (question, passage or None, gold) items, negatives mined from the store."""
    rng = random.Random(seed)
    pairs = []
    for question, positive, gold in items:
        hits = ws.retriever.search(question, k=NEGATIVE_RANKS[1], question_filter=False)
        if positive is None:  # the gold document's chunk ranked highest, else its first
            positive = next((h.chunk.indexed_text for h in hits if _is_gold(h.chunk, gold)), None)
            positive = positive or _first_chunk(ws.store, gold)
        if positive is not None:
            # not a negative: a gold chunk, the passage itself, a chunk quoting the question
            # (overlapping chunks share the sentence a pseudo-question is)
            pool = [h.chunk.indexed_text for h in hits if not _is_gold(h.chunk, gold)
                    and h.chunk.indexed_text != positive and question not in h.chunk.text
                    ][NEGATIVE_RANKS[0]:]
            pairs.append(Pair(question, positive, tuple(rng.sample(pool, min(negatives, len(pool))))))
        if on_pair:
            on_pair()
    if not pairs:
        raise RetrieverTrainingError(
            f"{path}: no question's passage was found in the store; ingest the documents the "
            "questions are about first, or give the passage in each line ({\"question\", "
            "\"passage\"})")
    return pairs


def _items(ws: Parts, path: Path, fmt: str, split: str | None) -> list[tuple[str, str | None, tuple]]:
    """(question, passage or None, gold: document ids or ("chunk", id)) from any input form."""
    records = read_objects(path, RetrieverTrainingError) if path.suffix == ".jsonl" \
        and path.is_file() else []  # read once; question sets are read again by their loader
    first = records[0] if records else {}
    if "messages" in first:
        return _synth_items(ws, path, records)
    if "passage" in first or "positive" in first:
        items = []
        for number, r in enumerate(records, start=1):
            question, passage = r.get("question"), r.get("passage", r.get("positive"))
            if not (isinstance(question, str) and isinstance(passage, str)):
                raise RetrieverTrainingError(f"{path} record {number}: needs \"question\" and "
                                             "\"passage\" texts")
            items.append((question, passage, ()))
        return items
    questions = load_questions(path, fmt, split)
    items = [(q.question, None if q.doc_ids else q.context, q.doc_ids) for q in questions
             if q.doc_ids or q.context]
    if not items:
        raise RetrieverTrainingError(f"{path}: no question names its gold documents (doc_ids) "
                                     "or gives its passage (context)")
    return items


def pseudo_items(store, n: int, seed: int = 0) -> list[tuple[str, str | None, tuple]]:
    """Questions without labels or a teacher: the Inverse Cloze Task (Lee et al. 2019). From each
    of `n` chunks sampled with the seed, one sentence of 6–40 words becomes the query and the
    chunk without it the passage, so the embedder learns to find the context a statement comes
    from. Cheap (no model writes anything), and a floor for what synthesized questions add."""
    rng = random.Random(seed)
    chunks = list(store.iter_chunks())
    items = []
    for chunk in rng.sample(chunks, min(n, len(chunks))):
        sentences = [s.strip() for s in SENTENCE_END.split(chunk.text) if s.strip()]
        usable = [s for s in sentences if 6 <= len(s.split()) <= 40]
        if len(sentences) < 2 or not usable:
            continue
        query = rng.choice(usable)
        rest = " ".join(s for s in sentences if s is not query)
        passage = f"{chunk.context}\n\n{rest}" if chunk.context else rest
        items.append((query, passage, ("chunk", chunk.id)))
    return items


def _synth_items(ws: Parts, path: Path, records: list[dict]) -> list[tuple[str, str | None, tuple]]:
    """`tunewise data synth` output: the first user message is the question; its chunk (by id,
    among the chunks of the source it names) is the passage."""
    items, by_source = [], {}
    for number, r in enumerate(records, start=1):
        meta = r.get("meta") or {}
        question = next((m.get("content") for m in r.get("messages", [])
                         if isinstance(m, dict) and m.get("role") == "user"), None)
        if not question or "chunk_id" not in meta or "source" not in meta:
            raise RetrieverTrainingError(f"{path} line {number}: a synthesized pair needs a user "
                                         "message and meta.chunk_id and meta.source")
        source = meta["source"]
        if source not in by_source:
            by_source[source] = {c.id: c.indexed_text for c in ws.store.iter_chunks(source)}
        items.append((question, by_source[source].get(meta["chunk_id"]), ("chunk", meta["chunk_id"])))
    return items  # a chunk no longer in the store leaves its pair out (mine_pairs)


def _is_gold(chunk, gold: tuple) -> bool:
    if gold[:1] == ("chunk",):
        return chunk.id == gold[1]
    return any(matches(chunk.source, g) for g in gold)


def _first_chunk(store, gold: tuple) -> str | None:
    if not gold or gold[:1] == ("chunk",):
        return None
    for g in gold:
        for chunk in store.iter_chunks(f"*{g}"):
            if _is_gold(chunk, (g,)):
                return chunk.indexed_text
    return None


# -- training ---------------------------------------------------------------------------------
def train_embedder(pairs: list[Pair], out: str | Path, name: str, base: str = "all-MiniLM-L6-v2",
                   epochs: float = 2, batch_size: int = 32, lr: float = 2e-5, seed: int = 0,
                   on_step: OnStep | None = None) -> Trained:
    """Fine-tune the sentence-transformers model `base` on `pairs` and save it in `out` with a
    tunewise.json naming it `name` (the name a store records for its vectors)."""
    # lazy: torch takes 1.5 s to import; sentence_transformers takes 5.4 s to import
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    torch.manual_seed(seed)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    model = SentenceTransformer(str(resolve_model_dir(base)), device=_device())
    model.max_seq_length = min(model.max_seq_length, MAX_TOKENS)
    loss_fn = MultipleNegativesRankingLoss(model)
    batches = _batches(pairs, batch_size, epochs, seed, distinct=lambda p: p.positive)

    def step(batch: list[Pair]) -> tuple[torch.Tensor, int]:
        columns = [[p.question for p in batch], [p.positive for p in batch]]
        if all(p.negatives for p in batch):  # one mined negative each, beside the in-batch ones
            columns.append([p.negatives[0] for p in batch])
        tokenize = getattr(model, "preprocess", None) or model.tokenize  # renamed in ST 5
        features = [_to(tokenize(c), model.device) for c in columns]
        return loss_fn(features, None), sum(int(f["attention_mask"].sum()) for f in features)

    return _train(model, step, batches, lr, out, "embedder", name, len(pairs), on_step)


def train_reranker(pairs: list[Pair], out: str | Path, name: str, epochs: float = 2,
                   batch_size: int = 32, lr: float = 2e-5, seed: int = 0,
                   on_step: OnStep | None = None) -> Trained:
    """Train a cross-encoder from the bundled MiniLM weights (a new one-logit head) to tell each
    pair's passage from its mined negatives, and save it in `out`."""
    # lazy: torch takes 1.5 s to import; sentence_transformers takes 5.4 s to import
    import torch
    from sentence_transformers import CrossEncoder
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    if not any(p.negatives for p in pairs):
        raise RetrieverTrainingError("a reranker learns from negatives and none were mined: "
                                     "the store holds too few other chunks")
    torch.manual_seed(seed)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # lazy: transformers takes 0.7 s to import
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the new head's "newly initialized" report is expected
    model = CrossEncoder(str(bundled_model_dir()), num_labels=1, max_length=MAX_TOKENS,
                         device=_device())
    rows = [(p.question, text, label) for p in pairs
            for text, label in [(p.positive, 1.0)] + [(n, 0.0) for n in p.negatives]]
    negatives = sum(1 for r in rows if r[2] == 0.0)
    loss_fn = BinaryCrossEntropyLoss(model, pos_weight=torch.tensor(negatives / len(pairs)))
    batches = _batches(rows, batch_size, epochs, seed)

    def step(batch: list[tuple]) -> tuple[torch.Tensor, int]:
        labels = torch.tensor([r[2] for r in batch], device=model.device)
        queries, passages = [r[0] for r in batch], [r[1] for r in batch]
        tokens = model.tokenizer(queries, passages, truncation=True, max_length=MAX_TOKENS)
        return (loss_fn([queries, passages], labels),
                sum(len(ids) for ids in tokens["input_ids"]))

    # The one-logit head starts random: at the body's rate it barely moves in a few hundred steps
    # (the first run here: loss 1.12 -> 1.00, reranking worse than retrieval), so it gets its own.
    return _train(model, step, batches, lr, out, "reranker", name, len(pairs), on_step,
                  head=lambda parameter: "classifier." in parameter)


def _train(model, step, batches: list[list], lr: float, out: str | Path, what: str, name: str,
           pairs: int, on_step: OnStep | None, head=None) -> Trained:
    """The loop both stages share: AdamW (parameters `head` names at HEAD_LR times the rate),
    linear warm-up over the first tenth, linear decay."""
    # lazy: torch takes 1.5 s to import; transformers takes 0.7 s to import
    import torch
    from transformers import get_linear_schedule_with_warmup

    model.train()
    named = list(model.named_parameters())
    groups = [{"params": [p for n, p in named if not (head and head(n))], "lr": lr}]
    if head:
        groups.append({"params": [p for n, p in named if head(n)], "lr": lr * HEAD_LR})
        if not groups[1]["params"]:
            raise RetrieverTrainingError(f"no head parameters in the {what}'s model")
    optimizer = torch.optim.AdamW(groups, lr=lr)
    schedule = get_linear_schedule_with_warmup(optimizer, max(1, len(batches) // 10), len(batches))
    losses, tokens, started = [], 0, time.perf_counter()
    for batch in batches:
        loss, n = step(batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        tokens += n
        if on_step:
            on_step(losses[-1])
    model.eval()
    out = Path(out)
    model.save(str(out))
    tenth = max(1, len(losses) // 10)
    trained = Trained(what, str(out.resolve()), name, pairs, len(batches),
                      round(time.perf_counter() - started, 1), tokens,
                      [round(sum(losses[i:i + tenth]) / len(losses[i:i + tenth]), 4)
                       for i in range(0, len(losses), tenth)])
    (out / MANIFEST).write_text(json.dumps(trained.to_dict(), indent=2))  # written last: done
    return trained


def _batches(rows: list, size: int, epochs: float, seed: int, distinct=None) -> list[list]:
    """Shuffled batches for `epochs` passes (a fraction runs part of one). With `distinct`, no
    batch holds two rows with the same key: a repeated positive would be scored as a negative
    of its own question."""
    rng, batches = random.Random(seed), []
    whole, part = int(epochs), epochs - int(epochs)
    for epoch in range(whole + (1 if part > 0 else 0)):
        order = rows[:]
        rng.shuffle(order)
        if epoch == whole:
            order = order[: max(1, round(part * len(order)))]
        open_batches: list[tuple[list, set]] = []
        for row in order:
            key = distinct(row) if distinct else None
            home = next((b for b in open_batches if len(b[0]) < size and key not in b[1]), None)
            if home is None:
                home = ([], set())
                open_batches.append(home)
            home[0].append(row)
            if distinct:
                home[1].add(key)
        batches += [b for b, _ in open_batches]
    return batches


def _to(features: dict, device) -> dict:
    return {k: v.to(device) if hasattr(v, "to") else v for k, v in features.items()}


def _device() -> str | None:
    # lazy: torch takes 1.5 s to import
    import torch

    return None if torch.cuda.is_available() else "cpu"


def finetune_retriever(ws: Parts, data: str | Path | None, out: str | Path, embedder: bool = True,
                       reranker: bool = False, fmt: str = "auto", split: str | None = None,
                       negatives: int = 4, epochs: float = 2, batch_size: int = 32,
                       lr: float = 2e-5, seed: int = 0, progress=None, pseudo: int = 0) -> dict:
    """Mine pairs from `data` (or, with `pseudo`, from that many chunks by the Inverse Cloze
    Task: no labels) over `ws`'s store, train the chosen stages into OUT/embedder and
    OUT/reranker (a stage an earlier run finished is kept), and write OUT/retriever.json: what
    was trained from what, for how long. `progress(stage, total)` returns a per-item callback."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tick = progress or (lambda stage, total: None)
    stages = {"embedder": embedder, "reranker": reranker}
    todo = [s for s, wanted in stages.items() if wanted and trained_stage(out / s) is None]
    what = str(data) if data else f"inverse cloze task on {pseudo} chunks"
    record = {"data": what, "base": "all-MiniLM-L6-v2", "store": ws.store.stats()["store"],
              "built_with": ws.embedder.name, "negatives": negatives, "epochs": epochs,
              "batch_size": batch_size, "lr": lr, "seed": seed}
    if todo:
        items = pseudo_items(ws.store, pseudo, seed) if pseudo else _items(ws, Path(data), fmt, split)
        pairs = mine_pairs(ws, items, negatives, seed, tick("mining", len(items)), data)
        record.update(pairs=len(pairs), mined=sum(len(p.negatives) for p in pairs))
        name = f"ft-{out.resolve().name}"
        if "embedder" in todo:
            train_embedder(pairs, out / "embedder", name, epochs=epochs, batch_size=batch_size,
                           lr=lr, seed=seed, on_step=tick("embedder", len(
                               _batches(pairs, batch_size, epochs, seed, lambda p: p.positive))))
        if "reranker" in todo:
            rows = sum(1 + len(p.negatives) for p in pairs)
            train_reranker(pairs, out / "reranker", f"{name}-reranker", epochs=epochs,
                           batch_size=batch_size, lr=lr, seed=seed,
                           on_step=tick("reranker", -(-rows // batch_size) * max(1, round(epochs))))
    previous = out / RECORD
    if previous.exists() and not todo:
        record = {**json.loads(previous.read_text()), **{k: v for k, v in record.items()
                                                          if k not in ("pairs", "mined")}}
    for stage in stages:
        done = trained_stage(out / stage)
        if done:
            record[stage] = done.to_dict()
    tmp = previous.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2))
    tmp.replace(previous)
    return record


__all__ = ["Pair", "RetrieverTrainingError", "finetune_retriever", "load_pairs",
           "pseudo_items", "train_embedder",
           "train_reranker", "trained_stage"]
