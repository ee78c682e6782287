"""The learned half of triage: multinomial logistic regression over what a ticket says.

Features: TF-IDF of the ticket's stemmed terms (`core.text`), and per failure class its signals
(a strong line on the ticket's own pod, a hint or a line about another pod, the class the precedence
rule would pick). Fitted by `fit.py` on the real dev tickets, the synthetic tickets and the KB's own
debugging sections, and shipped read-only as `model.json`: inference here is a dot product in NumPy,
so a ticket takes well under a millisecond and nothing is fitted or downloaded at run time.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from lifecycle_bot.core.text import content_terms
from lifecycle_bot.triage.signals import Signal

MODEL_PATH = Path(__file__).with_name("model.json")
_NOISE_TERM = re.compile(r"^[0-9a-f]{6,}$|\d{3,}|^\d+$|.{40,}")


def ticket_terms(text: str) -> Counter[str]:
    """Term counts of the ticket, without hashes, numbers and very long tokens."""
    return Counter(t for t in content_terms(text[:20000]) if not _NOISE_TERM.search(t))


def signal_features(signals: list[Signal], primary: str | None) -> dict[str, float]:
    """Per class: a strong line on our pod, a hint (or a line about another pod), the rule's pick."""
    out: dict[str, float] = {}
    for s in signals:
        key = f"strong:{s.failure_class}" if s.strong else f"hint:{s.failure_class}"
        out[key] = 1.0
    if primary:
        out[f"primary:{primary}"] = 1.0
    return out


@dataclass(frozen=True)
class Model:
    """A fitted classifier: feature index, IDF, weights, the calibration temperature and the human threshold."""

    classes: tuple[str, ...]
    terms: dict[str, int]  # term -> column
    idf: np.ndarray
    signals: dict[str, int]  # signal feature -> column (after the terms)
    coef: np.ndarray  # (classes, columns)
    intercept: np.ndarray
    temperature: float = 1.0
    human_threshold: float = 0.5
    phases: dict[str, str | None] | None = None  # the phase most often labelled per class
    meta: dict | None = None

    @property
    def width(self) -> int:
        return len(self.terms) + len(self.signals)

    def vector(self, terms: Counter[str], signals: dict[str, float]) -> np.ndarray:
        """Log-TF x IDF of the known terms (L2-normalised), then the signal features."""
        x = np.zeros(self.width)
        for term, n in terms.items():
            col = self.terms.get(term)
            if col is not None:
                x[col] = (1.0 + math.log(n)) * self.idf[col]
        norm = float(np.linalg.norm(x[: len(self.terms)]))
        if norm:
            x[: len(self.terms)] /= norm
        for key, value in signals.items():
            col = self.signals.get(key)
            if col is not None:
                x[len(self.terms) + col] = value
        return x

    def logits(self, x: np.ndarray) -> np.ndarray:
        return self.coef @ x + self.intercept

    def proba(self, x: np.ndarray, temperature: float | None = None) -> np.ndarray:
        z = self.logits(x) / (temperature or self.temperature)
        z = np.exp(z - z.max())
        return z / z.sum()

    def term_weights(self, cls: str) -> dict[str, float]:
        """Each term's weight x IDF toward a class, to find the lines that speak for it."""
        row = self.coef[self.classes.index(cls)]
        return {t: float(row[c] * self.idf[c]) for t, c in self.terms.items() if row[c] > 0}

    def to_json(self) -> dict:
        return {
            "classes": list(self.classes), "terms": list(self.terms), "idf": [round(float(v), 5) for v in self.idf],
            "signals": list(self.signals),
            "coef": [[round(float(v), 5) for v in row] for row in self.coef],
            "intercept": [round(float(v), 5) for v in self.intercept],
            "temperature": round(self.temperature, 4), "human_threshold": round(self.human_threshold, 4),
            "phases": self.phases or {}, "meta": self.meta or {},
        }

    @classmethod
    def from_json(cls, d: dict) -> "Model":
        return cls(
            classes=tuple(d["classes"]), terms={t: i for i, t in enumerate(d["terms"])}, idf=np.array(d["idf"]),
            signals={s: i for i, s in enumerate(d["signals"])}, coef=np.array(d["coef"]),
            intercept=np.array(d["intercept"]), temperature=float(d.get("temperature", 1.0)),
            human_threshold=float(d.get("human_threshold", 0.5)), phases=d.get("phases") or {},
            meta=d.get("meta") or {},
        )


@lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> Model | None:
    try:
        return Model.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError):
        return None


def load_model(path: Path = MODEL_PATH) -> Model | None:
    """The shipped model (re-read when the file changes); None when there is none: triage uses rules alone."""
    try:
        return _load(str(path), path.stat().st_mtime)
    except OSError:
        return None
