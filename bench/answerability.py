"""Abstaining when the answer is not in the documents, even on topic (issue 17, item 5).

XQuAD-en with half of each article's paragraphs withheld (`eval prepare --withhold 0.5`): a
question about a withheld paragraph is on topic — its article's other paragraphs are in the store
and retrieval finds them — but unanswerable. The bundled model answers a sample of answerable and
unanswerable questions with RAG once, with the support check recording each answer's score but
withholding nothing (min_support 0); the trade-off curve then follows from the scores: at each
threshold, how many unanswerable questions are abstained on, how many answerable ones falsely,
and the F1 of the whole set (SQuAD 2.0 scoring: abstaining on an unanswerable question is right).

    python bench/answerability.py                 # 100 + 100 questions, ~15 min on 2 cores
    python bench/answerability.py --per-kind 30   # quicker
    python bench/answerability.py --reranker      # + the trained cross-encoder's signal

With --reranker, 30% of the questions are set aside (seed 0) before the sample is drawn from the
rest: a cross-encoder is trained on the answerable ones among them (`finetune_retriever`, no
embedder), and `[rag] min_relevance` is chosen on all of them (where abstention on unanswerable
minus abstention on answerable questions peaks, with no answer generated). The test sample is
then scored with the support check alone, the cross-encoder alone, and either.
The run resumes (bench/out/runs/answerability-N); the curve is printed and written as JSON."""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys

from common import DATA, OUT
from tunewise.config import Settings
from tunewise.evaluate.datasets import load_questions, prepare
from tunewise.evaluate.metrics import answer_scores
from tunewise.evaluate.runner import load_records, run_eval
from tunewise.evaluate.stats import bootstrap
from tunewise.rag.support import says_not_found
from tunewise.systems import parse_systems
from tunewise.workspace import Workspace

THRESHOLDS = [round(0.1 * i, 1) for i in range(11)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-kind", type=int, default=100,
                        help="answerable and unanswerable questions each")
    parser.add_argument("--model", default="local")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--reranker", action="store_true",
                        help="train a cross-encoder on a dev part and add its signal")
    args = parser.parse_args()

    folder = OUT / ("xquad-withheld-dev" if args.reranker else "xquad-withheld")
    counts = prepare(DATA / "xquad-en" / "xquad.en.json", folder,
                     dev_fraction=0.3 if args.reranker else 0.0, withhold=0.5)
    print(f"XQuAD-en: {counts['documents']} paragraphs ingested, {counts['withheld']} withheld; "
          f"{counts['unanswerable']} of {counts['test']} questions unanswerable", file=sys.stderr)
    questions = load_questions(folder / "test.jsonl")
    rng = random.Random(0)
    kinds = [[q for q in questions if q.unanswerable == u] for u in (False, True)]
    sample = [q for qs in kinds for q in rng.sample(qs, args.per_kind)]
    rng.shuffle(sample)

    settings = Settings().replace("store", url=f"sqlite:{OUT / 'xquad-withheld.db'}")
    settings = settings.replace("rag", min_support=0.0)  # score every answer, withhold none
    run = OUT / "runs" / f"answerability-{args.per_kind}{'-dev' if args.reranker else ''}"
    with Workspace(settings) as ws:
        if not ws.stats()["documents"]:
            ws.ingest([folder / "documents.jsonl"])
        run_eval(ws, parse_systems(f"{args.model}+rag", ws.settings.models), sample, run,
                 max_tokens=args.max_tokens, concurrency=1)
    records = [r for r in load_records(run).values() if not r.get("error")]
    curve = [point(records, t) for t in THRESHOLDS]
    print("| min_support | abstained, unanswerable | abstained, answerable (false) | F1 answerable "
          "| F1 all (SQuAD 2.0) |\n|---|---|---|---|---|")
    for p in curve:
        print(f"| {p['threshold']:.1f} | {p['abstained_unanswerable']:.3f} | "
              f"{p['abstained_answerable']:.3f} | {p['f1_answerable']:.3f} | "
              f"{p['f1_all']:.3f} [{p['f1_all_low']:.3f}, {p['f1_all_high']:.3f}] |")
    supports = {u: [r["support"] for r in records if r["unanswerable"] == u and r["support"] is not None]
                for u in (False, True)}
    for u, values in supports.items():
        print(f"median support, {'unanswerable' if u else 'answerable'}: "
              f"{statistics.median(values):.3f} (n={len(values)})")
    (run / "curve.json").write_text(json.dumps({"records": len(records), "curve": curve}, indent=1))
    print(f"wrote {run / 'curve.json'}", file=sys.stderr)
    if args.reranker:
        with Workspace(settings) as ws:
            cross_encoder(ws, folder, records)


def cross_encoder(ws, folder, records: list[dict]) -> None:
    """Train the cross-encoder on the dev part's answerable questions, choose min_relevance on
    the whole dev part, and score the test sample's records with it beside the support check."""
    from tunewise.rerank.cross_encoder import CrossEncoderReranker
    from tunewise.retrieval import Retriever
    from tunewise.train.retriever import finetune_retriever

    dev = load_questions(folder / "dev.jsonl")
    answerable = folder / "dev-answerable.jsonl"
    answerable.write_text("".join(q.to_json() + "\n" for q in dev if not q.unanswerable))
    trained = finetune_retriever(ws, answerable, OUT / "ret-xquad", embedder=False, reranker=True)
    print(f"cross-encoder: {trained.get('pairs', '?')} dev pairs, "
          f"{trained['reranker']['seconds']:.0f} s", file=sys.stderr)
    retriever = Retriever(ws.store, ws.embedder, ws.settings.retrieval,
                          CrossEncoderReranker(trained["reranker"]["folder"]))

    def relevance(question: str) -> float | None:
        hits = retriever.search(question, min_similarity=ws.settings.rag.min_passage_similarity)
        return max((h.score for h in hits), default=None)  # None: nothing retrieved

    def abstains(rel: float | None, t: float) -> bool:
        return rel is None or rel < t

    dev_rel = [(q.unanswerable, relevance(q.question)) for q in dev]
    grid = [round(0.05 * i, 2) for i in range(1, 20)]

    def gap(t: float) -> float:
        return (statistics.mean(abstains(r, t) for u, r in dev_rel if u)
                - statistics.mean(abstains(r, t) for u, r in dev_rel if not u))

    chosen = max(grid, key=gap)
    print(f"\nmin_relevance chosen on the dev part ({len(dev)} questions, "
          f"{sum(u for u, _ in dev_rel)} unanswerable): {chosen} (gap {gap(chosen):.3f})")
    for r in records:
        r["relevance"] = relevance(r["question"])
    print("\n| abstain when | abstained, unanswerable | abstained, answerable (false) | "
          "F1 all (SQuAD 2.0) |\n|---|---|---|---|")
    for label, rule in (
            ("support < 0.6 (today)", lambda r: r["support"] is not None and r["support"] < 0.6),
            (f"cross-encoder < {chosen}", lambda r: abstains(r["relevance"], chosen)),
            ("either", lambda r: (r["support"] is not None and r["support"] < 0.6)
             or abstains(r["relevance"], chosen))):
        p = point(records, 2.0, rule)
        print(f"| {label} | {p['abstained_unanswerable']:.3f} | {p['abstained_answerable']:.3f} | "
              f"{p['f1_all']:.3f} [{p['f1_all_low']:.3f}, {p['f1_all_high']:.3f}] |")


def point(records: list[dict], threshold: float, rule=None) -> dict:
    """The measures at one threshold: an answer is abstained on if retrieval found nothing or its
    support is below the threshold (or, given `rule`, where the rule says so)."""
    f1_all, f1_answerable, abst = [], [], {True: [], False: []}
    for r in records:
        text = r["withheld"] or r["prediction"]
        check = rule(r) if rule else (r["support"] is not None and r["support"] < threshold)
        abstained = (r["abstained"] or says_not_found(text)  # records written before the check
                     or check)
        f1 = answer_scores(text, r["answers"], r["choices"], abstained, r["unanswerable"])["f1"]
        f1_all.append(f1)
        abst[r["unanswerable"]].append(float(abstained))
        if not r["unanswerable"]:
            f1_answerable.append(f1)
    ci = bootstrap(f1_all)
    return {"threshold": threshold, "abstained_unanswerable": statistics.mean(abst[True]),
            "abstained_answerable": statistics.mean(abst[False]),
            "f1_answerable": statistics.mean(f1_answerable), "f1_all": ci.mean,
            "f1_all_low": ci.low, "f1_all_high": ci.high}


if __name__ == "__main__":
    main()
