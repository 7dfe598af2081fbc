"""`tunewise serve`: the OpenAI-compatible API and the web page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tunewise.cli.common import ConfigOpt, StoreOpt, console, settings_for
from tunewise.workspace import Workspace

app = typer.Typer()


@app.command("serve")
def serve_cmd(
    host: Annotated[Optional[str], typer.Option(
        help="Address to listen on (default [serve] host, 127.0.0.1). Any other address "
        "needs an API key.")] = None,
    port: Annotated[Optional[int], typer.Option(
        min=1, max=65535, help="Port (default [serve] port, 8000).")] = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Serve every system over an OpenAI-compatible API, with document upload and search, and a
    web page to ask questions at `/`.

    Systems (`GET /v1/models`): `docs` (the [rag] model with retrieval), and each configured
    model alone (`NAME`) and with retrieval (`NAME+rag`). Clients send
    `Authorization: Bearer KEY` when [serve] api_keys (or TUNEWISE_SERVE_API_KEYS) is set.

    Task systems ([tasks.NAME]; `tunewise decide --task` registers its winner): `GET /v1/tasks`,
    `POST /v1/tasks/NAME` with `{"inputs": ["…", …]}` (one output a text), and the chat model
    `task:NAME` whose reply is that JSON answer. With [serve] log_requests, a collection's
    requests and answers are kept for `tunewise data from-log`.

    Example: `tunewise serve --port 8000`, then open http://127.0.0.1:8000/ or point any
    OpenAI client at http://127.0.0.1:8000/v1
    """
    # lazy: a command imports what it runs (importing every command's: +0.7 s on each --help)
    from tunewise.serve.app import ServeError, callers, check_exposure, serve

    settings = settings_for(config, store).replace("serve", host=host, port=port)
    host, port = settings.serve.host, settings.serve.port
    keys = callers(settings.serve)  # a [serve.keys.NAME] without its variable ends here
    try:
        console.print(f"tunewise serve: http://{host}:{port}/ — {check_exposure(host, keys)}")
    except ServeError as exc:
        raise typer.BadParameter(str(exc), param_hint="--host") from None
    serve(Workspace(settings), host, port)


@app.command("mcp")
def mcp_cmd(
    key: Annotated[Optional[str], typer.Option(
        envvar="TUNEWISE_MCP_KEY", show_envvar=True,
        help="The API key whose collections the tools may read ([serve] api_keys or a "
        "[serve.keys.NAME] key); needed when keys are configured.")] = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Serve the documents to an MCP client (Claude Desktop, an IDE agent) over stdio: tools
    `search`, `ask` (with citations) and `list_documents`, under the same key and collection
    rules as `tunewise serve`.

    Example: `{"command": "tunewise", "args": ["mcp"],
    "env": {"TUNEWISE_MCP_KEY": "…"}}` in an MCP client's configuration
    """
    # lazy: a command imports what it runs (importing every command's: +0.7 s on each --help)
    from tunewise.serve.app import callers
    from tunewise.serve.guard import Caller
    from tunewise.serve.mcp_server import build, run_stdio

    settings = settings_for(config, store)
    keys = callers(settings.serve)
    if keys and key not in keys:
        raise typer.BadParameter("keys are configured: give one of them ([serve] api_keys or a "
                                 "[serve.keys.NAME] key)", param_hint="--key")
    caller = keys[key] if keys else Caller("local", (), (), admin=True)
    run_stdio(build(Workspace(settings), caller))


@app.command("predict")
def predict_cmd(
    task: Annotated[str, typer.Argument(help="A served task ([tasks.NAME]; `tunewise decide "
                                        "--task` registers its winner).")],
    file: Annotated[Path, typer.Argument(help="A .csv, .tsv or .jsonl file of inputs.")],
    out_file: Annotated[Path, typer.Option(
        "--out", help="JSONL: each row with its `output`; an existing file resumes.")],
    text: Annotated[str, typer.Option(help="The column holding the input text.")] = "text",
    batch: Annotated[int, typer.Option(min=1, max=256, help="Inputs a forward.")] = 16,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Run a file through a served task system: one JSON line a row, its columns plus `output`
    (a label, fields or a summary), `system` and, for classify, `probabilities` where the
    system has them. Rows already in --out are skipped: run it again to resume.

    Example: `tunewise predict fpb new_sentences.csv --text sentence --out labelled.jsonl`
    """
    # lazy: a command imports what it runs (importing every command's: +0.7 s on each --help)
    from rich.progress import Progress

    from tunewise.cli.common import bar_columns
    from tunewise.tasks.datasets import read_table
    from tunewise.tasks.served import ServedTask, predict_file

    with Workspace(settings_for(config, store)) as ws:
        served = ServedTask(ws, task)
        rows = read_table(file)
        try:
            with Progress(*bar_columns(), console=console, transient=True) as bars:
                bar = bars.add_task("rows", total=len(rows))
                report = predict_file(served, rows, out_file, text, batch,
                                      on_rows=lambda n: bars.advance(bar, n))
        except KeyboardInterrupt:
            console.print(f"interrupted: rows so far are in {out_file}; run the same command "
                          "to resume")
            raise typer.Exit(130) from None
    for problem in report.problems:
        console.print(f"[yellow]skipped[/yellow] {problem}", highlight=False)
    console.print(f"predicted {report.predicted} rows with {served.system_name} "
                  f"({report.failed} unparseable, written with their error), "
                  f"{report.skipped} already in {out_file}")
