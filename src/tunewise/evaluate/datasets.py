"""Question sets: load JSONL, SQuAD v1.1/v2.0, BEIR folders and PubMedQA into `Question`s, and
`prepare` a dataset into documents to ingest plus seeded dev/test question files."""

from __future__ import annotations

import csv
import json
import random
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from tunewise.errors import TunewiseError

FORMATS = ("auto", "jsonl", "squad", "beir", "pubmedqa")
YES_NO_MAYBE = ("yes", "no", "maybe")


class DatasetError(TunewiseError):
    """A question file that cannot be read; the message names the file (and line) and why."""


@dataclass(frozen=True)
class Question:
    """One evaluation question. `answers` are the accepted gold answers;
    `choices` makes it a multiple-choice question (PubMedQA: yes/no/maybe); `doc_ids` name the
    gold documents by record key or by (the end of) their file path; `instruction` is appended
    to the question for the model, never to the retrieval query."""

    id: str
    question: str
    answers: tuple[str, ...] = ()
    context: str | None = None
    doc_ids: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    instruction: str | None = None
    unanswerable: bool = False  # the right answer is to abstain (SQuAD 2.0 "is_impossible")

    def to_json(self) -> str:
        d = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        return json.dumps({k: v for k, v in d.items() if v not in (None, [], "", False)},
                          ensure_ascii=False)


def detect_format(path: str | Path) -> str:
    path = Path(path)
    if path.is_dir():
        if (path / "queries.jsonl").exists() and (path / "qrels").is_dir():
            return "beir"
        if (path / "ori_pqal.json").exists():
            return "pubmedqa"
        raise DatasetError(f"{path}: a folder must be BEIR (queries.jsonl, qrels/) or PubMedQA "
                           "(ori_pqal.json)")
    if path.suffix == ".jsonl":
        return "jsonl"
    if path.suffix == ".json":
        data = _read_json(path)
        if isinstance(data, dict) and "data" in data:
            return "squad"
        if isinstance(data, dict) and data and all(isinstance(v, dict) and "QUESTION" in v
                                                   for v in list(data.values())[:5]):
            return "pubmedqa"
    raise DatasetError(f"{path}: unknown question format; valid: {', '.join(FORMATS[1:])}")


def load_questions(path: str | Path, fmt: str = "auto", split: str | None = None) -> list[Question]:
    """The questions of a dataset in file order. `split` picks BEIR's qrels file (default test)
    or PubMedQA's official split (test: the 500 of test_ground_truth.json; dev: the others)."""
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt not in FORMATS:
        raise DatasetError(f"unknown question format {fmt!r}; valid: {', '.join(FORMATS)}")
    if not Path(path).exists():
        raise DatasetError(f"{path}: no such file or folder")
    return _LOADERS[fmt](Path(path), split)


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read JSON ({exc})") from None


def _strings(value, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise DatasetError(f"{where}: expected a string or a list of strings, got {value!r}")


def _load_jsonl(path: Path, split: str | None) -> list[Question]:
    """Lines of {"question", "answers" (or "answer"), optional "id", "context", "doc_ids" (or
    "sources"), "choices", "instruction", "unanswerable"}; or `tunewise data synth` output
    ({"messages", "meta": {"source"}}: the user message asks, the assistant's answers, the
    chunk's document is the gold one), so synthesized questions can tune retrieval."""
    questions, seen = [], set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            r = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{where}: invalid JSON ({exc.msg})") from None
        if isinstance(r, dict) and "messages" in r and "question" not in r:
            r = _synthesized(r)
        if not isinstance(r, dict) or not isinstance(r.get("question"), str) or not r["question"].strip():
            raise DatasetError(f"{where}: no 'question' text")
        qid = str(r.get("id", number))
        if qid in seen:
            raise DatasetError(f"{where}: duplicate id {qid!r}")
        seen.add(qid)
        questions.append(Question(
            qid, r["question"].strip(), _strings(r.get("answers", r.get("answer")), where),
            r.get("context"), _strings(r.get("doc_ids", r.get("sources")), where),
            _strings(r.get("choices"), where), r.get("instruction"), bool(r.get("unanswerable"))))
    return questions


def _synthesized(r: dict) -> dict:
    """A synthesized pair as a question record (anything malformed is left to fail as such)."""
    said = {m.get("role"): m.get("content") for m in r["messages"] if isinstance(m, dict)}
    meta = r.get("meta") if isinstance(r.get("meta"), dict) else {}
    source = meta.get("source") if isinstance(meta.get("source"), str) else ""
    gold = source.rpartition("#")[2] if "#" in source else source  # a record by its key
    return {"question": said.get("user"), "answers": said.get("assistant"),
            **({"doc_ids": [gold]} if gold else {})}


def _load_squad(path: Path, split: str | None) -> list[Question]:
    """SQuAD v1.1/v2.0: each question's gold document is its paragraph, keyed ARTICLE-PARAGRAPH
    as `documents_of` writes it; v2.0 "is_impossible" questions are unanswerable."""
    data = _read_json(path)
    questions = []
    for a, article in enumerate(data.get("data", [])):
        for p, paragraph in enumerate(article["paragraphs"]):
            for qa in paragraph["qas"]:
                answers = tuple(dict.fromkeys(x["text"] for x in qa.get("answers", [])))
                questions.append(Question(
                    str(qa["id"]), qa["question"].strip(), answers, paragraph["context"],
                    (_squad_key(a, p),), unanswerable=bool(qa.get("is_impossible"))))
    if not questions:
        raise DatasetError(f"{path}: no questions (expected SQuAD's data/paragraphs/qas)")
    return questions


def _squad_key(article: int, paragraph: int) -> str:
    return f"{article:03d}-{paragraph:03d}"


def _load_beir(path: Path, split: str | None) -> list[Question]:
    """BEIR queries judged in qrels/SPLIT.tsv, with their relevant documents (no answers)."""
    split = split or "test"
    qrels_file = path / "qrels" / f"{split}.tsv"
    if not qrels_file.exists():
        raise DatasetError(f"{qrels_file}: no such split")
    relevant: dict[str, list[str]] = {}
    with open(qrels_file, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if int(row["score"]) > 0:
                relevant.setdefault(row["query-id"], []).append(row["corpus-id"])
    questions = []
    with open(path / "queries.jsonl") as f:
        for line in f:
            q = json.loads(line)
            if q["_id"] in relevant:
                questions.append(Question(q["_id"], q["text"], doc_ids=tuple(relevant[q["_id"]])))
    return questions


def _load_pubmedqa(path: Path, split: str | None) -> list[Question]:
    """PubMedQA PQA-L (ori_pqal.json): yes/no/maybe questions whose context is the abstract
    without its conclusion; the gold document is the abstract, keyed by PMID."""
    folder = path if path.is_dir() else path.parent
    data = _read_json(folder / "ori_pqal.json" if path.is_dir() else path)
    ids = list(data)
    if split in ("test", "dev"):
        truth = folder / "test_ground_truth.json"
        if not truth.exists():
            raise DatasetError(f"{truth}: needed for split {split!r}")
        test = set(_read_json(truth))
        ids = [i for i in ids if (i in test) == (split == "test")]
    return [Question(pmid, data[pmid]["QUESTION"].strip(), (data[pmid]["final_decision"],),
                     " ".join(data[pmid]["CONTEXTS"]), (pmid,), YES_NO_MAYBE,
                     "Answer with one word: yes, no or maybe.") for pmid in ids]


_LOADERS = {"jsonl": _load_jsonl, "squad": _load_squad, "beir": _load_beir,
            "pubmedqa": _load_pubmedqa}


def documents_of(path: str | Path, fmt: str = "auto") -> list[dict]:
    """The dataset's documents as JSONL records {"id", "title", "text"} that `ingest` reads."""
    path, fmt = Path(path), detect_format(path) if fmt == "auto" else fmt
    if fmt == "squad":
        return [{"id": _squad_key(a, p), "title": art.get("title", "").replace("_", " "),
                 "text": para["context"]}
                for a, art in enumerate(_read_json(path)["data"])
                for p, para in enumerate(art["paragraphs"])]
    if fmt == "beir":
        with open(path / "corpus.jsonl") as f:
            return [{"id": d["_id"], "title": d.get("title", ""), "text": d["text"]}
                    for d in map(json.loads, f)]
    if fmt == "pubmedqa":
        data = _read_json(path / "ori_pqal.json" if path.is_dir() else path)
        # No title: PubMedQA's questions are rephrased article titles, which would make
        # retrieval trivial. The text is the abstract without its conclusion.
        return [{"id": pmid, "text": " ".join(r["CONTEXTS"])} for pmid, r in data.items()]
    contexts = {q.context: q for q in load_questions(path, fmt) if q.context}
    return [{"id": q.doc_ids[0] if q.doc_ids else q.id, "title": "", "text": c}
            for c, q in contexts.items()]


def split_questions(questions: list[Question], dev_fraction: float, seed: int
                    ) -> tuple[list[Question], list[Question]]:
    """(dev, test): a seeded shuffle cut at `dev_fraction`; the same seed gives the same split."""
    shuffled = list(questions)
    random.Random(seed).shuffle(shuffled)
    cut = round(len(shuffled) * dev_fraction)
    return shuffled[:cut], shuffled[cut:]


def withhold_documents(docs: list[dict], fraction: float, seed: int) -> set[str]:
    """Ids of `fraction` of the documents, drawn with the seed within each article (a SQuAD
    paragraph's article is its id's prefix, so every article keeps some of its paragraphs and
    loses others: the questions about the lost ones stay on topic)."""
    articles: dict[str, list[str]] = {}
    for d in docs:
        articles.setdefault(d["id"].split("-")[0] if "-" in d["id"] else "", []).append(d["id"])
    rng = random.Random(seed)
    withheld = set()
    for ids in articles.values():
        withheld.update(rng.sample(ids, round(len(ids) * fraction)))
    return withheld


def prepare(path: str | Path, out: str | Path, fmt: str = "auto", dev_fraction: float = 0.2,
            seed: int = 0, instruction: str | None = None, withhold: float = 0.0) -> dict[str, int]:
    """Write OUT/documents.jsonl, OUT/dev.jsonl and OUT/test.jsonl; return their line counts.
    PubMedQA keeps its official test split; other sets are split with the seed. `withhold`: that
    share of the documents is left out of documents.jsonl, and the questions whose gold documents
    are all left out become unanswerable — on topic, but not answered by what is ingested."""
    if not 0.0 <= dev_fraction < 1.0:
        raise DatasetError(f"dev fraction {dev_fraction}: must be from 0 to less than 1 (the "
                           "rest is the test split)")
    if not 0.0 <= withhold < 1.0:
        raise DatasetError(f"withhold {withhold}: must be from 0 to less than 1")
    fmt = detect_format(path) if fmt == "auto" else fmt
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "pubmedqa" and (Path(path) if Path(path).is_dir() else Path(path).parent
                              ).joinpath("test_ground_truth.json").exists():
        dev, test = load_questions(path, fmt, "dev"), load_questions(path, fmt, "test")
    else:
        dev, test = split_questions(load_questions(path, fmt), dev_fraction, seed)
    if instruction is None and fmt == "squad":
        instruction = "Answer with a short phrase."
    if instruction is not None:
        dev, test = ([Question(**{**asdict(q), "instruction": instruction}) for q in qs]
                     for qs in (dev, test))
    docs = documents_of(path, fmt)
    withheld = withhold_documents(docs, withhold, seed) if withhold else set()
    if withheld:
        docs = [d for d in docs if d["id"] not in withheld]
        dev, test = ([replace(q, unanswerable=True) if q.doc_ids and set(q.doc_ids) <= withheld
                      else q for q in qs] for qs in (dev, test))
    _write_lines(out / "documents.jsonl", [json.dumps(d, ensure_ascii=False) for d in docs])
    _write_lines(out / "dev.jsonl", [q.to_json() for q in dev])
    _write_lines(out / "test.jsonl", [q.to_json() for q in test])
    return {"documents": len(docs), "dev": len(dev), "test": len(test), "withheld": len(withheld),
            "unanswerable": sum(q.unanswerable for q in test)}


def _write_lines(path: Path, lines: list[str]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    tmp.replace(path)  # a crash never leaves a half-written question file
