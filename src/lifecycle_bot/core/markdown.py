"""The one Markdown walk: markdown-it-py's block tokens (CommonMark + tables), with their source line maps.

Ingestion (sections, units), the triage command finder and the Slack converter all read code fences from
here, so a fence is a fence by CommonMark's rules everywhere (indented up to three spaces, inside list
items, closed by a fence at least as long) and never by a hand-written regex.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.token import Token


@lru_cache(maxsize=1)
def parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table")


def tokens(text: str) -> list[Token]:
    return parser().parse(text)


@dataclass(frozen=True)
class Fence:
    """A fenced (or indented) code block: its info string, its content, and its 0-based [start, end) lines."""

    info: str
    content: str
    start: int
    end: int
    level: int  # 0: top level; deeper inside lists and quotes
    indent: int  # spaces before the opening fence

    @property
    def lang(self) -> str:
        return self.info.split()[0].lower() if self.info.strip() else ""


def fences(text: str, indented: bool = False) -> list[Fence]:
    """Every fenced code block in source order (`indented`: also 4-space indented code blocks)."""
    lines = text.splitlines()
    out = []
    for tok in tokens(text):
        if tok.map is None or tok.type not in ("fence", "code_block"):
            continue
        if tok.type == "code_block" and not indented:
            continue
        start, end = tok.map
        first = lines[start] if start < len(lines) else ""
        out.append(Fence(tok.info.strip(), tok.content, start, end, tok.level, len(first) - len(first.lstrip(" "))))
    return out
