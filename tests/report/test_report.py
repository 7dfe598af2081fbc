"""The decision report on a real run: the recommendation follows the measured quality and the
prices, every figure is recomputed here from the records, and the CLI writes the files."""

import hashlib
import json
import re
import statistics

import pytest
from typer.testing import CliRunner

from tunewise.cli import app
from tunewise.cost.prices import load_prices
from tunewise.report.build import build_report, crossing
from tunewise.report.render import write_report


def _records(run):
    return [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]


def test_recommendation_follows_quality_then_cost(decision_run):
    run, settings = decision_run
    r = build_report(run, settings, queries_per_day=1000)
    assert r.metric == "f1"
    # the API alone knows 8 of 32 answers, the 135M model with retrieval is far below the oracle:
    # both are significantly worse, so the better, dearer RAG system is recommended
    assert r.recommended.system == "gpt-4o-mini+rag"
    assert r.recommended.quality.mean == pytest.approx(1.0)
    for c in r.candidates:
        if c is not r.recommended:
            assert c.versus_best.significant and c.versus_best.difference.mean < 0
    assert r.recommended.cheapest.level == "API + RAG"
    assert any("significantly below the best" in x and "local+rag" in x for x in r.reasons)
    assert any("gpt-4o-mini" in x for x in r.changes)


def test_costs_are_recomputed_from_the_records(decision_run):
    run, settings = decision_run
    r = build_report(run, settings, queries_per_day=2500)
    price = load_prices().api_price("gpt-4o-mini")
    for system in ("gpt-4o-mini", "gpt-4o-mini+rag"):
        records = [x for x in _records(run) if x["system"] == system]
        prompt = statistics.mean(x["prompt_tokens"] for x in records)
        answer = statistics.mean(x["completion_tokens"] for x in records)
        row = next(x for x in r.rows if x.system == system and x.kind == "api")
        expected = (prompt * 0.15 + answer * 0.60) / 1e6
        assert row.per_query() == pytest.approx(expected)
        assert row.monthly(2500) == pytest.approx(expected * 2500 * 730 / 24)
        assert price.input == 0.15 and price.output == 0.60
    local = [x for x in r.rows if x.system == "local+rag"]
    assert {x.hosting.basis for x in local} == {"roofline", "measured"}
    measured = next(x for x in local if x.hosting.basis == "measured")
    latencies = [x["latency_s"] for x in _records(run) if x["system"] == "local+rag"]
    assert measured.hosting.seconds_per_query == pytest.approx(statistics.mean(latencies))
    # the reference APIs are priced on the RAG workload and flagged as unmeasured
    refs = [x for x in r.rows if x.kind == "reference"]
    assert [x.name for x in refs] == list(settings.cost.reference)
    assert all(x.quality_of is None and "quality not measured" in x.notes[0] for x in refs)
    digest = hashlib.sha256((run / "records.jsonl").read_bytes()).hexdigest()[:12]
    assert digest in r.provenance[0]


def test_crossing_finds_the_volume_where_the_order_flips(decision_run):
    run, settings = decision_run
    r = build_report(run, settings)
    gpu = next(x for x in r.rows if x.system == "local+rag" and x.hosting.basis == "roofline")
    api = next(x for x in r.rows if x.system == "gpt-4o-mini+rag")
    q = crossing(gpu, api)
    # one GPU serves far more than the crossing volume, so it is device-month / API $ per day
    assert q == pytest.approx(gpu.hosting.gpu.price_per_hour * 730
                              / (api.per_query() * 730 / 24), rel=1e-6)
    assert crossing(api, gpu) is None  # the API's bill keeps growing


def test_report_files(decision_run, tmp_path):
    run, settings = decision_run
    html_path, md_path = write_report(build_report(run, settings), tmp_path)
    html = html_path.read_text()
    assert html.count("<svg") == 3
    # self-contained: nothing to fetch, no script
    assert not re.search(r'(src|href)="(https?:)?//', html) and "<script" not in html
    assert "<link" not in html
    assert "Level 1: RAG with an API model" in html
    md = md_path.read_text()
    for svg in re.findall(r"\((report-[a-z-]+\.svg)\)", md):
        assert (tmp_path / svg).stat().st_size > 1000
    assert "| gpt-4o-mini+rag |" in md or "gpt-4o-mini+rag" in md.split("## Cost")[1]


def test_each_trained_systems_loss_curve_is_read_from_its_record_and_drawn(decision_run, tmp_path):
    from dataclasses import replace

    from tunewise.report.build import training_curves

    run, settings = decision_run
    report = build_report(run, settings)
    (tmp_path / "ft").mkdir()
    (tmp_path / "ft" / "finetune.json").write_text(json.dumps(
        {"config": {"logging_steps": 5}, "result": {"losses": [2.5, 1.75, 1.5]}}))
    (tmp_path / "pt").mkdir()
    (tmp_path / "pt" / "pretrain.json").write_text(json.dumps(
        {"config": {}, "result": {"losses": [[10, 7.0], [20, 5.5]]}}))
    rows = [replace(report.rows[0], quality_of=name, training_record=str(tmp_path / record))
            for name, record in (("ft-notes", "ft/finetune.json"), ("pt-tiny", "pt/pretrain.json"),
                                 ("gone", "none.json"))]
    curves = training_curves(rows)
    assert curves == {"ft-notes": [(5, 2.5), (10, 1.75), (15, 1.5)], "pt-tiny": [(10, 7.0), (20, 5.5)]}
    report.training_curves = curves
    html_path, md_path = write_report(report, tmp_path / "out")
    html = html_path.read_text()
    assert html.count("<svg") == 4 and 'id="plot-training"' in html and "ft-notes" in html
    assert "![Training loss](report-training.svg)" in md_path.read_text()


def test_cli_cost_and_report(decision_run, tmp_path, monkeypatch):
    run, _ = decision_run
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["cost", "--systems", "local+rag,gpt-4o-mini", "-q", "2000",
                                 "--prompt-tokens", "1000", "--completion-tokens", "100",
                                 "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)["rows"]}
    assert rows["gpt-4o-mini"]["per_query_usd"] == pytest.approx((1000 * 0.15 + 100 * 0.6) / 1e6)
    gpu = rows["local+rag @ l4"]
    assert gpu["break_even_queries_per_day"] == pytest.approx(
        0.71 * 730 / (rows["gpt-4o-mini"]["per_query_usd"] * 730 / 24))
    table = runner.invoke(app, ["cost", "--run", str(run), "--gpu", "a10g"])
    assert table.exit_code == 0 and "a10g" in table.output
    bad = runner.invoke(app, ["cost", "--gpu", "tpu"])
    assert bad.exit_code != 0
    written = runner.invoke(app, ["report", str(run), "--out", "rep", "-q", "50000"])
    assert written.exit_code == 0, written.output
    assert (tmp_path / "rep" / "report.html").is_file() and (tmp_path / "rep" / "report.md").is_file()
    assert "50,000 queries/day" in (tmp_path / "rep" / "report.md").read_text()


def test_the_recommended_recipe_priced_at_production_size(decision_run):
    import dataclasses

    from tunewise.cost.plan import finetune_plan
    from tunewise.cost.systems import at_size
    from tunewise.cost.training import TrainingCost, model_size

    run, settings = decision_run
    settings = settings.replace("cost", target_size="7b")
    r = build_report(run, settings)
    assert r.target_size == "7b" and "API model" in r.at_target[0]  # gpt-4o-mini+rag: no size
    md = (write_report(r, run / "report-7b")[1]).read_text()
    assert "## At production size: 7b" in md

    seven = model_size("7b")
    local = next(x for x in r.rows if x.system == "local+rag" and x.hosting.basis == "roofline")
    served = at_size(local, seven, settings.cost, r.prices, 1000)
    per_weight = local.footprint.weight_bytes / local.footprint.parameters  # the GGUF's Q4_1
    assert len(served) == 1 and "serving 7b" in served[0]
    assert f"{seven.parameters * per_weight / 1e9:,.1f} GB of weights" in served[0]
    tuned = dataclasses.replace(local, training=TrainingCost("lora", 135_000_000, 2e6, 0, "x", 0.06,
                                                             0, 0))
    lines = at_size(tuned, seven, settings.cost, r.prices, 1000)
    plan = finetune_plan(seven, 2e6, r.prices.gpu(settings.cost.train_gpu), "lora",
                         mfu=settings.cost.finetune_mfu)
    assert lines[0].startswith("fine-tuning 7b the same way (lora, 2,000,000 tokens)")
    assert f"${plan.usd:,.2f} once" in lines[0] and len(lines) == 2
