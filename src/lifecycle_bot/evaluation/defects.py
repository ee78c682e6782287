"""What an answer must never show, found in its text: a table row joined with its pipes, a wrong claim from a
table of claims quoted as if it were so, and a list of diagram element ids (the answers issue, item 3)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

from lifecycle_bot.core.ingest.markdown import MYTH_HEADERS
from lifecycle_bot.core.ingest.units import units_of
from lifecycle_bot.core.types import LABEL_ELEMENTS, Chunk

_CODE_SPAN = re.compile(r"`[^`\n]*`")
_PIPE_JOIN = re.compile(r"\S \| \S")


def myth_claims(chunks: Iterable[Chunk]) -> list[str]:
    """The first cell of every row of a table of wrong claims in the KB."""
    return [u.cells[0] for c in chunks for u in units_of(c)
            if u.kind == "row" and u.cells and u.header and u.header[0].strip().lower() in MYTH_HEADERS]


def element_ids(kb_dir: Path) -> frozenset[str]:
    """Every element id of the KB's Excalidraw drawings (a drawing that does not parse has none)."""
    ids: set[str] = set()
    for path in Path(kb_dir).rglob("*.excalidraw"):
        try:
            ids.update(str(e.get("id")) for e in json.loads(path.read_text("utf-8")).get("elements", []))
        except (OSError, ValueError, AttributeError):
            continue
    return frozenset(i for i in ids if i and i != "None")


def answer_defects(text: str, claims: Iterable[str] = (), ids: frozenset[str] = frozenset()) -> list[str]:
    """The defects of one answer's text, each as "kind: where"; empty for a clean answer."""
    found: list[str] = []
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        prose = _CODE_SPAN.sub("x", line)
        if not fenced and (line.lstrip().startswith("|") or _PIPE_JOIN.search(prose)):
            found.append(f"pipe-joined row: {line.strip()[:60]}")
    for claim in claims:
        at = text.find(claim)
        while at >= 0:
            if not text[:at].endswith("Not so: "):
                found.append(f"wrong claim shown as so: {claim[:60]}")
                break
            at = text.find(claim, at + 1)
    named = [i for i in ids if re.search(rf"(?<![\w-]){re.escape(i)}(?![\w-])", text)]
    if len(named) > LABEL_ELEMENTS:
        found.append(f"element ids listed: {len(named)}")
    return found
