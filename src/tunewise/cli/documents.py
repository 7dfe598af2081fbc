"""The document commands: ingest, remove, search, ask, chat, stats — each a thin wrapper over one
Workspace method."""

from __future__ import annotations

import json
import webbrowser
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import Progress
from rich.table import Table

from tunewise.cli.common import (
    ConfigOpt,
    IngestBars,
    ModelOpt,
    NoRagOpt,
    PassagesOpt,
    StoreOpt,
    WhereOpt,
    bar_columns,
    console,
    out,
    settings_for,
    show_path,
)
from tunewise.config import flags
from tunewise.errors import TunewiseError
from tunewise.ingest import IngestReport
from tunewise.objects import metadata_value
from tunewise.retrieval import MODES
from tunewise.workspace import Workspace

app = typer.Typer()


@app.command("ingest")
def ingest_cmd(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (searched recursively).")],
    include: Annotated[Optional[list[str]], typer.Option(
        "--include", "-i", help="Only files whose path matches this glob (repeatable).")] = None,
    exclude: Annotated[Optional[list[str]], typer.Option(
        "--exclude", "-x", help="Skip files whose path matches this glob (repeatable).")] = None,
    sync: Annotated[bool, typer.Option(help="Drop documents whose files under PATHS are gone.")] = False,
    strict: Annotated[bool, typer.Option(help="Exit non-zero if any file failed.")] = False,
    chunk_size: Annotated[Optional[int], typer.Option(help="Chunk size in embedder tokens.")] = None,
    chunk_overlap: Annotated[Optional[int], typer.Option(help="Overlap in tokens.")] = None,
    meta: Annotated[Optional[list[str]], typer.Option(
        "--meta", help="KEY=VALUE metadata for every document of this ingest, for --where "
        "(repeatable; numbers stay numbers). A sidecar FILE.meta.json sets a file's own.")] = None,
    ray: Annotated[bool, typer.Option(
        "--ray", help="Read and embed on a Ray cluster; this process only writes. Starts one on this "
        "machine unless --ray-address (or RAY_ADDRESS) names one. Needs the ray extra.")] = False,
    ray_address: Annotated[Optional[str], typer.Option(
        envvar="RAY_ADDRESS", show_envvar=True,
        help="The cluster for --ray: 'auto' (the one `ray start` began here), HOST:PORT or "
        "ray://HOST:10001. Files must be on storage every node mounts at the same path.")] = None,
    workers: Annotated[Optional[int], typer.Option(
        min=1, help="Ray actors, one CPU each (default: one per CPU of the cluster).")] = None,
    isolate: Annotated[Optional[bool], typer.Option(
        "--isolate/--no-isolate", help="Read each file in a reader process killed past [ingest] "
        "max_seconds and refused memory past max_memory_mb (for files you do not trust; "
        "default [ingest] isolate).")] = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Load, chunk, embed and store documents (.txt .md .html .pdf .docx .pptx .xlsx .csv .tsv
    .eml .jsonl).

    Unchanged files are skipped, changed ones replace their old chunks. Bad files are reported
    and skipped. Exits 1 only if nothing could be ingested (or, with --strict, if any file failed).

    Example: `tunewise ingest docs/ --exclude '*/drafts/*' --sync`, `tunewise ingest docs/ --ray`
    """
    if workers is not None and not ray:
        raise typer.BadParameter("counts Ray actors: add --ray", param_hint="--workers")
    settings = settings_for(config, store).replace(
        "ingest", include=tuple(include) if include else None,
        exclude=tuple(exclude) if exclude else None, isolate=isolate)
    settings = settings.replace("chunking", size=chunk_size, overlap=chunk_overlap)
    with Workspace(settings) as ws:
        try:
            with Progress(*bar_columns(), console=console, transient=True) as bars:
                report = ws.ingest(paths, sync=sync, progress=IngestBars(bars),
                                   metadata=_metadata(meta),
                                   ray=(ray_address or "local") if ray else None, workers=workers)
        except KeyboardInterrupt:
            console.print("interrupted: what was written is consistent; "
                          "run the same command again to finish")
            raise typer.Exit(130) from None
        print_ingest_report(report, ws.stats())
    if not report.ok or (strict and report.failed):
        raise typer.Exit(1)


def _metadata(items: list[str] | None) -> dict:
    found = {}
    for item in items or ():
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise typer.BadParameter(f"{item!r}: write KEY=VALUE", param_hint="--meta")
        found[key.strip()] = metadata_value(value)
    return found


def print_ingest_report(report: IngestReport, stats: dict) -> None:
    for path, reason in report.failed:
        console.print(f"[red]failed[/red]  {show_path(path)}: {reason}")
    for path, problem in report.warnings[:20]:
        console.print(f"[yellow]skipped[/yellow] {show_path(path)}: {problem}")
    if len(report.warnings) > 20:
        console.print(f"[yellow]… and {len(report.warnings) - 20} more skipped records[/yellow]")
    for path, pages in report.ocr:
        console.print(f"ocr     {show_path(path)}: {pages} scanned page{'s' * (pages != 1)} read by OCR")
    for path in report.removed:
        console.print(f"removed {show_path(path)} (file is gone)")
    if report.workers:
        most = max(resident for _, resident in report.workers)
        n = len(report.workers)
        console.print(f"ray: {n} worker{'s' * (n != 1)}, at most {most / 2**20:.0f} MiB resident each")
    console.print(
        f"files: {len(report.added)} added, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged, {len(report.failed)} failed"
        + (f", {len(report.removed)} removed" if report.removed else "")
        + f" | wrote {report.documents} documents, {report.chunks} chunks in {report.seconds:.1f} s"
        + f" | store: {stats['documents']} documents, {stats['chunks']} chunks")


@app.command("remove")
def remove_cmd(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders whose documents to drop.")],
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Remove the documents of files (or of every file under folders) from the store.

    Example: `tunewise remove docs/old-policy.pdf`
    """
    with Workspace(settings_for(config, store)) as ws:
        removed = ws.remove(paths)
    console.print(f"removed {removed} documents")
    if removed == 0:
        raise typer.Exit(1)


@app.command("search")
def search_cmd(
    query: Annotated[str, typer.Argument(help="The question or keywords.")],
    k: Annotated[Optional[int], typer.Option("-k", min=1, help="How many hits.")] = None,
    mode: Annotated[Optional[str], typer.Option(
        help=f"Retriever: {', '.join(MODES)} (default hybrid).")] = None,
    min_similarity: Annotated[Optional[float], typer.Option(
        *flags("min_similarity", "retrieval"), help="Least cosine similarity of a hit (default "
        "[retrieval] min_similarity; keyword mode: [retrieval] min_bm25); may leave no hits.")
    ] = None,
    source: Annotated[Optional[str], typer.Option(
        help="Only documents whose path matches this glob or contains this text.")] = None,
    where: WhereOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Find the chunks that best answer a question.

    Example: `tunewise search "How many days can I work from home?" -k 3 --min-similarity 0.3`
    """
    with Workspace(settings_for(config, store)) as ws:
        hits, named = ws.search_explained(query, k=k, mode=mode, min_similarity=min_similarity,
                                          source=source, where=where)
        s = ws.settings.retrieval
        keyword = (mode or s.mode) == "keyword"
        limited = (s.min_bm25 is not None if keyword
                   else min_similarity is not None or s.min_similarity is not None)
    if as_json:
        out.print_json(json.dumps([{
            "rank": i, "score": h.score, "similarity": h.similarity, "retriever": h.retriever,
            "source": h.chunk.source, "title": h.chunk.title, "page": h.chunk.page,
            "start": h.chunk.start, "end": h.chunk.end, "text": h.chunk.text}
            for i, h in enumerate(hits, start=1)]))
        return
    if named.note:  # what the question named among the documents' metadata
        out.print(f"[dim]{named.note} ([retrieval] question_filter = \"off\" to search "
                  "everything)[/dim]", highlight=False)
    if not hits:
        least = "BM25 score" if keyword else "similarity"
        out.print("No matching passages" + (f" above the least {least}." if limited else "."))
        return
    for i, h in enumerate(hits, start=1):
        page = f", page {h.chunk.page}" if h.chunk.page else ""
        sim = f" cos {h.similarity:.3f}" if h.similarity is not None else ""
        out.print(f"[bold]{i}.[/bold] [cyan]{h.score:.3f}[/cyan]{sim}  "
                  f"[green]{show_path(h.chunk.source)}[/green]{page}")
        out.print(f"   {h.snippet(query=query)}", highlight=False)


@app.command("ask")
def ask_cmd(
    question: Annotated[str, typer.Argument(help="The question.")],
    model: ModelOpt = None,
    no_rag: NoRagOpt = False,
    k: PassagesOpt = None,
    min_passage_similarity: Annotated[Optional[float], typer.Option(
        *flags("min_passage_similarity", "rag"),
        help="Least cosine similarity of a passage (default [rag] min_passage_similarity).")
    ] = None,
    where: WhereOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    open_source: Annotated[Optional[int], typer.Option(
        "--open", min=1, help="Then open source N's file in the system viewer (a PDF at the "
        "cited page).")] = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Answer a question from the documents, citing numbered sources.

    When no passage is similar enough the answer says the documents do not contain it.

    Example: `tunewise ask "How many days per week can I work remotely?" --model local`

    Example: `tunewise ask "What was the FY2022 capex?" --open 1` (the cited PDF page opens)
    """
    with Workspace(settings_for(config, store)) as ws:
        stream = None if as_json else (lambda text: out.print(text, end="", highlight=False))
        result = ws.ask(question, model=model, rag=not no_rag, k=k,
                        min_passage_similarity=min_passage_similarity, on_token=stream, where=where)
    if as_json:
        out.print_json(json.dumps(result.to_dict()))
        return
    out.print()
    _print_passages(result)
    u = result.usage
    first = f", first token {result.first_token_s:.2f} s" if result.first_token_s else ""
    console.print(f"[dim]{result.model}: {u.prompt_tokens} prompt + {u.completion_tokens} "
                  f"answer tokens, {result.latency_s:.2f} s{first}[/dim]")
    if open_source is not None:
        _open(result, open_source)


def _open(result, number: int) -> None:
    """Open source `number`'s file with the system's viewer: a PDF at `#page=N`."""
    found = [s for s in result.passages if s.number == number]
    if not found:
        raise typer.BadParameter(f"the answer has {len(result.passages)} sources; no source {number}",
                                 param_hint="--open")
    path = Path(found[0].source.partition("#")[0])
    if not path.is_file():
        raise TunewiseError(f"source {number} is {path}, which is not a file here")
    page = found[0].page
    url = path.resolve().as_uri() + (f"#page={page}" if page and path.suffix.lower() == ".pdf" else "")
    webbrowser.open(url)
    console.print(f"opened {url}")


def _print_passages(result) -> None:
    if result.filtered:  # what the question named among the documents' metadata
        out.print(f"[dim]({result.filtered})[/dim]", highlight=False)
    for s in result.passages:
        sim = f", cos {s.similarity:.2f}" if s.similarity is not None else ""
        out.print(f"[dim]{s.cite()} (score {s.score:.2f}{sim})[/dim]", highlight=False)


@app.command("chat")
def chat_cmd(
    model: ModelOpt = None,
    no_rag: NoRagOpt = False,
    k: PassagesOpt = None,
    where: WhereOpt = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Chat about the documents in the terminal, with streamed answers and sources.

    Follow-up questions are rewritten into standalone questions before retrieval. Type 'exit'
    or press Ctrl-D to leave.

    Example: `tunewise chat --model local`
    """
    with Workspace(settings_for(config, store)) as ws:
        talk = ws.conversation(model, rag=not no_rag, k=k, where=where)
        while True:
            try:
                question = input("you> ").strip()
            except (EOFError, KeyboardInterrupt):
                break
            if question.lower() in ("exit", "quit", ":q"):
                break
            if not question:
                continue
            try:
                result = talk.ask(question, on_token=lambda t: out.print(t, end="", highlight=False))
            except TunewiseError as exc:
                console.print(f"[red]error:[/red] {exc}")
                continue
            out.print()
            if result.question != question:
                out.print(f"[dim](searched for: {result.question})[/dim]", highlight=False)
            _print_passages(result)


@app.command("stats")
def stats_cmd(config: ConfigOpt = None, store: StoreOpt = None) -> None:
    """Show what the store holds: files, documents, chunks, embedder, size.

    Example: `tunewise stats --store sqlite:scifact.db`
    """
    with Workspace(settings_for(config, store)) as ws:
        stats = ws.stats()
    table = Table(show_header=False)
    for key, value in stats.items():
        table.add_row(key, str(value))
    out.print(table)
