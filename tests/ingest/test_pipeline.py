"""Ingestion through the Python API and the CLI: re-ingest, update, remove, sync, bad files."""

import json
import shutil

import pytest
from typer.testing import CliRunner

from tests.conftest import SAMPLE
from tunewise.cli import app
from tunewise.store import EmbedderMismatch
from tunewise.workspace import Workspace


@pytest.fixture
def ws(settings, embedder):
    w = Workspace(settings, embedder=embedder)
    yield w
    w.close()


@pytest.fixture
def docs(tmp_path):
    folder = tmp_path / "docs"
    shutil.copytree(SAMPLE / "policies", folder)
    return folder


def chunk_rows(ws):
    return ws.store.db.execute("SELECT id, document_id FROM chunks ORDER BY id").fetchall()


def test_reingest_unchanged_is_a_no_op(ws, docs):
    first = ws.ingest([docs])
    assert len(first.added) == 6 and not first.failed and first.chunks >= 7
    before = chunk_rows(ws)
    again = ws.ingest([docs])
    assert len(again.unchanged) == 6 and again.chunks == 0 and not again.added
    assert chunk_rows(ws) == before


def test_changed_file_replaces_its_chunks(ws, docs):
    ws.ingest([docs])
    target = docs / "parental-leave.txt"
    target.write_text(target.read_text().replace("12 weeks", "16 weeks"))
    report = ws.ingest([docs])
    assert report.updated == [str(target)] and len(report.unchanged) == 5
    assert ws.search("16 weeks", mode="keyword", k=1)[0].chunk.source == str(target)
    assert ws.search('"12 weeks" parental', mode="keyword", k=5)[0].chunk.text.count("16 weeks")
    n_docs = ws.store.db.execute("SELECT count(*) FROM documents WHERE path=?", (str(target),))
    assert n_docs.fetchone()[0] == 1


def test_jsonl_records_update_individually(ws, tmp_path):
    path = tmp_path / "kb.jsonl"
    rows = [{"id": f"r{i}", "text": f"Record {i} is about topic number {i}."} for i in range(5)]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    assert ws.ingest([path]).documents == 5
    rows[2]["text"] = "Record two now talks about glaciers."
    del rows[4]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    report = ws.ingest([path])
    assert report.updated == [str(path)] and report.documents == 1  # only the changed record
    assert ws.stats()["documents"] == 4
    assert ws.search("glaciers", mode="keyword")[0].chunk.source == f"{path}#r2"


def test_remove_and_sync(ws, docs):
    ws.ingest([docs])
    assert ws.remove([docs / "remote-work-policy.md"]) == 1
    hits = ws.search("home-office allowance", mode="keyword", k=10)
    assert not any("remote-work" in h.chunk.source for h in hits)
    (docs / "travel-expense-policy.md").unlink()
    report = ws.ingest([docs], sync=True)
    assert report.removed == [str(docs / "travel-expense-policy.md")]
    assert report.added == [str(docs / "remote-work-policy.md")]  # removed, still on disk: back
    assert ws.stats()["documents"] == 5
    assert not any("travel" in h.chunk.source for h in ws.search("per diem hotel", k=10))


def test_bad_files_are_reported_and_the_rest_ingested(ws, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good.md").write_text("# Good\n\nThe cafeteria opens at 11:00.")
    (folder / "empty.txt").write_text("")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7 not really")
    (folder / "latin1.txt").write_bytes("pr\xe9sentation".encode("latin-1"))
    (folder / "exe.txt").write_bytes(b"MZ\x00\x00\x90" * 100)
    (folder / "ignored.bin").write_bytes(b"\x00\x01")  # unknown format in a folder: not picked up
    report = ws.ingest([folder, tmp_path / "missing.md"])
    reasons = {p.rsplit("/", 1)[-1]: r for p, r in report.failed}
    assert set(reasons) == {"empty.txt", "broken.pdf", "latin1.txt", "exe.txt", "missing.md"}
    assert "binary" in reasons["exe.txt"] and "UTF-8" in reasons["latin1.txt"]
    assert report.added == [str(folder / "good.md")] and report.ok


def test_a_file_past_the_chunk_limit_fails_by_name_and_the_rest_is_ingested(settings, embedder,
                                                                             tmp_path):
    import dataclasses

    folder = tmp_path / "two"
    folder.mkdir()
    (folder / "long.txt").write_text("A sentence about the cafeteria hours. " * 2000)
    (folder / "short.txt").write_text("The cafeteria opens at 11:00.")
    bounded = dataclasses.replace(settings, ingest=dataclasses.replace(settings.ingest,
                                                                       max_chunks=5))
    with Workspace(bounded, embedder=embedder) as w:
        report = w.ingest([folder])
        assert report.failed == [(str(folder / "long.txt"),
                                  "makes more than 5 chunks ([ingest] max_chunks)")]
        assert report.added == [str(folder / "short.txt")]


def test_include_and_exclude_globs(ws, tmp_path):
    ws.settings = ws.settings.replace("ingest", include=("*.md",), exclude=("*/drafts/*",))
    for rel in ("a.md", "b.txt", "drafts/c.md"):
        (tmp_path / "d" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "d" / rel).write_text(f"Text of {rel}.")
    report = ws.ingest([tmp_path / "d"])
    assert [p.rsplit("/", 1)[-1] for p in report.added] == ["a.md"]


def test_ingest_with_another_embedder_is_refused(ws, docs):
    ws.ingest([docs])

    class Other:
        name, dimension, tokenizer = "other", 384, None

    w2 = Workspace(ws.settings, embedder=Other())
    (docs / "new.md").write_text("# New\n\nSomething new.")
    with pytest.raises(EmbedderMismatch, match="all-MiniLM-L6-v2"):
        w2.ingest([docs])
    w2.close()


def test_cli_summary_exit_codes_and_search(tmp_path, docs):
    runner = CliRunner()
    store = ["--store", f"sqlite:{tmp_path}/cli.db"]
    (docs / "empty.md").write_text("")
    ok = runner.invoke(app, ["ingest", str(docs), *store])
    assert ok.exit_code == 0, ok.output
    assert "6 added, 0 updated, 0 unchanged, 1 failed" in ok.output and "empty file" in ok.output
    strict = runner.invoke(app, ["ingest", str(docs), "--strict", *store])
    assert strict.exit_code == 1 and "6 unchanged" in strict.output
    nothing = runner.invoke(app, ["ingest", str(docs / "empty.md"), *store])
    assert nothing.exit_code == 1
    found = runner.invoke(app, ["search", "minimum password length", "-k", "2", "--json", *store])
    hits = json.loads(found.stdout)
    assert len(hits) == 2 and hits[0]["source"].endswith("information-security-policy.md")
    assert {"score", "similarity", "page", "start", "end", "text"} <= set(hits[0])
    md = json.loads(runner.invoke(app, ["search", "password", "--source", "*.md", "--json",
                                        *store]).stdout)  # once matched nothing: '#' appended
    assert md and all(h["source"].endswith(".md") for h in md)
    none = runner.invoke(app, ["search", "football world cup", "--min-similarity", "0.5", *store])
    assert "No matching passages" in none.stdout
    gone = runner.invoke(app, ["remove", str(docs / "parental-leave.txt"), *store])
    assert gone.exit_code == 0 and "removed 1 documents" in gone.output
    stats = runner.invoke(app, ["stats", *store])
    assert "all-MiniLM-L6-v2 (384-d)" in stats.stdout


def test_cli_errors_are_one_line_and_exit_2(monkeypatch, capsys, tmp_path):
    from tunewise import cli

    monkeypatch.setattr("sys.argv", ["tunewise", "stats", "--store", "mysql://db/docs"])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 2
    assert "unknown store URL 'mysql://db/docs'" in capsys.readouterr().err
    monkeypatch.setattr("sys.argv", ["tunewise", "search", "x", "--config", str(tmp_path / "no.toml")])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 2 and "config file not found" in capsys.readouterr().err


def test_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("tunewise 0.")


def test_metadata_from_the_file_a_sidecar_and_the_command_line(ws, docs):
    """Documents carry metadata — the file's own properties (a PDF's creation date, as `created`,
    never as the document's year), a sidecar FILE.meta.json, and what the ingest adds for all —
    and searches filter by it."""
    (docs / "remote-work-policy.md.meta.json").write_text('{"department": "HR", "year": 2024}')
    report = ws.ingest([docs], metadata={"company": "Kestrel"})
    assert not report.failed and len(report.added) == 6
    hr = ws.search("remote work", k=10, where=["department=HR"])
    assert hr and {h.chunk.source.rsplit("/", 1)[-1] for h in hr} == {"remote-work-policy.md"}
    everything = ws.search("policy", k=50, mode="keyword")
    assert len(ws.search("policy", k=50, mode="keyword", where=["company=Kestrel"])) == len(everything)
    made = ws.search("how long are records kept", k=10, where=["created=2025-10-01"])
    assert "data-retention-policy.pdf" in {h.chunk.source.rsplit("/", 1)[-1] for h in made}
    assert {h.chunk.source.rsplit("/", 1)[-1] for h in ws.search(
        "how long are records kept", k=10, where=["year>=2024"])} == {"remote-work-policy.md"}
    assert ws.search("remote work", k=10, where=["company=Other"]) == []
    # a changed sidecar re-ingests its file alone
    (docs / "remote-work-policy.md.meta.json").write_text('{"department": "Legal"}')
    again = ws.ingest([docs], metadata={"company": "Kestrel"})
    assert [p.rsplit("/", 1)[-1] for p in again.updated] == ["remote-work-policy.md"]
    assert ws.search("remote work", k=10, where=["department=HR"]) == []
    assert ws.search("remote work", k=10, where=["department=Legal"])
    # a broken sidecar fails its file by name; the others are untouched
    (docs / "parental-leave.txt.meta.json").write_text("{oops")
    broken = ws.ingest([docs], metadata={"company": "Kestrel"})
    assert [(p.rsplit("/", 1)[-1], r.split(":")[0]) for p, r in broken.failed] == [
        ("parental-leave.txt", "parental-leave.txt.meta.json")]
    assert len(broken.unchanged) == 5


def test_cli_meta_and_where(tmp_path, docs):
    runner = CliRunner()
    store = ["--store", f"sqlite:{tmp_path}/m.db"]
    ok = runner.invoke(app, ["ingest", str(docs), "--meta", "company=Kestrel", "--meta", "year=2026",
                             *store])
    assert ok.exit_code == 0, ok.output
    found = json.loads(runner.invoke(app, ["search", "password", "--where", "year>=2026",
                                           "--where", "company=Kestrel", "--json", *store]).stdout)
    assert found and found[0]["source"].endswith("information-security-policy.md")
    none = runner.invoke(app, ["search", "password", "--where", "year>2026", *store])
    assert "No matching passages" in none.stdout
    bad = runner.invoke(app, ["search", "password", "--where", "year>recent", *store])
    assert bad.exit_code != 0 and "compares numbers" in str(bad.exception or bad.output)
