"""Small task sets made here: sentences whose sentiment a few words decide, and short contracts."""

from __future__ import annotations

import random

import pytest

from tunewise.tasks.base import Item

UP = ["profit rose", "sales grew strongly", "orders increased", "the margin improved",
      "revenue jumped", "earnings beat forecasts"]
DOWN = ["profit fell", "sales dropped sharply", "orders declined", "the margin shrank",
        "revenue slumped", "the company cut jobs"]
FLAT = ["the meeting is on Monday", "the office is in Helsinki", "the report has ten pages",
        "the board has five members", "the plant makes paper", "the firm sells software"]
COMPANIES = ["Nokia", "Kone", "Wartsila", "Fortum", "Elisa", "Neste", "Orion", "Metso"]


def sentiment_items(n: int, seed: int = 0) -> list[Item]:
    rng = random.Random(seed)
    items = []
    for i in range(n):
        label, phrases = [("positive", UP), ("negative", DOWN), ("neutral", FLAT)][i % 3]
        items.append(Item(f"s{seed}-{i}", f"{rng.choice(COMPANIES)} said {rng.choice(phrases)} "
                          f"in quarter {rng.randint(1, 4)} .", label))
    return items


@pytest.fixture
def sentiment():
    """(train, test) of a three-label set."""
    return sentiment_items(48, seed=1), sentiment_items(15, seed=2)


CONTRACT = """NON-DISCLOSURE AGREEMENT

This Agreement is made as of {day} between {a} (the "Company"), and {b} (the "Recipient").

1. The Recipient shall keep the Confidential Information secret for a period of {words} ({n}) years.

2. This Agreement shall be governed by the laws of the State of {state}.
"""


def contract(a: str, b: str, day: str, n: int, state: str) -> str:
    words = ["zero", "one", "two", "three", "four", "five"][n]
    return CONTRACT.format(a=a, b=b, day=day, words=words, n=n, state=state)


from tests.train.conftest import smol_tokenizer  # noqa: E402, F401  (the tiny bases' tokenizer)
