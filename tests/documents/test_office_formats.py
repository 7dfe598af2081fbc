"""Spreadsheets, CSV, slide decks and e-mail: made here with openpyxl, python-pptx and the
standard library, read back by tunewise — tables whole with their header in the context, slides
as pages, mail headers as metadata, attachments as documents of their own, bad files by name."""

import datetime
import io
from email.message import EmailMessage

import openpyxl
import pytest
from pptx import Presentation
from pptx.util import Inches

from tests.hostile_files import pdf_bytes
from tunewise.config import IngestSettings
from tunewise.documents import LoadError, chunk_document, load_file
from tunewise.documents.loaders import LOADERS

PRICES = [["Model", "Capacity kW", "List price EUR"],
          ["Kestrel 6", 6, 7490], ["Kestrel 9", 9, 8990], ["Kestrel 12", 12.5, 10490]]


def xlsx_bytes(sheets: dict[str, list[list]], title: str = "") -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.properties.title, book.properties.creator = title, "Finance team"
    book.properties.created = datetime.datetime(2025, 3, 1)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def pptx_bytes() -> bytes:
    deck = Presentation()
    first = deck.slides.add_slide(deck.slide_layouts[1])
    first.shapes.title.text = "Board update Q3"
    first.placeholders[1].text = "Heat pump sales grew 18% on the quarter."
    first.notes_slide.notes_text_frame.text = "Mention the Kestrel 12 launch date: 4 November."
    second = deck.slides.add_slide(deck.slide_layouts[5])
    second.shapes.title.text = "Regional revenue"
    table = second.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(6), Inches(2)).table
    for r, row in enumerate([["Region", "Revenue MEUR"], ["Nordics", "41.2"], ["Benelux", "17.9"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    deck.core_properties.title = "Q3 board deck"
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def eml_bytes(attachments: dict[str, bytes]) -> bytes:
    mail = EmailMessage()
    mail["Subject"], mail["From"], mail["To"] = "Decision: Kestrel 12 price", "cfo@example.com", \
        "sales@example.com"
    mail["Date"] = "Tue, 14 Oct 2025 09:30:00 +0200"
    mail.set_content("We agreed to hold the Kestrel 12 list price at 10,490 EUR until March.")
    for name, data in attachments.items():
        mail.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return bytes(mail)


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_a_workbook_reads_as_one_table_per_sheet_with_the_header_carried(tmp_path, embedder):
    rows = PRICES + [[f"Spare part {i}", None, 10 + i] for i in range(300)]
    path = write(tmp_path, "prices.xlsx", xlsx_bytes({"Heat pumps": rows, "Empty": [[None, None]],
                                                       "Notes": [["Valid from 2025-01-01"]]}))
    doc = load_file(path).documents[0]
    # the file's creation date is `created`, never the document's `year`
    assert doc.title == "prices" and doc.metadata == {"author": "Finance team", "created": "2025-03-01"}
    assert "| Kestrel 12 | 12.5 | 10490 |" in doc.text and "| Spare part 7 |  | 17 |" in doc.text
    assert [n for _, n in doc.pages] == [1, 3]  # sheets are pages; the empty one has none
    chunks = chunk_document(doc, embedder.tokenizer, 64, 0)
    inside = [c for c in chunks if "Spare part 250" in c.text][0]
    assert inside.page == 1 and inside.context.endswith("| Model | Capacity kW | List price EUR |")
    for chunk in chunks:  # a row is never cut
        assert all(line.startswith("|") and line.endswith("|") for line in chunk.text.split("\n")
                   if line.startswith("|"))


def test_csv_and_tsv_read_as_tables(tmp_path):
    semicolons = "\n".join(";".join(str(v) for v in row) for row in PRICES).encode()
    tabs = "\n".join("\t".join(str(v) for v in row) for row in PRICES).encode()
    for name, data in (("prices.csv", semicolons), ("prices.tsv", tabs)):
        doc = load_file(write(tmp_path, name, data)).documents[0]
        assert doc.text.split("\n")[0] == "| Model | Capacity kW | List price EUR |", name
        assert "| Kestrel 9 | 9 | 8990 |" in doc.text


def test_a_deck_reads_slide_by_slide_with_tables_and_notes(tmp_path):
    doc = load_file(write(tmp_path, "board.pptx", pptx_bytes())).documents[0]
    assert doc.title == "Q3 board deck"
    assert "Slide 1: Board update Q3" in doc.text and "Notes: Mention the Kestrel 12" in doc.text
    assert "| Nordics | 41.2 |" in doc.text
    where = doc.text.index("| Nordics")
    assert doc.page_at(where) == 2 and doc.page_at(doc.text.index("sales grew")) == 1
    assert doc.context_at(where).endswith("| Region | Revenue MEUR |")


def test_an_email_and_its_attachments_are_documents_with_metadata(tmp_path):
    sheet = xlsx_bytes({"Prices": PRICES})
    path = write(tmp_path, "decision.eml", eml_bytes({"prices.xlsx": sheet, "scan.pdf": pdf_bytes(2),
                                                      "tool.exe": b"MZ"}))
    loaded = load_file(path)
    mail, *attached = loaded.documents
    assert mail.title == "Decision: Kestrel 12 price" and "hold the Kestrel 12" in mail.text
    assert mail.metadata["from"] == "cfo@example.com" and mail.metadata["year"] == 2025
    assert [(d.key, d.path) for d in attached] == [("prices.xlsx", str(path)), ("scan.pdf", str(path))]
    assert attached[0].source == f"{path}#prices.xlsx" and attached[1].page_at(0) == 1
    assert loaded.problems == ["attachment tool.exe: not a format tunewise reads"]


@pytest.mark.parametrize("name,data,reason", [
    ("broken.xlsx", b"PK\x03\x04garbage", r"corrupt or unreadable \.xlsx"),
    ("broken.pptx", b"not a zip", r"corrupt or unreadable \.pptx"),
    ("empty.eml", b"\n\n", r"not an e-mail|no text found"),
    ("nul.csv", b"a,b\x00c\n", r"binary file"),
])
def test_bad_office_files_are_refused_by_name(tmp_path, name, data, reason):
    with pytest.raises(LoadError, match=reason):
        load_file(write(tmp_path, name, data))


def test_a_sheet_past_the_cell_limit_is_refused(tmp_path):
    path = write(tmp_path, "big.xlsx", xlsx_bytes({"S": [[i, i, i] for i in range(400)]}))
    with pytest.raises(LoadError, match=r"more than 1,000 cells.*max_cells"):
        load_file(path, IngestSettings(max_cells=1000))


def test_the_ingest_help_lists_every_format():
    from typer.testing import CliRunner

    from tunewise.cli import app

    said = " ".join(CliRunner().invoke(app, ["ingest", "--help"]).output.split())
    missing = [s for s in LOADERS if s not in said and s not in (".htm", ".markdown")]
    assert not missing


def test_office_questions_cite_the_row_the_slide_and_the_mail(tmp_path, embedder, local_model):
    """sample/office (questions in sample/office-questions.jsonl): each question's first source
    is the file that holds the answer, and its passage holds the cell's whole row with its
    header, the slide's table row, the mail's sentence."""
    from tests.conftest import ROOT
    from tunewise.config import Settings
    from tunewise.evaluate.datasets import load_questions
    from tunewise.workspace import Workspace

    office = ROOT / "sample" / "office"
    settings = Settings().replace("store", url=f"sqlite:{tmp_path / 's.db'}")
    with Workspace(settings, embedder=embedder, models={"local": local_model}) as ws:
        assert not ws.ingest([office]).failed
        expected = {"o1": "| SP-1001 | Compressor replacement kit | HX200 | 1240 | 10 |",
                    "o2": "| Sweden | 11.2 |", "o3": "from 13 July to 24 July 2026"}
        for q in load_questions(ROOT / "sample" / "office-questions.jsonl"):
            result = ws.ask(q.question, k=3)
            first = result.passages[0]
            assert first.source.endswith(q.doc_ids[0]) and expected[q.id] in first.text, q.id
        assert first.page is None  # a mail has no pages
        row = ws.search("HX200 compressor replacement kit price", k=1)[0].chunk
        header = "| Part number | Part | Fits | Price EUR | Lead time days |"
        assert row.page == 1 and (header in row.text or row.context.endswith(header))


def test_attachments_past_the_limit_are_reported_not_read(tmp_path):
    path = write(tmp_path, "many.eml", eml_bytes({f"note{i}.txt": f"note {i}".encode()
                                                  for i in range(5)}))
    loaded = load_file(path, IngestSettings(max_attachments=3))
    assert sorted(d.key for d in loaded.documents if d.key) == ["note0.txt", "note1.txt",
                                                                 "note2.txt"]
    assert "2 attachments past the first 3 not read ([ingest] max_attachments)" in loaded.problems
