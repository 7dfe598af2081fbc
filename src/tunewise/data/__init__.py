"""Instruction data: import and convert formats, validate, de-duplicate, split, measure, and
synthesize question/answer pairs from the ingested documents with a teacher model."""

from tunewise.data.formats import DataError, Example, load_examples, write_examples

__all__ = ["DataError", "Example", "load_examples", "write_examples"]
