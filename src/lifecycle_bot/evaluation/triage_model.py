"""Fitting triage's classifier (`triage/model.json`) and measuring it honestly.

Training rows: the real tickets' dev part, the synthetic tickets and, per failure class, the KB's own
sections for it (its vocabulary). Scikit-learn fits a multinomial logistic regression here, at fit
time only; `Model` does inference with NumPy. Figures come from leave-one-thread-out cross-validation
over the real dev tickets (every ticket of a thread is predicted by a model fitted without that thread),
and the same out-of-fold probabilities fit the calibration temperature, the "needs a human" threshold
and the reliability table. The holdout is never read here.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from threadpoolctl import threadpool_limits

from lifecycle_bot.core.jsonl import read_jsonl
from lifecycle_bot.core.signatures import SIGNATURES, STRONG
from lifecycle_bot.evaluation.evaluate import thread_key
from lifecycle_bot.triage.engine import HUMAN_THRESHOLD, UNKNOWN, read_ticket, sections_for
from lifecycle_bot.triage.model import MODEL_PATH, Model, signal_features, ticket_terms

if TYPE_CHECKING:  # pragma: no cover
    from lifecycle_bot.core.bot import Bot

MIN_DF = 2
C = 4.0  # inverse regularisation: best of 1, 4, 16, 64 on the dev leave-one-thread-out CV (94 tickets)
KB_WEIGHT = 0.5
KB_SECTIONS = 1  # per strong signature, its best section (3 measured worse on the dev CV: 0.787 vs 0.798)
SYNTHETIC_WEIGHT = 0.5


@dataclass(frozen=True)
class Row:
    id: str
    text: str
    label: str
    phase: str | None
    group: str  # the thread (real tickets), or the row itself
    weight: float
    real_dev: bool
    terms: Counter
    signals: dict
    best_signature: str | None = None  # the signature of the gold class's best line, if the ticket has one


def _row(id_: str, text: str, label: str, phase: str | None, group: str, weight: float, real_dev: bool) -> Row:
    r = read_ticket(text, model=None)
    sig = signal_features(r.signals, r.rule_class if r.groups else None)
    best = next((g[0].signature.name for g in r.groups if g[0].signature.failure_class == label), None)
    return Row(id_, text, label, phase, group, weight, real_dev, ticket_terms(text), sig, best)


def ticket_rows(root: Path) -> list[Row]:
    """The real dev tickets and the synthetic tickets, as training rows (the holdout is skipped unread)."""
    rows = []
    for item in read_jsonl(root / "eval" / "real_tickets.jsonl"):
        if item.get("split") != "dev":
            continue
        rows.append(_row(item["id"], item["text"], item["label_class"], item.get("label_phase"),
                         thread_key(item["source"]), 1.0, True))
    for item in read_jsonl(root / "eval" / "tickets.jsonl"):
        rows.append(_row(item["id"], item["text"], item["label_class"], item.get("label_phase"),
                         f"synthetic:{item['id']}", SYNTHETIC_WEIGHT, False))
    return rows


def kb_rows(bot: Bot) -> list[Row]:
    """Per class, the text of the KB sections its strong signatures are grounded in (via `Bot`'s API)."""
    sections = bot.section_chunks()
    texts: dict[str, list[str]] = {}
    seen: set[tuple[str, str]] = set()
    for sig in SIGNATURES:
        if sig.strength != STRONG:
            continue
        for cite in sections_for(bot, sig.name, limit=KB_SECTIONS):
            key = (cite.file, cite.anchor or cite.heading_path)
            if key in seen or key not in sections:
                continue
            seen.add(key)
            texts.setdefault(sig.failure_class, []).append("\n".join(c.text for c in sections[key]))
    return [_row(f"kb:{cls}:{i}", text, cls, None, f"kb:{cls}:{i}", KB_WEIGHT, False)
            for cls, items in sorted(texts.items()) for i, text in enumerate(items)]


def fit(rows: list[Row], c: float = C, balanced: bool = True) -> Model:
    """Vocabulary (terms in >= MIN_DF rows), IDF, and the regression, from these rows only."""
    from sklearn.linear_model import LogisticRegression

    df = Counter(t for r in rows for t in r.terms)
    terms = {t: i for i, t in enumerate(sorted(t for t, n in df.items() if n >= MIN_DF))}
    n = len(rows)
    idf = np.array([math.log((1 + n) / (1 + df[t])) + 1.0 for t in terms])
    signals = {s: i for i, s in enumerate(sorted({k for r in rows for k in r.signals}))}
    classes = tuple(sorted({r.label for r in rows}))
    shell = Model(classes, terms, idf, signals, np.zeros((len(classes), len(terms) + len(signals))),
                  np.zeros(len(classes)))
    x = np.array([shell.vector(r.terms, r.signals) for r in rows])
    y = np.array([classes.index(r.label) for r in rows])
    w = np.array([r.weight for r in rows])
    if balanced:  # every class weighs the same in total, so rare real families are not drowned
        per_class = Counter()
        for r in rows:
            per_class[r.label] += r.weight
        w = w * np.array([sum(per_class.values()) / (len(per_class) * per_class[r.label]) for r in rows])
    lr = LogisticRegression(C=c, max_iter=3000)
    lr.fit(x, y, sample_weight=w)
    coef = np.zeros((len(classes), x.shape[1]))
    intercept = np.zeros(len(classes))
    coef[lr.classes_] = lr.coef_
    intercept[lr.classes_] = lr.intercept_
    return Model(classes, terms, idf, signals, coef, intercept, phases=fit_phases(rows))


def fit_phases(rows: list[Row]) -> dict[str, str | None]:
    """The phase the real dev tickets give each class and each class's best signature (their labelling
    convention: a 403 on watch leaves tasks queued; a watcher 410 has no phase), by majority."""
    by_sig: dict[str, Counter] = {}
    by_class: dict[str, Counter] = {}
    for r in rows:
        if not r.real_dev:
            continue
        by_class.setdefault(f"class:{r.label}", Counter())[r.phase] += 1
        if r.best_signature:
            by_sig.setdefault(f"sig:{r.best_signature}", Counter())[r.phase] += 1
    out: dict[str, str | None] = {}
    for key, counts in sorted({**by_class, **by_sig}.items()):
        phase, n = counts.most_common(1)[0]
        if 2 * n > sum(counts.values()):  # a strict majority; a tie leaves the signature's or class's own phase
            out[key] = phase
    return out


@dataclass(frozen=True)
class Fold:
    """One real dev ticket predicted by a model fitted without its thread."""

    row: Row
    proba: np.ndarray  # the model's probabilities (temperature 1)
    classes: tuple[str, ...]
    predicted: str  # the decision (`engine.decide`: a strong rule line, else the model)
    phase: str | None

    def confidence(self, t: float = 1.0) -> float:
        z = np.log(np.clip(self.proba, 1e-12, 1.0)) / t
        p = np.exp(z - z.max())
        p /= p.sum()
        return float(p[self.classes.index(self.predicted)]) if self.predicted in self.classes else 0.0


def cross_validate(rows: list[Row], c: float = C, balanced: bool = True) -> list[Fold]:
    """Leave one thread out over the real dev tickets; everything else (synthetic, KB) trains every fold."""
    from lifecycle_bot.triage.engine import _phase, decide

    out: list[Fold] = []
    with threadpool_limits(1):  # small problems: one thread each is fastest (and fair to the 2 shared cores)
        for group in sorted({r.group for r in rows if r.real_dev}):
            model = fit([r for r in rows if r.group != group], c, balanced)
            for r in rows:
                if r.group == group:
                    p = model.proba(model.vector(r.terms, r.signals), temperature=1.0)
                    reading = read_ticket(r.text, model=None)
                    cls, _ = decide(reading.groups, p, model.classes)
                    out.append(Fold(r, p, model.classes, cls, _phase(cls, reading.groups, reading.signals, model)))
    return out


def rule_scores(rows: list[Row]) -> dict[str, float]:
    """The precedence rule alone on the real dev rows, for comparison."""
    pairs = []
    for r in rows:
        if r.real_dev:
            reading = read_ticket(r.text, model=None)
            pairs.append((r.label, reading.rule_class, r.phase, reading.phase))
    return scores(pairs)


def scores(pairs: list[tuple[str, str, str | None, str | None]]) -> dict[str, float]:
    """Accuracy, macro-F1 over the gold classes and phase accuracy of (gold, predicted, gold phase, phase)."""
    gold = [g for g, _, _, _ in pairs]
    pred = [p for _, p, _, _ in pairs]
    f1s = []
    for label in sorted(set(gold)):
        tp = sum(g == p == label for g, p in zip(gold, pred))
        fp = sum(p == label != g for g, p in zip(gold, pred))
        fn = sum(g == label != p for g, p in zip(gold, pred))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    n = len(pairs)
    return {"n": n, "accuracy": round(sum(g == p for g, p in zip(gold, pred)) / n, 4),
            "macro_f1": round(sum(f1s) / len(f1s), 4),
            "phase_accuracy": round(sum((gp or None) == (pp or None) for _, _, gp, pp in pairs) / n, 4)}


def fold_scores(folds: list[Fold]) -> dict[str, float]:
    return scores([(f.row.label, f.predicted, f.row.phase, f.phase) for f in folds])


def model_only_scores(folds: list[Fold]) -> dict[str, float]:
    """The model's own argmax, without the rule deciding strong lines (for comparison)."""
    return scores([(f.row.label, f.classes[int(np.argmax(f.proba))], f.row.phase, None) for f in folds])


def fit_temperature(folds: list[Fold]) -> float:
    """The temperature that minimises the out-of-fold negative log-likelihood of the decided class being right
    (a grid is enough for one parameter)."""
    def nll(t: float) -> float:
        total = 0.0
        for f in folds:
            p = min(max(f.confidence(t), 1e-6), 1 - 1e-6)
            total -= math.log(p) if f.predicted == f.row.label else math.log(1 - p)
        return total

    return min((round(0.2 + 0.05 * i, 2) for i in range(57)), key=nll)


def calibrated(folds: list[Fold], t: float) -> list[tuple[float, bool]]:
    return [(f.confidence(t), f.predicted == f.row.label) for f in folds]


def reliability(pairs: list[tuple[float, bool]], edges=(0.0, 0.3, 0.5, 0.7, 0.85, 1.0001)) -> list[dict]:
    """Per confidence bin: tickets, mean confidence, accuracy."""
    out = []
    for lo, hi in zip(edges, edges[1:]):
        inside = [(c, ok) for c, ok in pairs if lo <= c < hi]
        if inside:
            out.append({"bin": f"{lo:.2f}-{min(hi, 1.0):.2f}", "n": len(inside),
                        "mean_confidence": round(sum(c for c, _ in inside) / len(inside), 3),
                        "accuracy": round(sum(ok for _, ok in inside) / len(inside), 3)})
    return out


def human_threshold(pairs: list[tuple[float, bool]]) -> float:
    """Below a calibrated confidence of one half the classifier is more likely wrong than right: a human decides.
    (The out-of-fold pairs are kept in the signature to report the flag's effect, not to tune it.)"""
    return HUMAN_THRESHOLD


def build(root: Path, bot: Bot | None, out: Path | None = MODEL_PATH, c: float = C) -> dict:
    """Cross-validate, calibrate, fit on everything and (when `out`) write the model. Returns the report."""
    rows = ticket_rows(root) + (kb_rows(bot) if bot is not None else [])
    folds = cross_validate(rows, c)
    t = fit_temperature(folds)
    pairs = calibrated(folds, t)
    threshold = human_threshold(pairs)
    with threadpool_limits(1):
        model = fit(rows, c)
    report = {
        "rows": {"real_dev": sum(r.real_dev for r in rows), "synthetic": sum(r.group.startswith("synthetic:") for r in rows),
                 "kb_sections": sum(r.id.startswith("kb:") for r in rows)},
        "rules_dev": rule_scores(rows),
        "cv_dev": fold_scores(folds),
        "cv_dev_model_only": model_only_scores(folds),
        "temperature": t,
        "human_threshold": threshold,
        "reliability": reliability(pairs),
        "flagged_share": round(sum(p < threshold for p, _ in pairs) / len(pairs), 3),
        "accuracy_unflagged": round(sum(ok for p, ok in pairs if p >= threshold)
                                    / max(1, sum(p >= threshold for p, _ in pairs)), 3),
        "cv_failures": [f"{f.row.id}: {f.row.label} -> {f.predicted}" for f in folds if f.predicted != f.row.label],
    }
    model = Model(model.classes, model.terms, model.idf, model.signals, model.coef, model.intercept, t, threshold,
                  model.phases, {"c": c, "cv_dev": report["cv_dev"], "rules_dev": report["rules_dev"],
                                 "rows": report["rows"], "unknown": UNKNOWN})
    if out is not None:
        Path(out).write_text(json.dumps(model.to_json(), separators=(",", ":")) + "\n", encoding="utf-8")
    return report
