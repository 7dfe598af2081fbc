"""Context in every chunk: headings (Markdown, and the upper-case titles and Item/Note lines of
PDF filings) give each chunk a heading path it is embedded with; running page headers and
footers are not content."""

from fpdf import FPDF

from tests.conftest import SAMPLE
from tunewise.documents import chunk_document, load_file


def test_markdown_heading_paths(embedder):
    doc = load_file(SAMPLE / "policies/remote-work-policy.md").documents[0]
    paths = [path for _, path in doc.sections]
    assert paths[0] == "Remote Work Policy" and all(p.startswith("Remote Work Policy") for p in paths)
    assert any(" › " in p for p in paths)
    chunks = chunk_document(doc, embedder.tokenizer, size=60, overlap=0)
    assert any(c.context.startswith("Remote Work Policy › ") for c in chunks)
    for c in chunks:
        assert c.context == doc.context_at(c.start)
        assert c.indexed_text.endswith(c.text) and (c.context in c.indexed_text)
        # the chunk with its context still fits the embedder, so nothing is truncated
        assert len(embedder.tokenizer.offsets(c.indexed_text)) <= embedder.tokenizer.max_tokens


def _filing(path, pages: int = 6):
    pdf = FPDF()
    pdf.set_auto_page_break(False)
    pdf.set_font("Helvetica", size=11)
    for n in range(1, pages + 1):
        pdf.add_page()
        pdf.cell(0, 8, "Kestrel Heat Pumps Inc. | Annual Report 2025", new_x="LMARGIN", new_y="NEXT")
        if n == 3:
            pdf.cell(0, 8, "CONSOLIDATED STATEMENTS OF CASH FLOWS", new_x="LMARGIN", new_y="NEXT")
            pdf.multi_cell(0, 6, "Purchases of property, plant and equipment (1,577)\n"
                                 "Net cash used in investing activities (2,310)")
        else:
            topic = ["markets", "installers", "warranty", "refrigerants", "exports", "hiring"][n - 1]
            pdf.multi_cell(0, 6, f"This section discusses {topic} in detail for the year.")
        pdf.set_y(-20)
        pdf.cell(0, 8, f"Page {n} of {pages}")
    pdf.output(str(path))


def test_pdf_running_lines_are_dropped_and_statement_titles_become_context(tmp_path, embedder):
    path = tmp_path / "filing.pdf"
    _filing(path)
    doc = load_file(path).documents[0]
    assert "Kestrel Heat Pumps Inc." not in doc.text and "Page 3 of 6" not in doc.text
    assert "Purchases of property, plant and equipment (1,577)" in doc.text
    at = doc.text.index("Purchases of property")
    assert doc.page_at(at) == 3
    assert doc.context_at(at).endswith("CONSOLIDATED STATEMENTS OF CASH FLOWS")
    row = next(c for c in chunk_document(doc, embedder.tokenizer, size=20, overlap=0)
               if "(1,577)" in c.text)
    assert "CONSOLIDATED STATEMENTS OF CASH FLOWS" in row.indexed_text


def test_short_pdfs_keep_every_line(tmp_path):
    path = tmp_path / "memo.pdf"
    _filing(path, pages=2)  # too few pages to tell a running header from content
    assert "Kestrel Heat Pumps Inc." in load_file(path).documents[0].text
