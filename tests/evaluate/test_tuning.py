"""Retrieval settings fitted to the user's questions, and written to tunewise.toml without
losing the rest of the file."""

import pytest

from tests.conftest import QUESTIONS
from tunewise.config import ConfigError, load_settings, write_settings
from tunewise.evaluate.datasets import DatasetError, load_questions
from tunewise.evaluate.tuning import ALPHAS, KS, tune_retrieval


def test_tuning_picks_from_the_grid_and_reports_the_held_out_half(sample_workspace):
    questions = load_questions(QUESTIONS)
    tuned = tune_retrieval(sample_workspace, questions, seed=1)
    assert tuned.tuned_on + tuned.held_out == len([q for q in questions if q.doc_ids])
    assert (tuned.fusion, tuned.alpha in ALPHAS) in (("convex", True), ("rrf", True))
    assert tuned.k in KS and 0.0 <= tuned.min_passage_similarity < 1.0
    best = max(score for _, score in tuned.grid)
    default = dict(tuned.grid)["hybrid convex α=0.6"]
    assert best >= default  # the grid holds the default, so tuning never picks worse on its half
    cutoffs = {f"recall@{sample_workspace.settings.retrieval.k}", f"recall@{tuned.k}"}
    assert set(tuned.before) == set(tuned.after) == {"ndcg@10"} | cutoffs  # comparable columns
    # the least similarity keeps the gold passage of the tuning questions (all but at most 1%)
    assert tuned.min_passage_similarity <= 0.9
    with pytest.raises(DatasetError, match="at least 10 questions"):
        tune_retrieval(sample_workspace, questions[:5])


def test_settings_are_written_into_the_file_kept_as_it_was(tmp_path):
    path = tmp_path / "tunewise.toml"
    path.write_text('# my settings\n[store]\nurl = "sqlite:x.db"  # the store\n\n'
                    '[retrieval]\nalpha = 0.6\nmode = "hybrid"\n')
    write_settings(path, {"retrieval": {"alpha": 0.3, "k": 8}, "rag": {"min_passage_similarity": 0.25}})
    text = path.read_text()
    assert text.startswith("# my settings\n[store]\nurl = \"sqlite:x.db\"  # the store\n")
    s = load_settings(path, env={})
    assert (s.retrieval.alpha, s.retrieval.k, s.retrieval.mode) == (0.3, 8, "hybrid")
    assert s.rag.min_passage_similarity == 0.25 and s.store.url == "sqlite:x.db"
    before = path.read_text()
    with pytest.raises(ConfigError):
        write_settings(path, {"retrieval": {"k": 0}})  # refused: the file is left as it was
    assert path.read_text() == before
    fresh = tmp_path / "new.toml"
    write_settings(fresh, {"retrieval": {"fusion": "rrf"}})
    assert load_settings(fresh, env={}).retrieval.fusion == "rrf"


def test_cli_tune_writes_the_config(sample_workspace, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from tunewise.cli import app

    monkeypatch.chdir(tmp_path)
    store = sample_workspace.settings.store.url
    result = CliRunner().invoke(app, ["eval", "retrieval", "--questions", str(QUESTIONS), "--tune",
                                      "--store", store])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "written to tunewise.toml" in said and "[rag] min_passage_similarity = " in said
    written = load_settings(tmp_path / "tunewise.toml", env={})
    assert written.retrieval.k in KS
