"""The citation viewer's data: indexed sections by opaque id, diagrams only for indexed files.

A request never names a file. The UI keeps, per citation, the id of the indexed section it points
at; this module renders that section from the chunks the bot loaded (the text that was indexed,
not whatever is on disk now). Only an Excalidraw file that the index holds chunks of is read, and
only from inside the KB directory, because the drawing itself is not stored in the index.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from lifecycle_bot import render
from lifecycle_bot.core.markdown import fences
from lifecycle_bot.core.types import Chunk, section_id

MAX_DIAGRAM_BYTES = 5_000_000
PREVIEW_CHARS = 280
_MD_NOISE = re.compile(r"^\s{0,3}(#{1,6}\s+|[-*+]\s+|\d{1,3}[.)]\s+|>\s?)|\*\*|__|`")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}")


@lru_cache(maxsize=16384)
def _words(text: str) -> str:
    """Text reduced to its words, to find a KB line inside an answer whatever Markdown marks either has
    (kept: every answer looks up the same KB lines again)."""
    return " ".join(re.findall(r"\w+", _MD_NOISE.sub("", text.strip()).lower()))


def _quoted(line: str, said: str) -> bool:
    """Whether the answer quotes this KB line: its words, or a table row's words cell by cell (an answer
    shows a row under its header's names, not with its pipes)."""
    parts = [_words(c) for c in line.strip().strip("|").split("|")] if line.lstrip().startswith("|") else [_words(line)]
    parts = [p for p in parts if p]
    return sum(map(len, parts)) >= 12 and all(p in said for p in parts)


@lru_cache(maxsize=4096)
def _mermaid_chart(text: str):
    """The first Mermaid fence of a section's text, or None (kept: a diagram question asks it of six sections)."""
    if "mermaid" not in text:
        return None
    return next((f for f in fences(text) if f.info.split(" ")[0] == "mermaid"), None)


def preview_text(text: str, limit: int = PREVIEW_CHARS) -> str:
    """Quoted lines as one short plain line for a hover: Markdown marks and table rules dropped, cut at a word."""
    parts = []
    for line in text.splitlines():
        if not line.strip() or _TABLE_RULE.match(line) or line.lstrip().startswith(("```", "~~~")):
            continue
        line = _MD_NOISE.sub("", line.strip())
        parts.append(" \u00b7 ".join(c.strip() for c in line.strip("|").split("|")) if "|" in line else line)
    flat = " ".join(" ".join(parts).split())
    if len(flat) <= limit:
        return flat
    return flat[: flat.rfind(" ", 0, limit - 1) if " " in flat[:limit] else limit - 1].rstrip(" ,;:") + "\u2026"


@dataclass(frozen=True)
class Section:
    id: str
    file: str
    heading_path: str
    anchor: str
    kind: str  # "section" | "diagram"
    start_line: int
    end_line: int
    text: str  # the section's indexed lines; gaps between its chunks are left blank
    element_ids: tuple[str, ...] = ()


def _merge(chunks: list[Chunk]) -> str:
    """The section's source lines from its chunks (split sections share one heading)."""
    lines: dict[int, str] = {}
    for chunk in chunks:
        for offset, line in enumerate(chunk.text.splitlines()):
            lines.setdefault(chunk.start_line + offset, line)
    first, last = min(lines), max(lines)
    return "\n".join(lines.get(n, "") for n in range(first, last + 1))


class SectionIndex:
    """Sections of the loaded index, addressed by opaque ids."""

    def __init__(self, chunks: Iterable[Chunk], kb_dir: Path):
        groups: dict[tuple[str, str], list[Chunk]] = {}
        for chunk in chunks:
            groups.setdefault(chunk.section_key, []).append(chunk)
        self._sections: dict[str, Section] = {}
        self._diagram_files: set[str] = set()
        for (file, key), members in groups.items():
            members.sort(key=lambda c: c.start_line)
            head = members[0]
            sid = section_id(file, key)
            self._sections[sid] = Section(
                id=sid, file=file, heading_path=head.heading_path, anchor=head.anchor, kind=head.kind,
                start_line=head.start_line, end_line=max(c.end_line for c in members),
                text=_merge(members) if head.kind != "diagram" else "\n".join(c.text for c in members),
                element_ids=tuple(i for c in members for i in c.element_ids),
            )
            if head.kind == "diagram":
                self._diagram_files.add(file)
        self._kb_dir = Path(kb_dir).resolve()
        self._cache: dict[str, tuple[float, dict | None]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sections)

    def id_for(self, file: str, anchor: str, heading_path: str) -> str | None:
        sid = section_id(file, anchor or heading_path)
        return sid if sid in self._sections else None

    def get(self, sid: str) -> Section | None:
        return self._sections.get(sid) if isinstance(sid, str) else None

    def quoted_lines(self, sid: str | None, span: tuple[int, int], answer: str) -> list[int]:
        """The lines of the cited span that the answer quotes (what the viewer highlights); the whole span when
        the answer quotes none of them word for word (a model's paraphrase, a declined answer)."""
        section = self.get(sid)
        if section is None or section.kind == "diagram":
            return list(range(span[0], span[1] + 1))
        said = _words(answer)
        own = section.text.splitlines()
        first = section.start_line
        hits = [n for n in range(max(span[0], first), min(span[1], first + len(own) - 1) + 1)
                if _quoted(own[n - first], said)]
        return hits or list(range(span[0], span[1] + 1))

    def quote(self, sid: str | None, lines: Iterable[int]) -> str:
        """The cited lines of a section as a short preview ("" when the section is not indexed)."""
        section = self.get(sid)
        if section is None:
            return ""
        if section.kind == "diagram":
            return preview_text(section.text)
        own = section.text.splitlines()
        picked = [own[n - section.start_line] for n in sorted(set(lines)) if 0 <= n - section.start_line < len(own)]
        return preview_text("\n".join(picked) or section.text)

    def has_drawing(self, sid: str | None) -> bool:
        """Whether `drawing` would show something, without drawing it."""
        section = self.get(sid)
        if section is None:
            return False
        if section.kind == "diagram":
            return bool(self.diagram(section.file))
        return _mermaid_chart(section.text) is not None

    def drawing(self, sid: str | None, element_ids: Iterable[str] = ()) -> str:
        """The diagram of a section, ready to show in an answer: the Excalidraw drawing (cited elements
        lit), or the section's first Mermaid chart; "" when it has neither."""
        section = self.get(sid)
        if section is None:
            return ""
        label = render.escape(section.heading_path)
        if section.kind == "diagram":
            doc = self.diagram(section.file)
            if not doc:
                return ""
            svg = render.excalidraw_svg(doc, tuple(element_ids) or section.element_ids, section.heading_path)
            return f'<div class="lb-zoomable lb-excalidraw" title="{label}: click to enlarge">{svg}</div>'
        chart = _mermaid_chart(section.text)
        if chart is None:
            return ""
        return (f'<div class="lb-zoomable" title="{label}: click to enlarge">'
                f'<pre class="mermaid">{render.escape(chart.content)}</pre></div>')

    def diagram(self, file: str) -> dict | None:
        """The Excalidraw document of an indexed diagram file (None for anything else)."""
        if file not in self._diagram_files:
            return None
        path = (self._kb_dir / file).resolve()
        if not path.is_relative_to(self._kb_dir) or not path.is_file():
            return None
        try:
            stat = path.stat()
            if stat.st_size > MAX_DIAGRAM_BYTES:
                return None
            with self._lock:
                cached = self._cache.get(file)
                if cached and cached[0] == stat.st_mtime:
                    return cached[1]
            doc = json.loads(path.read_text(encoding="utf-8"))
            doc = doc if isinstance(doc, dict) else None
        except (OSError, UnicodeDecodeError, ValueError):
            doc = None
        with self._lock:
            self._cache[file] = (stat.st_mtime, doc)
        return doc

    def render(self, sid: str, lines: tuple[int, int] | None = None, element_ids: Iterable[str] = (),
               heading: str = "", quoted: Iterable[int] = ()) -> str:
        """Viewer HTML for one section, cited lines (or diagram elements) highlighted.

        `heading` is the citation's own heading path (a sub-heading folded into its parent's
        section); the section's first heading is shown when none is given.
        """
        section = self.get(sid)
        if section is None:
            return '<div class="lb-viewer"><p class="muted">That section is not in the index.</p></div>'
        span = lines or (section.start_line, section.end_line)
        cited_ids = tuple(element_ids) or section.element_ids
        meta = f"{section.file}" + (f"#{section.anchor}" if section.anchor else "")
        detail = f"lines {span[0]}\u2013{span[1]}"
        if section.kind == "diagram" and cited_ids:
            detail += f" \u00b7 {len(cited_ids)} cited elements"
        head = (f'<div class="viewer-head"><button type="button" class="viewer-close" aria-label="Back to the answer">'
                f'\u2190 Back</button><div class="viewer-title">{render.escape(heading or section.heading_path)}</div>'
                f'<div class="viewer-meta"><code>{render.escape(meta)}</code> \u00b7 {render.escape(detail)}</div></div>')
        if section.kind == "diagram":
            doc = self.diagram(section.file)
            drawing = (f'<div class="diagram-wrap lb-zoomable lb-excalidraw" title="Click to enlarge">'
                       f'{render.excalidraw_svg(doc, cited_ids, section.heading_path)}</div>'
                       if doc else '<p class="muted">The drawing could not be read; its text follows.</p>')
            reading = render.markdown_html(section.text)
            body = f'{drawing}<div class="diagram-reading"><div class="muted">What this part of the diagram says:</div>{reading}</div>'
        else:
            marked = sorted(set(quoted)) or span
            body = f'<div class="section-body">{render.markdown_html(section.text, section.start_line, marked)}</div>'
        return f'<div class="lb-viewer" data-section="{render.escape(section.id)}">{head}{body}</div>'
