"""Dataclasses that pass between pipeline stages: ingest -> index -> retrieve -> answer."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Chunk:
    """One indexed unit: a Markdown section (or part of one) or a piece of a diagram."""

    file: str  # path relative to the KB directory
    heading_path: str  # "12. Debugging Guide > 12.2 Pod stuck in Pending"
    anchor: str  # GitHub slug of the section heading ("" for diagrams)
    start_line: int  # 1-based, inclusive
    end_line: int
    text: str  # the raw source lines (shown and quoted)
    reading: str = ""  # text reading of diagrams (embedded and searched, not shown)
    kind: str = "section"  # "section" | "diagram"
    element_ids: tuple[str, ...] = ()
    spans: str = ""  # diagrams: JSON [[start, end, "id,id"], ...], one per line of `text`

    @property
    def embed_text(self) -> str:
        parts = [self.heading_path, self.text]
        if self.reading:
            parts.append(self.reading)
        return "\n\n".join(parts)

    @property
    def content_hash(self) -> str:
        key = "\x1f".join(
            [self.file, self.heading_path, self.anchor, str(self.start_line), str(self.end_line),
             self.text, self.reading, self.kind, ",".join(self.element_ids), self.spans]
        )
        return hashlib.sha256(key.encode()).hexdigest()[:32]

    @property
    def section_key(self) -> tuple[str, str]:
        return (self.file, self.anchor or self.heading_path)


@dataclass(frozen=True)
class IngestError:
    file: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.message}"


@dataclass
class Hit:
    chunk: Chunk
    score: float
    dense: float = 0.0  # cosine similarity, 0 when not retrieved densely
    sparse_rank: int | None = None
    dense_rank: int | None = None
    identifiers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Citation:
    file: str
    heading_path: str
    anchor: str
    start_line: int
    end_line: int
    element_ids: tuple[str, ...] = ()

    def label(self) -> str:
        lines = f"lines {self.start_line}\u2013{self.end_line}"
        extra = f", elements {', '.join(self.element_ids)}" if self.element_ids else ""
        return f"{self.file} \u00a7 {self.heading_path} ({lines}{extra})"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["element_ids"] = list(self.element_ids)
        return d


@dataclass(frozen=True)
class PasteFinding:
    """A line of pasted output that matched a known signature."""

    line_no: int  # 1-based line within the paste
    line: str
    signature: str
    failure_class: str
    phase: str
    citation: int | None = None  # index into Answer.citations (1-based) when linked


@dataclass(frozen=True)
class Delta:
    """One checked sentence of a generated answer, ready to show while the model writes the rest."""

    text: str


@dataclass
class Answer:
    text: str
    citations: list[Citation] = field(default_factory=list)
    confidence: float = 0.0
    refused: bool = False
    mode: str = "extractive"  # "extractive" | "generated"
    model: str = ""  # the model that wrote a generated answer
    notice: str = ""  # what the reader should know: removed sentences, or why the model was not used
    paste_findings: list[PasteFinding] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list, repr=False)
    query: str = ""
    latency_ms: float = 0.0

    def to_dict(self) -> dict:
        return {
            "answer": self.text,
            "citations": [c.to_dict() for c in self.citations],
            "confidence": round(self.confidence, 4),
            "refused": self.refused,
            "mode": self.mode,
            "notice": self.notice,
            "paste_findings": [asdict(p) for p in self.paste_findings],
        }
