"""PDF tables whose row labels wrap onto two lines: the label's lines and its numbers come out as
one Markdown row, however the PDF draws them (numbers on the label's last line, on its first
line, or after the whole label); a section label and a wrapped paragraph are left alone. The
statements are drawn with fpdf2: a 45 mm label column wraps "Purchases of property and
equipment" at 11 pt."""

import pytest
from fpdf import FPDF

from tunewise.documents.pdf import read_pdf

ROWS = [("Net earnings", "1,000", "900"), ("Investing activities:", "", ""),
        ("Purchases of property and equipment", "(1,577)", "(1,381)"),
        ("Other investing", "12", "(4)"), ("Net cash used in investing activities", "(1,565)", "(1,385)")]
PARAGRAPH = ("The company expects capital expenditures to rise next year as the new plant is "
             "built and the older lines are retired over the following years.")


def _statement(path, numbers: str):
    """`numbers`: "last" (beside the label's last line), "first" (beside its first line, drawn
    row by row), "after" (beside its first line, drawn after the whole label)."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 6, PARAGRAPH, new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 6, "Consolidated Statements of Cash Flows", new_x="LMARGIN", new_y="NEXT")
    pdf.set_x(120)
    pdf.cell(30, 6, "2018", align="R")
    pdf.cell(30, 6, "2017", align="R", new_x="LMARGIN", new_y="NEXT")
    for label, a, b in ROWS:
        lines = pdf.multi_cell(45, 6, label, dry_run=True, output="LINES")
        y = pdf.get_y()
        if numbers == "first":  # drawn in reading order: first line, its numbers, the rest
            pdf.set_xy(10, y)
            pdf.cell(45, 6, lines[0])
            pdf.set_x(120)
            pdf.cell(30, 6, a, align="R")
            pdf.cell(30, 6, b, align="R")
            for n, rest in enumerate(lines[1:], start=1):
                pdf.set_xy(10, y + 6 * n)
                pdf.cell(45, 6, rest)
        else:
            for n, piece in enumerate(lines):
                pdf.set_xy(10, y + 6 * n)
                pdf.cell(45, 6, piece)
            level = y + 6 * (len(lines) - 1 if numbers == "last" else 0)
            pdf.set_xy(120, level)
            pdf.cell(30, 6, a, align="R")
            pdf.cell(30, 6, b, align="R")
        pdf.set_xy(10, y + 6 * len(lines))
    pdf.output(str(path))
    return path


@pytest.mark.parametrize("numbers", ["last", "first", "after"])
def test_a_wrapped_label_and_its_numbers_are_one_table_row(tmp_path, numbers):
    text = read_pdf(_statement(tmp_path / "s.pdf", numbers)).text
    assert "| Purchases of property and equipment | (1,577) | (1,381) |" in text
    assert "| Net cash used in investing activities | (1,565) | (1,385) |" in text
    assert "| Investing activities: |  |  |" in text  # a section label stays its own row
    table = text[text.index("|  | 2018 | 2017 |"):]
    assert table.count("| --- | --- | --- |") == 1  # one table, not torn in two
    first, second = text.splitlines()[:2]  # a wrapped paragraph keeps its two lines
    assert PARAGRAPH.startswith(first) and second[0].islower() and PARAGRAPH.endswith(second)
