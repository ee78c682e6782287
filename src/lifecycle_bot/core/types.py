"""Every type that passes between the stages (ingest -> index -> retrieve -> answer) and out to the faces.

`Answer` keeps its parts apart (body, citations, paste findings, notice); `Answer.text` is the one place that
joins them into the plain text every face shows, and `Answer.to_dict` the one serialiser every face uses.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

from lifecycle_bot.core.markdown import code_span


LABEL_ELEMENTS = 4  # a citation's label names this many diagram elements (all stay in `element_ids`)


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
    kind: str = "section"  # "section" | "diagram" | "asked" (operators' wording of a section: searched, never shown)
    element_ids: tuple[str, ...] = ()
    spans: str = ""  # diagrams: JSON [[start, end, "id,id"], ...], one per line of `text`
    head: str = ""  # a later piece of a split table: the table's header lines, read before `text` (not quoted)

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
            + ([self.head] if self.head else [])  # chunks without one keep the hashes they always had
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


def section_id(file: str, key: str) -> str:
    """The opaque id of an indexed section (file + anchor, or heading path when it has no anchor): what the
    web app's viewer is addressed by, and what triage reports link to."""
    return hashlib.sha256(f"{file}\x1f{key}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Citation:
    file: str
    heading_path: str
    anchor: str
    start_line: int
    end_line: int
    element_ids: tuple[str, ...] = ()

    @classmethod
    def from_chunk(cls, chunk: "Chunk") -> "Citation":
        """The whole chunk as a citation (decline's nearest sections, paste links, triage)."""
        return cls(chunk.file, chunk.heading_path, chunk.anchor, chunk.start_line, chunk.end_line, chunk.element_ids)

    def label(self) -> str:
        lines = f"lines {self.start_line}\u2013{self.end_line}"
        ids = self.element_ids
        named = ", ".join(ids[:LABEL_ELEMENTS]) + (f" and {len(ids) - LABEL_ELEMENTS} more" if len(ids) > LABEL_ELEMENTS else "")
        extra = f", elements {named}" if ids else ""
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


DECLINE_TEXT = "The docs don't cover this, so I won't guess."
PASTE_LINE_CHARS = 120  # a pasted line is shortened to this in the "From your paste" notes


@dataclass
class Answer:
    """A finished answer. `body` is the answer proper (quoted passages or checked sentences with [n] markers);
    sources, paste notes and the decline wording are derived from `citations` and `paste_findings`."""

    body: str
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

    @property
    def sources(self) -> list[str]:
        """"[n] file § heading (lines a–b)", one per citation."""
        return [f"[{i}] {c.label()}" for i, c in enumerate(self.citations, start=1)]

    @property
    def paste_notes(self) -> list[str]:
        """Which line of the user's paste led to which cited section."""
        notes = []
        for f in self.paste_findings:
            line = f.line if len(f.line) <= PASTE_LINE_CHARS else f.line[: PASTE_LINE_CHARS - 3] + "..."
            heading = self.citations[f.citation - 1].heading_path if f.citation else ""
            notes.append(f"- line {f.line_no}: {code_span(line)} \u2192 [{f.citation}] {heading}")
        return notes

    @property
    def lead(self) -> str:
        """What comes before the body: the paste notes ("" when there are none)."""
        notes = self.paste_notes
        return "From your paste:\n" + "\n".join(notes) if notes else ""

    @property
    def message(self) -> str:
        """The text without its "Sources:" list, for faces that show the sources apart (Slack, CLI stream)."""
        if self.refused:
            return self.text
        return f"{self.lead}\n\n{self.body}" if self.lead else self.body

    @property
    def text(self) -> str:
        """The answer as plain Markdown text: paste notes, body, sources (the decline: nearest sections)."""
        if self.refused:
            lines = [self.body]
            if self.citations:
                lines += ["The nearest sections are:", *self.sources]
            return "\n".join(lines)
        lead = f"{self.lead}\n\n" if self.lead else ""
        return f"{lead}{self.body}\n\nSources:\n" + "\n".join(self.sources)

    def to_dict(self) -> dict:
        return {
            "answer": self.text,
            "citations": [c.to_dict() for c in self.citations],
            "confidence": round(self.confidence, 4),
            "refused": self.refused,
            "mode": self.mode,
            "model": self.model,
            "notice": self.notice,
            "paste_findings": [asdict(p) for p in self.paste_findings],
        }
