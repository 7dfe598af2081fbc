import pytest

from tunewise.config import ConfigError, Settings, load_settings


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings(env={})
    assert s == Settings()
    assert s.chunking.size == 256 and s.chunking.overlap == 32 and s.retrieval.mode == "hybrid"


def test_file_then_environment_then_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tunewise.toml").write_text(
        '[store]\nurl = "sqlite:a.db"\n[retrieval]\nk = 7\nmin_similarity = 0.3\n'
        '[ingest]\nexclude = ["*/drafts/*"]\n')
    s = load_settings(env={"TUNEWISE_RETRIEVAL_K": "9", "TUNEWISE_EMBEDDER_BATCH_SIZE": "8",
                           "OTHER": "x"})
    assert s.store.url == "sqlite:a.db" and s.retrieval.min_similarity == 0.3
    assert s.retrieval.k == 9 and s.embedder.batch_size == 8
    assert s.ingest.exclude == ("*/drafts/*",)
    t = s.replace("store", url="sqlite:b.db").replace("retrieval", k=None)
    assert t.store.url == "sqlite:b.db" and t.retrieval.k == 9 and s.store.url == "sqlite:a.db"


def test_explicit_config_file(tmp_path):
    path = tmp_path / "other.toml"
    path.write_text('[chunking]\nsize = 128\n')
    assert load_settings(path, env={}).chunking.size == 128
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.toml", env={})


@pytest.mark.parametrize("text, message", [
    ("[stroe]\nurl = 'x'\n", "unknown config section"),
    ("[store]\npath = 'x'\n",
     r"unknown key\(s\) \['path'\] in \[store\]; valid: \['ann', 'ann_min_chunks', 'ef_search', "
     r"'index_memory_mb', 'url'\]"),
    ("[store]\nann = 'faiss'\n", r"store.ann = 'faiss': must be auto \| hnsw \| exact"),
    ("[retrieval]\nk = 'many'\n", "retrieval.k"),
    ("[retrieval\n", "tunewise.toml"),
])
def test_bad_settings_are_named(tmp_path, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tunewise.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(env={})


def test_none_in_environment_clears_an_optional(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings(env={"TUNEWISE_RETRIEVAL_THRESHOLD": "none", "TUNEWISE_EMBEDDER_BASE_URL": ""})
    assert s.retrieval.min_similarity is None and s.embedder.base_url is None


def test_example_config_lists_every_default():
    import dataclasses
    import tomllib

    from tests.conftest import ROOT

    path = ROOT / "examples" / "tunewise.toml"
    assert load_settings(path, env={}) == Settings()
    written = tomllib.loads(path.read_text())
    for section in dataclasses.fields(Settings):
        default = getattr(Settings(), section.name)
        if section.name == "models":
            keys = {f.name for f in dataclasses.fields(default["local"])}
            assert set(written["models"]["local"]) == keys
            continue
        if section.name == "tasks":  # none by default; [tasks.NAME] is shown commented out
            assert default == {} and "tasks" not in written
            continue
        keys = {f.name for f in dataclasses.fields(default)}
        assert set(written[section.name]) == keys, section.name


def test_named_models(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text('[models.gpt]\nbackend = "openai"\nmodel = "gpt-4o-mini"\n'
                    '[models.local]\nmax_tokens = 64\n[rag]\nmodel = "gpt"\n')
    s = load_settings(path, env={})
    assert s.models["gpt"].backend == "openai" and s.models["gpt"].temperature == 0.0
    assert s.models["local"].max_tokens == 64 and s.models["local"].model == "smollm2"
    assert s.rag.model == "gpt"
    path.write_text('[models]\ngpt = "gpt-4o"\n')
    with pytest.raises(ConfigError, match=r"\[models.gpt\]"):
        load_settings(path, env={})


def test_non_setting_variables_are_left_alone(tmp_path, monkeypatch):
    """TUNEWISE_TEST_POSTGRES_URL (the README's), TUNEWISE_REGISTRY and TUNEWISE_DATA are not
    settings: they once made every command fail with "unknown config section(s) ['test']"."""
    monkeypatch.chdir(tmp_path)
    s = load_settings(env={"TUNEWISE_TEST_POSTGRES_URL": "postgresql://x@y/z",
                           "TUNEWISE_DATA": "/data", "TUNEWISE_REGISTRY": "r.toml",
                           "TUNEWISE_STORE_URL": "sqlite:c.db"})
    assert s.store.url == "sqlite:c.db" and s == Settings().replace("store", url="sqlite:c.db")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['urll'\] in \[store\]"):
        load_settings(env={"TUNEWISE_STORE_URLL": "x"})


def test_a_settings_file_with_the_old_threshold_names_still_loads(tmp_path):
    """`threshold` was one name for two cosine cut-offs; each now says which it is."""
    path = tmp_path / "old.toml"
    path.write_text("[retrieval]\nthreshold = 0.2\n[rag]\nthreshold = 0.4\n")
    s = load_settings(path)
    assert s.retrieval.min_similarity == 0.2 and s.rag.min_passage_similarity == 0.4


def test_a_registered_task_is_a_served_task_and_tunewise_toml_wins(tmp_path, monkeypatch):
    from tunewise.config import register_task

    monkeypatch.chdir(tmp_path)
    env = {"TUNEWISE_REGISTRY": str(tmp_path / "registry.toml")}
    register_task("fpb", tmp_path / "runs" / "fpb", "encoder", env=env)
    register_task("nda", tmp_path / "runs" / "nda", "finetune:lora", env=env)
    s = load_settings(None, env=env)
    assert s.tasks["fpb"].system == "encoder" and s.tasks["fpb"].run.endswith("runs/fpb")
    mine = tmp_path / "t.toml"
    mine.write_text('[tasks.fpb]\nrun = "elsewhere"\nsystem = "baseline:tfidf"\n')
    s = load_settings(mine, env=env)
    assert s.tasks["fpb"].system == "baseline:tfidf" and s.tasks["nda"].system == "finetune:lora"
    with pytest.raises(ConfigError, match="task name"):
        register_task("../x", tmp_path, "encoder", env=env)
    mine.write_text('[tasks.fpb]\nrun = "x"\nsystme = "encoder"\n')
    with pytest.raises(ConfigError, match="systme"):
        load_settings(mine, env=env)
