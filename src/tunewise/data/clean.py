"""Cleaning instruction data: exact and near-duplicate removal, seeded train/validation split,
and token-length statistics against a model's context window."""

from __future__ import annotations

import random
import re
import statistics
from dataclasses import dataclass
from typing import Callable

from tunewise.data.formats import DataError, Example

NEAR_DUPLICATE = 0.8  # Jaccard similarity of word 3-gram shingles


def _normal(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def exact_key(example: Example) -> str:
    """Equal after lower-casing and dropping punctuation and spacing: the same example."""
    return "\x1f".join(f"{role}:{_normal(content)}" for role, content in example.messages)


def drop_exact_duplicates(examples: list[Example]) -> tuple[list[Example], int]:
    seen: set[str] = set()
    kept = []
    for e in examples:
        key = exact_key(e)
        if key not in seen:
            seen.add(key)
            kept.append(e)
    return kept, len(examples) - len(kept)


def shingles(text: str, n: int = 3) -> set[str]:
    words = _normal(text).split()
    if len(words) < n:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def drop_near_duplicates(examples: list[Example], threshold: float = NEAR_DUPLICATE,
                         seed: int = 0) -> tuple[list[Example], int]:
    """Keep the first of each group of examples whose prompt+answer shingles overlap at least
    `threshold` (Jaccard). MinHash LSH (datasketch) finds candidates without comparing every
    pair; each candidate is confirmed with the exact Jaccard, so LSH never drops a non-duplicate."""
    # lazy: datasketch takes 0.4 s to import
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=128)
    kept: list[Example] = []
    kept_shingles: dict[str, set[str]] = {}
    for i, e in enumerate(examples):
        sh = shingles(f"{e.prompt} {e.answer}")
        m = MinHash(num_perm=128, seed=seed)
        for s in sh:
            m.update(s.encode())
        if any(jaccard(sh, kept_shingles[key]) >= threshold for key in lsh.query(m)):
            continue
        key = str(i)
        lsh.insert(key, m)
        kept_shingles[key] = sh
        kept.append(e)
    return kept, len(examples) - len(kept)


def split(examples: list[Example], val_fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """(train, validation): a seeded shuffle; at least one validation example when asked for any."""
    if not 0 <= val_fraction < 1:
        raise DataError(f"val_fraction must be in [0, 1), got {val_fraction}")
    shuffled = list(examples)
    random.Random(seed).shuffle(shuffled)
    cut = max(1, round(len(shuffled) * val_fraction)) if val_fraction and len(shuffled) > 1 else 0
    return shuffled[cut:], shuffled[:cut]


@dataclass(frozen=True)
class LengthStats:
    examples: int
    min: int
    median: float
    p95: int
    max: int
    over_context: int  # examples longer than the context window: truncated in training
    context_window: int
    total_tokens: int


def length_stats(examples: list[Example], count_tokens: Callable[[list[dict]], int],
                 context_window: int) -> LengthStats:
    """Token lengths of whole conversations with the model's chat template."""
    lengths = sorted(count_tokens(e.chat()) for e in examples)
    if not lengths:
        return LengthStats(0, 0, 0.0, 0, 0, 0, context_window, 0)
    p95 = lengths[min(len(lengths) - 1, round(0.95 * (len(lengths) - 1)))]
    return LengthStats(len(lengths), lengths[0], statistics.median(lengths), p95, lengths[-1],
                       sum(n > context_window for n in lengths), context_window, sum(lengths))
