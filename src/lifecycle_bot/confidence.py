"""Answer confidence: a logistic model over retrieval features, fitted on the eval dev set.

`lifecycle-bot calibrate` refits the weights from `eval/qa.jsonl` (never the holdout) and writes
`calibration.json`; the holdout then checks that the fit generalises.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
FEATURES = ("top_dense", "margin", "sparse", "identifier_coverage", "term_coverage", "signature")


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


def load() -> Calibration:
    try:
        data = json.loads(CALIBRATION_FILE.read_text())
        return Calibration(**data)
    except (OSError, ValueError, TypeError):
        return DEFAULT


def save(cal: Calibration, path: Path = CALIBRATION_FILE) -> None:
    path.write_text(json.dumps(asdict(cal), indent=2) + "\n")


def fit(rows: list[tuple[dict[str, float], int]], l2: float = 0.05, steps: int = 3000, lr: float = 0.5) -> Calibration:
    """Plain L2-regularised logistic regression by gradient descent (a few hundred rows)."""
    w = {k: 0.0 for k in FEATURES}
    b = 0.0
    n = max(len(rows), 1)
    for _ in range(steps):
        gw = {k: 0.0 for k in FEATURES}
        gb = 0.0
        for x, y in rows:
            z = b + sum(w[k] * x.get(k, 0.0) for k in FEATURES)
            p = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
            for k in FEATURES:
                gw[k] += (p - y) * x.get(k, 0.0)
            gb += p - y
        for k in FEATURES:
            w[k] -= lr * (gw[k] / n + l2 * w[k])
        b -= lr * gb / n
    return Calibration(weights={k: round(v, 4) for k, v in w.items()}, bias=round(b, 4), n=len(rows))
