"""Metadata a document carries, read by rules at ingest: a filing's cover and a press release
give their company (and its other names), period and form; a file named like a filing gives the
same; a file named like anything else gives nothing; what was given always wins, and each value
says where it came from."""

from pathlib import Path

from tunewise.config import Settings
from tunewise.documents.metadata import from_file_name, read_metadata, short_name
from tunewise.workspace import Workspace

COVER = ("UNITED STATES\nSECURITIES AND EXCHANGE COMMISSION\nWashington, D.C. 20549\nFORM 10-K\n"
         "ANNUAL REPORT PURSUANT TO SECTION 13 OR 15(d)\nFor\xa0the\xa0fiscal\xa0year\xa0ended"
         "\xa0January\xa01,\xa02023\nCommission File Number 1-3215\n____ JOHNSON & JOHNSON\n"
         "(Exact\xa0name\xa0of\xa0registrant\xa0as\xa0specified\xa0in\xa0its\xa0charter)\n"
         "New Jersey\n")
RELEASE = ("PepsiCo Reports First-Quarter 2023 Results; Raises Full-Year Guidance\n"
           "PURCHASE, N.Y. - April 25, 2023 - PepsiCo, Inc. (NASDAQ: PEP) today reported results "
           "for the first quarter 2023. Net revenue grew 10.2%. Please see our Form 10-Q.\n")


def test_a_filing_cover_gives_company_period_and_form():
    found, sources = read_metadata(COVER, Path("document.pdf"))
    # a 52/53-week year ending in the first days of January is the year before's
    assert found["company"] == "Johnson & Johnson" and found["year"] == 2022
    assert found["doc_type"] == "10-K" and sources["year"] == "first page"


def test_a_press_release_gives_its_company_ticker_and_period():
    found, _ = read_metadata(RELEASE, Path("q1.pdf"))
    assert found["company"] == "PepsiCo" and found["doc_type"] == "earnings release"
    assert found["year"] == 2023 and "PEP" in found["company_aliases"].split("|")


def test_a_file_named_like_a_filing_says_what_it_is_and_other_names_say_nothing():
    assert {k: v for k, (v, _) in from_file_name(Path("3M_2018_10K.pdf")).items()} == {
        "company": "3M", "year": 2018, "doc_type": "10-K"}
    assert from_file_name(Path("AMCOR_2023Q2_10Q.pdf"))["quarter"] == ("Q2", "file name")
    assert from_file_name(Path("price-list-2026.pdf")) == {}
    assert from_file_name(Path("allhands-notes-2025-09.txt")) == {}
    # the file name's year (a fiscal year) wins; the cover's company wins
    found, sources = read_metadata(COVER, Path("JOHNSON_JOHNSON_2023_10K.pdf"))
    assert found["year"] == 2023 and sources["year"] == "file name"
    assert found["company"] == "Johnson & Johnson" and "JOHNSON JOHNSON" in found["company_aliases"]


def test_legal_names_become_names_as_people_write_them():
    assert [short_name(n) for n in ("ADOBE SYSTEMS INCORPORATED", "BEST BUY CO., INC.",
                                    "THE BOEING COMPANY", "PepsiCo, Inc.", "3M COMPANY")] == [
        "Adobe Systems", "Best Buy", "Boeing", "PepsiCo", "3M"]


def test_ingest_stores_what_a_document_says_of_itself_and_what_was_given_wins(tmp_path, embedder):
    folder = tmp_path / "filings"
    folder.mkdir()
    (folder / "JNJ_2022_10K.txt").write_text(COVER + "\nCapital expenditures were $4.0 billion.")
    (folder / "notes.txt").write_text("Meeting notes from Monday.")
    (folder / "other_2019_10K.txt").write_text(COVER)
    (folder / "other_2019_10K.txt.meta.json").write_text('{"company": "Acme"}')
    ws = Workspace(Settings().replace("store", url=f"sqlite:{tmp_path / 's.db'}"), embedder=embedder)
    assert not ws.ingest([folder]).failed
    meta = {d.document.source.rsplit("/", 1)[-1]: d.document.metadata for d in ws.store.export()}
    assert meta["JNJ_2022_10K.txt"]["company"] == "Johnson & Johnson"
    assert meta["JNJ_2022_10K.txt"]["year"] == 2022
    assert "year: file name" in meta["JNJ_2022_10K.txt"]["metadata_source"]
    assert "company" not in meta["notes.txt"]
    assert meta["other_2019_10K.txt"]["company"] == "Acme"
    assert "company: given" in meta["other_2019_10K.txt"]["metadata_source"]
    hits, named = ws.search_explained("What were JNJ's capital expenditures in 2022?", k=3)
    assert named.note == "filtered to company=Johnson & Johnson (named as 'JNJ'), year=2022"
    assert {h.chunk.source.rsplit("/", 1)[-1] for h in hits} == {"JNJ_2022_10K.txt"}
    off = Workspace(ws.settings.replace("ingest", metadata="off").replace(
        "store", url=f"sqlite:{tmp_path / 'off.db'}"), embedder=embedder)
    off.ingest([folder / "JNJ_2022_10K.txt"])
    assert "company" not in next(iter(off.store.export())).document.metadata
    ws.close()
    off.close()


def test_store_metadata_refresh_reads_it_again_without_re_embedding(tmp_path, embedder,
                                                                     monkeypatch):
    from typer.testing import CliRunner

    from tunewise.cli import app

    folder = tmp_path / "filings"
    folder.mkdir()
    (folder / "JNJ_2022_10K.txt").write_text(COVER)
    (folder / "memo.txt").write_text("A memo.")
    url = f"sqlite:{tmp_path / 's.db'}"
    settings = Settings().replace("store", url=url).replace("ingest", metadata="off")
    with Workspace(settings, embedder=embedder) as ws:
        ws.ingest([folder / "JNJ_2022_10K.txt"], metadata={"team": "finance"})
        ws.ingest([folder / "memo.txt"])
        memo = next(d for d in ws.store.export() if d.document.path.endswith("memo.txt"))
        # as an older version stored it: the file's creation date taken for its year
        ws.store.set_metadata({memo.id: {"created": "2023-05-01", "year": 2023}})
        vectors = {d.id: d.vectors for d in ws.store.export()}
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(app, ["store", "metadata", "--refresh", "--store", url])
    assert done.exit_code == 0, done.output
    assert "2 of 2 documents changed" in " ".join(done.output.split())
    with Workspace(Settings().replace("store", url=url), embedder=embedder) as ws:
        after = {d.document.path.rsplit("/", 1)[-1]: d for d in ws.store.export()}
    filing = after["JNJ_2022_10K.txt"].document.metadata
    assert filing["company"] == "Johnson & Johnson" and filing["year"] == 2022
    assert filing["team"] == "finance" and "team: given" in filing["metadata_source"]
    assert after["memo.txt"].document.metadata == {
        "created": "2023-05-01", "metadata_source": "created: file properties"}
    assert all((after[n].vectors == vectors[after[n].id]).all() for n in after)


def test_a_model_reads_what_the_rules_miss_and_an_answer_outside_the_schema_reads_nothing(
        tmp_path, embedder):
    """`[ingest] metadata = "model"`: a chat model (a real OpenAI-compatible server) is asked,
    under a JSON schema, only for the keys the rules left empty; an answer that is not the
    schema's JSON leaves them empty and is reported once."""
    import json

    from tests.evaluate.scripted import ScriptedModel, last_user
    from tests.models.chat_server import ChatServer
    from tunewise.config import ModelSettings

    def reader(messages):
        text = last_user(messages)
        if "Kestrel" in text:
            return json.dumps({"company": "Kestrel Heat", "year": 2024, "doc_type": "policy"})
        return "I am not sure what this is."

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "travel.txt").write_text("Kestrel Heat travel policy, valid for 2024.")
    (folder / "scan.txt").write_text("Illegible notes.")
    (folder / "JNJ_2022_10K.txt").write_text(COVER)
    with ChatServer(ScriptedModel(reader), parallel=True) as server:
        settings = Settings().replace("store", url=f"sqlite:{tmp_path / 's.db'}").replace(
            "ingest", metadata="model", metadata_model="reader")
        models = {**settings.models, "reader": ModelSettings(
            backend="openai", model="m", base_url=server.base_url, max_retries=0,
            api_key_env="TUNEWISE_TEST_NO_KEY")}
        settings = settings.__class__(**{**vars(settings), "models": models})
        with Workspace(settings, embedder=embedder) as ws:
            report = ws.ingest([folder])
            meta = {d.document.path.rsplit("/", 1)[-1]: d.document.metadata
                    for d in ws.store.export()}
        asked = [last_user(r["messages"]) for r in server.requests]
    assert meta["travel.txt"]["company"] == "Kestrel Heat" and meta["travel.txt"]["year"] == 2024
    assert "company: model" in meta["travel.txt"]["metadata_source"]
    assert not {"company", "year", "doc_type"} & set(meta["scan.txt"])
    assert meta["JNJ_2022_10K.txt"]["company"] == "Johnson & Johnson"  # the rules found it all
    assert len(asked) == 2 and not any("JOHNSON" in a for a in asked)
    assert [w for w in report.warnings if "1 documents' metadata could not be read" in w[1]]
