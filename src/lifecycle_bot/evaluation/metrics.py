"""Pure metric functions for the eval: section ranking, key facts, citations, refusals."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from lifecycle_bot.core.text import normalise, terms

# Negations and limiters change a fact's meaning, so a key fact keeps them as required terms.
_KEEP = frozenset({"not", "no", "never", "only", "without", "all", "each", "every", "per", "before", "after", "once"})
KEY_FACT_WINDOW = 40  # tokens; a fact's terms must co-occur this close (see tests/test_metrics.py)


def matches_expected(section: dict, expected: Sequence[dict]) -> bool:
    """A retrieved/cited section is relevant if it is one of the expected ones (diagrams: any part)."""
    for exp in expected:
        if exp.get("file") != section.get("file"):
            continue
        anchor = exp.get("anchor", "")
        if anchor and anchor == section.get("anchor"):
            return True
        if not anchor and not exp.get("heading_path"):
            return True
        if exp.get("heading_path") and section.get("heading_path", "").startswith(exp["heading_path"]):
            return True
    return False


def rank_of_first_relevant(ranked: Sequence[dict], expected: Sequence[dict]) -> int | None:
    for i, section in enumerate(ranked, start=1):
        if matches_expected(section, expected):
            return i
    return None


def hit_at(ranked: Sequence[dict], expected: Sequence[dict], k: int) -> float:
    rank = rank_of_first_relevant(ranked, expected)
    return 1.0 if rank is not None and rank <= k else 0.0


def reciprocal_rank(ranked: Sequence[dict], expected: Sequence[dict]) -> float:
    rank = rank_of_first_relevant(ranked, expected)
    return 1.0 / rank if rank else 0.0


def ndcg_at(ranked: Sequence[dict], expected: Sequence[dict], k: int = 5) -> float:
    """Binary-relevance nDCG; each expected section counts once (repeats of a diagram do not)."""
    dcg = 0.0
    used: set[int] = set()
    for i, section in enumerate(ranked[:k], start=1):
        for j, exp in enumerate(expected):
            if j not in used and matches_expected(section, [exp]):
                used.add(j)
                dcg += 1.0 / math.log2(i + 1)
                break
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(len(expected), k) + 1))
    return dcg / ideal if ideal else 0.0


def _terms(text: str) -> list[str]:
    return terms(text, keep=_KEEP, min_length=1)


def key_fact_found(fact: str, answer: str, window: int = KEY_FACT_WINDOW) -> bool:
    """Wording-robust match: verbatim after normalisation, or all stemmed terms within a window."""
    if normalise(fact) in normalise(answer):
        return True
    need = set(_terms(fact))
    if not need:
        return False
    tokens = _terms(answer)
    positions: dict[str, list[int]] = {}
    for i, t in enumerate(tokens):
        if t in need:
            positions.setdefault(t, []).append(i)
    if len(positions) < len(need):
        return False
    events = sorted((i, t) for t, idx in positions.items() for i in idx)
    counts: dict[str, int] = {}
    left = 0
    for right, (pos, term) in enumerate(events):
        counts[term] = counts.get(term, 0) + 1
        while events[left][0] < pos - window:
            lt = events[left][1]
            counts[lt] -= 1
            if counts[lt] == 0:
                del counts[lt]
            left += 1
        if len(counts) == len(need):
            return True
    return False


def key_fact_recall(facts: Sequence[str], answer: str) -> float:
    if not facts:
        return 1.0
    return sum(key_fact_found(f, answer) for f in facts) / len(facts)


def citation_precision(citations: Sequence[dict], expected: Sequence[dict]) -> float:
    if not citations:
        return 0.0
    return sum(matches_expected(c, expected) for c in citations) / len(citations)


def confusion(pairs: Iterable[tuple[bool, bool]]) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) from (actual, predicted) pairs."""
    tp = fp = fn = 0
    for actual, predicted in pairs:
        tp += bool(actual and predicted)
        fp += bool(predicted and not actual)
        fn += bool(actual and not predicted)
    return tp, fp, fn


def precision_recall(pairs: Iterable[tuple[bool, bool]], empty: tuple[float, float] = (1.0, 1.0)) -> tuple[float, float]:
    """(precision, recall) from (actual, predicted) pairs; `empty` is what each is when its denominator is 0.

    The one P/R computation of the project: refusals, triage classes and the citation-support check use it.
    """
    tp, fp, fn = confusion(pairs)
    precision = tp / (tp + fp) if tp + fp else empty[0]
    recall = tp / (tp + fn) if tp + fn else empty[1]
    return precision, recall


def refusal_scores(pairs: Sequence[tuple[bool, bool]]) -> tuple[float, float]:
    """(precision, recall) of declining, from (should_decline, did_decline) pairs."""
    return precision_recall(pairs)


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[idx]

