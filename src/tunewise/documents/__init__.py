"""Documents: loaders per format, token-aware chunking, content hashing."""

from tunewise.documents.chunker import chunk_document, chunk_spans
from tunewise.documents.loaders import LOADERS, LoadError, load_file

__all__ = ["LOADERS", "LoadError", "load_file", "chunk_document", "chunk_spans"]
