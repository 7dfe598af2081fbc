"""Evaluation: datasets and metrics that measure retrieval and, later, every answering system."""
