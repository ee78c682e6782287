"""Markdown -> safe HTML for the web app, and the one HTML sanitiser every HTML string passes through.

Everything here treats KB text and user text as hostile: Markdown is parsed with raw HTML off,
images become text (no fetch), only http(s) links stay clickable, and the result goes through an
allow-list sanitizer before it can reach a page. No function here touches the file system.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

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
_DROP_WITH_CONTENT = {"script", "style", "iframe", "object", "embed", "svg", "math", "template",
                      "noscript", "textarea", "title", "select", "xmp", "noembed", "noframes"}
_CLASS_OK = re.compile(r"^[A-Za-z0-9_ -]{1,120}$")
_HREF_OK = re.compile(r"^(https?://[^\s\"'<>`]+|#[A-Za-z0-9_-]{1,200})$")
_STYLE_OK = re.compile(r"^text-align:(left|right|center)$")


_ATTRIBUTES = {
    "*": {"class", "title"},
    "a": {"href", "target", "rel"},
    "ol": {"start"},
    "th": {"style"},
    "td": {"style"},
}


def _attribute(tag: str, name: str, value: str) -> str | None:
    """Each kept attribute's value checked against its pattern (ammonia has already dropped the rest)."""
    if name == "class":
        return value if _CLASS_OK.match(value) else None
    if name == "title":
        return value if len(value) <= 300 else None
    if name == "href":
        return value if _HREF_OK.match(value) else None
    if name == "target":
        return value if value == "_blank" else None
    if name == "rel":
        return "noopener noreferrer nofollow"
    if name == "start":
        return value if value.isdigit() else None
    if name == "style":
        return value if _STYLE_OK.match(value) else None
    return None


def sanitize(fragment: str) -> str:
    """Rebuild an HTML fragment from allowed tags and attributes only (comments, scripts and their text go).

    ammonia (through nh3) parses the fragment as a browser would (html5ever), so what it keeps is what the
    page will see; `_attribute` then holds every kept value to its pattern.
    """
    import nh3

    return nh3.clean(fragment, tags=_ALLOWED_TAGS, clean_content_tags=_DROP_WITH_CONTENT,
                     attributes=_ATTRIBUTES, attribute_filter=_attribute, link_rel=None,
                     url_schemes={"http", "https"}, strip_comments=True)


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


def _intersects(token: Token, first_line: int, lines: frozenset[int]) -> bool:
    if token.map is None:
        return False
    start = first_line + token.map[0]
    return any(n in lines for n in range(start, first_line + token.map[1]))


def _mark_cited(tokens: list[Token], first_line: int, lines: frozenset[int]) -> None:
    """Add class "cited" to the blocks (paragraph, list item, row, code, heading) holding a cited line."""
    for i, tok in enumerate(tokens):
        if tok.type in ("paragraph_open", "heading_open", "tr_open", "fence", "code_block"):
            if _intersects(tok, first_line, lines):
                tok.attrJoin("class", "cited")
        elif tok.type == "list_item_open":
            first = tokens[i + 1] if i + 1 < len(tokens) else None
            probe = first if first is not None and first.type == "paragraph_open" else tok
            if _intersects(probe, first_line, lines):
                tok.attrJoin("class", "cited")


def markdown_html(text: str, first_line: int = 1, cited: tuple[int, int] | Iterable[int] | None = None) -> str:
    """A Markdown section as safe HTML; the `cited` lines (absolute: a (first, last) range or the lines
    themselves) are highlighted.

    `first_line` is the file line number of the first line of `text`, so citations, which carry
    file line numbers, can be matched against markdown-it's block line maps.
    """
    md = _markdown(False)
    tokens = md.parse(text)
    if cited:
        lines = (frozenset(range(cited[0], cited[1] + 1)) if isinstance(cited, tuple) and len(cited) == 2
                 else frozenset(cited))
        _mark_cited(tokens, first_line, lines)
    return sanitize(md.renderer.render(tokens, md.options, {}))


_CITE_MARK = re.compile(r"\[(\d{1,3})\]")


def cite_link(turn: int, n: int, preview: str = "", label: str | None = None) -> str:
    """Citation n of this turn as a link with its preview (the quoted lines), shown on hover and focus."""
    text = escape(label if label is not None else f"[{n}]")
    pop = f'<span class="cite-pop" role="tooltip">{escape(preview)}</span>' if preview else ""
    return f'<span class="cite-wrap"><a class="cite" href="#cite-{turn}-{n}">{text}</a>{pop}</span>'


def _link_citations(tokens: list[Token], turn: int, count: int, previews: Sequence[str] = ()) -> None:
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
                link.content = cite_link(turn, n, previews[n - 1] if n <= len(previews) else "")
                children.append(link)
                pos = m.end()
            if pos < len(child.content):
                children.append(Token("text", "", 0, content=child.content[pos:]))
        tok.children = children


def for_chat(fragment: str) -> str:
    """Make an HTML fragment survive Gradio's chat Markdown pass: no blank line may end the block."""
    return fragment.strip().replace("\r", "").replace("\n", "&#10;")


def answer_html(text: str, turn: int, citation_count: int, previews: Sequence[str] = ()) -> str:
    """An answer's text (Markdown quoted from the KB) as safe HTML with clickable [n] markers; `previews[n-1]`
    is what a hover on [n] shows."""
    md = _markdown(True)
    tokens = md.parse(text)
    _link_citations(tokens, turn, citation_count, previews)
    return sanitize(md.renderer.render(tokens, md.options, {}))


def sources_html(turn: int, citations: Sequence[dict], previews: Sequence[str] = (), title: str = "Sources") -> str:
    """The one list of an answer's sources: "[n] heading", file and lines, the quoted lines on hover."""
    if not citations:
        return ""
    items = []
    for n, c in enumerate(citations, start=1):
        preview = previews[n - 1] if n <= len(previews) else ""
        where = f'{c["file"]} \u00b7 lines {c["start_line"]}\u2013{c["end_line"]}'
        label = f"[{n}] {c['heading_path']}"
        items.append(f'<li>{cite_link(turn, n, preview, label)} '
                     f'<small class="where">{escape(where)}</small></li>')
    return sanitize(f'<div class="lb-sources"><div class="sources-title">{escape(title)}</div>'
                    f'<ol>{"".join(items)}</ol></div>')


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
