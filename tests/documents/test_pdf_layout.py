"""PDF layout: tables come out as Markdown tables (header kept, rows whole, a long table's header
repeated in the context of every chunk of it), and scanned pages are OCR'd — or reported by name
when they cannot be — never silently empty. The PDFs are made here: fpdf2 draws a statement with
right-aligned columns; a scan is text drawn to an image, saved as an image-only PDF."""

import shutil

import pytest
from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFont

from tests.conftest import SAMPLE
from tunewise.documents import LoadError, chunk_document, load_file
from tunewise.documents import pdf as pdf_layout
from tunewise.objects import Hit
from tunewise.rag.prompt import merge_hits, messages_for
from tunewise.workspace import Workspace

ROWS = [("Net income", "1,168,782", "629,551", "268,395"),
        ("Depreciation, amortization and accretion", "331,535", "339,473", "313,590"),
        ("Stock-based compensation", "349,526", "335,859", "333,701"),
        ("Purchases of property and equipment", "(203,805)", "(184,936)", "(148,332)"),
        ("Acme Inc. Total adjustments", "12,001", "9,870", "8,123")]


def _statement(path, rows: int = 5, title: str = "CONSOLIDATED STATEMENTS OF CASH FLOWS"):
    pdf = FPDF()
    pdf.set_font("Helvetica", size=10)
    pdf.add_page()
    pdf.cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 6, "(In thousands)", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(100, 6, "")
    for year in ("2016", "2015", "2014"):
        pdf.cell(30, 6, year, align="R")
    pdf.ln()
    for n in range(rows):
        label, *values = ROWS[n % len(ROWS)]
        pdf.cell(100, 6, label if n < len(ROWS) else f"{label} ({n})")
        for value in values:
            pdf.cell(30, 6, value, align="R")
        pdf.ln()
    pdf.cell(0, 8, "See accompanying Notes to Consolidated Financial Statements.")
    pdf.output(str(path))


def test_a_statement_becomes_a_markdown_table(tmp_path):
    path = tmp_path / "statement.pdf"
    _statement(path)
    doc = load_file(path).documents[0]
    lines = doc.text.splitlines()
    header = lines.index("|  | 2016 | 2015 | 2014 |")
    assert lines[header + 1] == "| --- | --- | --- | --- |"
    assert "| Purchases of property and equipment | (203,805) | (184,936) | (148,332) |" in lines
    assert "| Acme Inc. Total adjustments | 12,001 | 9,870 | 8,123 |" in lines
    assert lines[0] == "CONSOLIDATED STATEMENTS OF CASH FLOWS"  # the caption stays text
    assert lines[-1].startswith("See accompanying Notes")
    assert doc.page_at(doc.text.index("| Net income")) == 1


def test_a_long_table_is_cut_between_rows_with_its_header_in_every_chunks_context(tmp_path, embedder,
                                                                                 settings):
    path = tmp_path / "long.pdf"
    _statement(path, rows=40)
    doc = load_file(path).documents[0]
    chunks = chunk_document(doc, embedder.tokenizer, size=80, overlap=0)
    in_table = [c for c in chunks if c.text.lstrip().startswith("| ")]
    assert len(in_table) >= 3
    for c in chunks:  # no row is cut ("Acme Inc. Total" is not a sentence end)
        for line in c.text.strip().splitlines():
            assert line.startswith("| ") == line.endswith(" |"), line
    for c in in_table[1:]:
        assert c.context.endswith("|  | 2016 | 2015 | 2014 |")
        assert "CONSOLIDATED STATEMENTS OF CASH FLOWS\n|" in c.context
        assert c.indexed_text.endswith(c.text)  # citations still show the text alone
    # ...and the prompt shows the header above a passage that starts inside the table
    source = merge_hits([Hit(in_table[1], 1.0, "dense")])[0]
    assert source.text == in_table[1].text
    prompt = messages_for("Stock-based compensation in 2015?", [source], settings.rag)[-1]["content"]
    assert "|  | 2016 | 2015 | 2014 |\n| --- | --- | --- | --- |\n" + in_table[1].text in prompt


def test_a_title_case_caption_is_the_context_of_its_table(tmp_path, embedder):
    path = tmp_path / "title-case.pdf"
    _statement(path, rows=40, title="Consolidated Statements of Cash Flows")
    doc = load_file(path).documents[0]
    in_table = [c for c in chunk_document(doc, embedder.tokenizer, size=80, overlap=0)
                if c.text.lstrip().startswith("| ")]
    expected = "› Consolidated Statements of Cash Flows\n|  | 2016 | 2015 | 2014 |"
    assert in_table and all(c.context.endswith(expected) for c in in_table)


def test_captions_are_title_case_lines_set_apart_from_their_table():
    table = ["|  | 2022 | 2021 |", "| --- | --- | --- |", "| Net revenue | 86,392 | 79,474 |"]
    pepsico = ["Consolidated Statement of Income", "PepsiCo, Inc. and Subsidiaries",
               "(in millions except per share amounts)", *table]
    assert pdf_layout._captions(pepsico) == [
        (0, "Consolidated Statement of Income PepsiCo, Inc. and Subsidiaries")]
    # column titles right above the table, a sentence, a line with figures: not captions
    assert pdf_layout._captions(["Pension Retiree Medical", "U.S. International", *table]) == []
    assert pdf_layout._captions(["Adobe Analytics Cloud revenue.", "in millions", *table]) == []
    assert pdf_layout._captions(["Fiscal Years Ended February 2, 2019", "in millions", *table]) == []
    assert pdf_layout._captions(["Consolidated Results", *["prose line"] * 7, *table]) == []


def test_prose_with_numbers_is_not_a_table():
    doc = load_file(SAMPLE / "products/hx-series-datasheet.pdf").documents[0]
    assert "|" not in doc.text
    assert "HX200 outdoor unit: 1,100 x 950 x 480 mm." in doc.text


def _scan(text_lines: list[str]) -> Image.Image:
    """A 'scanned' A4 page at 150 dpi: the text is pixels, with no text layer."""
    image = Image.new("RGB", (1240, 1754), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=36)
    for n, line in enumerate(text_lines):
        draw.text((100, 150 + 60 * n), line, fill="black", font=font)
    return image


def _scanned_pdf(path, with_text_page: bool = False):
    pages = [_scan(["Scanned invoice 4711", "Total amount due: 980 EUR", "Payable within 30 days"])]
    if with_text_page:
        pdf = FPDF()
        pdf.set_font("Helvetica", size=11)
        pdf.add_page()
        pdf.multi_cell(0, 6, "Cover letter: the invoice follows on the next page.")
        pdf.add_page()
        pdf.image(pages[0], x=0, y=0, w=210)
        pdf.output(str(path))
    else:
        pages[0].save(path, "PDF", resolution=150)


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract-ocr is not installed")
def test_a_scanned_page_is_read_by_ocr_and_counted(tmp_path, embedder, settings):
    path = tmp_path / "invoice.pdf"
    _scanned_pdf(path, with_text_page=True)
    loaded = load_file(path)
    assert loaded.ocr_pages == [2] and not loaded.problems
    doc = loaded.documents[0]
    assert "Total amount due" in doc.text and doc.page_at(doc.text.index("Total amount due")) == 2
    with Workspace(settings, embedder=embedder) as ws:
        report = ws.ingest([path])
    assert report.ocr == [(str(path), 1)] and report.chunks >= 1


def test_without_tesseract_scanned_pages_are_reported_by_number(tmp_path, monkeypatch, embedder,
                                                                settings):
    monkeypatch.setattr(pdf_layout, "_tesseract", lambda: None)
    mixed = tmp_path / "mixed.pdf"
    _scanned_pdf(mixed, with_text_page=True)
    loaded = load_file(mixed)
    assert "Cover letter" in loaded.documents[0].text
    assert loaded.problems == ["page 2 has no text layer and was not read: install tesseract-ocr "
                               "to OCR it"]
    only_scan = tmp_path / "scan.pdf"
    _scanned_pdf(only_scan)
    with pytest.raises(LoadError, match="page 1 has no text layer.*tesseract-ocr"):
        load_file(only_scan)
    with Workspace(settings, embedder=embedder) as ws:
        report = ws.ingest([tmp_path])  # the rest is ingested
    assert [p for p, _ in report.failed] == [str(only_scan)] and report.added == [str(mixed)]
    assert report.warnings[0][0] == str(mixed) and "page 2" in report.warnings[0][1]


def test_a_table_of_contents_is_not_content_but_a_small_table_of_counts_is(tmp_path):
    """A contents page lists every statement by name and matches every question about them, while
    holding none of their numbers."""
    pdf = FPDF()
    pdf.set_font("Helvetica", size=10)
    for _ in range(40):
        pdf.add_page()
    pdf.page = 1
    pdf.set_y(20)
    entries = [("Item 1. Business", 3), ("Item 1A. Risk Factors", 9), ("Item 7. Management's "
               "Discussion and Analysis", 18), ("Consolidated Statements of Income", 25),
               ("Consolidated Balance Sheets", 26), ("Consolidated Statements of Cash Flows", 27),
               ("Notes to Consolidated Financial Statements", 29)]
    for title, page in entries:
        pdf.cell(150, 6, title)
        pdf.cell(20, 6, str(page), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(0, 6, "Our stores grew again this year, as the following table shows by region "
                         "of the country, with every store counted once.")
    for region, stores in (("North", "3"), ("South", "5"), ("East", "8"), ("West", "12")):
        pdf.cell(150, 6, f"Stores in the {region}")
        pdf.cell(20, 6, stores, align="R", new_x="LMARGIN", new_y="NEXT")
    path = tmp_path / "annual-report.pdf"
    pdf.output(str(path))
    text = load_file(path).documents[0].text
    assert "Consolidated Balance Sheets" not in text and "Item 1A" not in text
    assert "| Stores in the West | 12 |" in text
