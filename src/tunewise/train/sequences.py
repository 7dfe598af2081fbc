"""Training sequences from chat examples: the model's own chat template (the one inference uses),
labels on the assistant's tokens only, and packing of short examples into full rows without
attention between them (position ids restart per example; transformers then masks each example
off from the others, see tests/train/test_sequences.py).

Written here rather than taken from TRL: TRL is not installed (it would pull `datasets` and more),
and the part needed — assistant-only labels with any chat template plus packing — is small."""

from __future__ import annotations

from dataclasses import dataclass

from tunewise.train.common import TrainingError

IGNORE = -100  # label of a token that carries no loss


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]  # IGNORE except on the assistant's tokens (and their end-of-turn marker)

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def trained_tokens(self) -> int:
        return sum(label != IGNORE for label in self.labels)


def encode(tokenizer, messages: list[dict[str, str]], max_length: int) -> Encoded:
    """Token ids of the whole conversation and labels on each assistant turn. The answer spans
    come from rendering the conversation up to each turn, so any chat template works whose
    rendering of a prefix is a prefix of the full rendering (ChatML, Llama, Mistral ...)."""
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        start = len(tokenizer.apply_chat_template(messages[:i], tokenize=False,
                                                  add_generation_prompt=True))
        end = len(tokenizer.apply_chat_template(messages[: i + 1], tokenize=False))
        if text[:end] != tokenizer.apply_chat_template(messages[: i + 1], tokenize=False):
            raise TrainingError("the chat template does not render a conversation's prefix as a "
                             "prefix of the whole: cannot find the answer tokens")
        spans.append((start, end))
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    labels = [tok if any(s <= a < e for s, e in spans) else IGNORE
              for tok, (a, _) in zip(enc["input_ids"], enc["offset_mapping"])]
    labels[0] = IGNORE  # in a packed row, the first token must not learn from the previous example
    return Encoded(enc["input_ids"][:max_length], labels[:max_length])


def pack(examples: list[Encoded], max_length: int) -> list[list[Encoded]]:
    """Best-fit decreasing: each example, longest first, goes to the fullest row it fits in.
    Rows hold whole examples (an over-long example is already cut to max_length)."""
    rows: list[list[Encoded]] = []
    room: list[int] = []
    for ex in sorted(examples, key=len, reverse=True):
        fits = [i for i, r in enumerate(room) if r >= len(ex)]
        if fits:
            best = min(fits, key=lambda i: room[i])
            rows[best].append(ex)
            room[best] -= len(ex)
        else:
            rows.append([ex])
            room.append(max_length - len(ex))
    return rows


class PackedCollator:
    """Rows of packed examples → input_ids, labels, position_ids (restarting per example) and no
    attention_mask, which is what makes transformers build the per-example block mask (or run
    flash-attn's variable-length kernel). Rows are padded to the longest in the batch, or to
    `width`; with `rows`, a short last batch gets rows of padding that carry no loss — so a
    compiled model sees one shape (a new shape recompiles it: tens of seconds each epoch)."""

    def __init__(self, pad_id: int, width: int | None = None, rows: int | None = None):
        self.pad_id, self.width, self.rows = pad_id, width, rows

    def __call__(self, rows: list[list[Encoded]]) -> dict:
        # lazy: torch takes 1.5 s to import
        import torch

        rows = rows + [[]] * max(0, (self.rows or 0) - len(rows))
        width = max(self.width or 0, max(sum(len(e) for e in row) for row in rows))
        ids, labels, positions = [], [], []
        for row in rows:
            r_ids = [t for e in row for t in e.input_ids]
            r_labels = [t for e in row for t in e.labels]
            r_pos = [p for e in row for p in range(len(e))]
            pad = width - len(r_ids)
            ids.append(r_ids + [self.pad_id] * pad)
            labels.append(r_labels + [IGNORE] * pad)
            r_pos += list(range(pad))  # padding is one more "example", masked from the others
            positions.append(r_pos)
        return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels),
                "position_ids": torch.tensor(positions)}


class PaddedCollator:
    """One example per row, padded to the longest in the batch (the plain Trainer baseline), or
    to `width`; with `rows`, a short last batch gets rows of padding that carry no loss (they
    attend to their own padding: a row with nothing to attend to would give NaN)."""

    def __init__(self, pad_id: int, width: int | None = None, rows: int | None = None):
        self.pad_id, self.width, self.rows = pad_id, width, rows

    def __call__(self, examples: list[Encoded]) -> dict:
        # lazy: torch takes 1.5 s to import
        import torch

        width = max(self.width or 0, max(len(e) for e in examples))
        filler = Encoded([self.pad_id], [IGNORE])
        examples = examples + [filler] * max(0, (self.rows or 0) - len(examples))
        pad = [width - len(e) for e in examples]
        keep = [len(e) if e is not filler else width for e in examples]
        return {
            "input_ids": torch.tensor([e.input_ids + [self.pad_id] * p for e, p in zip(examples, pad)]),
            "labels": torch.tensor([e.labels + [IGNORE] * p for e, p in zip(examples, pad)]),
            "attention_mask": torch.tensor([[1] * k + [0] * (width - k) for k in keep])}
