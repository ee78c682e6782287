"""Fit the section ranker (`core.rank`) on the dev questions: each candidate section of each question is one
row, labelled by whether it is one of the question's expected sections.

The figures reported are leave-thread-out: five folds by the question's source thread (a KB-shaped question is
its own thread), each scored by a ranker fitted on the other four, beside the ranker in use on the same rows.
The holdout is never read here.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

from lifecycle_bot.core import rank
from lifecycle_bot.evaluation.calibrate import dev_items
from lifecycle_bot.evaluation.evaluate import thread_key

FOLDS = 5
C = 1.0  # inverse L2 strength; the folds' hit@3 moved by under 0.01 between 0.1 and 10


@dataclass
class Question:
    set_name: str
    group: str
    rows: list[tuple[dict[str, float], int]]  # (features, 1 if an expected section)
    current_rank: int  # rank of the first expected section with the ranker in use (99: not in the first 10)


def questions(bot, sets: list[Path]) -> list[Question]:
    """Candidate rows of every answerable dev question of `sets`."""
    out = []
    for path in sets:
        for item in dev_items(path):
            if not item.get("expected") or item.get("out_of_scope"):
                continue
            result = bot.analyse(item["question"], history=item.get("history") or []).result
            expected = {(e["file"], e.get("anchor", "")) for e in item["expected"]}
            keys = {key: (key[0], _anchor(bot, key)) in expected for key in result.features}
            rows = [(x, int(keys[key])) for key, x in result.features.items()]
            current = next((i for i, h in enumerate(result.hits, 1) if (h.chunk.file, h.chunk.anchor) in expected), 99)
            group = thread_key(item["source"]) if item.get("source") else item["id"]
            out.append(Question(Path(path).stem, group, rows, current))
    return out


def _anchor(bot, key: tuple[str, str]) -> str:
    """A section key is (file, anchor) or, for a section without one, (file, heading path)."""
    chunks = bot.section_chunks().get(key) or []
    return chunks[0].anchor if chunks else key[1]


def fit(qs: list[Question], c: float = C) -> rank.Ranker:
    """A class-balanced, standardised logistic regression over every candidate row."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    names = list(rank.FEATURES)
    x = np.array([[f[n] for n in names] for q in qs for f, _ in q.rows])
    y = np.array([label for q in qs for _, label in q.rows])
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced").fit((x - mean) / scale, y)
    return rank.Ranker(
        weights={n: round(float(w), 6) for n, w in zip(names, model.coef_[0])},
        bias=round(float(model.intercept_[0]), 6),
        mean={n: round(float(m), 6) for n, m in zip(names, mean)},
        scale={n: round(float(s), 6) for n, s in zip(names, scale)},
        fitted_on=", ".join(sorted({q.set_name for q in qs})) + " (dev rows)",
        n=len(qs),
    )


def first_expected(ranker: rank.Ranker, q: Question) -> int:
    """Rank of the first expected section when `ranker` orders the question's candidates (99: none)."""
    ordered = sorted(q.rows, key=lambda row: ranker.score(row[0]), reverse=True)[:10]
    return next((i for i, (_, label) in enumerate(ordered, 1) if label), 99)


def _summary(ranks: list[int]) -> dict[str, float]:
    n = max(len(ranks), 1)
    return {"n": len(ranks), "hit@1": round(sum(r == 1 for r in ranks) / n, 3),
            "hit@3": round(sum(r <= 3 for r in ranks) / n, 3), "hit@5": round(sum(r <= 5 for r in ranks) / n, 3),
            "mrr": round(sum(1 / r for r in ranks) / n, 3)}


def cross_validate(qs: list[Question], c: float = C) -> dict[str, dict[str, dict[str, float]]]:
    """Per set: out-of-fold figures of a refit ("cv") and of the ranker in use ("current")."""
    ranks: dict[str, list[int]] = {}
    for fold in range(FOLDS):
        held = [q for q in qs if zlib.crc32(q.group.encode()) % FOLDS == fold]
        model = fit([q for q in qs if zlib.crc32(q.group.encode()) % FOLDS != fold], c)
        for q in held:
            ranks.setdefault(q.set_name, []).append(first_expected(model, q))
    out = {}
    for name, got in ranks.items():
        out[name] = {"cv": _summary(got), "current": _summary([q.current_rank for q in qs if q.set_name == name])}
    return out


def fit_ranker(bot, sets: list[Path], out: Path) -> tuple[rank.Ranker, Path]:
    """Fit on every dev row of `sets`, record the cross-validated figures, write the ranker to `out`."""
    qs = questions(bot, sets)
    measured = cross_validate(qs)
    ranker = fit(qs)
    ranker.measured = measured
    rank.save(ranker, out)
    return ranker, out
