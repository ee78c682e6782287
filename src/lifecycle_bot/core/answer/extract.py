"""Extractive, grounded answers: the best sentences, list items and commands, each cited.

No model writes text here. Every quoted unit comes from the cited lines verbatim, so a citation can
always be checked against the file.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from collections import Counter
from dataclasses import dataclass

from lifecycle_bot.core.ingest.markdown import Unit
from lifecycle_bot.core.ingest.units import units_of
from lifecycle_bot.core.types import Chunk, Citation, Hit
from lifecycle_bot.core.text import content_terms

# What a question asks of a debugging entry (kb/ 12.x: Symptoms, Causes, How to confirm, Fix): "how do I fix it"
# after a diagnosis wants the Fix part first, not the symptoms again.
PART_INTENTS = (
    ("Fix", re.compile(r"\b(fix|fixe[sd]|solve|resolve|workaround|prevent|avoid|get rid of|stop (it|this|that|them)"
                       r"|what (should|do|can) (i|we) (do|change|set)|how (do|can|should) (i|we) (make|get) (it|this))\b",
                       re.I)),
)


def asked_part(question: str) -> str | None:
    """The part of a debugging entry the question asks for, or None."""
    return next((part for part, pattern in PART_INTENTS if pattern.search(question or "")), None)


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
            elif unit.kind in ("item", "row"):  # a row on a line of its own, under its header's names
                if prose:
                    parts.append(" ".join(prose))
                    prose = []
                parts.append(f"- {unit.display}")
            else:
                prose.append(unit.text)
        if prose:
            parts.append(" ".join(prose))
        text = "\n".join(parts)
        # a marker after a closing fence would stop it closing: give it its own line there
        return f"{text}\n[{n}]" if text.endswith("```") else f"{text} [{n}]"


@lru_cache(maxsize=16384)
def unit_terms(text: str) -> frozenset[str]:
    """Stemmed content terms of a unit, computed once per unit text."""
    return frozenset(content_terms(text))


SEMANTIC_WEIGHT = 2.0  # weight of the unit/query cosine next to the lexical score (fitted on eval/qa.jsonl)


class UnitScorer:
    """Scores quotable units against the query: meaning (cosine), term overlap and exact identifiers."""

    def __init__(self, idf: dict[str, float]):
        self.idf = idf

    def score(self, unit: Unit, query_terms: Counter, identifiers: list[str], how: bool, cosine: float = 0.0) -> float:
        terms = unit_terms(unit.text)
        if not terms:
            return 0.0
        return self._lexical(unit, terms, query_terms, identifiers, how) + SEMANTIC_WEIGHT * cosine

    def _lexical(self, unit: Unit, terms: set[str], query_terms: Counter, identifiers: list[str], how: bool) -> float:
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


def _pick(scored: list[tuple[float, Unit]], query_terms: Counter, idf: dict[str, float], budget: int) -> list[Unit]:
    """Greedy picks by relevance, discounting terms already covered, until the character budget is spent."""
    covered: set[str] = set()
    picked: list[Unit] = []
    used = 0
    pool = [(s, u, unit_terms(u.text) & set(query_terms)) for s, u in scored]
    total = max(1.0, sum(idf.get(t, 1.0) for t in query_terms))

    def gain(item) -> float:
        s, _, terms = item
        fresh = sum(idf.get(t, 1.0) for t in terms - covered)
        seen = sum(idf.get(t, 1.0) for t in terms & covered)
        return s + (0.5 * fresh - 0.3 * seen) / total

    while pool:
        best = max(pool, key=gain)
        pool.remove(best)
        s, unit, terms = best
        if picked and used + len(unit.text) > budget:
            continue
        picked.append(unit)
        covered |= terms
        used += len(unit.text)
        if used >= budget:
            break
    return picked


SECTION_WINDOW = 12  # chunks of one section read for an answer (kb/'s longest section has 9)


def around(hit: Chunk, chunks: list[Chunk], window: int = SECTION_WINDOW) -> list[Chunk]:
    """The section's chunks nearest the one that was found, at most `window`: a reference page of hundreds of
    chunks under one heading (seen at 100x kb/) would otherwise be parsed and scored whole for every answer."""
    if len(chunks) <= window:
        return chunks
    at = next((i for i, c in enumerate(chunks) if c.content_hash == hit.content_hash), 0)
    start = max(0, min(at - window // 2, len(chunks) - window))
    return chunks[start:start + window]


def compose(
    hits: list[Hit],
    query: str,
    identifiers: list[str],
    idf: dict[str, float],
    max_sections: int = 2,
    section_chunks: dict | None = None,
    budgets: tuple[int, ...] = (900, 350),
    query_vector=None,
    unit_vectors: dict | None = None,
    min_ratio: float = 0.8,  # a second section when its ranker score is this share of the first's
    floor_ratio: float = 0.3,
    part: str | None = None,
) -> list[Passage]:
    """Pick sections and their best units; the first section gets the most room. `part` (`asked_part`): when
    the first section has a part of that name, its units come from that part only."""
    if not hits:
        return []
    how = bool(HOW_INTENT.search(query))
    query_terms = Counter(content_terms(query))
    scorer = UnitScorer(idf)
    chosen = [hits[0]] + [h for h in hits[1:max_sections] if h.score >= min_ratio * hits[0].score]
    passages: list[Passage] = []
    for rank, hit in enumerate(chosen):
        chunks = around(hit.chunk, (section_chunks or {}).get(hit.chunk.section_key) or [hit.chunk])
        if rank == 0 and part:
            chunks = [c for c in chunks if c.heading_path.endswith(f"> {part}")] or chunks
        units, cosines = [], []
        for c in chunks:
            chunk_units = units_of(c)
            vectors = (unit_vectors or {}).get(c.content_hash)
            if query_vector is not None and vectors is not None and len(vectors) == len(chunk_units):
                cosines.extend((vectors @ query_vector).tolist())
            else:
                cosines.extend([0.0] * len(chunk_units))
            units.extend(chunk_units)
        if not units:
            continue
        # a table's header row names columns, it says nothing on its own
        scored = [(scorer.score(u, query_terms, identifiers, how, cos), u) for u, cos in zip(units, cosines)
                  if u.kind != "header"]
        if not scored:
            continue
        best = max(s for s, _ in scored)
        floor = max(0.05, best * floor_ratio) if floor_ratio else float("-inf")
        picked = _pick([(s, u) for s, u in scored if s >= floor], query_terms, idf, budgets[min(rank, len(budgets) - 1)])
        if rank == 0 and not picked:
            picked = [u for _, u in scored[:2]]
        if how and rank == 0 and not any(u.kind == "code" for u in picked):
            code = [(s, u) for s, u in scored if u.kind == "code" and s > 0.2]
            if code:
                picked.append(max(code, key=lambda su: su[0])[1])
        if not picked:
            continue
        picked.sort(key=lambda u: (u.start_line, u.position))
        chunk = hit.chunk
        citation = Citation(
            file=chunk.file,
            heading_path=chunk.heading_path if len(chunks) == 1 else _common_path(chunks, picked),
            anchor=chunk.anchor,
            start_line=min(u.start_line for u in picked),
            end_line=max(u.end_line for u in picked),
            element_ids=tuple(dict.fromkeys(i for u in picked for i in u.element_ids)) or chunk.element_ids,
        )
        passages.append(Passage(citation, picked))
    return passages


def _common_path(chunks: list[Chunk], picked: list[Unit]) -> str:
    """Heading path of the section (without a part title) when units come from several parts."""
    touched = [c for c in chunks if any(c.start_line <= u.start_line <= c.end_line for u in picked)]
    paths = {c.heading_path for c in touched} or {chunks[0].heading_path}
    if len(paths) == 1:
        return paths.pop()
    return min((c.heading_path for c in chunks), key=len)
