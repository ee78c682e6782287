"""The quotable units of a chunk (sentences, list items, rows, commands, diagram statements), parsed once.

Ingestion owns them: the index embeds them, answer composition and the citation check quote them.
"""

from __future__ import annotations

import re
from functools import lru_cache

from lifecycle_bot.core.ingest.markdown import Unit, split_units
from lifecycle_bot.core.types import Chunk


def diagram_units(chunk: Chunk) -> list[Unit]:
    """One unit per diagram statement, with the JSON lines of the elements it was read from."""
    import json

    lines = [ln[2:] if ln.startswith("- ") else ln for ln in chunk.text.splitlines() if ln.strip()]
    spans = json.loads(chunk.spans) if chunk.spans else []
    units = []
    for i, ln in enumerate(lines):
        start, end, ids = spans[i] if i < len(spans) else (chunk.start_line, chunk.end_line, "")
        units.append(Unit("sentence", ln, start, end, i, tuple(x for x in ids.split(",") if x)))
    return units


_POINTER = re.compile(r"^(The|This|Each)\b[^.]{0,80}\b(below|above|following)\b", re.I)


@lru_cache(maxsize=4096)  # parsed once per chunk, not on every answer
def units_of(chunk: Chunk) -> tuple[Unit, ...]:
    """Quotable units; diagrams and sentences that only point at a diagram or table are left out. An asked
    chunk's (operators' wording, `ingest.asked`) are its entries, one vector each for search: no answer reads
    them, since answers quote only the sections' own chunks."""
    if chunk.kind == "asked":
        return tuple(Unit("asked", line, chunk.start_line, chunk.start_line, i)
                     for i, line in enumerate(chunk.text.splitlines()))
    if chunk.kind == "diagram":
        return tuple(diagram_units(chunk))
    return tuple(u for u in split_units(chunk)
                 if u.kind != "diagram" and not (u.kind == "sentence" and _POINTER.match(u.text)))
