"""Level 2 delivered: `tunewise decide --task` measures a task in one command and registers its
winner; the winner (and any other system of the run) is served by name — `tunewise predict`
over a file, POST /v1/tasks/NAME and the chat model `task:NAME` on a real server — and a
collection that opts in logs its requests, which `data from-log` turns into training data."""

import csv
import json
import random

import openai
import pytest
import requests
from typer.testing import CliRunner

from tests.evaluate.scripted import ScriptedModel, last_user
from tests.models.chat_server import ChatServer
from tests.serve.conftest import start
from tunewise.cli import app

# the train part says a direction with some words, the test part with others: a model that
# knows the language (the scripted API model) is right, word counts (TF-IDF) are not
TRAIN_WORDS = {"positive": ["profit rose", "sales grew", "orders increased"],
               "negative": ["profit fell", "sales dropped", "orders declined"],
               "neutral": ["the meeting is on Monday", "the office is in Oslo", "it has ten pages"]}
TEST_WORDS = {"positive": ["earnings climbed", "revenue jumped", "margins widened"],
              "negative": ["earnings slumped", "revenue plunged", "margins narrowed"],
              "neutral": ["the board has five members", "the plant makes paper", "staff wear blue"]}
ALL_WORDS = {k: TRAIN_WORDS[k] + TEST_WORDS[k] for k in TRAIN_WORDS}


def rows(words: dict, n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    labels = list(words)
    return [{"id": f"{seed}-{i}", "sentence": f"{rng.choice(['Kone', 'Neste', 'Elisa'])} said "
             f"{rng.choice(words[labels[i % 3]])} this year.", "sentiment": labels[i % 3]}
            for i in range(n)]


def write_csv(path, table: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)


def knows_the_words(messages) -> str:
    text = last_user(messages)
    found = next((label for label, ws in ALL_WORDS.items() if any(w in text for w in ws)), "neutral")
    return json.dumps({"label": found})


@pytest.fixture(scope="module")
def decided(tmp_path_factory):
    """(folder, CLI output, chat server) after `tunewise decide --task classify`."""
    root = tmp_path_factory.mktemp("decide-task")
    write_csv(root / "train.csv", rows(TRAIN_WORDS, 36, seed=1))
    write_csv(root / "test.csv", rows(TEST_WORDS, 30, seed=2))
    with ChatServer(ScriptedModel(knows_the_words), parallel=True) as server:
        (root / "tunewise.toml").write_text(
            f'[models.api]\nbackend = "openai"\nmodel = "t"\nbase_url = "{server.base_url}"\n'
            'api_key_env = "TUNEWISE_TEST_NO_KEY"\nmax_retries = 0\n'
            f'[store]\nurl = "sqlite:{root / "s.db"}"\n'
            f'[serve]\nlog_requests = ["*"]\nlogs = "{root / "logs"}"\n')
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(root)
            mp.setenv("TUNEWISE_REGISTRY", str(root / "registry.toml"))
            done = CliRunner().invoke(app, [
                "decide", "train.csv", "--task", "classify", "--test", "test.csv",
                "--text", "sentence", "--label", "sentiment", "--systems", "api,encoder:frozen",
                "--train-sizes", "12", "--out", "fpb"])
            yield root, done, server, mp


def test_decide_task_measures_every_system_and_registers_the_winner(decided):
    root, done, _, _ = decided
    assert done.exit_code == 0, done.output
    said = " ".join(done.output.split())
    records = [json.loads(x) for x in (root / "fpb" / "records.jsonl").read_text().splitlines()]
    systems = {r["system"] for r in records}
    assert {"api", "encoder:frozen", "encoder:frozen@12", "baseline:majority",
            "baseline:tfidf", "baseline:tfidf@12"} <= systems
    assert all(len([r for r in records if r["system"] == s]) == 30 for s in systems)
    assert (root / "fpb" / "report.html").is_file()
    registry = (root / "registry.toml").read_text()
    assert '[tasks."fpb"]' in registry and 'system = "api"' in registry
    assert "serve the winner: tunewise serve" in said and "tunewise predict fpb" in said
    encoder = [r for r in records if r["system"] == "encoder:frozen"]
    assert all(abs(sum(r["probabilities"].values()) - 1) < 1e-3 for r in encoder)


def test_decide_task_resumes_without_predicting_again(decided):
    root, _, _, mp = decided
    again = CliRunner().invoke(app, [
        "decide", "train.csv", "--task", "classify", "--test", "test.csv", "--text", "sentence",
        "--label", "sentiment", "--systems", "api,encoder:frozen", "--train-sizes", "12",
        "--out", "fpb"])
    assert again.exit_code == 0, again.output
    assert "predictions: 0 now" in " ".join(again.output.split())


def test_predict_runs_a_file_through_the_served_winner_and_resumes(decided):
    root, _, _, _ = decided
    new = rows(TEST_WORDS, 6, seed=7)
    write_csv(root / "new.csv", new)
    first = CliRunner().invoke(app, ["predict", "fpb", "new.csv", "--text", "sentence",
                                     "--out", "labelled.jsonl"])
    assert first.exit_code == 0, first.output
    lines = [json.loads(x) for x in (root / "labelled.jsonl").read_text().splitlines()]
    assert [r["output"] for r in lines] == [r["sentiment"] for r in new]
    assert all(r["system"] == "api" for r in lines)
    again = CliRunner().invoke(app, ["predict", "fpb", "new.csv", "--text", "sentence",
                                     "--out", "labelled.jsonl"])
    assert "predicted 0 rows" in again.output and "6 already" in again.output
    unknown = CliRunner().invoke(app, ["predict", "nope", "new.csv", "--out", "x.jsonl"])
    assert unknown.exit_code != 0 and "unknown task 'nope'" in str(unknown.exception)


def test_a_served_task_answers_over_http_and_as_a_chat_model_and_logs_its_requests(
        decided, embedder):
    from tunewise.config import load_settings, register_task
    from tunewise.serve.app import create_app
    from tunewise.workspace import Workspace

    root, _, _, _ = decided
    register_task("fpb-encoder", root / "fpb", "encoder:frozen")
    settings = load_settings().replace("serve", max_task_inputs=8)
    server, thread, url = start(create_app(Workspace(settings, embedder=embedder)))
    try:
        listed = requests.get(f"{url}/v1/tasks").json()["data"]
        assert {t["id"]: t["system"] for t in listed} == {"fpb": "api",
                                                           "fpb-encoder": "encoder:frozen"}
        texts = ["Kone said earnings climbed this year.", "Neste said profit fell this year."]
        got = requests.post(f"{url}/v1/tasks/fpb-encoder", json={"inputs": texts}, timeout=60)
        assert got.status_code == 200, got.text
        data = got.json()["data"]
        assert [d["index"] for d in data] == [0, 1] and data[0]["system"] == "encoder:frozen"
        assert all(d["output"] in ("positive", "negative", "neutral") for d in data)
        assert all(abs(sum(d["probabilities"].values()) - 1) < 1e-3 for d in data)

        assert requests.post(f"{url}/v1/tasks/nope", json={"inputs": ["x"]}).status_code == 404
        assert requests.post(f"{url}/v1/tasks/fpb", json={"inputs": []}).status_code == 400
        too_many = requests.post(f"{url}/v1/tasks/fpb", json={"inputs": ["a b"] * 9})
        assert too_many.status_code == 413 and "max_task_inputs" in too_many.text
        assert requests.post(f"{url}/v1/tasks/fpb", json={"inputs": [" "]}).status_code == 400

        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        assert "task:fpb" in {m.id for m in client.models.list().data}
        reply = client.chat.completions.create(
            model="task:fpb", messages=[{"role": "user", "content": texts[1]}])
        assert json.loads(reply.choices[0].message.content) == {"output": "negative",
                                                                "system": "api"}
        streamed = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
            model="task:fpb", messages=[{"role": "user", "content": texts[0]}], stream=True)
            if c.choices)
        assert json.loads(streamed)["output"] == "positive"

        logged = requests.get(f"{url}/v1/logs").json()["data"]
        assert [e["kind"] for e in logged] == ["task", "chat", "chat"]
        assert logged[0]["inputs"] == texts and logged[1]["outputs"][0] == \
            reply.choices[0].message.content
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_data_from_log_turns_logged_answers_into_task_items_and_chat_examples(decided):
    root, _, _, _ = decided
    log = root / "logs" / "default" / "requests.jsonl"
    made = CliRunner().invoke(app, ["data", "from-log", str(log), "--task", "classify",
                                    "--out", "from-log.jsonl"])
    assert made.exit_code == 0, made.output
    items = [json.loads(x) for x in (root / "from-log.jsonl").read_text().splitlines()]
    # two texts the encoder labelled over HTTP, one sentence the chat model task:fpb answered
    # and one it streamed
    assert len(items) == 4 and all(i["task"] == "classify" for i in items)
    assert {i["gold"] for i in items} <= {"positive", "negative", "neutral"}
    only = CliRunner().invoke(app, ["data", "from-log", str(log), "--task", "classify",
                                    "--model", "fpb-encoder", "--out", "encoder.jsonl"])
    assert "wrote 2 items" in " ".join(only.output.split())
    chat = CliRunner().invoke(app, ["data", "from-log", str(log), "--out", "chat.jsonl"])
    examples = [json.loads(x) for x in (root / "chat.jsonl").read_text().splitlines()]
    assert chat.exit_code == 0 and len(examples) == 2
    assert examples[0]["messages"][-1]["role"] == "assistant"


def test_an_mcp_client_lists_and_calls_each_served_task_as_a_tool(decided):
    import asyncio
    import os
    import sys

    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    root, _, _, _ = decided
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "tunewise", "mcp"], cwd=root,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TUNEWISE_REGISTRY": str(root / "registry.toml")})

    async def session():
        async with stdio_client(params) as (read, write), ClientSession(read, write) as s:
            await s.initialize()
            tools = {t.name: t.description for t in (await s.list_tools()).tools}
            called = await s.call_tool("task_fpb", {"inputs": ["Kone said revenue plunged."]})
            return tools, called

    tools, called = asyncio.run(session())
    assert "task_fpb" in tools and "labels: negative, neutral, positive" in tools["task_fpb"]
    assert not called.is_error
    assert json.loads(called.content[0].text) == {"output": "negative", "system": "api"}


def wrong_on_oslo(messages) -> str:
    return "hard to say" if "Oslo" in last_user(messages) else knows_the_words(messages)


def test_a_teacher_labels_inputs_with_its_cost_drops_what_it_cannot_parse_and_resumes(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUNEWISE_REGISTRY", str(tmp_path / "registry.toml"))
    unlabelled = rows(TRAIN_WORDS, 24, seed=3)
    write_csv(tmp_path / "inputs.csv", [{"id": r["id"], "sentence": r["sentence"]}
                                        for r in unlabelled])
    oslo = sum("Oslo" in r["sentence"] for r in unlabelled)
    gold_test = rows(TEST_WORDS, 24, seed=4)
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(
        {"id": r["id"], "task": "classify", "text": r["sentence"], "gold": r["sentiment"]}) + "\n"
        for r in gold_test))
    with ChatServer(ScriptedModel(wrong_on_oslo), parallel=True) as server:
        (tmp_path / "tunewise.toml").write_text(
            f'[models.teacher]\nbackend = "openai"\nmodel = "t"\nbase_url = "{server.base_url}"\n'
            'api_key_env = "TUNEWISE_TEST_NO_KEY"\nmax_retries = 0\n'
            'input_price = 100.0\noutput_price = 400.0\n'
            f'[store]\nurl = "sqlite:{tmp_path / "s.db"}"\n')
        argv = ["data", "label", "inputs.csv", "--task", "classify", "--teacher", "teacher",
                "--labels", "negative,neutral,positive", "--text", "sentence",
                "--out", "teacher.jsonl"]
        first = CliRunner().invoke(app, argv)
        assert first.exit_code == 0, first.output
        said = " ".join(first.output.split())
        assert f"labelled {24 - oslo}, unparseable {oslo}" in said and "$" in said
        labelled = [json.loads(x) for x in (tmp_path / "teacher.jsonl").read_text().splitlines()]
        truth = {r["id"]: r["sentiment"] for r in unlabelled}
        assert all(x["gold"] == truth[x["id"]] and x["teacher_cost"] > 0 for x in labelled)
        assert len((tmp_path / "teacher.rejected.jsonl").read_text().splitlines()) == oslo
        calls = server.model.calls
        again = CliRunner().invoke(app, argv)
        assert "already done 24" in " ".join(again.output.split()) and server.model.calls == calls

        capped = CliRunner().invoke(app, [*argv[:-1], "capped.jsonl", "--budget", "0.0001"])
        assert "stopped: the budget ($0.00) is spent" in " ".join(capped.output.split())
        assert len((tmp_path / "capped.jsonl").read_text().splitlines()) < 24

        # the student learns from the teacher's labels; the report sets it against its teacher
        run = CliRunner().invoke(app, [
            "eval", "run", "--questions", "test.jsonl", "--train", "teacher.jsonl",
            "--systems", "teacher,encoder:frozen", "--out", "distil"])
        assert run.exit_code == 0, run.output
    made = CliRunner().invoke(app, ["report", "distil"])
    assert made.exit_code == 0, made.output
    md = " ".join((tmp_path / "distil" / "report.md").read_text().split())
    assert "Distillation: the students and their teacher" in md
    assert "encoder:frozen (trained on teacher's labels) agrees with teacher on" in md
    assert "paid back after" in md or "does not pay" in md


def test_the_page_runs_a_served_task_in_chromium_and_shows_inputs_as_text(decided, embedder):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from tests.browser import chromium
    from tunewise.config import load_settings, register_task
    from tunewise.serve.app import create_app
    from tunewise.workspace import Workspace

    root, _, _, _ = decided
    register_task("fpb-encoder", root / "fpb", "encoder:frozen")
    server, thread, url = start(create_app(Workspace(load_settings(), embedder=embedder)))
    hostile = "<img src=x onerror=\"document.title='owned'\"> profit fell"
    try:
        with chromium() as browser:
            browser.get(url + "/")
            wait = WebDriverWait(browser, 60)
            browser.find_element(By.CSS_SELECTOR, "#tasks summary").click()
            wait.until(lambda b: len(Select(b.find_element(By.ID, "task")).options) >= 2)
            Select(browser.find_element(By.ID, "task")).select_by_value("fpb-encoder")
            assert "labels: negative, neutral, positive" in browser.find_element(
                By.ID, "task-about").text
            browser.find_element(By.ID, "task-inputs").send_keys(
                "Kone said earnings climbed this year.\n" + hostile)
            browser.find_element(By.ID, "task-run").click()
            wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "tr.task-result")) == 2)
            rows_ = browser.find_elements(By.CSS_SELECTOR, "tr.task-result")
            assert all(r.find_element(By.CSS_SELECTOR, ".task-output").text in
                       ("positive", "negative", "neutral") for r in rows_)
            assert rows_[1].find_elements(By.TAG_NAME, "td")[0].text == hostile
            assert not browser.find_elements(By.CSS_SELECTOR, "#task-results img")
            assert browser.title != "owned"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_request_logs_stay_in_their_collection_and_a_key_reads_only_its_own(tmp_path, embedder):
    from tunewise.config import Settings
    from tunewise.errors import TunewiseError
    from tunewise.serve.guard import Caller
    from tunewise.serve.services import Forbidden, Services
    from tunewise.workspace import Workspace

    settings = Settings().replace("store", url=f"sqlite:{tmp_path / 's.db'}").replace(
        "serve", log_requests=("hr",), logs=str(tmp_path / "logs"))
    svc = Services(Workspace(settings, embedder=embedder))
    hr, ops = Caller("hr", ("hr",), ("hr",)), Caller("ops", ("ops",), ("ops",))
    svc.log(hr, "task", "fpb", ["salary question"], [{"output": "neutral"}])
    svc.log(ops, "task", "fpb", ["server down"], [{"output": "negative"}])  # ops does not log
    assert [e["inputs"] for e in svc.logged(hr, None)] == [["salary question"]]
    assert not (tmp_path / "logs" / "ops").exists()
    with pytest.raises(Forbidden):
        svc.logged(ops, "hr")
    svc.settings = settings.replace("serve", log_requests=("*",))
    with pytest.raises(TunewiseError, match="not a collection name"):
        svc.log(Caller("admin", (), (), admin=True), "chat", "m", [], ["x"], "../../etc")
    svc.close()
