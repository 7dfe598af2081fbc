"""The Reranker protocol: a second, more careful look at the best candidates of retrieval."""

from __future__ import annotations

from typing import Protocol

from tunewise.errors import TunewiseError


class RerankError(TunewiseError):
    """A reranker that cannot be built or run; the message says why."""


class Reranker(Protocol):
    name: str
    calibrated: bool  # scores are probabilities of relevance (a threshold means something)

    def scores(self, query: str, passages: list[str]) -> list[float]:
        """One relevance score per passage, higher is better: a probability when `calibrated`,
        else only the order means something."""
