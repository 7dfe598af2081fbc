"""Ingestion: files -> documents -> chunks -> vectors -> store. `pipeline` holds the local run
(batching, workers, sidecar metadata, sync); `ray` reads and embeds on a Ray cluster (an optional
extra, imported only when asked for); finding the files is `documents.discover`."""

from tunewise.documents.discover import discover
from tunewise.ingest.pipeline import (
    FileJob,
    FileWork,
    IngestError,
    IngestReport,
    Progress,
    Workers,
    ingest,
    read_file,
)

__all__ = ["FileJob", "FileWork", "IngestError", "IngestReport", "Progress", "Workers",
           "discover", "ingest", "read_file"]
