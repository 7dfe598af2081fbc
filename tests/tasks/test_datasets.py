"""Task sets: import with column options, a Kleister-style folder of real PDFs read by the
ingestion loaders (a corrupt one reported by name), a seeded split, and strict loading."""

import json
import lzma

import pytest

from tests.tasks.conftest import contract
from tunewise.tasks.base import TaskError
from tunewise.tasks.datasets import import_items, load_items, prepare_task, task_of


def _csv(path, rows):
    path.write_text("sentence,sentiment\n" + "".join(f'"{a}",{b}\n' for a, b in rows))
    return path


def test_prepare_splits_a_csv_by_seed_into_disjoint_train_and_test(tmp_path):
    data = _csv(tmp_path / "p.csv", [(f"sentence number {i}", "up" if i % 2 else "down")
                                     for i in range(50)])
    counts = prepare_task(data, tmp_path / "a", "classify", text="sentence", label="sentiment",
                          test_fraction=0.2, seed=3)
    assert (counts["train"], counts["test"]) == (40, 10)
    task, train = load_items(tmp_path / "a" / "train.jsonl")
    _, test = load_items(tmp_path / "a" / "test.jsonl")
    assert task == "classify" and task_of(tmp_path / "a" / "test.jsonl") == "classify"
    assert not {i.id for i in train} & {i.id for i in test}
    prepare_task(data, tmp_path / "b", "classify", text="sentence", label="sentiment",
                 test_fraction=0.2, seed=3)
    assert (tmp_path / "a" / "test.jsonl").read_bytes() == (tmp_path / "b" / "test.jsonl").read_bytes()


def test_a_missing_column_is_named_with_the_columns_there_are(tmp_path):
    data = _csv(tmp_path / "p.csv", [("a", "up"), ("b", "down")])
    with pytest.raises(TaskError, match="no column 'label'.*sentence, sentiment"):
        import_items(data, "classify", text="sentence")


def test_kleister_folder_pdfs_are_read_by_the_pdf_loader_and_a_corrupt_one_is_skipped(tmp_path):
    from fpdf import FPDF

    folder = tmp_path / "nda"
    (folder / "documents").mkdir(parents=True)
    names, expected = [], []
    for i, (a, state) in enumerate([("Acme Corp", "Delaware"), ("Globex Inc", "Oregon")]):
        pdf = FPDF()
        pdf.add_page()
        pdf.set_font("Helvetica", size=11)
        pdf.multi_cell(0, 6, contract(a, "John Smith", "May 1, 2020", 2, state))
        pdf.output(str(folder / "documents" / f"doc{i}.pdf"))
        names.append(f"doc{i}.pdf")
        expected.append(f"jurisdiction={state} party={a.replace(' ', '_')} party=John_Smith")
    (folder / "documents" / "broken.pdf").write_bytes(b"%PDF-1.4 this is not a pdf")
    names.append("broken.pdf")
    expected.append("jurisdiction=Texas")
    with lzma.open(folder / "in.tsv.xz", "wt") as f:
        f.write("".join(f"{n}\tjurisdiction party\t-\n" for n in names))
    (folder / "expected.tsv").write_text("\n".join(expected) + "\n")
    problems = []
    items = import_items(folder, "extract", problems=problems)
    assert [i.id for i in items] == ["doc0", "doc1"]
    assert "governed by the laws of the State of Delaware" in " ".join(items[0].text.split())
    assert items[0].gold == {"jurisdiction": ["Delaware"], "party": ["Acme Corp", "John Smith"]}
    assert len(problems) == 1 and problems[0].startswith("broken.pdf")


def test_loading_refuses_a_file_that_mixes_tasks(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text(json.dumps({"task": "classify", "text": "a", "gold": "x"}) + "\n"
                    + json.dumps({"task": "summarize", "text": "b", "gold": "y"}) + "\n")
    with pytest.raises(TaskError, match="item 2: task 'summarize'; expected classify"):
        load_items(path)


def test_every_task_module_defines_every_member_of_the_task_protocol():
    """What the runner, scoring and report use of a task is `base.Task`: a fourth task is one
    module that defines all of it, plus one line in TASKS."""
    import inspect

    from tunewise.tasks import TASKS, Task, task_named

    members = set(Task.__annotations__) | {
        name for name, value in vars(Task).items() if inspect.isfunction(value) and not name.startswith("_")}
    assert {"gold_of", "gold_may_be_empty", "queries", "confusion", "parse", "counts"} <= members
    for name in TASKS:
        missing = sorted(m for m in members if not hasattr(task_named(name), m))
        assert not missing, f"{name} lacks {missing}"


def test_a_spec_named_without_examples_comes_from_flags_or_a_schema_and_says_what_is_missing():
    from tunewise.tasks import task_named

    classify, extract, summarize = (task_named(t) for t in ("classify", "extract", "summarize"))
    enum = {"label": {"type": "string", "enum": ["neg", "pos"]}}
    assert classify.named_spec((), (), enum).labels == ("neg", "pos")
    assert classify.named_spec(("a", "b", "c"), (), enum).labels == ("a", "b", "c")  # flags win
    assert extract.named_spec((), (), {"party": {}, "date": {}}).keys == ("party", "date")
    assert summarize.named_spec((), (), {}, "Be brief.").instruction == "Be brief."
    with pytest.raises(TaskError, match="give the labels"):
        classify.named_spec(("only",), (), {})
    with pytest.raises(TaskError, match="give the keys"):
        extract.named_spec((), (), {})
