"""Read a knowledge-base directory into chunks; a bad file is reported, never fatal."""

from __future__ import annotations

from pathlib import Path

from lifecycle_bot.core.ingest.excalidraw import ExcalidrawError, parse_excalidraw
from lifecycle_bot.core.ingest.markdown import parse_markdown
from lifecycle_bot.core.types import Chunk, IngestError

MARKDOWN = (".md", ".markdown")
EXCALIDRAW = (".excalidraw", ".excalidraw.json")


class KBNotFound(FileNotFoundError):
    pass


def kb_files(kb_dir: Path) -> list[Path]:
    if not kb_dir.is_dir():
        raise KBNotFound(f"knowledge-base directory not found: {kb_dir}")
    files = [
        p
        for p in sorted(kb_dir.rglob("*"))
        if p.is_file()
        and not any(part.startswith((".", "_")) for part in p.relative_to(kb_dir).parts)
        and p.name.lower().endswith(MARKDOWN + EXCALIDRAW)
    ]
    return files


def read_file(kb_dir: Path, path: Path) -> tuple[list[Chunk], IngestError | None]:
    rel = path.relative_to(kb_dir).as_posix()
    try:
        raw = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        return [], IngestError(rel, f"not UTF-8 text (byte {exc.start}); file skipped")
    except OSError as exc:
        return [], IngestError(rel, f"cannot read: {exc.strerror}; file skipped")
    if "\x00" in raw:
        return [], IngestError(rel, "binary content (NUL bytes); file skipped")
    if path.name.lower().endswith(EXCALIDRAW):
        try:
            return parse_excalidraw(rel, raw), None
        except ExcalidrawError as exc:
            return [], IngestError(rel, f"invalid Excalidraw: {exc}; file skipped")
    return parse_markdown(rel, raw), None


def load_kb(kb_dir: Path) -> tuple[list[Chunk], list[IngestError]]:
    """All chunks of the KB plus one error per unreadable file."""
    chunks: list[Chunk] = []
    errors: list[IngestError] = []
    for path in kb_files(kb_dir):
        file_chunks, error = read_file(kb_dir, path)
        chunks.extend(file_chunks)
        if error:
            errors.append(error)
    return chunks, errors
