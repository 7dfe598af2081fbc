"""`tunewise eval ...`: prepare question sets, run systems on them, summarise runs, and score
retrieval. Each command is a thin wrapper over one function of `tunewise.evaluate`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from tunewise.cli.common import (
    ConfigOpt,
    IngestBars,
    StoreOpt,
    WhereOpt,
    bar_columns,
    console,
    out,
    settings_for,
    show_path,
)
from tunewise.config import CONFIG_FILE
from tunewise.evaluate.baselines import with_baselines
from tunewise.evaluate.datasets import FORMATS, load_questions, prepare
from tunewise.evaluate.metrics import QA_METRICS
from tunewise.evaluate.retrieval import evaluate_retrieval
from tunewise.evaluate.runner import run_eval
from tunewise.evaluate.summary import comparison_rows, table_rows, to_markdown
from tunewise.objects import parse_where
from tunewise.systems import parse_systems
from tunewise.tasks import ALL, metric_help, task_named
from tunewise.tasks.datasets import load_items, prepare_task, task_of
from tunewise.tasks.label import teacher_of
from tunewise.tasks.runner import ALL as ALL_EXAMPLES
from tunewise.tasks.runner import TaskOptions, learns, run_task, subsets
from tunewise.tasks.scoring import run_summary
from tunewise.workspace import Workspace

app = typer.Typer(help="Measure systems (a model, with or without retrieval) on the same "
                       "questions: prepare, run, summary, retrieval.", no_args_is_help=True,
                       rich_markup_mode="markdown")

FormatOpt = Annotated[str, typer.Option(
    "--format", help=f"Question format: {', '.join(FORMATS)} (auto detects it).")]
SplitOpt = Annotated[Optional[str], typer.Option(
    help="BEIR qrels split (default test); PubMedQA official split: test or dev.")]


@app.command("prepare")
def prepare_cmd(
    dataset: Annotated[Path, typer.Argument(help="A SQuAD .json, BEIR folder, PubMedQA folder or "
                                            "question .jsonl; with --task: a .csv/.tsv/.jsonl of "
                                            "labelled examples or a Kleister-style folder.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for documents.jsonl, dev.jsonl, "
                                          "test.jsonl (with --task: train.jsonl, test.jsonl).")],
    task: Annotated[str, typer.Option(
        help=f"What the set measures: {', '.join(ALL)}.")] = "qa",
    text: Annotated[str, typer.Option(help="--task: the column holding the input text.")] = "text",
    label: Annotated[str, typer.Option(
        help="--task: the column holding the gold output: a label (classify), a summary "
        "(summarize), key=value pairs or a JSON object (extract).")] = "label",
    file: Annotated[Optional[str], typer.Option(
        help="--task: a column naming input files (read like `ingest` reads them: PDF, DOCX, "
        "HTML …), instead of --text.")] = None,
    test_fraction: Annotated[float, typer.Option(
        min=0.01, max=0.99, help="--task: the share of items held out in test.jsonl.")] = 0.2,
    test: Annotated[Optional[Path], typer.Option(
        help="--task: your own fixed test set (same columns): DATASET is then all training "
        "part, nothing is split.")] = None,
    fmt: FormatOpt = "auto",
    dev_fraction: Annotated[float, typer.Option(help="Share of questions in dev.jsonl.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of the dev/test shuffle.")] = 0,
    instruction: Annotated[Optional[str], typer.Option(
        help="Appended to every question for the model (SQuAD default: 'Answer with a short "
        "phrase.'; PubMedQA: 'Answer with one word: yes, no or maybe.').")] = None,
    ingest: Annotated[bool, typer.Option("--ingest", help="Also ingest documents.jsonl into "
                                         "the store.")] = False,
    withhold: Annotated[float, typer.Option(
        min=0.0, max=0.99, help="Leave this share of each article's documents out; their "
        "questions become unanswerable (on topic, not in the store).")] = 0.0,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Turn a dataset into documents to ingest plus seeded dev/test question files.

    PubMedQA keeps its official 500-question test split; other datasets are shuffled with --seed.
    --withhold 0.5 builds an answerability test: half of each article's paragraphs are not
    ingested, and the questions about them should be abstained on.

    With --task classify, extract or summarize, labelled examples are split (seeded) into
    train.jsonl, for the systems that learn, and test.jsonl.

    Example: `tunewise eval prepare ../shared/data/xquad-en/xquad.en.json --out eval/xquad --ingest`

    Example: `tunewise eval prepare phrases.csv --task classify --text sentence --label label --out eval/fpb`
    """
    if task != "qa":
        return _prepare_task(dataset, out_dir, task, text, label, file, test_fraction, seed, test)
    counts = prepare(dataset, out_dir, fmt, dev_fraction, seed, instruction, withhold)
    console.print(f"wrote {out_dir}/documents.jsonl ({counts['documents']} documents), "
                  f"dev.jsonl ({counts['dev']} questions), test.jsonl ({counts['test']} questions)")
    if counts["withheld"]:
        console.print(f"withheld {counts['withheld']} documents: {counts['unanswerable']} test "
                      "questions are unanswerable from the rest")
    if not counts["documents"]:
        console.print("the questions carry no contexts: ingest the documents they are about")
    elif ingest:
        with Workspace(settings_for(config, store)) as ws:
            report = ws.ingest([out_dir / "documents.jsonl"])
            console.print(f"ingested {report.documents} documents, {report.chunks} chunks; "
                          f"store: {ws.stats()['documents']} documents")
    else:
        console.print(f"next: tunewise ingest {out_dir}/documents.jsonl")


def _prepare_task(dataset, out_dir, task, text, label, file, test_fraction, seed, test) -> None:
    with Progress(*bar_columns(), console=console, transient=True) as bars:
        reading = bars.add_task("items", total=None)
        counts = prepare_task(dataset, out_dir, task, text, label, file, test_fraction, seed,
                              on_item=lambda: bars.advance(reading), test=test)
    for problem in counts["problems"]:
        console.print(f"[yellow]skipped[/yellow] {problem}", highlight=False)
    console.print(f"wrote {out_dir}/train.jsonl ({counts['train']} items) and test.jsonl "
                  f"({counts['test']} items)")
    console.print(f"next: tunewise eval run --questions {out_dir}/test.jsonl --systems "
                  f"local,local:shots=4{',encoder' if task == 'classify' else ''} --out runs/{task}")


@app.command("run")
def run_cmd(
    systems: Annotated[str, typer.Option(help="Comma-separated systems: MODEL or MODEL+rag, with "
                                         "optional :k=N:min_passage_similarity=X, e.g. "
                                         "local,local+rag:k=3. "
                                         "Task sets: MODEL, MODEL:shots=4 (nearest labelled "
                                         "examples in the prompt), encoder, encoder:frozen, "
                                         "finetune:lora, finetune:full.")],
    questions: Annotated[Path, typer.Option(help="Question file or dataset (any --format).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Run folder; an existing one resumes.")],
    fmt: FormatOpt = "auto",
    split: SplitOpt = None,
    limit: Annotated[Optional[int], typer.Option(
        min=1, help="Only the first N questions (a later run with a larger N extends the run).")] = None,
    max_tokens: Annotated[Optional[int], typer.Option(
        min=1, help="Answer budget in tokens (default: each model's max_tokens).")] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Questions in flight at once for API models "
                                             "(local models answer one at a time).")] = 4,
    rpm: Annotated[Optional[float], typer.Option(
        min=0.01, help="At most this many API calls a minute.")] = None,
    judge: Annotated[Optional[str], typer.Option(
        help="A model from [models] that grades correctness and faithfulness.")] = None,
    instruction: Annotated[Optional[str], typer.Option(
        help="Appended to every question for the model (overrides the file's).")] = None,
    where: WhereOpt = None,
    train: Annotated[Optional[Path], typer.Option(
        help="Task sets: the training part (default: train.jsonl beside --questions).")] = None,
    train_sizes: Annotated[Optional[str], typer.Option(
        help="Task sets: train each learning system on seeded nested subsets of these sizes, "
        "e.g. 25,50,100,200,all (the learning curve; default: all).")] = None,
    max_input_tokens: Annotated[int, typer.Option(
        min=64, help="Task sets: what a prompted model reads of an input; a longer document is "
        "cut to its passages most like each key (extract) or its beginning.")] = 1536,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Run each system on each question, appending one record per answer to OUT/records.jsonl.

    The trivial baselines that fit the questions are measured too (no model is called):
    `baseline:majority` (questions with choices), `baseline:abstain` (sets with unanswerable
    questions) and `baseline:extractive` (the best-matching sentence of the top passage).

    A task set (`eval prepare --task …`) is run against its training part (train.jsonl beside
    it): prompted systems read the task's prompt, trained ones are trained first (into
    OUT/trained/), and the task's own baselines are measured beside them.

    An interrupted run resumes where it stopped when the same command is run again; failed
    answers are retried then. Ends with the summary table.

    Example: `tunewise eval run --systems local,local+rag --questions eval/xquad/test.jsonl --out runs/xquad`

    Example: `tunewise eval run --systems local:shots=4,encoder --questions fpb/test.jsonl --out runs/fpb`
    """
    if task_of(questions) != "qa":
        return _run_task(systems, questions, out_dir, train, train_sizes, limit, max_tokens,
                         max_input_tokens, instruction, config, store)
    qs = load_questions(questions, fmt, split)
    with Workspace(settings_for(config, store)) as ws:
        chosen = with_baselines(parse_systems(systems, ws.settings.models), qs[:limit],
                                ws.stats()["chunks"] > 0)
        columns = bar_columns()
        try:
            with Progress(*columns, console=console, transient=True) as bars:
                task = bars.add_task("answers", total=len(qs[:limit]) * len(chosen))
                report = run_eval(ws, chosen, qs, out_dir, max_tokens, concurrency, rpm, judge,
                                  instruction, limit, on_record=lambda _: bars.advance(task),
                                  where=parse_where(where))
        except KeyboardInterrupt:
            _interrupted(out_dir, "answers")
    console.print(f"answered {report.answered}, judged {report.judged}, already done "
                  f"{report.skipped}, failed {report.failed}")
    _print_summary(run_summary(out_dir))
    if report.failed:
        raise typer.Exit(1)


def _interrupted(out_dir: Path, what: str) -> None:
    console.print(f"interrupted: {what} so far are in {out_dir}; run the same command again to "
                  "resume")
    raise typer.Exit(130) from None


def _run_task(systems, questions, out_dir, train, train_sizes, limit, max_tokens,
              max_input_tokens, instruction, config, store) -> None:
    """`eval run` on a task set: systems trained and prompted, the task's baselines beside them."""
    name, test = load_items(questions)
    train = train or Path(questions).with_name("train.jsonl")
    train_name, train_items = load_items(train)
    if train_name != name:
        raise typer.BadParameter(f"the training part is a {train_name} set, the test part "
                                 f"{name}", param_hint="--train")
    try:
        sizes = tuple(ALL_EXAMPLES if x.strip() == "all" else int(x)
                      for x in train_sizes.split(",") if x.strip()) if train_sizes else (ALL_EXAMPLES,)
    except ValueError:
        raise typer.BadParameter(f"{train_sizes!r}: whole numbers, e.g. 25,50,100",
                                 param_hint="--train-sizes") from None
    teacher, labelling_cost = teacher_of(train)
    options = TaskOptions(max_tokens=max_tokens, max_input_tokens=max_input_tokens,
                          train_sizes=sizes, instruction=instruction or "", train_file=str(train),
                          teacher=teacher, labelling_cost=labelling_cost)
    with Workspace(settings_for(config, store)) as ws:
        chosen = parse_systems(systems, None)
        for s in chosen:
            if not (s.baseline or s.trained or s.model in ws.settings.models):
                raise typer.BadParameter(f"unknown model {s.model!r}; configured: "
                                         f"{', '.join(ws.settings.models)}", param_hint="--systems")
        named = {s.name for s in chosen}
        chosen += [b for b in parse_systems([f"baseline:{b.name}" for b in
                                             task_named(name).baselines]) if b.name not in named]
        test = test[:limit]
        learning = sum(learns(task_named(name), s) for s in chosen)
        total = len(test) * (len(chosen) + learning * (len(subsets(train_items, sizes, 0)) - 1))
        try:
            with Progress(*bar_columns(), console=console, transient=True) as bars:
                task = bars.add_task("predictions", total=total)
                report = run_task(ws, name, chosen, train_items, test, out_dir, options,
                                  on_record=lambda _: bars.advance(task),
                                  on_status=lambda text: bars.update(task, description=text))
        except KeyboardInterrupt:
            _interrupted(out_dir, "predictions")
    console.print(f"predicted {report.answered}, already done {report.skipped}, failed "
                  f"{report.failed}")
    _print_summary(run_summary(out_dir))


SUMMARY_HELP = """Metrics per system with bootstrap 95% intervals, and paired comparisons that say
whether a difference is significant.

Question sets (and recall/mrr/ndcg@k of the retrieved documents):

""" + "\n".join(f"- {m.name}: {m.description}" for m in QA_METRICS) + """

Task sets:

""" + "\n".join(f"- {line}" for line in metric_help().splitlines()) + """

Example: `tunewise eval summary runs/xquad --output markdown`
"""


@app.command("summary", help=SUMMARY_HELP)
def summary_cmd(
    run: Annotated[Path, typer.Argument(help="A run folder written by `tunewise eval run`.")],
    output: Annotated[str, typer.Option("--output", "-o", help="table, markdown or json.")] = "table",
    compare: Annotated[Optional[str], typer.Option(
        help="Two systems to compare, A,B (default: each against the first).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap resampling.")] = 0,
) -> None:
    pair = tuple(compare.split(",")) if compare else None
    if pair is not None and len(pair) != 2:
        raise typer.BadParameter("give two systems: A,B", param_hint="--compare")
    summary = run_summary(run, pair, seed)
    if output == "json":
        out.print_json(json.dumps(summary.to_dict(), default=str))
    elif output == "markdown":
        typer.echo(to_markdown(summary))  # unwrapped: a wrapped table row is no longer a row
    elif output == "table":
        _print_summary(summary)
    else:
        raise typer.BadParameter("table, markdown or json", param_hint="--output")


def _print_summary(summary) -> None:
    header, rows = table_rows(summary)
    tables = [Table(*header)] + [Table(*h, title=f"paired per question: {title}")
                                 for title, h, _ in comparison_rows(summary)]
    for table, table_rows_ in zip(tables, [rows] + [r for _, _, r in comparison_rows(summary)]):
        for row in table_rows_:
            table.add_row(*map(escape, row))  # "f1[positive]" is a metric, not rich markup
        out.print(table)
    out.print("[dim]means with 95% bootstrap intervals; failed answers and failed verdicts are "
              "counted, not averaged[/dim]")


@app.command("retrieval")
def retrieval_cmd(
    beir: Annotated[Optional[Path], typer.Option(
        help="A BEIR folder (corpus.jsonl, queries.jsonl, qrels/); its corpus is ingested first.")] = None,
    questions: Annotated[Optional[Path], typer.Option(
        help="Or a question file whose questions name doc_ids in the store.")] = None,
    split: SplitOpt = None,
    k: Annotated[str, typer.Option("-k", help="Comma-separated cut-offs for recall@k.")] = "5,100",
    tune: Annotated[bool, typer.Option(
        "--tune", help="Fit fusion, k and the least passage similarity on a seeded half of the "
        "questions, report the other half before and after, and write them to the settings file.")
    ] = False,
    write: Annotated[bool, typer.Option(
        "--write/--no-write", help="With --tune: write the settings (to --config, default "
        "./tunewise.toml).")] = True,
    seed: Annotated[int, typer.Option(help="With --tune: seed of the split.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """nDCG@10, recall@k and MRR@10 of each retrieval mode against the gold documents; with
    --tune, retrieval settings fitted to these questions.

    Example: `tunewise eval retrieval --beir ../shared/data/scifact --store sqlite:scifact.db`

    Example: `tunewise eval retrieval --questions eval/mine/dev.jsonl --tune`
    """
    if (beir is None) == (questions is None):
        raise typer.BadParameter("give one of --beir DIR or --questions FILE")
    try:
        ks = tuple(int(x) for x in k.split(","))
    except ValueError:
        raise typer.BadParameter(f"{k!r}: give whole numbers separated by commas, e.g. 5,100",
                                 param_hint="-k") from None
    if min(ks) < 1:
        raise typer.BadParameter(f"{k!r}: each k must be at least 1", param_hint="-k")
    with Workspace(settings_for(config, store)) as ws:
        if beir is not None:
            with Progress(*bar_columns(), console=console, transient=True) as bars:
                ws.ingest([beir / "corpus.jsonl"], progress=IngestBars(bars))
        qs = load_questions(beir or questions, "beir" if beir else "auto", split)
        if tune:
            return _tune(ws, qs, seed, Path(config or CONFIG_FILE) if write else None, as_json)
        with Progress(*bar_columns(), console=console, transient=True) as bars:
            task = bars.add_task("queries", total=4 * len([q for q in qs if q.doc_ids]))
            results = evaluate_retrieval(ws, qs, ks, on_query=lambda: bars.advance(task))
    if as_json:
        out.print_json(json.dumps([r.__dict__ for r in results]))
        return
    table = Table("retrieval", "nDCG@10", *[f"recall@{x}" for x in ks], "MRR@10", "median ms",
                  title=f"{results[0].questions if results else 0} questions")
    for r in results:
        table.add_row(r.mode, f"{r.ndcg_at_10:.3f}", *[f"{r.recall_at[x]:.3f}" for x in ks],
                      f"{r.mrr_at_10:.3f}", f"{r.median_ms:.1f}")
    out.print(table)


def _tune(ws: Workspace, questions, seed: int, path: Path | None, as_json: bool) -> None:
    # lazy: a command imports what it runs (importing every command's: +0.7 s on each --help)
    from tunewise.config import write_settings
    from tunewise.evaluate.tuning import tune_retrieval

    with console.status("fitting retrieval settings"):
        tuned = tune_retrieval(ws, questions, seed)
    if path is not None:
        write_settings(path, tuned.settings())
    if as_json:
        out.print_json(json.dumps({**tuned.__dict__, "written_to": str(path) if path else None}))
        return
    grid = Table("setting", "nDCG@10 (tuning half)", title=f"{tuned.tuned_on} questions to tune on")
    for name, score in tuned.grid:
        grid.add_row(name, f"{score:.3f}")
    out.print(grid)
    held = Table("held-out half", *tuned.before, title=f"{tuned.held_out} questions held out")
    held.add_row(f"settings in force (k = {ws.settings.retrieval.k})",
                 *[f"{v:.3f}" for v in tuned.before.values()])
    held.add_row(f"tuned (k = {tuned.k})", *[f"{v:.3f}" for v in tuned.after.values()])
    out.print(held)
    chosen = (f"fusion = {tuned.fusion}" + (f", alpha = {tuned.alpha}" if tuned.fusion == "convex"
                                             else "") + f", k = {tuned.k}, [rag] min_passage_similarity = "
              f"{tuned.min_passage_similarity}")
    out.print(chosen + (f" — written to {show_path(str(path))}" if path else ""), markup=False)
