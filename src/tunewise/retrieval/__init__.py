"""Retrieval: dense, keyword and hybrid search over a store. The logic lives in `retriever.py`
and `fusion.py`."""

from tunewise.retrieval.retriever import MODES, RetrievalError, Retriever

__all__ = ["MODES", "RetrievalError", "Retriever"]
