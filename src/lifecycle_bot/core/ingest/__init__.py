"""Read a knowledge-base directory into chunks; a bad file is reported, never fatal.

Every reader's input is hostile until checked: a file that is too big, not UTF-8, binary, malformed or of
the wrong shape becomes one `IngestError` naming the file and the reason, and the rest of the KB is read.
Symbolic links are never followed: a link out of the KB would quote a file nobody put in it, and a link
back up the tree would read the KB forever; each one is reported.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from lifecycle_bot.core.ingest.asked import read_sidecar, sidecar_of
from lifecycle_bot.core.ingest.excalidraw import ExcalidrawError, parse_excalidraw
from lifecycle_bot.core.ingest.markdown import parse_markdown
from lifecycle_bot.core.settings import MAX_FILE_BYTES
from lifecycle_bot.core.types import Chunk, IngestError

MARKDOWN = (".md", ".markdown")
EXCALIDRAW = (".excalidraw", ".excalidraw.json")


class KBNotFound(FileNotFoundError):
    pass


def _hidden(rel: Path) -> bool:
    return any(part.startswith((".", "_")) for part in rel.parts)


def _wanted(name: str) -> bool:
    return name.lower().endswith(MARKDOWN + EXCALIDRAW)


def _symlink_error(kb_root: Path, link: Path, rel: str) -> IngestError:
    """Why a symbolic link in the KB is not read: it leaves the KB, loops, dangles, or duplicates a file."""
    try:
        target = link.resolve(strict=True)
    except RuntimeError:  # Python < 3.13: "Symlink loop"
        return IngestError(rel, "symbolic link loop; not followed")
    except OSError as exc:
        if exc.errno == 40:  # ELOOP
            return IngestError(rel, "symbolic link loop; not followed")
        return IngestError(rel, f"broken symbolic link (to {os.readlink(link)}); skipped")
    if target != kb_root and kb_root not in target.parents:
        return IngestError(rel, f"symbolic link to {target}, outside the knowledge base; not followed")
    home = link.parent.resolve()
    if link.is_dir() and (target == home or target in home.parents):
        return IngestError(rel, f"symbolic link loop (to {target.relative_to(kb_root).as_posix() or '.'}); "
                                "not followed")
    where = target.relative_to(kb_root).as_posix()
    return IngestError(rel, f"symbolic link to {where} inside the knowledge base; read there, not here")


def scan_kb(kb_dir: Path) -> tuple[list[Path], list[IngestError]]:
    """The KB's Markdown and Excalidraw files in path order, and one error per symbolic link not followed."""
    if not kb_dir.is_dir():
        raise KBNotFound(f"knowledge-base directory not found: {kb_dir}")
    kb_root = kb_dir.resolve()
    files: list[Path] = []
    errors: list[IngestError] = []
    for top, dirs, names in os.walk(kb_dir, followlinks=False):
        here = Path(top)
        dirs.sort()
        for name in list(dirs):
            path = here / name
            rel = path.relative_to(kb_dir)
            if _hidden(rel):
                dirs.remove(name)
            elif path.is_symlink():
                dirs.remove(name)  # os.walk would not descend into it; say so
                errors.append(_symlink_error(kb_root, path, rel.as_posix()))
        for name in names:
            path = here / name
            rel = path.relative_to(kb_dir)
            if _hidden(rel) or not _wanted(name):
                continue
            if path.is_symlink():
                errors.append(_symlink_error(kb_root, path, rel.as_posix()))
            elif path.is_file():
                files.append(path)
    files.sort(key=lambda p: p.relative_to(kb_dir).as_posix())
    return files, errors


def kb_files(kb_dir: Path) -> list[Path]:
    """The files `load_kb` reads (symbolic links excluded)."""
    return scan_kb(kb_dir)[0]


def _size_text(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n:,} bytes"


def read_file(kb_dir: Path, path: Path, max_bytes: int = MAX_FILE_BYTES) -> tuple[list[Chunk], IngestError | None]:
    """One file's chunks, or the reason it was skipped; no input makes this raise."""
    rel = path.relative_to(kb_dir).as_posix()
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return [], IngestError(rel, f"{_size_text(size)}, over the {_size_text(max_bytes)} limit "
                                        "(LIFECYCLE_BOT_MAX_FILE_MB); file skipped")
        raw = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        return [], IngestError(rel, f"not UTF-8 text (byte {exc.start}); file skipped")
    except OSError as exc:
        return [], IngestError(rel, f"cannot read: {exc.strerror}; file skipped")
    if "\x00" in raw:
        return [], IngestError(rel, "binary content (NUL bytes); file skipped")
    try:
        if path.name.lower().endswith(EXCALIDRAW):
            return parse_excalidraw(rel, raw), None
        return parse_markdown(rel, raw), None
    except ExcalidrawError as exc:
        return [], IngestError(rel, f"invalid Excalidraw: {exc}; file skipped")
    except RecursionError:
        return [], IngestError(rel, "nested too deeply to read; file skipped")
    except Exception as exc:  # a reader bug must cost one file, not the index: say which file and why
        return [], IngestError(rel, f"could not be read ({type(exc).__name__}: {exc}); file skipped")


def read_asked(kb_dir: Path, markdown: Path, chunks: list[Chunk],
               max_bytes: int = MAX_FILE_BYTES) -> tuple[list[Chunk], list[IngestError]]:
    """The asked chunks from a Markdown file's sidecar (`ingest.asked`), if it has one; never raises."""
    sidecar = sidecar_of(markdown)
    if not chunks or sidecar.is_symlink() or not sidecar.is_file():
        return [], []
    rel = sidecar.relative_to(kb_dir).as_posix()
    try:
        if sidecar.stat().st_size > max_bytes:
            return [], [IngestError(rel, f"over the {_size_text(max_bytes)} limit; ignored")]
        raw = sidecar.read_bytes()
    except OSError as exc:
        return [], [IngestError(rel, f"cannot read: {exc.strerror}; ignored")]
    asked, problems = read_sidecar(markdown.relative_to(kb_dir).as_posix(), raw, chunks)
    return asked, [IngestError(rel, p) for p in problems]


def load_kb(kb_dir: Path, max_bytes: int = MAX_FILE_BYTES,
            progress: Callable[[int, int], None] | None = None) -> tuple[list[Chunk], list[IngestError]]:
    """All chunks of the KB plus one error per file (or link) not read; `progress(files read, files)`."""
    files, errors = scan_kb(kb_dir)
    chunks: list[Chunk] = []
    for n, path in enumerate(files, start=1):
        file_chunks, error = read_file(kb_dir, path, max_bytes)
        chunks.extend(file_chunks)
        if error:
            errors.append(error)
        elif path.name.lower().endswith(MARKDOWN):
            asked, problems = read_asked(kb_dir, path, file_chunks, max_bytes)
            chunks.extend(asked)
            errors.extend(problems)
        if progress:
            progress(n, len(files))
    errors.sort(key=lambda e: e.file)
    return chunks, errors
