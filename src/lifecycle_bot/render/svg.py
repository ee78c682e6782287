"""Excalidraw -> SVG for the section viewer: shapes, arrows and text drawn from the scene JSON, cited
elements haloed. Every value is checked and escaped (colours by pattern, numbers finite)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from lifecycle_bot.render.html import escape


_COLOR = re.compile(r"^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,20})$")
_FONTS = {1: "'Comic Sans MS', 'Segoe Print', cursive", 2: "Helvetica, Arial, sans-serif",
          3: "ui-monospace, 'Cascadia Code', monospace", 5: "'Comic Sans MS', cursive"}
_HALO = "#fab005"


def _num(value: object, default: float = 0.0) -> float:
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return out if math.isfinite(out) else default


def _f(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _color(value: object, default: str) -> str:
    text = str(value or "")
    if not _COLOR.match(text):
        return default
    return "none" if text == "transparent" else text


def _points(e: dict) -> list[tuple[float, float]]:
    x, y = _num(e.get("x")), _num(e.get("y"))
    pts = []
    for p in e.get("points") or []:
        if isinstance(p, (list, tuple)) and len(p) >= 2:
            pts.append((x + _num(p[0]), y + _num(p[1])))
    return pts or [(x, y), (x + _num(e.get("width")), y + _num(e.get("height")))]


def _bounds(elements: list[dict]) -> tuple[float, float, float, float]:
    xs: list[float] = []
    ys: list[float] = []
    for e in elements:
        if e.get("type") in ("arrow", "line"):
            for px, py in _points(e):
                xs.append(px)
                ys.append(py)
        else:
            x, y = _num(e.get("x")), _num(e.get("y"))
            xs += [x, x + _num(e.get("width"))]
            ys += [y, y + _num(e.get("height"))]
    if not xs:
        return 0.0, 0.0, 100.0, 100.0
    return min(xs), min(ys), max(xs), max(ys)


def _style(e: dict) -> str:
    stroke = _color(e.get("strokeColor"), "#1e1e1e")
    fill = _color(e.get("backgroundColor"), "none")
    width = max(0.5, _num(e.get("strokeWidth"), 2))
    attrs = [f'stroke="{stroke}"', f'stroke-width="{_f(width)}"', f'fill="{fill}"']
    if fill != "none" and e.get("fillStyle") in ("hachure", "cross-hatch", "zigzag"):
        attrs.append('fill-opacity="0.45"')
    if e.get("strokeStyle") == "dashed":
        attrs.append('stroke-dasharray="8 6"')
    elif e.get("strokeStyle") == "dotted":
        attrs.append('stroke-dasharray="2 5"')
    opacity = _num(e.get("opacity"), 100) / 100
    if opacity < 1:
        attrs.append(f'opacity="{_f(max(0.0, opacity))}"')
    return " ".join(attrs)


def _halo(e: dict) -> str:
    return f'stroke="{_HALO}" stroke-width="{_f(max(2.0, _num(e.get("strokeWidth"), 2)) + 10)}" ' \
           'fill="none" stroke-opacity="0.75" stroke-linejoin="round"'


def _shape(e: dict, attrs: str) -> str:
    kind = e.get("type")
    x, y, w, h = _num(e.get("x")), _num(e.get("y")), _num(e.get("width")), _num(e.get("height"))
    if w < 0:
        x, w = x + w, -w
    if h < 0:
        y, h = y + h, -h
    if kind == "ellipse":
        return f'<ellipse cx="{_f(x + w / 2)}" cy="{_f(y + h / 2)}" rx="{_f(w / 2)}" ry="{_f(h / 2)}" {attrs}/>'
    if kind == "diamond":
        pts = [(x + w / 2, y), (x + w, y + h / 2), (x + w / 2, y + h), (x, y + h / 2)]
        return f'<polygon points="{" ".join(f"{_f(a)},{_f(b)}" for a, b in pts)}" {attrs}/>'
    radius = min(32.0, min(w, h) * 0.25) if e.get("roundness") else 0.0
    rx = f' rx="{_f(radius)}"' if radius else ""
    return f'<rect x="{_f(x)}" y="{_f(y)}" width="{_f(w)}" height="{_f(h)}"{rx} {attrs}/>'


def _arrowhead(tip: tuple[float, float], tail: tuple[float, float], size: float) -> str:
    angle = math.atan2(tip[1] - tail[1], tip[0] - tail[0])
    pts = []
    for side in (-1, 1):
        a = angle + math.pi - side * math.radians(25)
        pts.append((tip[0] + size * math.cos(a), tip[1] + size * math.sin(a)))
    return f"M{_f(pts[0][0])},{_f(pts[0][1])} L{_f(tip[0])},{_f(tip[1])} L{_f(pts[1][0])},{_f(pts[1][1])}"


def _line(e: dict, attrs: str) -> str:
    pts = _points(e)
    d = " ".join(f"{'M' if i == 0 else 'L'}{_f(px)},{_f(py)}" for i, (px, py) in enumerate(pts))
    length = math.dist(pts[-2], pts[-1]) if len(pts) >= 2 else 0.0
    size = max(6.0, min(18.0, length / 2))
    heads = []
    if e.get("type") == "arrow":
        if e.get("endArrowhead", "arrow") and len(pts) >= 2:
            heads.append(_arrowhead(pts[-1], pts[-2], size))
        if e.get("startArrowhead") and len(pts) >= 2:
            heads.append(_arrowhead(pts[0], pts[1], size))
    path = f'<path d="{d}" {attrs} fill="none" stroke-linecap="round" stroke-linejoin="round"/>'
    for head in heads:
        path += f'<path d="{head}" {attrs} fill="none" stroke-linecap="round" stroke-linejoin="round"/>'
    return path


def _text(e: dict, cited: bool) -> str:
    x, y, w = _num(e.get("x")), _num(e.get("y")), _num(e.get("width"))
    size = max(4.0, _num(e.get("fontSize"), 20))
    line_h = size * max(0.8, _num(e.get("lineHeight"), 1.25))
    align = e.get("textAlign", "left")
    anchor, tx = {"center": ("middle", x + w / 2), "right": ("end", x + w)}.get(align, ("start", x))
    color = _color(e.get("strokeColor"), "#1e1e1e")
    family = _FONTS.get(int(_num(e.get("fontFamily"), 1)), _FONTS[2])
    weight = ' font-weight="700"' if cited else ""
    lines = str(e.get("text", "")).split("\n")
    spans = "".join(
        f'<tspan x="{_f(tx)}" y="{_f(y + i * line_h + (line_h + size * 0.7) / 2)}">{escape(ln) or " "}</tspan>'
        for i, ln in enumerate(lines)
    )
    back = ""
    if cited:
        h = _num(e.get("height"), line_h * len(lines))
        back = f'<rect x="{_f(x - 3)}" y="{_f(y - 2)}" width="{_f(w + 6)}" height="{_f(h + 4)}" ' \
               f'fill="{_HALO}" fill-opacity="0.35" stroke="none"/>'
    return (f'{back}<text font-size="{_f(size)}" font-family="{escape(family)}" fill="{color}" '
            f'text-anchor="{anchor}"{weight}>{spans}</text>')


def _rotation(e: dict) -> str:
    angle = _num(e.get("angle"))
    if not angle:
        return ""
    cx = _num(e.get("x")) + _num(e.get("width")) / 2
    cy = _num(e.get("y")) + _num(e.get("height")) / 2
    return f' transform="rotate({_f(math.degrees(angle))} {_f(cx)} {_f(cy)})"'


def excalidraw_svg(doc: dict, highlight: Iterable[str] = (), title: str = "") -> str:
    """Draw an Excalidraw scene (shapes, arrows, free and bound text); cited elements get a halo."""
    raw = doc.get("elements") if isinstance(doc, dict) else None
    elements = [e for e in (raw or []) if isinstance(e, dict) and not e.get("isDeleted")]
    cited = {str(i) for i in highlight}
    for e in elements:  # a cited container lights up its label, and a cited label its container
        if e.get("type") == "text" and e.get("containerId"):
            if e["containerId"] in cited:
                cited.add(str(e.get("id")))
            elif e.get("id") in cited:
                cited.add(str(e["containerId"]))
    x0, y0, x1, y1 = _bounds(elements)
    pad = 24
    vb = f"{_f(x0 - pad)} {_f(y0 - pad)} {_f(x1 - x0 + 2 * pad)} {_f(y1 - y0 + 2 * pad)}"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="excalidraw" viewBox="{vb}" width="100%" '
             f'role="img" aria-label="{escape(title or "diagram")}">',
             f'<rect x="{_f(x0 - pad)}" y="{_f(y0 - pad)}" width="{_f(x1 - x0 + 2 * pad)}" '
             f'height="{_f(y1 - y0 + 2 * pad)}" fill="#ffffff"/>']
    for e in elements:
        kind = e.get("type")
        is_cited = str(e.get("id")) in cited
        body = ""
        if kind in ("rectangle", "ellipse", "diamond", "frame"):
            if kind == "frame":
                e = {**e, "type": "rectangle", "strokeStyle": "dashed", "backgroundColor": "transparent"}
            body = (_shape(e, _halo(e)) if is_cited else "") + _shape(e, _style(e))
        elif kind in ("arrow", "line"):
            body = (_line(e, _halo(e)) if is_cited else "") + _line(e, _style(e))
        elif kind == "text":
            body = _text(e, is_cited)
        if not body:
            continue
        css = "el cited" if is_cited else "el"
        parts.append(f'<g class="{css}" data-id="{escape(e.get("id", ""))}"{_rotation(e)}>{body}</g>')
    parts.append("</svg>")
    return "".join(parts)
