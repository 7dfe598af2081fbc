"""`tunewise cost` and `tunewise report`: price the systems and write the decision report. Thin
wrappers over `tunewise.cost` and `tunewise.report`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from tunewise.cli.common import ConfigOpt, out, show_path
from tunewise.config import load_settings
from tunewise.evaluate.metrics import PRIMARY

QueriesOpt = Annotated[Optional[float], typer.Option(
    "--queries-per-day", "-q", min=0.0, help="The volume monthly costs assume (default: [cost] "
    "queries_per_day, 1,000).")]
app = typer.Typer()

GpuOpt = Annotated[Optional[str], typer.Option(
    help="Price-table GPU a self-hosted model is priced on (default: [cost] gpu, l4).")]


def _settings(config, gpu, qpd):
    settings = load_settings(config)
    return settings.replace("cost", gpu=gpu, queries_per_day=int(qpd) if qpd else None)


@app.command("cost")
def cost_cmd(
    queries_per_day: QueriesOpt = None,
    systems: Annotated[Optional[str], typer.Option(
        help="Comma-separated: configured models (NAME or NAME+rag) and API models of the price "
        "table. Default: every system of --run, else every configured model and [cost] "
        "reference.")] = None,
    run: Annotated[Optional[Path], typer.Option(
        help="An evaluation run: use its measured tokens per query and answer times.")] = None,
    prompt_tokens: Annotated[float, typer.Option(
        help="Without --run: prompt tokens per query (a RAG prompt with 5 chunks is ~1,500).")
    ] = 1500,
    completion_tokens: Annotated[float, typer.Option(
        help="Without --run: answer tokens per query.")] = 200,
    gpu: GpuOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Price each system: $ per 1,000 queries, the month at a volume, the GPUs it needs, and the
    volume where self-hosting beats the first reference API.

    Example: `tunewise cost --queries-per-day 5000 --systems local+rag,gpt-4o-mini,gpt-4o`

    Example: `tunewise cost --run .tunewise/runs/demo -q 20000 --gpu a10g --json`
    """
    # lazy: a command imports what it runs (importing every command's: +0.7 s on each --help)
    from tunewise.cost.prices import load_prices
    from tunewise.cost.serving import Workload
    from tunewise.cost.systems import break_even_with, price_names, price_run
    from tunewise.cost.table import cost_rows
    from tunewise.tasks.scoring import summarize

    settings = _settings(config, gpu, queries_per_day)
    prices = load_prices(settings.cost.prices)
    qpd = settings.cost.queries_per_day
    if run:
        rows = price_run(summarize(run), settings, prices)
        if systems:
            wanted = {s.strip() for s in systems.split(",")}
            rows = [r for r in rows if r.system in wanted]
    else:
        names = ([s.strip() for s in systems.split(",") if s.strip()] if systems
                 else list(settings.models) + list(settings.cost.reference))
        rows = price_names(names, settings.models, Workload(prompt_tokens, completion_tokens),
                           settings.cost, prices)
    header, table = cost_rows(rows, qpd)
    if as_json:
        reference = next((r for r in rows if r.kind == "reference"), None)
        out.print_json(json.dumps({"queries_per_day": qpd, "prices": list(prices.files),
                                   "rows": [{**r.to_dict(qpd), "break_even_vs": reference.name,
                                             "break_even_queries_per_day":
                                             break_even_with(r, reference)}
                                            if reference and r.hosting else r.to_dict(qpd)
                                            for r in rows]}))
        return
    t = Table(*header[:-1], title=f"Serving cost at {qpd:,.0f} queries/day")
    for row in table:
        t.add_row(*row[:-1])
    out.print(t)
    for r, row in zip(rows, table):
        out.print(f"[dim]{escape(r.name)}: {escape(row[-1])}[/dim]")


@app.command("report")
def report_cmd(
    run: Annotated[Path, typer.Argument(help="A run folder written by `tunewise eval run`.")],
    queries_per_day: QueriesOpt = None,
    metric: Annotated[Optional[str], typer.Option(
        help=f"The quality measure to rank by (default: {', '.join(PRIMARY)} — the first "
        "measured; a task run: its task's).")] = None,
    gpu: GpuOpt = None,
    out_dir: Annotated[Optional[Path], typer.Option(
        "--out", help="Folder for report.html and report.md (default: the run folder).")] = None,
    min_score: Annotated[Optional[float], typer.Option(
        help="The quality floor on the ranking measure (default [report] min_score): a system "
        "below it does not qualify.")] = None,
    target_size: Annotated[Optional[str], typer.Option(
        help="Also price the recommended level at this size (default [cost] target_size): 7b, "
        "13b, 34b, 70b, a parameter count (3e9) or a config.json.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Write the decision report: quality against cost, latency, monthly cost against volume with
    the break-even points, and a recommended level with what would change it. report.html is
    self-contained (open it in any browser, offline); report.md has the same content.

    A system is recommended only if it beats the run's best trivial baseline significantly and
    reaches the floor; when none does, the report says so, names the closest, and what to try.

    Example: `tunewise report .tunewise/runs/demo --queries-per-day 5000 --target-size 7b`
    """
    # lazy: a command imports what it runs (importing every command's: +0.7 s on each --help)
    from tunewise.report.build import build_report
    from tunewise.report.render import headline, write_report

    settings = _settings(config, gpu, queries_per_day).replace("cost", target_size=target_size)
    report = build_report(run, settings, settings.cost.queries_per_day, metric, min_score)
    html_path, md_path = write_report(report, out_dir or run)
    out.print(f"[bold green]{escape(headline(report))}[/bold green]")
    for reason in report.reasons:
        out.print(f"  - {escape(reason)}")
    for line in report.at_target:
        out.print(f"  at {report.target_size}: {escape(line)}")
    out.print(f"wrote {show_path(str(html_path))} and {show_path(str(md_path))}")
