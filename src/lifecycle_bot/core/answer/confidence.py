"""Answer confidence: a logistic model over retrieval features, fitted on the eval dev set.

`lifecycle-bot calibrate` refits the weights from `eval/qa.jsonl` (never the holdout) and writes
`calibration.json` into the data dir; the package ships a read-only default beside this module. The holdout
then checks that the fit generalises.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from lifecycle_bot.core.fitted import load_fitted

DEFAULT_FILE = Path(__file__).with_name("calibration.json")  # packaged, read-only
FEATURES = ("top_dense", "margin", "sparse", "identifier_coverage", "term_coverage", "signature", "hit_coverage",
            "unknown_identifiers", "foreign_subject")


@dataclass
class Calibration:
    weights: dict[str, float]
    bias: float
    fitted_on: str = "defaults"
    n: int = 0

    def predict(self, features: dict[str, float]) -> float:
        z = self.bias + sum(self.weights.get(k, 0.0) * features.get(k, 0.0) for k in FEATURES)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


DEFAULT = Calibration(
    weights={"top_dense": 14.0, "margin": 2.0, "sparse": 1.0, "identifier_coverage": 1.5, "term_coverage": 2.0, "signature": 4.0},
    bias=-7.5,
)


def load(path: Path | None = None) -> Calibration:
    """The confidence model fitted into the data dir (`path`), else the packaged one, else `DEFAULT`."""
    return load_fitted(Calibration, path, DEFAULT_FILE, DEFAULT)


def save(cal: Calibration, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(cal), indent=2) + "\n")


def fit(rows: list[tuple[dict[str, float], int]], l2: float = 0.01, steps: int = 4000, lr: float = 0.5,
        balanced: bool = False) -> Calibration:
    """L2-regularised, class-balanced logistic regression by gradient descent (a few hundred rows).

    Features are standardised for the fit and the weights mapped back, so `predict` takes raw features.
    `balanced` weights both classes to equal mass (off: it declined too many answerable questions).
    """
    n = max(len(rows), 1)
    mean = {k: sum(x.get(k, 0.0) for x, _ in rows) / n for k in FEATURES}
    std = {k: (sum((x.get(k, 0.0) - mean[k]) ** 2 for x, _ in rows) / n) ** 0.5 or 1.0 for k in FEATURES}
    pos = sum(y for _, y in rows) or 1
    neg = (n - pos) or 1
    weight = {1: 1.0, 0: 1.0} if not balanced else {1: n / (2 * pos), 0: n / (2 * neg)}
    data = [({k: (x.get(k, 0.0) - mean[k]) / std[k] for k in FEATURES}, y) for x, y in rows]
    w = {k: 0.0 for k in FEATURES}
    b = 0.0
    for _ in range(steps):
        gw = {k: 0.0 for k in FEATURES}
        gb = 0.0
        for x, y in data:
            z = b + sum(w[k] * x[k] for k in FEATURES)
            p = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
            g = (p - y) * weight[y]
            for k in FEATURES:
                gw[k] += g * x[k]
            gb += g
        for k in FEATURES:
            w[k] -= lr * (gw[k] / n + l2 * w[k])
        b -= lr * gb / n
    raw_w = {k: w[k] / std[k] for k in FEATURES}
    raw_b = b - sum(w[k] * mean[k] / std[k] for k in FEATURES)
    return Calibration(weights={k: round(v, 4) for k, v in raw_w.items()}, bias=round(raw_b, 4), n=len(rows))
