"""`tunewise data ...`: import instruction data, measure it, and synthesize it from the documents.
Each command is a thin wrapper over one function of `tunewise.data`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import Progress
from rich.table import Table

from tunewise.cli.common import ConfigOpt, StoreOpt, bar_columns, console, out, settings_for
from tunewise.data.clean import length_stats
from tunewise.data.formats import FORMATS, load_examples, write_examples
from tunewise.data.prepare import import_data
from tunewise.data.synth import sample_chunks, synthesize
from tunewise.tasks import task_named
from tunewise.tasks.datasets import load_items
from tunewise.tasks.runner import instruction_examples, view
from tunewise.workspace import Workspace

app = typer.Typer(help="Instruction data for fine-tuning: import, from-task, label (a teacher "
                  "labels your inputs), from-log, stats, synth, paraphrase.",
                       no_args_is_help=True, rich_markup_mode="markdown")


@app.command("import")
def import_cmd(
    files: Annotated[list[Path], typer.Argument(help="JSONL (or Alpaca .json) files.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for train.jsonl and val.jsonl.")],
    fmt: Annotated[str, typer.Option("--format", help=f"{', '.join(FORMATS)}; auto detects it "
                                     "per record.")] = "auto",
    val_fraction: Annotated[float, typer.Option(help="Share of examples for validation.")] = 0.1,
    seed: Annotated[int, typer.Option(help="Seed of the train/validation shuffle.")] = 0,
    near_duplicate: Annotated[float, typer.Option(
        help="Drop an example whose word 3-grams overlap a kept one this much (Jaccard); "
        "0 keeps near duplicates.")] = 0.8,
) -> None:
    """Convert Alpaca, ShareGPT, OpenAI messages or question/answer records to OpenAI messages,
    drop invalid records (reported by line), exact and near duplicates, and split.

    Example: `tunewise data import alpaca.json chats.jsonl --out data/`
    """
    report = import_data(files, out_dir, fmt, val_fraction, seed, near_duplicate or None)
    for path, problem in report.problems[:20]:
        console.print(f"[yellow]skipped[/yellow] {path} {problem}")
    if len(report.problems) > 20:
        console.print(f"[yellow]… and {len(report.problems) - 20} more[/yellow]")
    console.print(f"read {report.read} records: {len(report.problems)} invalid, "
                  f"{report.exact_duplicates} exact and {report.near_duplicates} near duplicates "
                  f"dropped | wrote {out_dir}/train.jsonl ({report.train}), "
                  f"{out_dir}/val.jsonl ({report.validation})")


@app.command("from-task")
def from_task_cmd(
    items: Annotated[Path, typer.Argument(help="A task set's training part (train.jsonl of "
                                          "`eval prepare --task …`).")],
    out_file: Annotated[Path, typer.Option("--out", help="Chat examples (JSONL) for "
                                           "`tunewise finetune --data`.")],
    max_input_tokens: Annotated[int, typer.Option(
        min=64, help="What the model reads of an input, as `eval run` cuts it.")] = 1536,
    brief: Annotated[bool, typer.Option(
        "--brief", help="The short prompt a task fine-tune is asked with (`classify: a, b, c` and "
        "the input), as `eval run --systems finetune:lora` trains; default: the zero-shot prompt "
        "a prompted MODEL system gets.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Instruction data from labelled examples: each item in the exact prompt `eval run` asks a
    model with, its gold label, fields or summary as the answer.

    Fine-tune on it, then measure the registered model as a prompted system beside the others
    (`eval run` does both in one go with `--systems finetune:lora`).

    Example: `tunewise data from-task eval/fpb/train.jsonl --out data/fpb.jsonl`
    """
    name, loaded = load_items(items)
    task = task_named(name)
    spec = task.spec(loaded)
    queries = task.queries(spec)
    with Workspace(settings_for(config, None)) as ws:
        examples = instruction_examples(task, spec, loaded,
                                        lambda text, chars: view(text, chars, queries, ws.embedder),
                                        max_input_tokens * 4, brief=brief)
    write_examples(out_file, examples)
    console.print(f"wrote {len(examples)} {name} examples to {out_file}; next: tunewise finetune "
                  f"--data {out_file} --out ft/{name}")


@app.command("stats")
def stats_cmd(
    file: Annotated[Path, typer.Argument(help="An instruction file (any format).")],
    model: Annotated[Optional[str], typer.Option(
        help="Count tokens with this model's tokenizer and chat template (default: [rag] model).")] = None,
    config: ConfigOpt = None,
) -> None:
    """Count examples and their token lengths against the model's context window.

    Example: `tunewise data stats data/train.jsonl --model local`
    """
    loaded = load_examples(file)
    with Workspace(settings_for(config, None)) as ws:
        chat = ws.model(model)
        stats = length_stats(loaded.examples, chat.count_tokens, chat.context_window)
    table = Table(show_header=False, title=f"{file} ({chat.name} tokens)")
    for key, value in vars(stats).items():
        table.add_row(key.replace("_", " "), str(value))
    table.add_row("invalid records", str(len(loaded.problems)))
    out.print(table)


# shared by the commands that have a teacher model work through the ingested chunks
TeacherOpt = Annotated[Optional[str], typer.Option(
    help="The model from [models] that writes (default: [rag] model).")]
ChunkLimitOpt = Annotated[Optional[int], typer.Option(min=1, help="Only the first N chunks.")]
SourceOpt = Annotated[Optional[str], typer.Option(
    help="Only chunks of documents whose path matches this glob.")]


@app.command("synth")
def synth_cmd(
    out_file: Annotated[Path, typer.Option("--out", help="JSONL of question/answer examples; "
                                           "an existing one resumes.")],
    teacher: TeacherOpt = None,
    per_chunk: Annotated[int, typer.Option(help="Questions asked for per chunk.")] = 3,
    limit: ChunkLimitOpt = None,
    sample: Annotated[Optional[int], typer.Option(
        min=1, help="Use a seeded random sample of N chunks, spread over all the documents "
        "(the same N chunks on every run, so it resumes).")] = None,
    source: SourceOpt = None,
    raft: Annotated[bool, typer.Option(
        "--raft", help="Write RAFT examples: each question in the RAG prompt with its gold chunk "
        "among distractors (the pairs go to OUT.pairs.jsonl).")] = False,
    distractors: Annotated[int, typer.Option(
        min=0, help="--raft: distractor chunks a question (the retriever's nearest misses).")] = 3,
    no_gold: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="--raft: share of questions shown only distractors.")] = 0.2,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Write question/answer pairs grounded in the ingested chunks with a teacher model, keeping
    those the chunk supports, that are not near-duplicates and not length outliers; with --raft,
    RAFT training data built from them.

    Example: `tunewise data synth --teacher gpt-4o-mini --out data/synth.jsonl`

    Example: `tunewise data synth --raft --distractors 3 --no-gold 0.2 --out data/raft.jsonl`
    """
    pairs_file = out_file.with_name(out_file.name.removesuffix(".jsonl") + ".pairs.jsonl") \
        if raft else out_file
    with Workspace(settings_for(config, store)) as ws:
        model = ws.model(teacher)
        chunks = list(ws.store.iter_chunks(source))
        chunks = sample_chunks(chunks, sample)
        total = min(len(chunks), limit) if limit is not None else len(chunks)
        with Progress(*bar_columns(), console=console, transient=True) as bars:
            task = bars.add_task("chunks", total=total)
            report = synthesize(chunks, model, pairs_file, per_chunk, limit,
                                on_chunk=lambda: bars.advance(task))
        if raft:
            # lazy: a command imports what it runs (importing every command's: +0.7 s on each --help)
            from tunewise.data.formats import write_examples
            from tunewise.data.synth import raft_examples

            examples = raft_examples(load_examples(pairs_file).examples,
                                     {c.id: c for c in chunks}, ws.settings.rag, distractors,
                                     no_gold, retriever=ws.retriever)
            write_examples(out_file, examples)
            gold = sum(e.meta["raft"] == "gold" for e in examples)
            console.print(f"wrote {out_file}: {len(examples)} RAFT examples ({gold} with the gold "
                          f"chunk, {len(examples) - gold} with distractors only)")
    for failure in report.failed[:10]:
        console.print(f"[red]failed[/red] {failure}")
    dropped = ", ".join(f"{n} {why}" for why, n in report.dropped.most_common()) or "none"
    console.print(f"chunks: {report.chunks} done now, {report.resumed} before, "
                  f"{len(report.failed)} failed | pairs kept: {report.kept}, dropped: {dropped} | "
                  f"teacher {model.name}: {report.prompt_tokens} prompt + "
                  f"{report.completion_tokens} completion tokens, ${report.cost:.4f}")
    if report.failed:
        raise typer.Exit(1)


@app.command("paraphrase")
def paraphrase_cmd(
    out_file: Annotated[Path, typer.Option("--out", help="JSONL of rewritten passages (documents "
                                           "for finetune --corpus); an existing one resumes.")],
    teacher: TeacherOpt = None,
    copies: Annotated[int, typer.Option(min=1, help="Rewordings per chunk.")] = 2,
    limit: ChunkLimitOpt = None,
    source: SourceOpt = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Rewrite the ingested chunks in other words with a teacher model, for continued pretraining
    on several phrasings of the same facts; a rewording that drops the chunk's names, numbers or
    terms is not kept.

    Example: `tunewise data paraphrase --teacher gpt-4o-mini --copies 2 --out data/para.jsonl`,
    then `tunewise finetune --corpus docs/ --corpus data/para.jsonl --out runs/cpt`
    """
    # lazy: a command imports what it runs (importing every command's: +0.7 s on each --help)
    from tunewise.data.synth import paraphrase

    with Workspace(settings_for(config, store)) as ws:
        model = ws.model(teacher)
        chunks = list(ws.store.iter_chunks(source))[:limit]
        with Progress(*bar_columns(), console=console, transient=True) as bars:
            task = bars.add_task("chunks", total=len(chunks))
            written = paraphrase(chunks, model, out_file, copies,
                                 on_chunk=lambda: bars.advance(task))
    console.print(f"wrote {written} rewordings of {len(chunks)} chunks to {out_file}")


@app.command("label")
def label_cmd(
    inputs: Annotated[Path, typer.Argument(help="Unlabelled inputs: a .csv, .tsv or .jsonl file.")],
    task: Annotated[str, typer.Option(help="classify, extract or summarize.")],
    teacher: Annotated[str, typer.Option(
        help="The model from [models] that labels (an API model, or a local one).")],
    out_file: Annotated[Path, typer.Option(
        "--out", help="A task set (train.jsonl lines) of the teacher's labels; an existing one "
        "resumes. Answers that could not be parsed go to OUT.rejected.jsonl.")],
    labels: Annotated[Optional[str], typer.Option(
        help="classify: the labels, comma-separated (default: those of --shots).")] = None,
    keys: Annotated[Optional[str], typer.Option(
        help="extract: the keys, comma-separated (default: those of --schema or --shots).")] = None,
    schema: Annotated[Optional[Path], typer.Option(
        help="A JSON schema of the answer: its properties are the keys to extract, or an enum "
        "`label` property the labels.")] = None,
    shots: Annotated[Optional[Path], typer.Option(
        help="Labelled examples (a task set or a table with --label): the nearest 4 are shown "
        "in each prompt.")] = None,
    text: Annotated[str, typer.Option(help="The input column.")] = "text",
    label: Annotated[str, typer.Option(help="--shots as a table: its gold column.")] = "label",
    budget: Annotated[Optional[float], typer.Option(
        min=0.0, help="Stop once the teacher's calls cost this many US$ (API models with a "
        "price: the price table or [models] input_price/output_price).")] = None,
    limit: Annotated[Optional[int], typer.Option(min=1, help="Only the first N inputs.")] = None,
    instruction: Annotated[Optional[str], typer.Option(
        help="Added to the task's instruction (what the labels mean, house rules).")] = None,
    config: ConfigOpt = None,
) -> None:
    """Labels from a teacher (distillation): a configured model labels your unlabelled inputs
    under the task's JSON schema; train a small model on them (`encoder`, `finetune:…`) and
    measure it against the teacher on your gold test part. The teacher's tokens and cost are
    counted and shown; answers that cannot be parsed are counted and dropped, never guessed.

    Example: `tunewise.tasks.label tickets.csv --task classify --labels billing,bug,other
    --teacher gpt --budget 5 --out data/teacher.jsonl`, then `tunewise eval run --questions
    fpb/test.jsonl --train data/teacher.jsonl --systems encoder,gpt --out runs/distil`
    """
    # lazy: a command imports what it runs (importing every command's: +0.7 s on each --help)
    import json

    from tunewise.tasks.base import Item, TaskError, TaskSpec
    from tunewise.tasks.datasets import import_items, read_table, task_of
    from tunewise.tasks.label import label_items, rejected_path

    module = task_named(task)
    examples: list = []
    # a task set of this task: a run can prompt the teacher from it again (`:examples=FILE`)
    shots_file = str(shots) if shots is not None and task_of(shots) == task else ""
    if shots is not None:
        examples = load_items(shots)[1] if shots_file else import_items(shots, task, text, label)
    label_list = tuple(x.strip() for x in (labels or "").split(",") if x.strip())
    key_list = tuple(x.strip() for x in (keys or "").split(",") if x.strip())
    properties: dict = {}
    if schema is not None:
        try:
            properties = json.loads(schema.read_text()).get("properties", {})
        except (OSError, ValueError, AttributeError) as exc:
            raise typer.BadParameter(f"{schema}: not a JSON schema ({exc})",
                                     param_hint="--schema") from None
    shown = module.spec(examples) if examples else TaskSpec(task)
    try:
        spec = module.named_spec(label_list or shown.labels, key_list or shown.keys, properties,
                                 instruction or "")
    except TaskError as exc:
        raise typer.BadParameter(str(exc)) from None
    rows = read_table(inputs)
    if rows and text not in rows[0]:
        raise typer.BadParameter(f"{inputs}: no column {text!r}; columns: {', '.join(rows[0])}",
                                 param_hint="--text")
    items = [Item(str(r.get("id") or n), str(r[text]), None) for n, r in enumerate(rows, start=1)
             if str(r.get(text) or "").strip()][:limit]
    with Workspace(settings_for(config, None)) as ws:
        with Progress(*bar_columns(), console=console, transient=True) as bars:
            bar = bars.add_task("labels", total=len(items))
            report = label_items(ws, task, spec, items, teacher, out_file, examples,
                                 budget=budget, on_item=lambda: bars.advance(bar),
                                 shots_file=shots_file)
    spent = ("no API price (a local model: its cost is the machine's time, "
             f"{report.seconds:.0f} s)" if report.spent is None
             else f"${report.spent:.4f} now, ${report.spent_before:.4f} before"
             + (f" (${report.per_item:.6f} an input)" if report.per_item else ""))
    console.print(f"labelled {report.labelled}, unparseable {report.rejected} (dropped, in "
                  f"{rejected_path(out_file)}), failed {report.failed}, already done "
                  f"{report.skipped} | teacher {teacher}: {report.prompt_tokens} prompt + "
                  f"{report.completion_tokens} completion tokens, {spent}", highlight=False)
    for error in report.errors:
        console.print(f"[red]failed[/red] {error}", highlight=False)
    if report.labels:
        console.print("labels: " + ", ".join(f"{k} {v}" for k, v in sorted(report.labels.items())))
    if report.stopped:
        console.print(f"[yellow]stopped:[/yellow] {report.stopped}; raise --budget to go on")
    console.print(f"next: tunewise eval run --train {out_file} --questions TEST.jsonl "
                  f"--systems encoder,{report.teacher} --out runs/distil  (the student beside its "
                  "teacher, both on your gold test part)")
    if report.failed:
        raise typer.Exit(1)


@app.command("from-log")
def from_log_cmd(
    log: Annotated[Path, typer.Argument(
        help="A request log ([serve] log_requests: LOGS/COLLECTION/requests.jsonl).")],
    out_file: Annotated[Path, typer.Option("--out", help="The JSONL to write.")],
    model: Annotated[Optional[str], typer.Option(
        help="Only this model's answers (a chat model, or a served task NAME).")] = None,
    task: Annotated[Optional[str], typer.Option(
        help="Write a task set (input and answer as gold) for this task instead of chat "
        "examples.")] = None,
) -> None:
    """Training data from traffic: a served model's logged answers as chat examples (for
    `tunewise finetune --data`) or, with --task, a task set (for `eval run --train`) — the
    model that answered is the teacher, with no extra calls.

    Example: `tunewise data from-log .tunewise/logs/default/requests.jsonl --model gpt --out data/gpt.jsonl`
    """
    # lazy: a command imports what it runs (importing every command's: +0.7 s on each --help)
    from tunewise.tasks.label import from_log

    counts = from_log(log, out_file, model, task)
    console.print(f"read {counts['read']} logged requests: wrote {counts['written']} "
                  f"{'items' if task else 'chat examples'} to {out_file}, skipped "
                  f"{counts['skipped']}")
