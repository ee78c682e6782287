"""Pure rendering for the UI: Markdown -> safe HTML, Excalidraw -> SVG, answers -> Slack mrkdwn.

Everything here treats KB text and user text as hostile: Markdown is parsed with raw HTML off,
images become text (no fetch), only http(s) links stay clickable, and the result goes through an
allow-list sanitizer before it can reach a page. No function here touches the file system.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from html.parser import HTMLParser

from markdown_it import MarkdownIt
from markdown_it.token import Token

# ----------------------------------------------------------------------------------------------
# Sanitizer: the last gate for every HTML string that reaches the page
# ----------------------------------------------------------------------------------------------

_ALLOWED_TAGS = {
    "a", "p", "br", "strong", "em", "code", "pre", "ul", "ol", "li", "table", "thead", "tbody",
    "tr", "th", "td", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "hr", "span", "div",
    "del", "s", "mark", "small", "details", "summary",
}
_VOID = {"br", "hr"}
_DROP_WITH_CONTENT = {"script", "style", "iframe", "object", "embed", "svg", "math", "template",
                      "noscript", "textarea", "title", "select", "xmp", "noembed", "noframes"}
_CLASS_OK = re.compile(r"^[A-Za-z0-9_ -]{1,120}$")
_HREF_OK = re.compile(r"^(https?://[^\s\"'<>`]+|#[A-Za-z0-9_-]{1,200})$")
_STYLE_OK = re.compile(r"^text-align:(left|right|center)$")


class _Sanitizer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []
        self.skip = 0  # depth inside a dropped element

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROP_WITH_CONTENT:
            self.skip += 1
            return
        if self.skip or tag not in _ALLOWED_TAGS:
            return
        kept = []
        for name, value in attrs:
            value = value or ""
            if name == "class" and _CLASS_OK.match(value):
                kept.append((name, value))
            elif name == "href" and tag == "a" and _HREF_OK.match(value):
                kept.append((name, value))
            elif name == "title" and len(value) <= 300:
                kept.append((name, value))
            elif name == "target" and tag == "a" and value == "_blank":
                kept.append((name, value))
            elif name == "rel" and tag == "a":
                kept.append((name, "noopener noreferrer nofollow"))
            elif name == "start" and tag == "ol" and value.isdigit():
                kept.append((name, value))
            elif name == "style" and tag in ("th", "td") and _STYLE_OK.match(value):
                kept.append((name, value))
        text = "".join(f' {n}="{html.escape(v, quote=True)}"' for n, v in kept)
        self.out.append(f"<{tag}{text}>")
        if tag not in _VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROP_WITH_CONTENT:
            return
        self.handle_starttag(tag, attrs)
        if tag in self.open and tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROP_WITH_CONTENT:
            self.skip = max(0, self.skip - 1)
            return
        if self.skip or tag not in self.open:
            return
        while self.open:
            top = self.open.pop()
            self.out.append(f"</{top}>")
            if top == tag:
                break

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(html.escape(data, quote=False))

    def result(self) -> str:
        self.close()
        return "".join(self.out) + "".join(f"</{t}>" for t in reversed(self.open))


def sanitize(fragment: str) -> str:
    """Rebuild an HTML fragment from allowed tags and attributes only (comments and scripts go)."""
    parser = _Sanitizer()
    parser.feed(fragment)
    return parser.result()


def escape(text: object) -> str:
    return html.escape(str(text), quote=True)


# ----------------------------------------------------------------------------------------------
# Markdown
# ----------------------------------------------------------------------------------------------

def _classes(token: Token, *extra: str) -> str:
    names = [*extra, *(str(token.attrGet("class") or "").split())]
    return " ".join(n for n in names if n)


def _render_fence(self, tokens: Sequence[Token], idx: int, options, env) -> str:
    token = tokens[idx]
    lang = (token.info or "").strip().split(" ")[0]
    body = escape(token.content)
    if lang == "mermaid":
        return f'<pre class="{_classes(token, "mermaid")}">{body}</pre>\n'
    lang_class = f' class="language-{lang}"' if re.fullmatch(r"[\w+.-]{1,30}", lang or "") else ""
    return f'<pre class="{_classes(token, "code")}"><code{lang_class}>{body}</code></pre>\n'


def _render_image(self, tokens: Sequence[Token], idx: int, options, env) -> str:
    """Images are never loaded (offline, and a KB must not make the browser fetch anything)."""
    token = tokens[idx]
    alt = "".join(c.content for c in token.children or []) or token.content
    return f'<span class="img-alt">[image: {escape(alt)}]</span>'


def _render_link_open(self, tokens: Sequence[Token], idx: int, options, env) -> str:
    token = tokens[idx]
    href = str(token.attrGet("href") or "")
    if href.startswith(("http://", "https://")):
        return f'<a href="{escape(href)}" target="_blank" rel="noopener noreferrer nofollow">'
    if href.startswith("#cite-") and env.get("cite_links"):
        return f'<a class="cite" href="{escape(href)}">'
    # relative and in-page KB links: shown, not followed (the page is not the KB)
    return f'<a class="kb-link" title="{escape(href)}">'


@lru_cache(maxsize=2)
def _markdown(breaks: bool) -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "breaks": breaks, "linkify": False})
    md.enable(["table", "strikethrough"])
    md.add_render_rule("fence", _render_fence)
    md.add_render_rule("code_block", _render_fence)
    md.add_render_rule("image", _render_image)
    md.add_render_rule("link_open", _render_link_open)
    return md


def _intersects(token: Token, first_line: int, lo: int, hi: int) -> bool:
    if token.map is None:
        return False
    start = first_line + token.map[0]
    end = first_line + token.map[1] - 1
    return start <= hi and end >= lo


def _mark_cited(tokens: list[Token], first_line: int, lo: int, hi: int) -> None:
    """Add class "cited" to the blocks (paragraph, list item, row, code, heading) in [lo, hi]."""
    for i, tok in enumerate(tokens):
        if tok.type in ("paragraph_open", "heading_open", "tr_open", "fence", "code_block"):
            if _intersects(tok, first_line, lo, hi):
                tok.attrJoin("class", "cited")
        elif tok.type == "list_item_open":
            first = tokens[i + 1] if i + 1 < len(tokens) else None
            probe = first if first is not None and first.type == "paragraph_open" else tok
            if _intersects(probe, first_line, lo, hi):
                tok.attrJoin("class", "cited")


def markdown_html(text: str, first_line: int = 1, cited: tuple[int, int] | None = None) -> str:
    """A Markdown section as safe HTML; lines `cited` (absolute, inclusive) are highlighted.

    `first_line` is the file line number of the first line of `text`, so citations, which carry
    file line numbers, can be matched against markdown-it's block line maps.
    """
    md = _markdown(False)
    tokens = md.parse(text)
    if cited:
        _mark_cited(tokens, first_line, cited[0], cited[1])
    return sanitize(md.renderer.render(tokens, md.options, {}))


_CITE_MARK = re.compile(r"\[(\d{1,3})\]")


def _link_citations(tokens: list[Token], turn: int, count: int) -> None:
    """Turn "[n]" in plain text (never in code) into links to citation n of this turn."""
    for tok in tokens:
        if tok.type != "inline" or not tok.children:
            continue
        children: list[Token] = []
        for child in tok.children:
            if child.type != "text" or not _CITE_MARK.search(child.content):
                children.append(child)
                continue
            pos = 0
            for m in _CITE_MARK.finditer(child.content):
                n = int(m.group(1))
                if not 1 <= n <= count:
                    continue
                if m.start() > pos:
                    children.append(Token("text", "", 0, content=child.content[pos : m.start()]))
                link = Token("html_inline", "", 0)
                link.content = f'<a class="cite" href="#cite-{turn}-{n}" title="Show source [{n}]">[{n}]</a>'
                children.append(link)
                pos = m.end()
            if pos < len(child.content):
                children.append(Token("text", "", 0, content=child.content[pos:]))
        tok.children = children


def for_chat(fragment: str) -> str:
    """Make an HTML fragment survive Gradio's chat Markdown pass: no blank line may end the block."""
    return fragment.strip().replace("\r", "").replace("\n", "&#10;")


def answer_html(text: str, turn: int, citation_count: int) -> str:
    """An answer's text (Markdown quoted from the KB) as safe HTML with clickable [n] markers."""
    md = _markdown(True)
    tokens = md.parse(text)
    _link_citations(tokens, turn, citation_count)
    return sanitize(md.renderer.render(tokens, md.options, {}))


def question_html(text: str) -> str:
    """A user's question shown verbatim: escaped, line breaks kept, long pastes as code."""
    lines = text.strip("\n").splitlines()
    if len(lines) > 3:
        return f'<pre class="code user-paste"><code>{escape(text.strip())}</code></pre>'
    return "<p>" + "<br>".join(escape(ln) for ln in lines) + "</p>"


def paste_html(text: str, findings: Iterable, context: int = 1) -> str:
    """The lines of the user's message that matched a failure signature, with a little context."""
    lines = text.splitlines()
    hits = {f.line_no: f for f in findings}
    if not hits or not lines:
        return ""
    show: set[int] = set()
    for n in hits:
        show.update(range(max(1, n - context), min(len(lines), n + context) + 1))
    rows: list[str] = []
    previous = 0
    for n in sorted(show):
        if previous and n > previous + 1:
            rows.append('<span class="gap">\u22ee</span>')
        line = escape(lines[n - 1][:300])
        if n in hits:
            f = hits[n]
            ref = f" \u2192 [{f.citation}]" if f.citation else ""
            note = escape(f"{f.signature} ({f.phase}){ref}")
            rows.append(f'<mark class="paste-hit"><span class="ln">{n:>4}</span> {line}</mark>'
                        f'<span class="paste-note">  \u2190 {note}</span>')
        else:
            rows.append(f'<span class="ln">{n:>4}</span> {line}')
        previous = n
    title = f"Lines of your message this answer used ({len(hits)})"
    body = "\n".join(rows)
    return sanitize(f'<div class="paste-used"><div class="paste-title">{escape(title)}</div>'
                    f'<pre class="code">{body}</pre></div>')


# ----------------------------------------------------------------------------------------------
# Excalidraw -> SVG
# ----------------------------------------------------------------------------------------------

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


# ----------------------------------------------------------------------------------------------
# Slack mrkdwn
# ----------------------------------------------------------------------------------------------

_MD_LINK = re.compile(r"\[([^\]\n]+)\]\(([^)\s]+)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*|__(.+?)__")


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_line(line: str) -> str:
    line = _slack_escape(line)

    def link(m: re.Match) -> str:
        label, url = m.group(1), m.group(2)
        return f"<{url}|{label}>" if url.startswith(("http://", "https://")) else f"{label} ({url})"

    line = _MD_LINK.sub(link, line)
    line = _BOLD.sub(lambda m: f"*{m.group(1) or m.group(2)}*", line)
    if m := re.match(r"^(\s*)[-*+] (.*)$", line):
        line = f"{m.group(1)}\u2022 {m.group(2)}"
    elif m := re.match(r"^#{1,6}\s+(.*)$", line):
        line = f"*{m.group(1)}*"
    return line


def slack_mrkdwn(text: str, confidence: float, refused: bool) -> str:
    """An answer for pasting into Slack: mrkdwn bold/bullets/code, Slack escaping, sources kept."""
    out: list[str] = []
    in_code = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
            out.append("```")
        elif in_code:
            out.append(_slack_escape(line))
        else:
            out.append(_slack_line(line))
    if in_code:
        out.append("```")
    footer = (f"_Declined: the docs do not cover this (confidence {confidence:.2f})._" if refused
              else f"_Answered from the KubernetesExecutor docs (confidence {confidence:.2f})._")
    return "\n".join(out).strip() + "\n\n" + footer
