"""The one Markdown -> Slack mrkdwn converter, for the Slack bot's blocks and the web app's "Copy for Slack".

Two outputs: for the Slack API (`entities=True`, the bot) `&`, `<` and `>` must be entities, or a quoted
`<!channel>` would ping; text a person pastes into Slack's composer (`entities=False`, the web app's copy)
must not have them, since the composer shows `&gt;` literally, and a pasted `<!channel>` stays text.

**bold** -> *bold*, *em* -> _em_, [t](http...) -> <url|t>, a relative link -> "t (path)", an in-app "#anchor"
link -> its text, # heading -> *heading*,
- item -> • item. Code fences (found by the core's Markdown walk) and code spans are kept, language hints
dropped, and only entity-escaped.
"""

from __future__ import annotations

import re

from lifecycle_bot.core.markdown import fences

_CODE = re.compile(r"(?<!`)(`+)(?!`)([^\n]+?)(?<!`)\1(?!`)")  # a CommonMark code span of any fence length
_GRAVE = "\u02cb"  # Slack code has no escape for a backtick: a look-alike keeps the quoted text readable
_LINK = re.compile(r"\[([^\]\n]+)\]\(([^)\s]+)\)")


def escape(text: str) -> str:
    """Slack's three control characters as entities: no `<!channel>`, `<@U…>` or `<url|label>` survives."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _code(m: re.Match, esc) -> str:
    """A code span of any length as Slack code: one backtick pair, the content escaped and inert."""
    content = m.group(2)
    if len(content) > 2 and content[0] == content[-1] == " " and content.strip():
        content = content[1:-1]  # CommonMark's padding
    return "`" + esc(content).replace("`", _GRAVE) + "`"


def _plain(text: str) -> str:
    return text


def md_to_mrkdwn(text: str, entities: bool = True) -> str:
    """Markdown as mrkdwn: for the API (`entities`, escaped, links as `<url|label>`) or for pasting
    (no entities, links as "label (url)", which Slack links by itself)."""
    esc = escape if entities else _plain
    stash: list[str] = []

    def keep(s: str) -> str:
        stash.append(s)
        return f"\x00{len(stash) - 1}\x00"

    lines = text.split("\n")
    for f in reversed([f for f in fences(text) if f.end <= len(lines)]):
        closed = f.end - f.start >= 2 and lines[f.end - 1].strip().startswith(("```", "~~~"))
        if closed:
            lines[f.start:f.end] = [keep("```\n" + esc(f.content.rstrip("\n")) + "\n```")]
    text = "\n".join(lines)
    text = _CODE.sub(lambda m: keep(_code(m, esc)), text)
    links: list[str] = []

    def link(m: re.Match) -> str:
        label, url = m.group(1), m.group(2)
        if url.startswith(("http://", "https://")) and entities:
            links.append(f"<{url}|{escape(label)}>")
        elif url.startswith("#"):  # an in-app anchor (a triage report's section link) means nothing in Slack
            links.append(esc(label))
        else:
            links.append(f"{esc(label)} ({esc(url)})")
        return f"\x01{len(links) - 1}\x01"

    text = _LINK.sub(link, text)
    text = esc(text)
    text = re.sub(r"(?<![*\w])\*(?!\*)([^*\n]+?)\*(?!\*)", r"_\1_", text)
    text = re.sub(r"\*\*([^*\n]+?)\*\*|__([^_\n]+?)__", lambda m: f"*{m.group(1) or m.group(2)}*", text)
    text = re.sub(r"(?m)^#{1,6}\s+(.+?)\s*#*$", r"*\1*", text)
    text = re.sub(r"(?m)^(\s*)[-*+]\s+", r"\1• ", text)
    text = re.sub(r"\x01(\d+)\x01", lambda m: links[int(m.group(1))], text)
    return re.sub(r"\x00(\d+)\x00", lambda m: stash[int(m.group(1))], text)


def slack_mrkdwn(text: str, confidence: float, refused: bool, entities: bool = False) -> str:
    """A whole answer for pasting into Slack (no entities): the converted text, then what it was answered from."""
    footer = (f"_Declined: the docs do not cover this (confidence {confidence:.2f})._" if refused
              else f"_Answered from the KubernetesExecutor docs (confidence {confidence:.2f})._")
    return md_to_mrkdwn(text, entities).strip() + "\n\n" + footer
