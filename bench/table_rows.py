"""Torn table rows in real filings (issue 27): PDF tables of financebench-dev as tunewise reads
them, counting body rows with numbers but no label (the label wrapped onto a line of its own)
and rows with a label but no numbers (a wrapped label's first line, or a section label).

    python bench/table_rows.py            # all 27 filings
    python bench/table_rows.py --limit 5  # the first five"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

from common import DATA
from tunewise.documents.pdf import read_pdf

ROW = re.compile(r"^\|.*\|$")


def counts(text: str) -> dict[str, int]:
    rows = no_label = no_numbers = lowercase = 0
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not ROW.match(line) or i + 1 < len(lines) and set(lines[i + 1]) <= set("|- "):
            continue  # not a row, or a header row (the separator follows it)
        if set(line) <= set("|- "):
            continue  # the separator
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        rows += 1
        label, values = cells[0], [c for c in cells[1:] if c]
        no_label += bool(values) and not label
        no_numbers += bool(label) and not values
        lowercase += bool(label[:1].islower()) and bool(values)  # "and equipment | (1,577)"
    return {"rows": rows, "no_label": no_label, "label_only": no_numbers,
            "lowercase_label": lowercase}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--limit", type=int, default=None)
    args = p.parse_args()
    files = sorted((DATA / "financebench-dev" / "pdfs").glob("*.pdf"))[:args.limit]
    total = {"rows": 0, "no_label": 0, "label_only": 0, "lowercase_label": 0}
    started = time.perf_counter()
    for path in files:
        found = counts(read_pdf(Path(path)).text)
        total = {k: total[k] + found[k] for k in total}
    print(f"{len(files)} filings in {time.perf_counter() - started:.0f} s: {total['rows']} body rows, "
          f"{total['no_label']} with numbers but no label, {total['label_only']} with a label but "
          f"no numbers, {total['lowercase_label']} whose label starts in lower case (a wrapped "
          "label's second line)")


if __name__ == "__main__":
    main()
