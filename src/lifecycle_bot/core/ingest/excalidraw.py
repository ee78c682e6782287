"""Excalidraw diagrams -> text: labelled shapes, arrows resolved through their bindings, free text.

An arrow reads as "Scheduler → task_queue: execute_async" using the labels of the shapes its
`startBinding`/`endBinding` point at, so a question about a hop finds the diagram that draws it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

from lifecycle_bot.core.types import Chunk

SHAPES = {"rectangle", "ellipse", "diamond", "frame"}
LINES_PER_CHUNK = 14


class ExcalidrawError(ValueError):
    """The file is not a usable Excalidraw document."""


@dataclass(frozen=True)
class Statement:
    text: str
    element_ids: tuple[str, ...]
    y: float
    x: float


def _label(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


_NUMBERS = ("x", "y", "fontSize")
_STRINGS = ("id", "type", "text", "containerId")
_BINDINGS = ("startBinding", "endBinding")


def _kind(value: object) -> str:
    """How a wrong value reads in an error message: `"left"`, `null`, `a list`."""
    if value is None:
        return "null"
    if isinstance(value, (dict, list)):
        return f"a {'list' if isinstance(value, list) else 'object'}"
    return json.dumps(value)[:40] if isinstance(value, (str, bool)) else repr(value)[:40]


def _checked(n: int, e: dict) -> dict:
    """One element with every field this reader uses held to its type (absent is fine, wrong is not).

    A hand-edited or generated file can say `"x": "left"` or `"startBinding": "r1"`; the reader must
    name the element and the field instead of failing somewhere deep in the layout code.
    """
    where = f'element {n}' + (f' (id "{e["id"]}")' if isinstance(e.get("id"), str) else "")
    for name in _STRINGS:
        if name in e and e[name] is not None and not isinstance(e[name], str):
            raise ExcalidrawError(f'{where}: "{name}" must be text, got {_kind(e[name])}')
    for name in _NUMBERS:
        if name not in e:
            continue
        value = e[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ExcalidrawError(f'{where}: "{name}" must be a finite number, got {_kind(value)}')
    for name in _BINDINGS:
        value = e.get(name)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise ExcalidrawError(f'{where}: "{name}" must be an object or null, got {_kind(value)}')
        target = value.get("elementId")
        if target is not None and not isinstance(target, str):
            raise ExcalidrawError(f'{where}: "{name}.elementId" must be text, got {_kind(target)}')
    return e


def read_statements(doc: dict) -> tuple[str, list[Statement]]:
    """Return (title, statements) for a parsed Excalidraw document (ExcalidrawError names a bad element)."""
    if not isinstance(doc, dict) or doc.get("type") != "excalidraw":
        raise ExcalidrawError('not an Excalidraw document (missing "type": "excalidraw")')
    elements = doc.get("elements")
    if not isinstance(elements, list):
        raise ExcalidrawError('"elements" must be a list')
    live = [_checked(n, e) for n, e in enumerate(elements, start=1)
            if isinstance(e, dict) and not e.get("isDeleted") and e.get("id")]
    by_id = {e["id"]: e for e in live}
    bound: dict[str, list[dict]] = {}
    for e in live:
        if e.get("type") == "text" and e.get("containerId"):
            bound.setdefault(e["containerId"], []).append(e)

    def label_of(eid: str | None) -> str:
        if not eid or eid not in by_id:
            return "?"
        texts = bound.get(eid, [])
        if texts:
            return _label(" ".join(t.get("text") or "" for t in texts))
        return _label(by_id[eid].get("text") or "") or by_id[eid].get("type") or "?"

    out: list[Statement] = []
    free: list[dict] = []
    for e in live:
        kind = e.get("type")
        x, y = float(e.get("x") or 0), float(e.get("y") or 0)
        if kind in SHAPES:
            name = label_of(e["id"])
            if name and name != kind:
                ids = (e["id"], *[t["id"] for t in bound.get(e["id"], [])])
                out.append(Statement(f"{name}.", ids, y, x))
        elif kind in ("arrow", "line"):
            start = (e.get("startBinding") or {}).get("elementId")
            end = (e.get("endBinding") or {}).get("elementId")
            if not start and not end:
                continue
            label = label_of(e["id"]) if bound.get(e["id"]) else ""
            text = f"{label_of(start)} \u2192 {label_of(end)}" + (f": {label}" if label else "")
            # the statement quotes the end shapes' labels, so it cites those elements too
            ends = [i for i in (start, end) if i in by_id]
            ids = (e["id"], *[t["id"] for t in bound.get(e["id"], [])], *ends,
                   *[t["id"] for i in ends for t in bound.get(i, [])])
            out.append(Statement(text + ".", ids, y, x))
        elif kind == "text" and not e.get("containerId"):
            free.append(e)
    title = ""
    if free:
        top = max(free, key=lambda t: (float(t.get("fontSize") or 0), -float(t.get("y") or 0)))
        title = _label(top.get("text") or "")
    for t in free:
        text = _label(t.get("text") or "")
        if text and text != title:
            out.append(Statement(text, (t["id"],), float(t.get("y") or 0), float(t.get("x") or 0)))
    out.sort(key=lambda s: (round(s.y / 40), s.x))
    return title, out


def _line_index(raw: str) -> dict[str, int]:
    """1-based line of each element id in the JSON text (pretty-printed files give real ranges)."""
    found: list[tuple[int, int, str]] = []  # (indent, line, id)
    for n, line in enumerate(raw.splitlines(), start=1):
        for m in re.finditer(r'"id"\s*:\s*"([^"]+)"', line):
            found.append((len(line) - len(line.lstrip()), n, m.group(1)))
    if not found:
        return {}
    # an element's own id sits at the shallowest indent; deeper ones are references (boundElements)
    top = min(indent for indent, _, _ in found)
    index: dict[str, int] = {}
    for indent, n, eid in found:
        if indent == top:
            index.setdefault(eid, n)
    return index


def _no_constant(name: str) -> float:
    """JSON has no Infinity or NaN; Python's reader accepts them, the layout code cannot use them."""
    raise ExcalidrawError(f"{name} is not a JSON number")


def parse_excalidraw(file: str, raw: str) -> list[Chunk]:
    try:
        doc = json.loads(raw, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ExcalidrawError(f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    except RecursionError:
        raise ExcalidrawError("JSON nested too deeply to read") from None
    title, statements = read_statements(doc)
    if not statements:
        return []
    title = title or file.rsplit("/", 1)[-1].split(".")[0]
    lines_of = _line_index(raw)
    total_lines = max(1, raw.count("\n") + 1)
    def span(ids: tuple[str, ...]) -> tuple[int, int]:
        found = [lines_of[i] for i in ids if i in lines_of]
        if not found:
            return 1, total_lines
        # each element's object runs past its id line (the label text sits after the id)
        return min(found), min(total_lines, max(_element_end(raw, n) for n in found))

    chunks = []
    for n in range(0, len(statements), LINES_PER_CHUNK):
        part = statements[n : n + LINES_PER_CHUNK]
        spans = [(*span(s.element_ids), ",".join(s.element_ids)) for s in part]
        ids = tuple(i for s in part for i in s.element_ids)
        heading = f"Diagram: {title}"
        if len(statements) > LINES_PER_CHUNK:
            heading += f" (part {n // LINES_PER_CHUNK + 1})"
        chunks.append(
            Chunk(
                file=file,
                heading_path=heading,
                anchor="",
                start_line=min(sp[0] for sp in spans),
                end_line=max(sp[1] for sp in spans),
                text="\n".join(f"- {s.text}" for s in part),
                kind="diagram",
                element_ids=ids,
                spans=json.dumps(spans),
            )
        )
    return chunks


def _element_end(raw: str, id_line: int) -> int:
    """Last line of the JSON object whose id sits on `id_line` (closing brace at its indent)."""
    lines = raw.splitlines()
    if id_line > len(lines):
        return id_line
    indent = len(lines[id_line - 1]) - len(lines[id_line - 1].lstrip())
    for n in range(id_line, len(lines)):
        stripped = lines[n].lstrip()
        if stripped.startswith("}") and len(lines[n]) - len(stripped) < indent:
            return n + 1
    return len(lines)
