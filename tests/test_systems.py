"""The one System type and its parser, which eval, cost, report and serve all use."""

import pytest

from tunewise.config import ConfigError, ModelSettings
from tunewise.systems import System, parse_system, parse_systems


def test_systems_parse_with_their_options():
    models = {"local": ModelSettings(), "gpt": ModelSettings(backend="openai")}
    assert parse_system("local", models) == parse_system(" local ", models)
    s = parse_system("gpt+rag:k=3:min_passage_similarity=0.25", models)
    assert (s.model, s.rag, s.k, s.min_passage_similarity) == ("gpt", True, 3, 0.25)
    assert parse_system("local+rag:retriever=runs/ret:k=4", models).retriever == "runs/ret"
    for bad, message in [("local:retriever=runs/ret", "need '\\+rag'"),
                         ("local+rag:retriever=", "bad option 'retriever='"),
                         ("nope", "unknown model 'nope'; configured: gpt, local"),
                         ("local+web", r"only '\+rag'"), ("local+rag:k=x", "bad option 'k=x'"),
                         ("local:k=3", "need '\\+rag'"), ("local+rag:depth=3", "bad option"),
                         ("+rag", "no model name")]:
        with pytest.raises(ConfigError, match=message):
            parse_system(bad, models)
    with pytest.raises(ConfigError, match="named twice"):
        parse_systems("local,local", models)
    with pytest.raises(ConfigError, match="no systems"):
        parse_systems(" , ", models)


def test_a_system_written_with_an_old_option_name_is_named_with_the_current_one():
    for old in ("gpt+rag:k=3:min_similarity=0.25", "gpt+rag:k=3:threshold=0.25"):
        s = parse_system(old)
        assert s.name == "gpt+rag:k=3:min_passage_similarity=0.25"
        assert s.min_passage_similarity == 0.25
    assert parse_system("finetune:lora:base=gemma3").name == "finetune:lora:base=gemma3"


def test_without_models_any_name_parses_for_price_table_apis():
    assert parse_system("gpt-4o-mini+rag:k=2") == System("gpt-4o-mini+rag:k=2", "gpt-4o-mini", True, 2)
    assert [s.model for s in parse_systems(["a", "b+rag"])] == ["a", "b"]


def test_task_systems_parse_shots_views_trained_systems_and_baselines():
    s = parse_system("local:shots=4:view=head", {"local": ModelSettings()})
    assert (s.model, s.rag, s.shots, s.view) == ("local", False, 4, "head")
    assert parse_system("encoder").trained == "encoder"
    assert parse_system("encoder:frozen").trained == "encoder-frozen"
    assert parse_system("finetune:lora").trained == "lora"
    assert parse_system("baseline:tfidf").baseline == "tfidf"
    for bad, message in [("local:shots=-1", "0 or more"), ("local:view=tail", "bad option"),
                         ("baseline:tf idf", "baseline:NAME")]:
        with pytest.raises(ConfigError, match=message):
            parse_system(bad)


def test_a_question_run_refuses_task_systems_and_unknown_baselines(tmp_path):
    from tunewise.evaluate.runner import EvalError, run_eval

    for spec in ("baseline:tfidf", "encoder", "local:shots=2"):
        with pytest.raises(EvalError, match=spec.split(":")[0]):
            run_eval(None, [parse_system(spec)], [], tmp_path / "r")
