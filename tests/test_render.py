"""render.py: KB and user text come out inert, citations and highlights land where they should."""

from __future__ import annotations

import re

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from lifecycle_bot import render
from lifecycle_bot.core.types import PasteFinding

FIXTURE_DIAGRAM = Path(__file__).parent / "fixtures" / "kb" / "excalidraw" / "flow.excalidraw"
HTML_TAGS = {
    "a", "p", "br", "strong", "em", "code", "pre", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th",
    "td", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "hr", "span", "div", "del", "s", "mark", "small",
    "details", "summary",
}
SVG_TAGS = {"svg", "g", "rect", "ellipse", "polygon", "path", "text", "tspan"}

EVIL = """# Title <script>alert(1)</script>

Text <img src=x onerror=alert(1)> and <b onclick="alert(2)">bold</b>.

[click](javascript:alert(3)) [ok](https://airflow.apache.org/docs/) [rel](other.md#x)

![pixel](http://tracker.example/p.png)

<iframe src="http://evil.example"></iframe>

```html
<script>alert(4)</script>
```
"""


class TagAudit(HTMLParser):
    """Collects every tag and attribute so tests can check an allow-list."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [(tag, k, v or "") for k, v in attrs]


def audit(fragment: str) -> TagAudit:
    parser = TagAudit()
    parser.feed(fragment)
    return parser


def assert_inert(fragment: str, allowed: set[str] = HTML_TAGS) -> None:
    found = audit(fragment)
    assert set(found.tags) <= allowed, set(found.tags) - allowed
    for tag, name, value in found.attrs:
        assert not name.startswith("on"), (tag, name)
        assert name not in ("src", "srcdoc", "style") or (name == "style" and value.startswith("text-align")), (tag, name)
        if name == "href":
            assert value.startswith(("https://", "http://", "#")), value


def test_markdown_escapes_raw_html_scripts_and_images():
    out = render.markdown_html(EVIL)
    assert_inert(out)
    assert "<script" not in out and "<img" not in out and "<iframe" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out  # shown as text, not run
    assert "&lt;img src=x onerror=alert(1)&gt;" in out
    assert 'href="javascript' not in out.lower()
    assert 'href="https://airflow.apache.org/docs/"' in out and 'rel="noopener noreferrer nofollow"' in out
    assert 'class="kb-link"' in out  # relative KB link shown but not followed
    assert "[image: pixel]" in out and "tracker.example" not in out  # never fetched


def test_markdown_highlights_cited_lines_only():
    text = "## 3.1 Pending\n\nFirst paragraph.\n\nSecond paragraph\nspans two lines.\n\n- item one\n- item two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |"
    # file lines: heading 10, first para 12, second para 14-15, items 17-18, table 20-23
    out = render.markdown_html(text, first_line=10, cited=(14, 15))
    assert out.count('class="cited"') == 1
    assert '<p class="cited">Second paragraph' in out
    out = render.markdown_html(text, first_line=10, cited=(18, 18))
    assert '<li class="cited">item two' in out and '<li class="cited">item one' not in out
    out = render.markdown_html(text, first_line=10, cited=(23, 23))
    assert out.count('<tr class="cited">') == 1 and "<td>3</td>" in out.split('<tr class="cited">')[1]


def test_mermaid_block_becomes_pre_mermaid_with_escaped_source():
    text = "Intro.\n\n```mermaid\nflowchart LR\n  A[\"<img src=x onerror=alert(1)>\"] --> B\n```\n"
    out = render.markdown_html(text, first_line=1, cited=(3, 6))
    assert '<pre class="mermaid cited">' in out
    assert "&lt;img src=x onerror=alert(1)&gt;" in out and "<img" not in out
    assert_inert(out)


def test_code_fence_content_is_escaped():
    out = render.markdown_html("```bash\nkubectl get pods <ns> && echo '</code></pre><script>x</script>'\n```")
    assert '<pre class="code"><code class="language-bash">' in out
    assert "<script" not in out and "&lt;/code&gt;&lt;/pre&gt;&lt;script&gt;" in out


@pytest.mark.parametrize("evil", [
    '<a href="javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<p onmouseover="alert(1)">x</p>',
    "<svg><script>alert(1)</script></svg>",
    "<style>*{display:none}</style>",
    '<img src=x onerror="alert(1)">',
    "<!-- <script>alert(1)</script> -->",
    '<div style="background:url(http://x)">x</div>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
])
def test_sanitize_drops_everything_active(evil):
    out = render.sanitize(evil)
    assert_inert(out)
    assert not {"script", "style", "img", "svg", "math"} & set(audit(out).tags)


def test_answer_html_links_citations_but_not_inside_code():
    text = "Pods stay Pending [1]. See `arr[2]` and [7].\n\n```\nx = a[1]\n```\n\nSources:\n[1] guide.md \u00a7 3.1 (lines 1\u20132)\n[2] guide.md \u00a7 2.1"
    out = render.answer_html(text, turn=4, citation_count=2)
    assert out.count('href="#cite-4-1"') == 2 and out.count('href="#cite-4-2"') == 1
    assert "<code>arr[2]</code>" in out and "x = a[1]" in out
    assert "[7]" in out and "#cite-4-7" not in out  # out of range stays text
    assert_inert(out)


def test_question_and_chat_fragment_are_inert():
    out = render.question_html("<img src=x onerror=alert(1)> why is my pod Pending?")
    assert "<img" not in out and "&lt;img src=x onerror=alert(1)&gt;" in out
    chat = render.for_chat(render.answer_html("para one\n\n```\na\n\nb\n```", 0, 0))
    assert "\n" not in chat and "&#10;&#10;b" in chat  # no blank line may end Gradio's HTML block


def test_paste_html_marks_used_lines():
    text = "why?\nName: p\nEvents:\n  Warning  FailedScheduling  0/3 nodes: Insufficient memory <b>\nlast"
    finding = PasteFinding(4, "Warning FailedScheduling", "insufficient", "scheduling", "pending", 1)
    out = render.paste_html(text, [finding], context=1)
    assert '<mark class="paste-hit">' in out and "Insufficient memory &lt;b&gt;" in out
    assert "\u2192 [1]" in out and "why?" not in out  # line 1 is outside the context window
    assert render.paste_html(text, []) == ""
    assert_inert(out)


def test_excalidraw_svg_draws_shapes_arrow_text_and_highlights():
    doc = json.loads(FIXTURE_DIAGRAM.read_text())
    svg = render.excalidraw_svg(doc, ["sched"], title="Fixture flow")
    found = audit(svg)
    assert set(found.tags) <= SVG_TAGS
    assert found.tags.count("ellipse") >= 1 and "rect" in found.tags and "path" in found.tags
    assert ">Scheduler</tspan>" in svg and ">task_queue</tspan>" in svg and ">execute_async</tspan>" in svg
    cited = [v for t, k, v in found.attrs if k == "data-id" and t == "g"]
    classes = [v for t, k, v in found.attrs if k == "class" and t == "g"]
    assert dict(zip(cited, classes))["sched"] == "el cited"
    assert dict(zip(cited, classes))["sched-t"] == "el cited"  # bound label follows its container
    assert dict(zip(cited, classes))["queue"] == "el"
    arrow = next(e for e in doc["elements"] if e["type"] == "arrow")
    assert svg.count("<path") >= 2, "line plus arrowhead"
    assert arrow["id"] in cited


def test_excalidraw_svg_escapes_hostile_elements():
    doc = {"type": "excalidraw", "elements": [
        {"id": 'x" onload="alert(1)', "type": "rectangle", "x": 0, "y": 0, "width": 10, "height": 10,
         "strokeColor": 'red" onclick="alert(2)', "backgroundColor": "url(javascript:alert(3))"},
        {"id": "t", "type": "text", "x": 0, "y": 20, "width": 50, "height": 20, "fontSize": "NaN",
         "text": "</text><script>alert(4)</script>", "fontFamily": "<b>"},
        {"id": "d", "type": "diamond", "x": "1e309", "y": None, "width": 10, "height": 10},
        {"id": "gone", "type": "rectangle", "x": 0, "y": 0, "width": 5, "height": 5, "isDeleted": True},
        "not an element",
    ]}
    svg = render.excalidraw_svg(doc, ['x" onload="alert(1)'])
    found = audit(svg)
    assert set(found.tags) <= SVG_TAGS
    assert not any(k.startswith("on") for _, k, _ in found.attrs)
    assert "&lt;script&gt;" in svg and "<script" not in svg and "javascript" not in svg
    assert 'data-id="gone"' not in svg
    assert render.excalidraw_svg({}).startswith("<svg")


def test_slack_mrkdwn():
    text = ("From your paste:\n- line 3: `Insufficient memory` \u2192 [1] 3.1\n\n**Pods** stay <Pending> & wait "
            "[docs](https://airflow.apache.org) [rel](x.md)\n\n```bash\nkubectl get pods -o json | jq '.items[] | select(.a > 1)'\n```\n\n"
            "Sources:\n[1] guide.md \u00a7 3. Debugging > 3.1 Pod stuck in Pending (lines 34\u201335)")
    api = render.slack_mrkdwn(text, 0.91, False, entities=True)  # what the bot posts through the API
    assert "\u2022 line 3: `Insufficient memory`" in api
    assert "*Pods* stay &lt;Pending&gt; &amp; wait <https://airflow.apache.org|docs> rel (x.md)" in api
    assert "```\nkubectl get pods -o json | jq '.items[] | select(.a &gt; 1)'\n```" in api
    assert "[1] guide.md \u00a7 3. Debugging &gt; 3.1 Pod stuck in Pending (lines 34\u201335)" in api
    assert api.endswith("(confidence 0.91)._")
    pasted = render.slack_mrkdwn(text, 0.91, False)  # what a person pastes into the composer: no entities
    assert "*Pods* stay <Pending> & wait docs (https://airflow.apache.org) rel (x.md)" in pasted
    assert "```\nkubectl get pods -o json | jq '.items[] | select(.a > 1)'\n```" in pasted
    assert "3. Debugging > 3.1 Pod stuck in Pending" in pasted
    assert not re.search(r"&(amp|lt|gt|quot|#\d+);", pasted)
    assert "Declined" in render.slack_mrkdwn("The docs don't cover this.", 0.2, True)


HOSTILE_PASTES = [
    "Error: x` <!channel> [click here](https://evil.example) <https://evil.example> `y",
    "``double`` then ` single <!here> and <@U0ADMIN|admin> &amp; <!subteam^S01|ops>",
    "`starts with a backtick and ends with one`",
    "```fence``` [a](https://evil.example)```",
    "  padded  ",
]


@pytest.mark.parametrize("line", HOSTILE_PASTES)
def test_code_span_holds_any_line_whole(line: str):
    from lifecycle_bot.core.markdown import code_span, tokens

    (para,) = [t for t in tokens(code_span(line)) if t.type == "inline"]
    assert [c.type for c in para.children] == ["code_inline"]
    assert para.children[0].content == line


def _hostile_answer(line: str):
    from lifecycle_bot.core.types import Answer, Citation

    cite = Citation("guide.md", "3. Debugging > 3.1 Pod stuck in Pending", "31-pod-stuck-in-pending", 10, 20)
    finding = PasteFinding(2, line, "FailedScheduling", "scheduling", "pending", 1)
    return Answer("A pod stays **Pending** when no node fits [1].", citations=[cite], confidence=0.9,
                  paste_findings=[finding])


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        if tag == "a":
            self.hrefs += [v for k, v in attrs if k == "href"]


@pytest.mark.parametrize("line", HOSTILE_PASTES)
def test_a_pasted_line_cannot_become_a_link_in_the_web_answer(line: str):
    page = render.answer_html(_hostile_answer(line).text, turn=1, citation_count=1)
    links = _Links()
    links.feed(page)
    assert set(links.hrefs) == {"#cite-1-1"}  # the citation, nothing from the paste
    assert "<code>" in page


@pytest.mark.parametrize("line", HOSTILE_PASTES)
def test_a_pasted_line_cannot_ping_or_link_in_slack(line: str):
    from lifecycle_bot.faces.slack.app import answer_blocks

    reply = answer_blocks(_hostile_answer(line), "ref")  # what the bot posts: fallback text and blocks
    for out in [reply.text, *(json.dumps(b) for b in reply.blocks)]:
        for live in ("<!channel", "<!here", "<@U0ADMIN", "<!subteam", "<https://evil", "|click here>"):
            assert live not in out
    (note,) = [ln for ln in reply.text.splitlines() if "line 2" in ln]
    assert note.count("`") == 2  # one Slack code span around the whole line


def test_triage_evidence_quotes_the_line_whole():
    from lifecycle_bot.core.markdown import tokens
    from lifecycle_bot.render.triage import triage_markdown

    class Result:  # only what the renderer reads
        matched, title, failure_class, phase, confidence = True, "Pending", "scheduling", "pending", 0.9
        secondary, citations, checklist, missing, guesses, needs_human = [], [], [], [], [], False
        names = type("N", (), {"pod": None, "namespace": None, "dag_id": None, "task_id": None})()
        evidence = [type("E", (), {"line_no": 2, "line": HOSTILE_PASTES[0], "pod": "", "time": ""})()]

    md = triage_markdown(Result())
    codes = [c.content for t in tokens(md) if t.type == "inline" for c in t.children if c.type == "code_inline"]
    assert HOSTILE_PASTES[0] in codes
    assert "<https://evil" not in render.md_to_mrkdwn(md) and "<!channel" not in render.md_to_mrkdwn(md)
