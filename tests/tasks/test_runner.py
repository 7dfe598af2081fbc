"""Task runs end to end: a prompted API model (constrained by a JSON schema, parsed strictly),
few-shot examples chosen by embedding, the bundled model under a llama.cpp grammar, a trained
encoder with its learning curve, the task's baselines — into records, a summary and a report."""

import json

import pytest

from tests.evaluate.scripted import ScriptedModel, last_user, with_api_model
from tests.models.chat_server import ChatServer
from tests.tasks.conftest import DOWN, UP, sentiment_items
from tunewise.config import Settings
from tunewise.evaluate.runner import load_records
from tunewise.report.build import build_report
from tunewise.report.render import write_report
from tunewise.systems import parse_systems
from tunewise.tasks import classify
from tunewise.tasks.runner import TaskOptions, run_task
from tunewise.tasks.scoring import run_summary
from tunewise.workspace import Workspace


def keyword_classifier(messages):
    """Right by the sentence's words, except on quarter 4, where it answers off the schema."""
    text = last_user(messages)
    if "quarter 4" in text:
        return "I think this one is rather good news."
    label = ("positive" if any(p in text for p in UP) else
             "negative" if any(p in text for p in DOWN) else "neutral")
    return json.dumps({"label": label})


SYSTEMS = "api,api:shots=2,encoder:frozen,baseline:tfidf,baseline:majority"
OPTIONS = TaskOptions(train_sizes=(6, -1), encoder_epochs=3)


@pytest.fixture(scope="module")
def task_ws(tmp_path_factory, embedder, local_model):
    path = tmp_path_factory.mktemp("tasks") / "s.db"
    ws = Workspace(Settings().replace("store", url=f"sqlite:{path}"), embedder=embedder,
                   models={"local": local_model})
    with ChatServer(ScriptedModel(keyword_classifier), parallel=True) as server:
        api = with_api_model(ws, "api", server.base_url)
        api.server = server
        yield api


@pytest.fixture(scope="module")
def classify_run(task_ws, tmp_path_factory):
    """(run folder, what run_task reported): five systems, two training sizes, 12 test items."""
    out = tmp_path_factory.mktemp("classify") / "run"
    report = run_task(task_ws, "classify", parse_systems(SYSTEMS), sentiment_items(30, seed=1),
                      sentiment_items(12, seed=2), out, OPTIONS)
    return out, report


def test_a_classify_run_measures_prompted_trained_and_baseline_systems(task_ws, classify_run,
                                                                        tmp_path):
    out, report = classify_run
    # api and api:shots=2 (12 each), encoder:frozen and tfidf at 6 and 30 examples, majority
    assert report.answered == 12 * 7 and report.failed == 0
    records = load_records(out)
    shown = [json.loads(json.dumps(r)) for r in task_ws.server.requests]
    schema = shown[0]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["label"]["enum"] == ["negative", "neutral", "positive"]
    assert max(len(r["messages"]) for r in shown) == 2 + 2 * 2  # system, 2 examples, input
    quarter4 = [r for r in records.values() if r["system"] == "api" and "quarter 4" in r["text"]]
    assert quarter4 and all(r["parsed"] is None and r["parse_error"] for r in quarter4)

    summary = run_summary(out)
    by = {s.system: s.metrics for s in summary.systems}
    assert set(by) == {"api", "api:shots=2", "encoder:frozen", "encoder:frozen@6",
                       "baseline:tfidf", "baseline:tfidf@6", "baseline:majority"}
    unparseable = by["api"]["unparseable"].mean
    assert unparseable == pytest.approx(len(quarter4) / 12)
    assert by["api"]["accuracy"].mean == pytest.approx(1 - unparseable)
    assert by["baseline:majority"]["macro_f1"].mean < 0.3
    assert summary.metric_names()[:3] == ["accuracy", "macro_f1", "unparseable"]

    built = build_report(out, task_ws.settings)
    assert built.metric == "macro_f1"
    assert "encoder:frozen@6" not in {c.system for c in built.candidates}
    assert {p.examples for p in built.task.curve} == {6, 30}
    assert any(n.startswith("encoder:frozen") for n in built.task.notes)
    assert built.task.confusions["api"][0][-1] + built.task.confusions["api"][1][-1] \
        + built.task.confusions["api"][2][-1] == len(quarter4)
    html, md = write_report(built, tmp_path / "report")
    assert "how many labels does training need" in md.read_text().lower()
    assert (tmp_path / "report" / "report-learning-curve.svg").exists()

    again = run_task(task_ws, "classify", parse_systems(SYSTEMS), sentiment_items(30, seed=1),
                     sentiment_items(12, seed=2), out, OPTIONS)
    assert (again.answered, again.skipped) == (0, 12 * 7)


def test_a_task_report_shows_its_learning_curve_and_confusion_matrices_in_chromium(
        task_ws, classify_run, tmp_path):
    from selenium.webdriver.common.by import By

    from tests.browser import chromium

    html_path, _ = write_report(build_report(classify_run[0], task_ws.settings), tmp_path)
    with chromium() as browser:
        browser.get(html_path.as_uri())
        section = browser.find_element(By.CSS_SELECTOR, "#task")
        assert section.is_displayed() and "how many labels" in section.text.lower()
        assert "encoder:frozen" in section.text  # the learning-curve sentence
        curve = section.find_element(By.CSS_SELECTOR, "figure svg")
        assert curve.size["width"] > 400 and len(curve.find_elements(By.CSS_SELECTOR, "path")) > 5
        matrices = section.find_elements(By.CSS_SELECTOR, "figure.confusion svg")
        assert len(matrices) == 5 and all(m.is_displayed() and m.size["height"] > 100
                                          for m in matrices)
        assert "(unparseable)" in matrices[0].text


def test_the_bundled_model_under_a_grammar_always_names_a_valid_label(task_ws, tmp_path):
    train, test = sentiment_items(9, seed=1), sentiment_items(4, seed=3)
    run_task(task_ws, "classify", parse_systems("local"), train, test, tmp_path / "run")
    records = [r for r in load_records(tmp_path / "run").values() if r["system"] == "local"]
    assert len(records) == 4
    assert all(r["constrained"] and r["parsed"] in classify.spec(train).labels for r in records)


@pytest.mark.parametrize("system, message", [
    ("baseline:lead", "not a baseline of the classify task; valid: baseline:majority, "
                      "baseline:tfidf"),
    ("api+rag", "drop '\\+rag'")])
def test_a_system_that_does_not_fit_the_task_is_refused_before_anything_runs(
        task_ws, tmp_path, system, message):
    from tunewise.evaluate.runner import EvalError

    with pytest.raises(EvalError, match=message):
        run_task(task_ws, "classify", parse_systems(f"encoder,{system}"), sentiment_items(9, 1),
                 sentiment_items(3, 2), tmp_path / "run")
    assert not (tmp_path / "run" / "trained").exists()


def test_an_encoder_on_a_task_without_labels_is_refused(task_ws, tmp_path):
    from tunewise.evaluate.runner import EvalError

    with pytest.raises(EvalError, match="the encoder classifies"):
        run_task(task_ws, "summarize", parse_systems("encoder"), summary_items(4, 1),
                 summary_items(2, 2), tmp_path / "run")


def test_a_resumed_run_with_another_training_part_is_refused(task_ws, tmp_path):
    from tunewise.evaluate.runner import EvalError

    systems = parse_systems("baseline:majority")
    test = sentiment_items(6, seed=2)
    run_task(task_ws, "classify", systems, sentiment_items(9, seed=1), test, tmp_path / "run")
    with pytest.raises(EvalError, match="train"):
        run_task(task_ws, "classify", systems, sentiment_items(12, seed=1), test, tmp_path / "run")


def contract_items(n: int, seed: int):
    import random

    from tests.tasks.conftest import contract
    from tunewise.tasks.base import Item

    rng = random.Random(seed)
    items = []
    for i in range(n):
        a, b = rng.choice(["Acme Corp", "Globex Inc", "Initech LLC"]), rng.choice(["Jane Roe", "John Smith"])
        state, years = rng.choice(["Delaware", "New York", "Oregon"]), rng.randint(1, 5)
        items.append(Item(f"c{seed}-{i}", contract(a, b, f"May {i + 1}, 2020", years, state),
                          {"party": [a, b], "jurisdiction": [state], "term": [f"{years} years"],
                           "effective_date": [f"2020-05-{i + 1:02d}"]}))
    return items


def summary_items(n: int, seed: int):
    from tunewise.tasks.base import Item

    return [Item(f"m{seed}-{i}", f"Trial {i} enrolled {10 * i + 5} patients. The drug lowered "
                 f"blood pressure. Side effects were rare.", "The drug lowered blood pressure.")
            for i in range(n)]


def parties_or_second_sentence(messages):
    """An API model that answers every extraction with the parties only, and summarizes with
    the input's second sentence."""
    text = last_user(messages)
    if "Extract these fields" in messages[0]["content"]:
        return json.dumps({"party": ["Acme Corp"], "jurisdiction": [], "term": [],
                           "effective_date": []})
    return text.split(". ")[1] + "."


@pytest.mark.parametrize("task, items", [("extract", contract_items), ("summarize", summary_items)])
def test_extract_and_summarize_reports_render_in_chromium(task, items, tmp_path, embedder):
    from selenium.webdriver.common.by import By

    from tests.browser import chromium
    from tunewise.tasks import task_named

    ws = Workspace(Settings().replace("store", url=f"sqlite:{tmp_path / 's.db'}"), embedder=embedder)
    baselines = ",".join(f"baseline:{b.name}" for b in task_named(task).baselines)
    with ChatServer(ScriptedModel(parties_or_second_sentence), parallel=True) as server:
        api = with_api_model(ws, "api", server.base_url)
        run_task(api, task, parse_systems(f"api,{baselines}"), items(12, 1), items(8, 2),
                 tmp_path / "run")
        built = build_report(tmp_path / "run", api.settings)
    primary = {"extract": "f1", "summarize": "rouge_l"}[task]
    assert built.metric == primary
    scores = {s.system: s.metrics[primary].mean for s in built.summary.systems}
    if task == "extract":  # the rules read every key of these contracts; the API only parties
        assert scores["baseline:rules"] > scores["api"] > 0
    else:  # the API's sentence is the gold summary
        assert scores["api"] == pytest.approx(1.0) and scores["baseline:lead"] < 1.0
    html_path, _ = write_report(built, tmp_path / "report")
    with chromium() as browser:
        browser.get(html_path.as_uri())
        section = browser.find_element(By.CSS_SELECTOR, "#task")
        assert section.is_displayed() and task in section.text
        assert browser.find_element(By.CSS_SELECTOR, "#recommendation .level").is_displayed()
        assert not section.find_elements(By.CSS_SELECTOR, "figure.confusion")
