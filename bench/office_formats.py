"""Ingestion speed of the spreadsheet, CSV, slide-deck and e-mail loaders on generated files: N
files of each format (a price list of 200 rows, a 12-slide deck with a table and notes, a mail
with a .csv attachment) ingested into a fresh store, format by format; files/s and chunks; then
the same folder again (every file unchanged: the same chunks, nothing re-embedded).

    python bench/office_formats.py [--files 40]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

import openpyxl
from pptx import Presentation
from pptx.util import Inches

from tunewise.config import Settings
from tunewise.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def xlsx(n: int) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Part number", "Part", "Fits", "Price EUR", "Lead time days"])
    for i in range(200):
        sheet.append([f"SP-{n}-{i}", f"Part {i} of list {n}", "HX200" if i % 2 else "HX400",
                      100 + i * 7 % 900, 2 + i % 14])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv(n: int) -> bytes:
    rows = ["month,region,units,revenue_eur"] + [f"2025-{m:02d},region {r},{n + m * r},{(n + m * r) * 6400}"
                                                   for m in range(1, 13) for r in range(1, 9)]
    return "\n".join(rows).encode()


def pptx(n: int) -> bytes:
    deck = Presentation()
    for s in range(12):
        slide = deck.slides.add_slide(deck.slide_layouts[5])
        slide.shapes.title.text = f"Deck {n}, slide {s}: quarterly review"
        slide.shapes.add_textbox(Inches(1), Inches(1.6), Inches(8), Inches(1)).text_frame.text = (
            f"Sales in region {s} grew by {s + n % 7} percent; the service backlog fell.")
        table = slide.shapes.add_table(4, 3, Inches(1), Inches(2.8), Inches(8), Inches(1.6)).table
        for r in range(4):
            for c in range(3):
                table.cell(r, c).text = ["Item", "Q2", "Q3"][c] if r == 0 else f"{r * c + s}"
        slide.notes_slide.notes_text_frame.text = f"Speaker notes for slide {s} of deck {n}."
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def eml(n: int) -> bytes:
    mail = EmailMessage()
    mail["Subject"], mail["From"], mail["To"] = f"Weekly numbers {n}", "ops@example.com", "all@example.com"
    mail["Date"] = "Mon, 12 Jan 2026 08:15:00 +0200"
    mail.set_content(f"Hello,\n\nthe weekly numbers {n} are attached. Backlog is down.\n\nOps")
    mail.add_attachment(csv(n).decode(), filename=f"numbers-{n}.csv")
    return bytes(mail)


FORMATS = {".xlsx": xlsx, ".csv": csv, ".pptx": pptx, ".eml": eml}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=40, help="files of each format")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = Settings().replace("store", url=f"sqlite:{root / 'store.db'}")
        with Workspace(settings) as ws:
            ws.embedder.embed(["warm up"])  # the model's load is not the loaders' time
            print(f"{args.files} files of each format, one process, 2-core CPU\n")
            print("| format | files/s (read, chunk, embed, write) | chunks | second run: chunks written, "
                  "unchanged files |")
            print("|---|---|---|---|")
            for suffix, make in FORMATS.items():
                folder = root / suffix.strip(".")
                folder.mkdir()
                size = 0
                for n in range(args.files):
                    data = make(n)
                    size += len(data)
                    (folder / f"file-{n}{suffix}").write_bytes(data)
                started = time.perf_counter()
                first = ws.ingest([folder])
                seconds = time.perf_counter() - started
                again = ws.ingest([folder])
                assert not first.failed, first.failed
                print(f"| {suffix} ({size / len(range(args.files)) / 1024:.0f} KB each) | "
                      f"{args.files / seconds:.1f} | {first.chunks} | {again.chunks} written, "
                      f"{len(again.unchanged)} unchanged |")


if __name__ == "__main__":
    main()
