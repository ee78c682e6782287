"""How operators ask about each section: a `<name>.asked.toml` beside `<name>.md`, searched and never quoted.

Operators describe symptoms ("the task pod runs out of memory, nothing in the log") and paste what the
software printed (`0/3 nodes are available`, `OOMKilled`, exit code 137); a section written as explanation
shares few of those words. The sidecar lists them per section anchor:

    ["122-pod-stuck-in-pending"]
    asked = ["worker pod stays Pending and the task never starts", "FailedScheduling"]

Each section's entries become one chunk of kind "asked" with the section's key, each entry its own vector:
the ranker weighs the best entry (and the chunk's BM25) beside the section's own text, while answers,
citations and the viewer only ever read the section's own chunks. A sidecar that cannot be read, or an anchor the file does not
have, is reported like any bad file; the Markdown it belongs to is indexed either way.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from lifecycle_bot.core.types import Chunk

SUFFIX = ".asked.toml"
MAX_ENTRIES = 24  # per section: a long list is a second document, not a few ways of asking
MAX_ENTRY_CHARS = 300


def sidecar_of(markdown: Path) -> Path:
    return markdown.with_name(markdown.name.rsplit(".", 1)[0] + SUFFIX)


def read_sidecar(rel: str, raw: bytes, chunks: list[Chunk]) -> tuple[list[Chunk], list[str]]:
    """The asked chunks of one Markdown file's sections, and a problem per entry or anchor not used."""
    try:
        table = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return [], [f"not UTF-8 text (byte {exc.start}); ignored"]
    except tomllib.TOMLDecodeError as exc:
        return [], [f"not valid TOML ({exc}); ignored"]
    heads: dict[str, Chunk] = {}
    for chunk in chunks:
        if chunk.anchor and chunk.anchor not in heads:
            heads[chunk.anchor] = chunk
    out: list[Chunk] = []
    problems: list[str] = []
    for anchor, entry in table.items():
        head = heads.get(anchor)
        if head is None:
            problems.append(f"no section `{anchor}` in {rel}; its entries ignored")
            continue
        asked = entry.get("asked") if isinstance(entry, dict) else None
        if not isinstance(asked, list) or not all(isinstance(a, str) for a in asked):
            problems.append(f"`{anchor}`: `asked` must be a list of strings; ignored")
            continue
        lines = list(dict.fromkeys(" ".join(a.split()) for a in asked if a.strip()))
        if len(lines) > MAX_ENTRIES or any(len(a) > MAX_ENTRY_CHARS for a in lines):
            problems.append(f"`{anchor}`: at most {MAX_ENTRIES} entries of {MAX_ENTRY_CHARS} characters; ignored")
            continue
        if lines:
            out.append(Chunk(file=rel, heading_path=head.heading_path,
                             anchor=anchor, start_line=head.start_line, end_line=head.start_line,
                             text="\n".join(lines), kind="asked"))
    return out, problems

