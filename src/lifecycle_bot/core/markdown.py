"""The one Markdown walk: markdown-it-py's block tokens (CommonMark + tables), with their source line maps.

Ingestion (sections, units), the triage command finder and the Slack converter all read code fences from
here, so a fence is a fence by CommonMark's rules everywhere (indented up to three spaces, inside list
items, closed by a fence at least as long) and never by a hand-written regex.
"""

from __future__ import annotations

import re
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


def code_span(text: str) -> str:
    """`text` as one CommonMark code span that nothing in it can end: fenced with one backtick more than its
    longest run, padded with a space when it starts or ends with a backtick or a space (CommonMark strips one).

    Quoted user text (a pasted line) goes through this, so a backtick in the paste cannot close the span and
    turn the rest of the line into links, mentions or markup.
    """
    text = " ".join(text.splitlines()) or " "
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def code_block(text: str, lang: str = "") -> str:
    """`text` as a top-level fenced code block that nothing in it can close: the fence is one backtick longer
    than the longest run of backticks inside (at least three), alone on its closing line."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text.rstrip()}\n{fence}"
