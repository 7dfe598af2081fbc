"""`tunewise store ...`: operations on whole stores (copy between SQLite and PostgreSQL)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from tunewise.cli.common import ConfigOpt, StoreOpt, bar_columns, console, out
from tunewise.store import open_store

app = typer.Typer(help="Whole-store operations: copy a store to another backend, re-embed it "
                  "with another embedder.",
                        no_args_is_help=True, rich_markup_mode="markdown")


@app.command("copy")
def copy_cmd(
    source: Annotated[str, typer.Option("--from", help="Store URL to read: sqlite:PATH or "
                                        "postgresql://…[#collection].")],
    target: Annotated[str, typer.Option("--to", help="Store URL to write (created if new).")],
    batch: Annotated[int, typer.Option(help="Documents per transaction.")] = 200,
) -> None:
    """Copy every document, chunk and vector from one store to another: no re-embedding. Run it
    again to finish an interrupted copy.

    Example: `tunewise store copy --from sqlite:.tunewise/store.db --to postgresql://tunewise@db/docs#main`

    Example: `tunewise store copy --from postgresql://tunewise@db/docs#main --to sqlite:backup.db`
    """
    # lazy: a command imports what it runs (importing every command's: +0.7 s on each --help)
    from tunewise.store.copy import copy_store

    src, dst = open_store(source), open_store(target)
    try:
        total = src.stats()["documents"]
        started = time.perf_counter()
        with Progress(*bar_columns(), console=console, transient=True) as progress:
            task = progress.add_task("copying", total=total)
            report = copy_store(src, dst, batch, lambda: progress.advance(task))
        out.print(f"copied {report.documents} documents, {report.chunks} chunks, {report.files} "
                  f"files in {time.perf_counter() - started:.1f} s → {dst.stats()['store']}")
    finally:
        src.close()
        dst.close()


@app.command("reembed")
def reembed_cmd(
    embedder: Annotated[str, typer.Option(help="The new embedder: a sentence-transformers folder "
                                          "(e.g. OUT/embedder of `tunewise finetune-retriever`).")],
    target: Annotated[str, typer.Option("--to", help="Store URL to write (a new one; the old "
                                        "store keeps serving until you switch).")],
    source: Annotated[Optional[str], typer.Option(
        "--from", help="Store URL to read (default: [store] url).")] = None,
    use: Annotated[bool, typer.Option(
        "--use", help="When done, set [store] url and [embedder] model in the settings file.")
    ] = False,
    batch: Annotated[int, typer.Option(min=1, help="Documents per transaction.")] = 200,
    settings_file: ConfigOpt = None,
) -> None:
    """Embed every chunk of a store again with another embedder, into a new store: chunks,
    metadata and file records are copied, only the vectors change. Run it again to finish an
    interrupted run: documents already written are skipped.

    Example: `tunewise store reembed --embedder runs/ret/embedder --to sqlite:runs/ret/store.db --use`
    """
    # lazy: a command imports what it runs (importing every command's: +0.7 s on each --help)
    from tunewise.config import load_settings, write_settings
    from tunewise.embeddings import make_embedder
    from tunewise.store.copy import copy_store

    creating = use and settings_file is not None and not settings_file.exists()  # --use writes it
    settings = load_settings(None if creating else settings_file)
    settings = settings.replace("embedder", model=embedder)
    new = make_embedder(settings.embedder)
    src, dst = open_store(source or settings.store.url), open_store(target)
    try:
        total = src.stats()["documents"]
        started = time.perf_counter()
        with Progress(*bar_columns(), console=console, transient=True) as progress:
            task = progress.add_task("embedding", total=total)
            report = copy_store(src, dst, batch, lambda: progress.advance(task), embedder=new)
        out.print(f"embedded {report.chunks} chunks of {report.documents} documents with "
                  f"{new.name} ({report.skipped} documents already there) in "
                  f"{time.perf_counter() - started:.1f} s → {dst.stats()['store']}")
    finally:
        src.close()
        dst.close()
    # lazy: a command imports what it runs (importing every command's: +0.7 s on each --help)
    from tunewise.retrieval.fitted import record_reembedded

    if record_reembedded(embedder, target):
        out.print(f"noted in {Path(embedder).resolve().parent / 'retriever.json'}: systems written "
                  f"MODEL+rag:retriever={Path(embedder).parent} retrieve from it")
    if use:
        path = write_settings(settings_file or "tunewise.toml",
                              {"store": {"url": target}, "embedder": {"model": embedder}})
        out.print(f"{path}: [store] url = {target!r}, [embedder] model = {embedder!r}")


@app.command("metadata")
def metadata_cmd(
    refresh: Annotated[bool, typer.Option(
        "--refresh", help="Read each document's own metadata again ([ingest] metadata rules) "
        "and store it; without it, list the keys and values the store holds.")] = False,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """The metadata the store's documents carry: each key with its values, and where they came
    from. With --refresh, what each document says of itself is read again from its stored text
    and file name (company, year, quarter, doc_type; documents/metadata.py) — after an upgrade,
    or to replace a year an older version took from a file's creation date — keeping what was
    given (a sidecar, --meta); nothing is re-embedded.

    Example: `tunewise store metadata --refresh --store sqlite:filings.db`
    """
    # lazy: a command imports what it runs (importing every command's: +0.7 s on each --help)
    from tunewise.cli.common import settings_for
    from tunewise.ingest.pipeline import refresh_metadata
    from tunewise.store.base import METADATA_VALUES

    settings = settings_for(config, store)
    opened = open_store(settings.store.url)
    try:
        if refresh:
            with console.status("reading each document's metadata again"):
                changed, total = refresh_metadata(opened, settings)
            console.print(f"metadata read again: {changed} of {total} documents changed")
        values = opened.metadata_values(METADATA_VALUES)
    finally:
        opened.close()
    table = Table("key", "values", title="metadata the documents carry")
    for key, held in sorted(values.items()):
        if key != "metadata_source":
            shown = ", ".join(map(str, held[:12])) + (f" … ({len(held)} in all)" if len(held) > 12 else "")
            table.add_row(escape(key), escape(shown))
    out.print(table)


@app.command("index")
def index_cmd(
    rebuild: Annotated[bool, typer.Option(
        "--rebuild", help="Build the index anew from the stored vectors (compacting away removed "
        "rows), instead of bringing the saved one up to date.")] = False,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Build or update the approximate-search index of a store: the HNSW graph SQLite keeps
    beside its file (`STORE.db.ann/`), or pgvector's index in PostgreSQL. Searches keep the graph
    current by themselves and an ingest saves it when it lags; run this after a crash, to compact
    after many deletions, or to build it before the first search of a large store.

    Example: `tunewise store index --rebuild --store sqlite:filings.db`
    """
    # lazy: a command imports what it runs (importing every command's: +0.7 s on each --help)
    from tunewise.cli.common import settings_for

    settings = settings_for(config, store)
    opened = open_store(settings.store.url, settings.store)
    started = time.perf_counter()
    try:
        with Progress(*bar_columns(), console=console, transient=True) as bars:
            task = bars.add_task("indexing", total=None)
            done = opened.index(rebuild=rebuild, force=True,
                                progress=lambda n, total: bars.update(task, completed=n, total=total))
    finally:
        opened.close()
    how = "built" if done["built"] else "brought up to date"
    out.print(f"index {how}: {done['rows']:,} chunks in {time.perf_counter() - started:.1f} s")
