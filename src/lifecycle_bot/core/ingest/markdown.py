"""Markdown -> section chunks with heading paths, GitHub anchors and exact line ranges.

Parsing uses markdown-it-py's block tokens, whose `map` gives each block's source lines, so a chunk
boundary falls between blocks, and inside a long table or list only between its rows or items: a code fence,
a row or an item is never cut in half, and the rows of a split table keep their header row (`Chunk.head`).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

from lifecycle_bot.core.ingest.mermaid import read_mermaid
from lifecycle_bot.core.markdown import parser as _parser
from lifecycle_bot.core.text import sentences
from lifecycle_bot.core.types import Chunk

MAX_CHUNK_CHARS = 1400


def slugify(text: str) -> str:
    """GitHub's heading anchor: lowercase, drop punctuation but keep '-' and '_', spaces -> '-'."""
    text = unicodedata.normalize("NFKC", text).strip().lower()
    text = "".join(ch for ch in text if ch in "-_ " or unicodedata.category(ch)[0] in "LNM")
    return text.replace(" ", "-")


class Slugger:
    """Assigns unique anchors per file the way GitHub does (github-slugger's loop): `x, x, x` -> `x, x-1, x-2`,
    and a heading whose own slug is taken moves on, so `x, x-1, x` -> `x, x-1, x-2` (never a duplicate)."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def slug(self, text: str) -> str:
        base = slugify(text)
        result = base
        while result in self.seen:
            self.seen[base] += 1
            result = f"{base}-{self.seen[base]}"
        self.seen[result] = 0
        return result


def _inline_text(token) -> str:
    parts = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return "".join(parts).strip()


@dataclass(frozen=True)
class Block:
    """A top-level Markdown block with its 0-based [start, end) line range."""

    kind: str  # heading | paragraph | fence | table | list | other
    start: int
    end: int
    level: int = 0
    title: str = ""
    info: str = ""
    content: str = ""
    parts: tuple[tuple[int, int], ...] = ()  # tables: body rows; lists: top-level items ([start, end) lines)
    head: tuple[int, int] | None = None  # a piece of a split table after its first: the table's header lines


def _parts(tokens, i: int, open_type: str, close_type: str) -> tuple[tuple[int, int], ...]:
    """Line ranges of the direct rows (`tr_open` in the body) or items (`list_item_open`) of the block at i."""
    level = tokens[i].level
    out = []
    for tok in tokens[i + 1:]:
        if tok.type == close_type and tok.level == level:
            break
        if tok.type == open_type and tok.map and (open_type == "tr_open" or tok.level == level + 1):
            out.append(tuple(tok.map))
    if open_type == "tr_open":
        out = out[1:]  # the header row stays with the table's first piece
    return tuple(out)


def parse_blocks(text: str) -> list[Block]:
    tokens = _parser().parse(text)
    blocks: list[Block] = []
    for i, tok in enumerate(tokens):
        if tok.level != 0 or tok.map is None or tok.nesting == -1:
            continue
        start, end = tok.map
        if tok.type == "heading_open":
            blocks.append(Block("heading", start, end, int(tok.tag[1]), _inline_text(tokens[i + 1])))
        elif tok.type == "paragraph_open":
            blocks.append(Block("paragraph", start, end, content=tokens[i + 1].content))
        elif tok.type in ("fence", "code_block"):
            blocks.append(Block("fence", start, end, info=tok.info.strip(), content=tok.content))
        elif tok.type == "table_open":
            blocks.append(Block("table", start, end, parts=_parts(tokens, i, "tr_open", "table_close")))
        elif tok.type in ("bullet_list_open", "ordered_list_open"):
            close = tok.type.replace("_open", "_close")
            blocks.append(Block("list", start, end, parts=_parts(tokens, i, "list_item_open", close)))
        else:
            blocks.append(Block("other", start, end))
    return blocks


def _size(lines: list[str], start: int, end: int) -> int:
    return sum(len(ln) + 1 for ln in lines[start:end])


def split_block(block: Block, lines: list[str], max_chars: int) -> list[Block]:
    """A table or list longer than `max_chars` as pieces of whole rows or items, each at most `max_chars`
    where a row or item allows. A long table is one section's worth of facts (a changelog, an option
    reference); embedded whole, the model reads only its first rows, so each piece is indexed on its own."""
    total = _size(lines, block.start, block.end)
    if not block.parts or total <= max_chars:
        return [block]
    budget = min(max_chars, 1.1 * total / math.ceil(total / max_chars))  # even pieces, no lone last row
    head = (block.start, block.parts[0][0]) if block.kind == "table" else None
    pieces: list[Block] = []
    start, size = block.start, _size(lines, block.start, block.parts[0][0])
    for p_start, p_end in block.parts:
        length = _size(lines, p_start, p_end)
        if size and size + length > budget and p_start > start and (p_start, p_end) != block.parts[0]:
            pieces.append(Block(block.kind, start, p_start, head=head if start != block.start else None))
            start, size = p_start, 0
        size += length
    pieces.append(Block(block.kind, start, block.end, head=head if start != block.start else None))
    return pieces


def _group(blocks: list[Block], lines: list[str], max_chars: int) -> list[list[Block]]:
    """Pack whole blocks into groups of at most `max_chars` (a single big block stays whole); a later
    piece of a split table starts its own group, so the header it carries belongs to the group's start."""
    groups: list[list[Block]] = [[]]
    size = 0
    for block in blocks:
        length = _size(lines, block.start, block.end)
        if groups[-1] and (size + length > max_chars or block.head):
            groups.append([])
            size = 0
        groups[-1].append(block)
        size += length
    return [g for g in groups if g]


SECTION_LEVEL = 3  # `####` and deeper stay inside their section (as parts), like "Symptoms" / "Fix"


def parse_markdown(file: str, text: str, max_chars: int = MAX_CHUNK_CHARS) -> list[Chunk]:
    """One node per section (headings down to ###); long sections split between blocks.

    Deeper headings (#### Symptoms, #### Fix) do not start a new section: they split it into parts
    that keep the section's anchor, and their title is appended to the part's heading path.
    """
    lines = text.splitlines()
    blocks = parse_blocks(text)
    h1_count = sum(1 for b in blocks if b.kind == "heading" and b.level == 1)
    slugger = Slugger()
    stack: list[tuple[int, str]] = []
    # (heading_path, anchor, parts); a part is (part title or "", blocks)
    sections: list[tuple[str, str, list[tuple[str, list[Block]]]]] = []
    for block in blocks:
        if block.kind == "heading":
            slug = slugger.slug(block.title)  # every heading counts for GitHub's -1/-2 suffixes
            if block.level <= SECTION_LEVEL or not sections:
                stack = [(lvl, t) for lvl, t in stack if lvl < block.level] + [(block.level, block.title)]
                shown = [t for lvl, t in stack if not (lvl == 1 and h1_count == 1 and len(stack) > 1)]
                sections.append((" > ".join(shown), slug, [("", [block])]))
            else:
                sections[-1][2].append((block.title, [block]))
        elif sections:
            sections[-1][2][-1][1].append(block)
        else:
            sections.append((file, "", [("", [block])]))

    chunks: list[Chunk] = []
    for heading_path, anchor, parts in sections:
        # the section's opening sentence travels with every part, so "Fix" still says what it fixes
        lead_text = next((b.content for _, bs in parts for b in bs if b.kind == "paragraph"), "")
        lead_sentence = sentences(lead_text.replace("\n", " "))[0] if lead_text else ""
        for title, part_blocks in parts:
            body = [piece for b in part_blocks if not (b.kind == "heading" and b.level <= SECTION_LEVEL)
                    for piece in split_block(b, lines, max_chars)]
            if not [b for b in body if b.kind != "heading"]:
                continue  # a heading directly followed by a sub-heading: nothing to answer from
            path = f"{heading_path} > {title}" if title else heading_path
            lead = [b for b in part_blocks if b.kind == "heading" and b.level <= SECTION_LEVEL]
            for n, group in enumerate(_group(body, lines, max_chars)):
                if n == 0 and lead:
                    group = lead + group
                start, end = group[0].start, group[-1].end
                while end > start and not lines[end - 1].strip():
                    end -= 1
                readings = [read_mermaid(b.content) for b in group if b.kind == "fence" and b.info == "mermaid"]
                chunks.append(
                    Chunk(
                        file=file,
                        heading_path=path,
                        anchor=anchor,
                        start_line=start + 1,
                        end_line=end,
                        text="\n".join(lines[start:end]),
                        reading=" ".join(r for r in [lead_sentence if title or n else ""] + readings if r),
                        head="\n".join(lines[slice(*group[0].head)]) if group[0].head else "",
                    )
                )
    return chunks




@dataclass(frozen=True)
class Unit:
    """The smallest quotable piece of a chunk: a sentence, list item, table row or code block."""

    kind: str  # sentence | item | row | header (a table's header row) | code | diagram
    text: str  # as written: what is embedded and matched
    start_line: int  # 1-based, absolute in the source file
    end_line: int
    position: int  # order within the chunk
    element_ids: tuple[str, ...] = ()  # diagrams: the elements this unit was read from
    cells: tuple[str, ...] = ()  # rows: the cells, and the table's header cells above them
    header: tuple[str, ...] = ()

    @property
    def display(self) -> str:
        """The unit as an answer shows it: a row under its header (`key`: Default: x; Meaning: y), a row of a
        table of wrong claims as "Not so: ... In fact: ...", never the row's pipes."""
        if self.kind != "row" or not self.cells:
            return self.text
        first, rest = self.cells[0], self.cells[1:]
        if self.header and self.header[0].strip().lower() in MYTH_HEADERS:
            return f"Not so: {first} In fact: {' '.join(c for c in rest if c)}".strip()
        header = self.header or ("",) * len(self.cells)
        if "`" in header[0]:  # the first column is a setting too (a table of combinations): name it as well
            return "; ".join(f"{h}: {c}" if h else c for h, c in zip(header, self.cells) if c)
        named = [f"{h}: {c}" if h else c for h, c in zip(header[1:], rest) if c]
        return f"{first}: {'; '.join(named)}" if named else first


# A table whose first column is headed like this lists wrong claims (kb/ 14.4): a row is quoted as "Not so: ...".
MYTH_HEADERS = ("claim", "wrong claim", "myth")


def split_units(chunk: Chunk) -> list[Unit]:
    """Quotable units of a Markdown chunk, each with the absolute lines it came from.

    A piece of a split table is read after its header lines (`chunk.head`), as the table it is part of;
    the header row itself is left to the piece that holds it."""
    text = f"{chunk.head}\n{chunk.text}" if chunk.head else chunk.text
    lines = text.splitlines()
    offset = chunk.start_line - (len(chunk.head.splitlines()) if chunk.head else 0)
    tokens = _parser().parse(text)
    units: list[Unit] = []

    def add(kind: str, text: str, start: int, end: int, **table) -> None:
        text = text.strip()
        if text:
            units.append(Unit(kind, text, start + offset, end + offset - 1, len(units), **table))

    header: tuple[str, ...] = ()

    for i, tok in enumerate(tokens):
        if tok.map is None or tok.nesting == -1:
            continue
        start, end = tok.map
        if tok.type == "paragraph_open" and tok.level == 0:
            content = tokens[i + 1].content
            para_lines = lines[start:end]
            for sentence in sentences(content.replace("\n", " ")):
                s_start, s_end = _locate(sentence, para_lines, start)
                add("sentence", sentence, s_start, s_end)
        elif tok.type == "list_item_open":
            # the item's own first paragraph; nested items become units of their own
            para = tokens[i + 1] if i + 1 < len(tokens) else None
            if para is not None and para.type == "paragraph_open" and para.map:
                p_start, p_end = para.map
                add("item", tokens[i + 2].content.replace("\n", " "), p_start, p_end)
        elif tok.type in ("fence", "code_block"):
            kind = "diagram" if tok.info.strip() == "mermaid" else "code"
            add(kind, "\n".join(lines[start:end]), start, end)
        elif tok.type == "tr_open":
            cells, is_head = _cells(tokens, i)
            if is_head:
                header = cells
            row = lines[start] if start < len(lines) else ""
            if start + offset >= chunk.start_line and not re.fullmatch(r"[\s|:-]*", row):
                add("header" if is_head else "row", row.strip().strip("|").strip(), start, start + 1,
                    cells=cells, header=() if is_head else header)
    return units


def _cells(tokens: list, i: int) -> tuple[tuple[str, ...], bool]:
    """The cells of the table row opened at `tokens[i]` (their Markdown, pipes gone), and whether it is the
    header row."""
    cells: list[str] = []
    head = False
    for tok in tokens[i + 1:]:
        if tok.type == "tr_close":
            break
        if tok.type == "th_open":
            head = True
        elif tok.type == "inline":
            cells.append(tok.content.strip())
    return tuple(cells), head


def _locate(sentence: str, para_lines: list[str], start: int) -> tuple[int, int]:
    """Line range (0-based, end exclusive) of a sentence inside its paragraph."""
    words = sentence.split()
    if not words:
        return start, start + 1
    first, last = words[0], words[-1]
    s = next((i for i, ln in enumerate(para_lines) if first in ln), 0)
    e = next((i for i in range(len(para_lines) - 1, -1, -1) if last in para_lines[i]), len(para_lines) - 1)
    if e < s:
        s, e = 0, len(para_lines) - 1
    return start + s, start + e + 1
