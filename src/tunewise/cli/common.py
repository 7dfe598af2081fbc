"""What the command modules share: the consoles, the common options, settings per command."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from tunewise.config import Settings, load_settings
from tunewise.ingest import Progress as IngestProgress

console = Console(stderr=True)
out = Console()

ConfigOpt = Annotated[Optional[Path], typer.Option(
    "--config", help="Settings file (default: ./tunewise.toml if present).")]
StoreOpt = Annotated[Optional[str], typer.Option(
    "--store", help="Store URL, e.g. sqlite:.tunewise/store.db (default from config).")]
ModelOpt = Annotated[Optional[str], typer.Option(
    help="A model name from [models] in the config (default: [rag] model).")]
NoRagOpt = Annotated[bool, typer.Option("--no-rag", help="Ask the model alone, no documents.")]
WhereOpt = Annotated[Optional[list[str]], typer.Option(
    "--where", help="Only documents whose metadata meets this: KEY=VALUE, KEY!=VALUE, KEY>=NUMBER "
    "(also <, <=, >; repeatable, all must hold), e.g. --where company=NIKE --where 'year>=2022'.")]
PassagesOpt = Annotated[Optional[int], typer.Option("-k", min=1, help="How many passages to retrieve.")]
RecipeOpt = Annotated[Optional[Path], typer.Option(
    "--recipe", help="Recipe TOML with a [finetune] / [pretrain] table (examples/finetune-lora.toml, "
    "examples/pretrain.toml); command-line options override it.")]


def settings_for(config: Path | None, store: str | None) -> Settings:
    return load_settings(config).replace("store", url=store)


def show_path(path: str) -> str:
    """Paths under the working directory are shown relative to it."""
    try:
        return os.path.relpath(path) if not os.path.relpath(path).startswith("..") else path
    except ValueError:
        return path


def bar_columns() -> list:
    return [TextColumn("{task.description:>9}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TimeRemainingColumn()]


class IngestBars(IngestProgress):
    """Ingest progress as two bars: files read, chunks embedded."""

    def __init__(self, bars: Progress):
        self.bars = bars
        self.files = bars.add_task("files", total=None)
        self.chunks = bars.add_task("embedding", total=0)

    def start(self, files: int) -> None:
        self.bars.update(self.files, total=files)

    def file_done(self, path: str) -> None:
        self.bars.advance(self.files)

    def embedding(self, chunks: int) -> None:
        task = self.bars.tasks[self.chunks]
        self.bars.update(self.chunks, total=(task.total or 0) + chunks)

    def embedded(self, chunks: int) -> None:
        self.bars.advance(self.chunks, chunks)

    def indexing(self, done: int, total: int) -> None:
        if not hasattr(self, "index"):
            self.index = self.bars.add_task("indexing", total=total)
        self.bars.update(self.index, completed=done)
