"""Extractive, grounded answers: the best sentences, list items and commands, each cited.

No model writes text here. Every quoted unit comes from the cited lines verbatim, so a citation can
always be checked against the file.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from lifecycle_bot.ingest.markdown import Unit, split_units
from lifecycle_bot.models import Chunk, Citation, Hit
from lifecycle_bot.text import content_terms

HOW_INTENT = re.compile(r"\b(how|fix|command|check|confirm|debug|find|see|list|show|set|configure|kubectl|sql|query|resolve|solve)\b", re.I)


@dataclass
class Passage:
    """The units quoted from one section, in source order, under one citation."""

    citation: Citation
    units: list[Unit]

    def render(self, n: int) -> str:
        parts: list[str] = []
        prose: list[str] = []
        for unit in self.units:
            if unit.kind in ("code",):
                if prose:
                    parts.append(" ".join(prose))
                    prose = []
                parts.append(unit.text)
            elif unit.kind == "item":
                if prose:
                    parts.append(" ".join(prose))
                    prose = []
                parts.append(f"- {unit.text}")
            else:
                prose.append(unit.text)
        if prose:
            parts.append(" ".join(prose))
        text = "\n".join(parts)
        return f"{text} [{n}]"


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


def units_of(chunk: Chunk) -> list[Unit]:
    if chunk.kind == "diagram":
        return diagram_units(chunk)
    return [u for u in split_units(chunk) if u.kind != "diagram"]


class UnitScorer:
    """Scores quotable units against the query: idf-weighted term overlap plus exact identifiers."""

    def __init__(self, idf: dict[str, float]):
        self.idf = idf

    def score(self, unit: Unit, query_terms: Counter, identifiers: list[str], how: bool) -> float:
        terms = set(content_terms(unit.text))
        if not terms:
            return 0.0
        overlap = sum(self.idf.get(t, 1.0) for t in query_terms if t in terms)
        total = sum(self.idf.get(t, 1.0) for t in query_terms) or 1.0
        score = overlap / total
        lowered = unit.text.lower()
        score += 0.35 * sum(1 for ident in identifiers if ident.lower() in lowered)
        if unit.position == 0 and unit.kind == "sentence":
            score += 0.12
        if unit.kind == "code":
            score = score + 0.2 if how else score * 0.3
        if len(unit.text) > 600:
            score *= 0.6
        return score


def compose(
    hits: list[Hit],
    query: str,
    identifiers: list[str],
    idf: dict[str, float],
    max_sections: int = 2,
) -> list[Passage]:
    """Pick sections and their best units; the first section gets the most room."""
    if not hits:
        return []
    how = bool(HOW_INTENT.search(query))
    query_terms = Counter(content_terms(query))
    scorer = UnitScorer(idf)
    chosen = [hits[0]] + [h for h in hits[1:max_sections] if h.score >= 0.75 * hits[0].score]
    passages: list[Passage] = []
    for rank, hit in enumerate(chosen):
        units = units_of(hit.chunk)
        if not units:
            continue
        scored = [(scorer.score(u, query_terms, identifiers, how), u) for u in units]
        best = max(s for s, _ in scored)
        budget = 4 if rank == 0 else 2
        floor = max(0.05, best * 0.35)
        picked = [u for s, u in sorted(scored, key=lambda su: -su[0])[:budget] if s >= floor]
        if rank == 0 and not picked:
            picked = units[:2]
        if how and rank == 0 and not any(u.kind == "code" for u in picked):
            code = [(s, u) for s, u in scored if u.kind == "code" and s > 0.2]
            if code:
                picked.append(max(code, key=lambda su: su[0])[1])
        if not picked:
            continue
        picked.sort(key=lambda u: u.position)
        chunk = hit.chunk
        citation = Citation(
            file=chunk.file,
            heading_path=chunk.heading_path,
            anchor=chunk.anchor,
            start_line=min(u.start_line for u in picked),
            end_line=max(u.end_line for u in picked),
            element_ids=tuple(dict.fromkeys(i for u in picked for i in u.element_ids)) or chunk.element_ids,
        )
        passages.append(Passage(citation, picked))
    return passages


def idf_table(chunks: list[Chunk]) -> dict[str, float]:
    df: Counter = Counter()
    for chunk in chunks:
        df.update(set(content_terms(chunk.embed_text)))
    n = max(len(chunks), 1)
    return {t: math.log(1 + n / c) for t, c in df.items()}
