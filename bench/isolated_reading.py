"""What reading files in bounded reader processes ([ingest] isolate, as `tunewise serve` always
does) costs on ordinary files: the same files read in this process (`load_file`) and through the
reader pool (`read_isolated`), alternately, several rounds; the median time of each and the
ratio (goal ≤ 1.1×). Files: the sample corpus (20 small files of every format) and the first
FinanceBench filings (real PDFs of hundreds of pages), so both per-file overhead and big files show.

    python bench/isolated_reading.py [--pdfs 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from tunewise.config import IngestSettings
from tunewise.documents.isolated import close_readers, read_isolated
from tunewise.documents.loaders import LOADERS, load_file

ROOT = Path(__file__).resolve().parent.parent
FILINGS = ROOT.parent / "shared" / "data" / "financebench-dev" / "pdfs"


def timed(read, files: list[Path], settings: IngestSettings) -> float:
    started = time.perf_counter()
    for path in files:
        read(path, settings)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pdfs", type=int, default=5, help="FinanceBench filings to read")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sample = sorted(p for p in (ROOT / "sample" / "corpus").rglob("*") if p.suffix.lower() in LOADERS)
    filings = sorted(FILINGS.glob("*.pdf"))[: args.pdfs]
    settings = IngestSettings(isolate=True)
    read_isolated(sample[0], settings)  # the reader's start (~0.2 s, once per server) is not counted
    print(f"reader pool: {settings.readers} processes, each limited to +{settings.max_memory_mb:g} MB")
    print("| files | in this process (median) | in a reader process (median) | ratio |")
    print("|---|---|---|---|")
    for label, files in ((f"sample corpus ({len(sample)} files)", sample),
                         (f"FinanceBench filings ({len(filings)} PDFs, "
                          f"{sum(p.stat().st_size for p in filings) / 2**20:.0f} MB)", filings)):
        if not files:
            continue
        direct, isolated = [], []
        for _ in range(args.rounds):
            direct.append(timed(load_file, files, settings))
            isolated.append(timed(read_isolated, files, settings))
        a, b = statistics.median(direct), statistics.median(isolated)
        print(f"| {label} | {a:.3f} s | {b:.3f} s | **{b / a:.2f}×** |")
    close_readers()


if __name__ == "__main__":
    main()
