"""The section ranker: a logistic model over each candidate section's features, fitted on real questions.

Reciprocal-rank fusion only sees ranks inside two truncated lists: a section that is first by BM25 but
missing from the dense list loses to one that is mid-table in both, and a constant identifier boost tuned on
the KB's own wording overrides both on operators' pastes. The ranker sees the scores themselves (cosine, its
gap to the best, normalised BM25, ranks among sections), how rare the identifiers a section matches are, how
much of the question its heading names, and what kind of section it is, with weights fitted on the dev
questions (`lifecycle-bot calibrate --ranker`, leave-thread-out cross-validated; never the holdout).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from lifecycle_bot.core.fitted import load_fitted, save_fitted
from lifecycle_bot.core.text import content_terms
from lifecycle_bot.core.types import Chunk

DEFAULT_FILE = Path(__file__).with_name("ranker.json")  # packaged, read-only
FEATURES = ("cos", "cos_gap", "sentence_cos", "sentence_gap", "log_cos_rank", "bm25", "log_bm25_rank", "log_best_rank", "reciprocal", "identifiers", "n_identifiers", "heading", "entry",
            "table", "chapter", "diagram", "index_file", "log_parts", "asked_cos", "asked_gap", "asked_bm25")


@dataclass(frozen=True)
class Profile:
    """What a section is, independent of any question."""

    heading_terms: frozenset[str]
    entry: float  # a debugging-style entry split into parts (Symptoms, How to confirm, Fix)
    table: float  # share of its lines that are table rows (a reference table or changelog)
    chapter: float  # the introduction of a heading with sections below it (an overview, not an answer)
    diagram: float
    index_file: float  # a README that indexes the KB
    log_parts: float  # log of its number of indexed parts


def profiles(chunks: list[Chunk]) -> dict[tuple[str, str], Profile]:
    """One profile per section of the indexed chunks (what the section is: its asked chunk says nothing of it)."""
    groups: dict[tuple[str, str], list[Chunk]] = {}
    for chunk in chunks:
        if chunk.kind == "asked":
            continue
        groups.setdefault(chunk.section_key, []).append(chunk)
    heads = {key: min(members, key=lambda c: c.start_line) for key, members in groups.items()}
    paths = {(h.file, h.heading_path) for h in heads.values()}
    parents = {(file, path.rsplit(" > ", 1)[0]) for file, path in paths if " > " in path}
    out = {}
    for key, members in groups.items():
        head = heads[key]
        lines = [ln for c in members for ln in c.text.splitlines() if ln.strip()]
        base = head.heading_path.split(" > ")
        out[key] = Profile(
            heading_terms=frozenset(content_terms(head.heading_path)),
            entry=float(any(len(c.heading_path.split(" > ")) > len(base) for c in members)),
            table=sum(ln.lstrip().startswith("|") for ln in lines) / max(len(lines), 1),
            chapter=float(head.kind != "diagram" and (head.file, head.heading_path) in parents),
            diagram=float(head.kind == "diagram"),
            index_file=float(Path(head.file).name.lower() == "readme.md"),
            log_parts=math.log(len(members)),
        )
    return out


def features(cos: float, top_cos: float, cos_rank: int, bm25: float, top_bm25: float, bm25_rank: int,
             identifiers: float, n_identifiers: int, query_terms: dict[str, float], profile: Profile,
             sentence_cos: float, top_sentence_cos: float, asked_cos: float = 0.0, top_asked_cos: float = 0.0,
             asked_bm25: float = 0.0) -> dict[str, float]:
    """The ranker's inputs for one candidate section (`query_terms`: the question's content terms, idf-weighted)."""
    total = sum(query_terms.values()) or 1.0
    return {
        "cos": cos,
        "cos_gap": top_cos - cos,
        "sentence_cos": sentence_cos,  # its best sentence, list item or row (or itself): a long section's apt line
        "sentence_gap": top_sentence_cos - sentence_cos,
        "log_cos_rank": math.log(cos_rank),
        "bm25": bm25 / top_bm25 if top_bm25 > 0 else 0.0,
        "log_bm25_rank": math.log(bm25_rank),
        "log_best_rank": math.log(min(cos_rank, bm25_rank)),  # first in either list, however far in the other
        "reciprocal": 1.0 / cos_rank + 1.0 / bm25_rank,
        "identifiers": identifiers,
        "n_identifiers": min(n_identifiers, 3),
        "heading": sum(w for t, w in query_terms.items() if t in profile.heading_terms) / total,
        "entry": profile.entry,
        "table": profile.table,
        "chapter": profile.chapter,
        "diagram": profile.diagram,
        "index_file": profile.index_file,
        "log_parts": profile.log_parts,
        "asked_cos": asked_cos,  # its operators' wording (`ingest.asked`), or its own text where it has none
        "asked_gap": top_asked_cos - asked_cos,
        "asked_bm25": asked_bm25,  # normalised by the best asked chunk's BM25
    }


@dataclass
class Ranker:
    """A standardised logistic model: score = sigmoid(bias + sum(weight * (x - mean) / scale))."""

    weights: dict[str, float]
    bias: float = 0.0
    mean: dict[str, float] = field(default_factory=dict)
    scale: dict[str, float] = field(default_factory=dict)
    fitted_on: str = "defaults"
    n: int = 0
    measured: dict = field(default_factory=dict)  # cross-validated figures of the fit, for the record

    def score(self, x: dict[str, float]) -> float:
        return self.score_all([x])[0]

    def score_all(self, xs: list[dict[str, float]]) -> list[float]:
        """Scores of many candidates in one matrix product (a question has ~50)."""
        if not xs:
            return []
        names = list(self.weights)
        w = np.array([self.weights[k] / (self.scale.get(k, 1.0) or 1.0) for k in names])
        shift = sum(self.weights[k] * self.mean.get(k, 0.0) / (self.scale.get(k, 1.0) or 1.0) for k in names)
        z = np.array([[x.get(k, 0.0) for k in names] for x in xs]) @ w + (self.bias - shift)
        return (1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))).tolist()


# Used only when neither the data dir nor the package has a fitted ranker: dense and BM25 evidence alike.
DEFAULT = Ranker(weights={"cos": 1.0, "cos_gap": -4.0, "bm25": 1.0, "log_bm25_rank": -0.5, "log_cos_rank": -0.5,
                          "identifiers": 0.5, "heading": 0.5})


def load(path: Path | None = None) -> Ranker:
    """The ranker fitted into the data dir (`path`), else the packaged one, else `DEFAULT`."""
    return load_fitted(Ranker, path, DEFAULT_FILE, DEFAULT)


def save(ranker: Ranker, path: Path) -> None:
    save_fitted(asdict(ranker), path)
