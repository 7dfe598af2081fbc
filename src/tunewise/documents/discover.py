"""Finding the files to ingest: folders walked recursively for the formats a loader reads, hidden
files skipped, include/exclude globs applied as source globs are."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from tunewise.documents.loaders import LOADERS
from tunewise.objects import source_matches


def discover(paths: Iterable[str | Path], include: tuple[str, ...] = (),
             exclude: tuple[str, ...] = ()) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files under `paths` (recursively) in a known format, filtered by globs on their path.
    A path named explicitly is kept whatever its format, so that the user hears why it failed."""
    files, missing = [], []
    for given in paths:
        p = Path(given).expanduser().resolve()
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file()
                           and f.suffix.lower() in LOADERS and not _hidden(f.relative_to(p)))
        elif p.exists():
            found = [p]
        else:
            missing.append((str(p), "no such file or folder"))
            continue
        files.extend(f for f in found if _wanted(f, include, exclude))
    return list(dict.fromkeys(files)), missing


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def _wanted(path: Path, include: tuple[str, ...], exclude: tuple[str, ...]) -> bool:
    """Globs match as source globs do (objects.source_glob): '*.pdf' and 'drafts/*' anywhere."""
    text = path.as_posix()

    def match(pattern: str) -> bool:
        return source_matches(text, pattern)

    return (not include or any(map(match, include))) and not any(map(match, exclude))
