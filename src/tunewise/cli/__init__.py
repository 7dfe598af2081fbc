"""The `tunewise` command line. Each module holds one concern's commands on its own
`typer.Typer()`; this root mounts them all the same way: a module whose commands sit at the top
level is added without a name, a command group (eval, data, tokenizer, store) under its name.
Every command is a thin wrapper over one function of the Python API; every error the user can
fix is a `TunewiseError`, reported here in one line with its exit code."""

from __future__ import annotations

from typing import Annotated

import typer

from tunewise import __version__
from tunewise.cli import data, decide, documents, evaluate, plan, serve, store, train
from tunewise.cli.common import console, out
from tunewise.errors import TunewiseError

app = typer.Typer(help="tunewise: answer questions from your documents, measure, and decide "
                  "between a closed API, fine-tuning and training your own model.",
                  no_args_is_help=True, add_completion=False, rich_markup_mode="markdown")
for module, group in ((documents, None), (serve, None), (evaluate, "eval"), (data, "data"),
                      (train, None), (plan, "plan"), (decide, None), (store, "store")):
    app.add_typer(module.app, name=group)


def _version(value: bool) -> None:
    if value:
        out.print(f"tunewise {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False) -> None:
    """tunewise: answer questions from your documents, measure, and decide between a closed API,
    fine-tuning and training your own model."""


def main() -> None:
    try:
        app()
    except TunewiseError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise SystemExit(exc.exit_code) from None
