"""Files a hostile or careless client uploads, made here (tests/serve/test_hostile.py and
bench/serve_hostile.py): a zip-bomb .docx, a .docx of many paragraphs, a long PDF."""

from __future__ import annotations

import io
import zipfile


def docx_bytes(paragraphs: list[str], padding: int = 0) -> bytes:
    """A .docx of `paragraphs`; with `padding`, plus a part of that many spaces, which deflate
    to almost nothing (a decompression bomb)."""
    import docx

    d = docx.Document()
    for text in paragraphs:
        d.add_paragraph(text)
    buffer = io.BytesIO()
    d.save(buffer)
    if not padding:
        return buffer.getvalue()
    out = io.BytesIO()
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item.filename))
        dst.writestr("word/padding.xml", b" " * padding)
    return out.getvalue()


def pdf_bytes(pages: int) -> bytes:
    """A PDF of `pages` pages of one line each."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for n in range(pages):
        pdf.add_page()
        pdf.cell(0, 8, f"Page {n} of a long document.")
    return bytes(pdf.output())
