"""`tunewise cost`, `tunewise report` and `tunewise decide`: price the systems, write the decision
report, and the whole decision in one command (ingest, questions, evaluation, cost, report).
Thin wrappers over `tunewise.cost`, `tunewise.report` and the steps they chain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from tunewise.cli.common import ConfigOpt, StoreOpt, out, show_path
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
    from tunewise.tasks.scoring import run_summary

    settings = _settings(config, gpu, queries_per_day)
    prices = load_prices(settings.cost.prices)
    qpd = settings.cost.queries_per_day
    if run:
        rows = price_run(run_summary(run), settings, prices)
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
    _print_verdict(report, headline(report))
    out.print(f"wrote {show_path(str(html_path))} and {show_path(str(md_path))}")


def _print_verdict(report, headline: str) -> None:
    out.print(f"[bold green]{escape(headline)}[/bold green]")
    for reason in report.reasons:
        out.print(f"  - {escape(reason)}")
    for line in report.at_target:
        out.print(f"  at {report.target_size}: {escape(line)}")


class _Bars:
    """`tunewise.decide.Steps` as one rich progress bar a stage."""

    def __init__(self, bars):
        self.bars, self.task = bars, None

    def stage(self, name: str, total: int | None) -> None:
        if self.task is not None:
            self.bars.remove_task(self.task)
        self.task = self.bars.add_task(name, total=total)

    def advance(self, steps: int = 1) -> None:
        if self.task is not None:
            self.bars.advance(self.task, steps)

    def status(self, text: str) -> None:
        if self.task is not None:
            self.bars.update(self.task, description=text[:60])


@app.command("decide")
def decide_cmd(
    docs: Annotated[list[Path], typer.Argument(
        help="Files or folders of your documents: ingested into the store (unchanged files are "
        "skipped). With --task: one .csv/.tsv/.jsonl of labelled examples or a Kleister-style "
        "folder.")],
    questions: Annotated[Optional[Path], typer.Option(
        help="Evaluation questions (any `eval run` format). Default: written from the documents "
        "by --teacher into OUT/questions.jsonl, which you can review, edit and pass here.")] = None,
    systems: Annotated[Optional[str], typer.Option(
        help="Comma-separated systems (default: each configured model alone and with retrieval; "
        "with --task: each model zero- and few-shot and the task's trainable systems); "
        "the trivial baselines are always measured beside them.")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Run folder; an existing one resumes.")
                       ] = Path(".tunewise/runs/decide"),
    teacher: Annotated[Optional[str], typer.Option(
        help="Without --questions: the model that writes them (default: [rag] model).")] = None,
    sample: Annotated[int, typer.Option(
        min=1, help="Without --questions: chunks to write a question about (a seeded sample spread "
        "over the documents).")] = 30,
    max_tokens: Annotated[Optional[int], typer.Option(
        min=1, help="Answer budget in tokens (default: each model's max_tokens).")] = None,
    task: Annotated[Optional[str], typer.Option(
        help="Decide a task instead of questions over documents: classify, extract or "
        "summarize, on the labelled examples given as DOCS.")] = None,
    test: Annotated[Optional[Path], typer.Option(
        help="--task: your own fixed test set (same columns); default: a seeded --test-fraction "
        "of DOCS.")] = None,
    text: Annotated[str, typer.Option(help="--task: the input column.")] = "text",
    label: Annotated[str, typer.Option(
        help="--task: the gold column (a label, key=value pairs or JSON, a summary).")] = "label",
    file: Annotated[Optional[str], typer.Option(
        help="--task: a column naming input files (PDF, DOCX …), instead of --text.")] = None,
    test_fraction: Annotated[float, typer.Option(
        min=0.01, max=0.99, help="--task: the share held out for testing.")] = 0.2,
    train_sizes: Annotated[str, typer.Option(
        help="--task: the learning curve's points (the whole training part is always one).")
    ] = "100,400",
    name: Annotated[Optional[str], typer.Option(
        help="--task: the name the winner is served under (default: OUT's folder name).")] = None,
    queries_per_day: QueriesOpt = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Which level is worth it, in one command: evaluate the systems on the same held-out
    examples beside trivial baselines, price them, write the decision report (OUT/report.html)
    and say how to serve the winner. Each step resumes: run the same command again after an
    interruption, or with more systems.

    Questions over documents: DOCS are ingested, questions given or written by --teacher.
    With an API model, three lines:

        printf '[models.gpt]\\nbackend = "openai"\\nmodel = "gpt-4o-mini"\\n' >> tunewise.toml
        export OPENAI_API_KEY=sk-...
        tunewise decide docs/ --systems local+rag,gpt,gpt+rag

    A task (--task classify|extract|summarize) on labelled examples: every model zero- and
    few-shot, the task's trainable systems (the encoder and the LLM with a classification head
    for classify, the LLM fine-tune otherwise) with a learning curve, the baselines; the winner
    is registered as [tasks.NAME] for `tunewise serve` (POST /v1/tasks/NAME) and
    `tunewise predict NAME FILE`.

    Example: `tunewise decide sample/corpus --questions sample/questions.jsonl --out runs/demo`

    Example: `tunewise decide phrases.csv --task classify --text sentence --out runs/fpb`
    """
    # lazy: a command imports what it runs (importing every command's: +0.7 s on each --help)
    from rich.progress import Progress

    from tunewise.cli.common import IngestBars, bar_columns, console, settings_for
    from tunewise.cli.documents import print_ingest_report
    from tunewise.decide import decide_questions, decide_task
    from tunewise.report.render import headline
    from tunewise.workspace import Workspace

    settings = settings_for(config, store).replace(
        "cost", queries_per_day=int(queries_per_day) if queries_per_day else None)
    try:
        curve = tuple(int(x) for x in train_sizes.split(",") if x.strip() and x.strip() != "all")
    except ValueError:
        raise typer.BadParameter(f"{train_sizes!r}: whole numbers, e.g. 100,400",
                                 param_hint="--train-sizes") from None
    if task is not None and len(docs) != 1:
        raise typer.BadParameter("with --task, give one file or Kleister-style folder",
                                 param_hint="DOCS")
    with Workspace(settings) as ws, Progress(*bar_columns(), console=console, transient=True) as bars:
        try:
            if task is not None:
                decision = decide_task(ws, docs[0], out_dir, task, test, text, label, file,
                                       test_fraction, systems=systems, curve=curve, name=name,
                                       steps=_Bars(bars))
            else:
                decision = decide_questions(ws, docs, out_dir, questions, systems, teacher,
                                            sample, max_tokens, _Bars(bars), IngestBars(bars))
        except KeyboardInterrupt:
            console.print(f"interrupted: run the same command to resume ({show_path(str(out_dir))})")
            raise typer.Exit(130) from None
    if decision.ingested is not None:
        print_ingest_report(*decision.ingested)
    for note in decision.notes:
        console.print(note, highlight=False)
    c = decision.counts
    what = "answers" if task is None else "predictions"
    console.print(f"{what}: {c['answered']} now, {c['skipped']} before, {c['failed']} failed")
    _print_verdict(decision.report, headline(decision.report))
    out.print(f"report: {show_path(str(decision.html))}")
    for command in decision.serve:
        out.print(f"serve the winner: {escape(command)}" if command is decision.serve[0]
                  else f"  {escape(command)}")
    if c["failed"]:
        raise typer.Exit(1)
