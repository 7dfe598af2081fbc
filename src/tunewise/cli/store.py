"""`tunewise store ...`: operations on whole stores (copy between SQLite and PostgreSQL)."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.progress import Progress

from tunewise.cli.common import bar_columns, console, out
from tunewise.store import open_store

app = typer.Typer(help="Whole-store operations: copy a store to another backend.",
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
