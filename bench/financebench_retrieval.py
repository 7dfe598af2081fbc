"""Finding the evidence in real company documents: FinanceBench's SEC filings (long PDFs with
financial statement tables), scored by whether retrieval finds the right document and the
*page* that holds the evidence.

    python bench/financebench_retrieval.py [--docs NAME,NAME…] [--store sqlite:FILE] [-k 10]
                                           [--chunk-size 256]

For each question (its evidence pages are zero-indexed in the data; tunewise's pages count from
1), each mode — dense, keyword, hybrid, hybrid filtered to the gold filing's company and year
(an oracle: `--where` from the answer), and hybrid with the filter the question itself names
among the store's metadata (`[retrieval] question_filter`, the default) — retrieves 10 chunks;
a document hit is a chunk of the gold filing, a page hit a chunk of the gold filing on a gold
page. In the same run a plain
baseline ranks whole pages with BM25 (`bm25s`, pip install bm25s). `--docs` limits the run to
some filings (and their questions): the whole set is 3,105 pages, 10-15 minutes of ingestion
on 2 cores. The store is kept (bench/out/), so a second run only scores. The first four rows
return every hit; the last two keep one hit per page of a filing (`[retrieval] one_per_page`,
the default), so that 5 hits show 5 pages. `--retriever DIR` adds the default search with what
`tunewise finetune-retriever --out DIR` fitted (its reranker; its embedder once `tunewise store
reembed` wrote its store).

`--bare` ingests the PDFs as a user's folder would be (no sidecar, no `--metadata`: tunewise
reads company, year and form from the documents, documents/metadata.py), prints how well it read
them against the dataset's document information, and scores every search there; then the same
store with the dataset's metadata laid over each document (as a sidecar would give it; a copy of
the store with its metadata column set, so the chunks and vectors are the same) — both with the
question filter off, `filter` and `boost`."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from common import DATA, OUT
from tunewise.config import Settings
from tunewise.documents import load_file
from tunewise.objects import as_where
from tunewise.retrieval import Retriever
from tunewise.workspace import Workspace

FB = DATA / "financebench-dev"


def load(docs: set[str] | None):
    info = {}
    for line in (FB / "financebench_document_information.dev.jsonl").read_text().splitlines():
        d = json.loads(line)
        info[d["doc_name"]] = d
    questions = []
    for line in (FB / "financebench_open_source.dev.jsonl").read_text().splitlines():
        q = json.loads(line)
        if docs and q["doc_name"] not in docs:
            continue
        pages = {(e["doc_name"], e["evidence_page_num"] + 1) for e in q["evidence"]}
        questions.append({"id": q["financebench_id"], "question": q["question"],
                          "doc": q["doc_name"], "pages": pages})
    names = sorted(docs or info)
    return {n: info[n] for n in names}, questions


def given(d: dict) -> dict:
    return {"company": d["company"], "doc_type": d["doc_type"], "year": d["doc_period"]}


def ingest(ws: Workspace, info: dict, bare: bool = False) -> float:
    started = time.perf_counter()
    for name, d in info.items():
        report = ws.ingest([FB / "pdfs" / f"{name}.pdf"], metadata=None if bare else given(d))
        for path, reason in report.failed:
            print(f"failed {path}: {reason}")
    return time.perf_counter() - started


def score(ranked: list[tuple[str, int | None]], q: dict, ks=(1, 5, 10)) -> dict:
    docs = [doc for doc, _ in ranked]
    out = {f"doc@{k}": float(q["doc"] in docs[:k]) for k in (1, 5)}
    for k in ks:
        out[f"page@{k}"] = float(any((doc, page) in q["pages"] for doc, page in ranked[:k]))
    return out


def mean(rows: list[dict]) -> dict:
    return {key: sum(r[key] for r in rows) / len(rows) for key in rows[0]} if rows else {}


def fitted_runs(ws: Workspace, folder: str, questions: list[dict], k: int) -> dict[str, dict]:
    """The default search (question filter, one hit per page) with what `finetune-retriever`
    fitted in `folder`: its reranker over the same store, and its embedder where re-embedded."""
    fitted = ws.retriever_for(folder)
    runs = {}
    if fitted.reranker is not None:
        runs["reranker"] = Retriever(ws.store, ws.embedder, ws.settings.retrieval, fitted.reranker)
    if fitted.store is not ws.store:
        runs["embedder"] = Retriever(fitted.store, fitted.embedder, ws.settings.retrieval)
        if fitted.reranker is not None:
            runs["embedder + reranker"] = fitted
    results = {}
    for label, retriever in runs.items():
        rows = []
        for q in questions:
            hits = retriever.search(q["question"], k=k)
            rows.append(score([(Path(h.chunk.source).stem, h.chunk.page) for h in hits], q))
        results[f"the default + fitted {label} ({folder})"] = mean(rows)
    return results


def tunewise_runs(ws: Workspace, info: dict, questions: list[dict], k: int) -> dict[str, dict]:
    results = {}
    every = Retriever(ws.store, ws.embedder, replace(ws.settings.retrieval, one_per_page=False))
    per_page = Retriever(ws.store, ws.embedder, replace(ws.settings.retrieval, one_per_page=True))
    named = 0
    boost = Retriever(ws.store, ws.embedder, replace(ws.settings.retrieval, one_per_page=True,
                                                     question_filter="boost"))
    # a page's evidence fused across its chunks; 0.5 set before any run, never tuned here
    pages = Retriever(ws.store, ws.embedder, replace(ws.settings.retrieval, one_per_page=True,
                                                     page_evidence=0.5))
    for label, mode, filtered, search in (
            ("dense", "dense", False, every.search), ("keyword", "keyword", False, every.search),
            ("hybrid", "hybrid", False, every.search),
            ("hybrid + company/year filter given (oracle)", "hybrid", True, every.search),
            ("hybrid + one hit per page", "hybrid", False, per_page.search),
            ("hybrid + filter given (oracle) + one hit per page", "hybrid", True, per_page.search),
            ("hybrid + filter from the question", "hybrid", "question", every.search),
            ("hybrid + filter from the question + one hit per page (question_filter = filter)",
             "hybrid", "question", per_page.search),
            ("hybrid + boost from the question + one hit per page (question_filter = boost)",
             "hybrid", "question", boost.search),
            ("hybrid + filter from the question + pages ranked by evidence (page_evidence = 0.5)",
             "hybrid", "question", pages.search)):
        rows = []
        for q in questions:
            d = info[q["doc"]]
            where = [f"company={d['company']}", f"year={d['doc_period']}"] \
                if filtered is True else []
            hits = search(q["question"], k=k, mode=mode, where=as_where(where),
                          question_filter=filtered == "question")
            if filtered == "question" and search == per_page.search:
                named += bool(per_page.question_filter(q["question"]))
            ranked = [(Path(h.chunk.source).stem, h.chunk.page) for h in hits]
            rows.append(score(ranked, q))
        results[label] = mean(rows)
    print(f"the question named a filter for {named} of {len(questions)} questions")
    return results


def metadata_accuracy(ws: Workspace, info: dict) -> None:
    """How well the rules read each filing's company (any of its names), year and form against
    the dataset's document information, and what reading them costs."""
    from tunewise.documents.metadata import read_metadata
    from tunewise.retrieval.question_filter import _norm

    right = {"company": 0, "year": 0, "doc_type": 0}
    seconds, wrong = 0.0, []
    for stored in ws.store.export():
        name = Path(stored.document.path).stem
        meta, gold = stored.document.metadata, info[name]
        names = {_norm(x) for x in str(meta.get("company_aliases", meta.get("company", ""))).split("|")}
        hits = {"company": _norm(gold["company"]) in names, "year": meta.get("year") == gold["doc_period"],
                "doc_type": _norm(str(meta.get("doc_type", ""))).startswith(_norm(gold["doc_type"]))}
        for key, ok in hits.items():
            right[key] += ok
        if not all(hits.values()):
            wrong.append(f"{name}: read {({k: meta.get(k) for k in hits})}")
        text = "\n".join(c.text for c in stored.chunks[:40])
        started = time.perf_counter()
        read_metadata(text, Path(stored.document.path))
        seconds += time.perf_counter() - started
    print(f"metadata read from {len(info)} filings: " + ", ".join(
        f"{k} {v}/{len(info)}" for k, v in right.items())
        + f" | {1000 * seconds / max(1, len(info)):.2f} ms a filing")
    for line in wrong:
        print(f"  {line}")


def model_reader_accuracy(ws: Workspace, info: dict) -> None:
    """The metadata `[ingest] metadata = "model"` would read with the [rag] model alone (no
    rules, file names hidden), against the dataset's document information, and its time."""
    from tunewise.documents.metadata import ModelReader
    from tunewise.retrieval.question_filter import _norm

    reader = ModelReader(ws.model())
    right, seconds = {"company": 0, "year": 0, "doc_type": 0}, 0.0
    for stored in ws.store.export():
        gold = info[Path(stored.document.path).stem]
        started = time.perf_counter()
        found, _ = reader("\n".join(c.text for c in stored.chunks[:20]), Path("document.pdf"))
        seconds += time.perf_counter() - started
        right["company"] += _norm(gold["company"]) in _norm(str(found.get("company", "")))
        right["year"] += found.get("year") == gold["doc_period"]
        right["doc_type"] += _norm(gold["doc_type"]) in _norm(str(found.get("doc_type", "")))
    print(f"metadata read by {ws.model().name} alone from {len(info)} filings: "
          + ", ".join(f"{k} {v}/{len(info)}" for k, v in right.items())
          + f" | {seconds / max(1, len(info)):.1f} s a filing, {reader.problems} unreadable answers")


def with_given_metadata(bare_url: str, info: dict) -> str:
    """A copy of the bare store with the dataset's metadata laid over each document's, as a
    sidecar would give it (its chunks and vectors unchanged)."""
    import shutil
    import sqlite3

    source = Path(bare_url.removeprefix("sqlite:"))
    copy = source.with_name(source.stem + "-given.db")
    shutil.copyfile(source, copy)
    db = sqlite3.connect(copy)
    for doc_id, path, meta in db.execute("SELECT id, path, metadata FROM documents").fetchall():
        d = info[Path(path).stem]
        merged = {**json.loads(meta or "{}"), **given(d)}
        merged["metadata_source"] = "; ".join(
            part for part in merged.get("metadata_source", "").split("; ")
            if part.split(":")[0] not in given(d)) + "; company: given; doc_type: given; year: given"
        db.execute("UPDATE documents SET metadata = ? WHERE id = ?", (json.dumps(merged), doc_id))
    db.commit()
    db.close()
    return f"sqlite:{copy}"


def extraction_seconds(info: dict) -> float:
    """Reading every filing as tunewise does (PDFium text, tables, headings), without chunking
    or embedding."""
    started = time.perf_counter()
    for name in info:
        load_file(FB / "pdfs" / f"{name}.pdf")
    return time.perf_counter() - started


def bm25_pages(info: dict, questions: list[dict], k: int) -> tuple[dict, float]:
    """The plain baseline: BM25 (bm25s) over whole pages of pypdf's text; and how long pypdf
    took to read them."""
    import bm25s
    from pypdf import PdfReader

    pages, ids = [], []
    started = time.perf_counter()
    for name in info:
        for number, page in enumerate(PdfReader(FB / "pdfs" / f"{name}.pdf").pages, start=1):
            pages.append(page.extract_text() or "")
            ids.append((name, number))
    read = time.perf_counter() - started
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(pages, stopwords="en", show_progress=False), show_progress=False)
    rows = []
    for q in questions:
        found, _ = retriever.retrieve(bm25s.tokenize([q["question"]], stopwords="en",
                                                     show_progress=False),
                                      k=min(k, len(pages)), show_progress=False)
        rows.append(score([ids[i] for i in found[0]], q))
    return mean(rows), read


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--docs", help="comma-separated doc names (default: all 27)")
    p.add_argument("--store", default=f"sqlite:{OUT / 'financebench.db'}")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--chunk-size", type=int, help="[chunking] size (default 256 tokens)")
    p.add_argument("--retriever", help="also the default search with what `tunewise "
                   "finetune-retriever` fitted in this folder")
    p.add_argument("--no-baseline", action="store_true", help="skip the BM25-over-pages baseline "
                   "(pypdf reads every page: minutes)")
    p.add_argument("--model-reader", action="store_true", help="with --bare: also how well the "
                   "[rag] model alone reads each filing's company, year and form")
    p.add_argument("--bare", action="store_true", help="a bare folder: no metadata given; then "
                   "the same store with the dataset's metadata laid over it")
    args = p.parse_args()
    docs = {d.strip() for d in args.docs.split(",")} if args.docs else None
    info, questions = load(docs)
    if args.bare and args.store == p.get_default("store"):
        args.store = f"sqlite:{OUT / 'financebench-bare.db'}"
    settings = Settings().replace("store", url=args.store).replace("chunking",
                                                                    size=args.chunk_size)
    results = {}
    with Workspace(settings) as ws:
        seconds = ingest(ws, info, bare=args.bare)
        stats = ws.stats()
        print(f"{len(info)} filings, {len(questions)} questions | store: {stats['documents']} "
              f"documents, {stats['chunks']} chunks | ingest (or check) {seconds:.0f} s")
        if args.bare:
            metadata_accuracy(ws, info)
            if args.model_reader:
                model_reader_accuracy(ws, info)
        for label, r in tunewise_runs(ws, info, questions, args.k).items():
            results[("bare folder: " if args.bare else "") + label] = r
        if args.retriever:
            results.update(fitted_runs(ws, args.retriever, questions, args.k))
    if args.bare:
        with Workspace(settings.replace("store", url=with_given_metadata(args.store, info))) as ws:
            for label, r in tunewise_runs(ws, info, questions, args.k).items():
                if any(w in label for w in ("filter", "boost", "evidence")) \
                        or label.endswith("one hit per page"):
                    results["metadata given: " + label] = r
    if not args.no_baseline:
        results["baseline: BM25 over whole pages (bm25s)"], pypdf_s = bm25_pages(info, questions,
                                                                                 args.k)
        print(f"reading the PDFs alone: tunewise (PDFium, tables) {extraction_seconds(info):.0f} "
              f"s, pypdf's extract_text {pypdf_s:.0f} s")
    keys = list(next(iter(results.values())))
    print("\n| retrieval, k = 10 | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for label, r in results.items():
        print(f"| {label} | " + " | ".join(f"{r[key]:.2f}" for key in keys) + " |")


if __name__ == "__main__":
    main()
