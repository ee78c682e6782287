"""Triage scored against labelled tickets (eval/tickets.jsonl): accuracy, macro-F1, phase accuracy."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifecycle_bot.evaluation import metrics as M
from lifecycle_bot.triage.batch import read_tickets
from lifecycle_bot.triage.engine import triage

if TYPE_CHECKING:  # pragma: no cover
    from lifecycle_bot.core.bot import Bot


def score_tickets(path: str | Path | list[dict], bot: Bot | None = None) -> dict[str, Any]:
    """Accuracy and macro-F1 of the class (and phase accuracy) over a labelled tickets file or its rows."""
    rows = path if isinstance(path, list) else read_tickets(Path(path))
    items = [i for i in rows if "label_class" in i]
    started = time.perf_counter()
    predicted = [(i, triage(str(i["text"]), bot)) for i in items]
    seconds = time.perf_counter() - started
    gold = [i["label_class"] for i in items]
    pred = [r.failure_class for _, r in predicted]
    labels = sorted(set(gold) | set(pred))
    per_class: dict[str, dict[str, float]] = {}
    for label in labels:
        precision, recall = M.precision_recall([(g == label, p == label) for g, p in zip(gold, pred)], empty=(0.0, 0.0))
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
                            "support": gold.count(label)}
    in_gold = [label for label in labels if label in gold]
    phase_ok = sum((i.get("label_phase") or None) == r.phase for i, r in predicted)
    failures = [{"id": i["id"], "label_class": i["label_class"], "predicted": r.failure_class,
                 "label_phase": i.get("label_phase"), "predicted_phase": r.phase,
                 "evidence": [f"L{e.line_no}: {e.line[:160]}" for e in r.evidence[:2]]}
                for i, r in predicted if i["label_class"] != r.failure_class]
    n = len(items)
    return {
        "n": n,
        "accuracy": round(sum(g == p for g, p in zip(gold, pred)) / n, 4) if n else 0.0,
        "macro_f1": round(sum(per_class[c]["f1"] for c in in_gold) / len(in_gold), 4) if in_gold else 0.0,
        "phase_accuracy": round(phase_ok / n, 4) if n else 0.0,
        "per_class": per_class,
        "failures": failures,
        "confusion": dict(Counter(f"{g} -> {p}" for g, p in zip(gold, pred) if g != p)),
        "needs_human_share": round(sum(r.needs_human for _, r in predicted) / n, 4) if n else 0.0,
        "seconds": round(seconds, 4),
        "ms_per_ticket": round(1000 * seconds / n, 3) if n else 0.0,
    }
