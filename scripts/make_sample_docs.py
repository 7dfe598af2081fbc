"""Writes the .docx and .pdf files of the sample corpus (sample/corpus) and the .xlsx, .pptx and
.eml files of sample/office.

The generated files are committed; this script is kept so they can be rebuilt or extended.
Needs python-docx, fpdf2, openpyxl and python-pptx (`pip install -e .[dev]`).
Run: python scripts/make_sample_docs.py
"""

from __future__ import annotations

from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path

import openpyxl
from docx import Document as DocxDocument
from fpdf import FPDF
from pptx import Presentation
from pptx.util import Inches

CORPUS = Path(__file__).resolve().parent.parent / "sample" / "corpus"
# the spreadsheet, deck and e-mail of the same company, kept beside the corpus (with their own
# questions) so that the demo's figures stay those of the corpus
OFFICE = CORPUS.parent / "office"

DOCX = {
    "finance/q3-2025-finance-memo.docx": (
        "Finance memo: Q3 2025 results",
        [
            "To: Executive team. From: Anders Holm, CFO. Date: 14 October 2025.",
            "Revenue in the third quarter of 2025 was EUR 38.6 million, up 17 percent from Q3 2024. "
            "Heat pump unit sales grew to 5,900 units, of which 140 were HX400 commercial units.",
            "The gross margin fell from 34 percent to 31 percent, mainly because copper and "
            "compressor prices rose. Operating profit (EBIT) was EUR 3.1 million.",
            "Cash at the end of the quarter was EUR 21.4 million. The second production line in "
            "Tampere is on budget at EUR 12 million, of which EUR 7.5 million has been spent.",
            "Outlook: we expect full-year 2025 revenue between EUR 150 and 158 million. Hiring is "
            "frozen for non-production roles until the end of the year, except for firmware engineers.",
        ],
    ),
    "policies/code-of-conduct.docx": (
        "Code of Conduct",
        [
            "Every Kestrel employee treats colleagues, customers and partners with respect. "
            "Harassment and discrimination are not tolerated.",
            "Gifts: employees may accept gifts or hospitality worth at most EUR 50 per year from "
            "any one business partner. Anything of higher value must be declined or reported to "
            "the compliance officer.",
            "Conflicts of interest, such as owning shares in a supplier, must be declared to your "
            "manager in writing.",
            "Concerns can be raised anonymously through the whistleblowing channel, which is run "
            "by an external provider. Retaliation against anyone who reports in good faith is "
            "forbidden.",
            "Every employee completes the Code of Conduct training once a year.",
        ],
    ),
    "company/benefits-overview.docx": (
        "Employee benefits overview 2025",
        [
            "Occupational health care: Kestrel's health care covers general practitioner visits, "
            "laboratory tests and physiotherapy for all employees in Finland and Sweden.",
            "Wellbeing allowance: every employee receives EUR 500 per year for sports and culture, "
            "paid as ePassi balance.",
            "Lunch benefit: a lunch benefit of EUR 13.25 per working day.",
            "Bicycle benefit: employees can lease an electric bicycle through a salary-sacrifice "
            "plan of up to EUR 100 per month.",
            "Holidays: employees earn 25 days of paid annual holiday, and 30 days after ten years "
            "of service.",
        ],
    ),
}

PDF = {
    "products/hx-series-datasheet.pdf": [
        (
            "HX Series Datasheet 2025",
            "The HX series consists of the HX200 for houses and the HX400 for commercial buildings. "
            "Both use the natural refrigerant R290 and variable-speed compressors from Danfoss.",
        ),
        (
            "Energy labels",
            "The HX200 has energy class A+++ for 35 degree flow temperature and A++ for 55 degrees. "
            "The HX400 has energy class A++ at 55 degrees.",
        ),
        (
            "Dimensions",
            "HX200 outdoor unit: 1,100 x 950 x 480 mm. HX400 outdoor unit: 1,900 x 1,650 x 1,100 mm. "
            "The HX400 needs a crane or a forklift for installation.",
        ),
    ],
    "finance/price-list-2026.pdf": [
        (
            "Price list 2026 (valid from 1 January 2026)",
            "HX200 heat pump, outdoor and indoor unit: EUR 9,450 excluding VAT. "
            "HX400 commercial heat pump, per unit: EUR 38,900 excluding VAT.",
        ),
        (
            "Services",
            "Standard installation of the HX200: EUR 2,900. Annual service visit: EUR 189. "
            "Extended warranty to 10 years for all parts: EUR 690. "
            "Prices for Norway are set in NOK by the Oslo office.",
        ),
    ],
    "policies/data-retention-policy.pdf": [
        (
            "Data Retention Policy",
            "This policy sets how long Kestrel keeps data. Heat-pump telemetry is kept for 24 "
            "months and then deleted or anonymised. Customer contracts and invoices are kept for "
            "10 years, as accounting law requires.",
        ),
        (
            "Employee data",
            "Job applications of candidates who were not hired are deleted after 6 months. "
            "Employee records are kept for 2 years after employment ends, except payroll records, "
            "which are kept for 10 years.",
        ),
    ],
}


XLSX = {
    "spare-parts-2026.xlsx": {
        "Spare parts": [
            ["Part number", "Part", "Fits", "Price EUR", "Lead time days"],
            ["SP-1001", "Compressor replacement kit", "HX200", 1240, 10],
            ["SP-1002", "Compressor replacement kit", "HX400", 2180, 15],
            ["SP-1010", "Outdoor fan motor", "HX200", 310, 5],
            ["SP-1011", "Outdoor fan motor", "HX400", 455, 7],
            ["SP-1020", "Expansion valve", "HX200, HX400", 185, 3],
            ["SP-1030", "Control board", "HX200", 390, 4],
            ["SP-1031", "Control board", "HX400", 520, 6],
            ["SP-1040", "Wi-Fi module", "HX200, HX400", 95, 2],
        ],
        "Service fees": [
            ["Service", "Price EUR"],
            ["Call-out fee, weekdays", 89],
            ["Call-out fee, weekends", 149],
            ["Hourly labour rate", 72],
        ],
    },
}

PPTX = {
    "board-update-q3-2025.pptx": ("Board update Q3 2025", [
        ("Q3 2025 at a glance",
         "Revenue EUR 38.6 million, up 17 percent. 5,900 heat pumps sold.",
         None, "The HX400 order book covers the first quarter of 2026."),
        ("Revenue by region", None,
         [["Region", "Q3 2025 revenue (EUR million)"], ["Finland", "19.8"], ["Sweden", "11.2"],
          ["Norway", "7.6"]], None),
        ("Decisions asked of the board",
         "Approve a sales office in Copenhagen, to open in April 2026.", None,
         "Headcount for Copenhagen: four people in the first year."),
    ]),
}

EML = {
    "plant-maintenance-notice.eml": (
        "Tampere plant: summer maintenance stop 2026", "operations@kestrel.example",
        "all-staff@kestrel.example", "Mon, 12 Jan 2026 08:15:00 +0200",
        "Hello all,\n\nThe Tampere plant will stop production for its yearly maintenance from "
        "13 July to 24 July 2026. Orders for delivery in those weeks must be placed by 15 June "
        "2026.\n\nThe shutdown checklist is attached.\n\nRegards,\nPlant operations",
        {"shutdown-checklist.txt": "Shutdown checklist: drain the test loops, lock out line 2, "
                                   "service the brazing furnace, recalibrate the leak testers."}),
}


def write_xlsx(path: Path, sheets: dict[str, list[list]]) -> None:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.properties.creator = "Kestrel Thermal Systems, Finance"
    book.properties.created = book.properties.modified = datetime(2025, 11, 3)
    book.save(path)


def write_pptx(path: Path, title: str, slides: list) -> None:
    deck = Presentation()
    for heading, text, table, notes in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[5])
        slide.shapes.title.text = heading
        if text:
            box = slide.shapes.add_textbox(Inches(1), Inches(1.6), Inches(8), Inches(1))
            box.text_frame.text = text
        if table:
            shape = slide.shapes.add_table(len(table), len(table[0]), Inches(1), Inches(2.8),
                                           Inches(8), Inches(0.4 * len(table)))
            for r, row in enumerate(table):
                for c, value in enumerate(row):
                    shape.table.cell(r, c).text = value
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    deck.core_properties.title = title
    deck.core_properties.author = "Kestrel Thermal Systems"
    deck.core_properties.created = deck.core_properties.modified = datetime(2025, 10, 20)
    deck.save(path)


def write_eml(path: Path, subject: str, sender: str, to: str, date: str, body: str,
              attachments: dict[str, str]) -> None:
    mail = EmailMessage()
    mail["Subject"], mail["From"], mail["To"], mail["Date"] = subject, sender, to, date
    mail.set_content(body)
    for name, text in attachments.items():
        mail.add_attachment(text, filename=name)
    path.write_bytes(bytes(mail))


def write_docx(path: Path, title: str, paragraphs: list[str]) -> None:
    doc = DocxDocument()
    doc.core_properties.title = title
    doc.add_heading(title, level=1)
    for text in paragraphs:
        doc.add_paragraph(text)
    doc.save(path)


def write_pdf(path: Path, pages: list[tuple[str, str]]) -> None:
    pdf = FPDF()
    pdf.set_title(pages[0][0])
    pdf.set_creation_date(datetime(2025, 10, 1, tzinfo=timezone.utc))  # reproducible bytes
    for heading, body in pages:
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 16)
        pdf.multi_cell(0, 10, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=11)
        pdf.multi_cell(0, 6, body, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))


def main() -> None:
    for rel, (title, paragraphs) in DOCX.items():
        write_docx(CORPUS / rel, title, paragraphs)
    for rel, pages in PDF.items():
        write_pdf(CORPUS / rel, pages)
    write_office()
    print(f"wrote {len(DOCX)} .docx, {len(PDF)} .pdf, {len(XLSX)} .xlsx, {len(PPTX)} .pptx and "
          f"{len(EML)} .eml files under {CORPUS.parent}")


def write_office() -> None:
    OFFICE.mkdir(exist_ok=True)
    for rel, sheets in XLSX.items():
        write_xlsx(OFFICE / rel, sheets)
    for rel, (title, slides) in PPTX.items():
        write_pptx(OFFICE / rel, title, slides)
    for rel, mail in EML.items():
        write_eml(OFFICE / rel, *mail)


if __name__ == "__main__":
    main()
