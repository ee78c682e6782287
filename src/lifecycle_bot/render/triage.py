"""The triage renderer: a `TriageResult` as Markdown, for the web app's Triage tab, the CLI and Slack
(converted to mrkdwn by `render.slack`, the one converter).

Every code block is a top-level fence on its own lines (`core.markdown.code_block`), so it renders the same
in CommonMark, in Gradio and after the Slack conversion; a step's KB source sits on the step's own line.
Cited sections link to `#section-<id>`, the address the web app's viewer opens (`section_link`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lifecycle_bot.core.markdown import code_block, code_span
from lifecycle_bot.core.types import section_id

if TYPE_CHECKING:  # pragma: no cover
    from lifecycle_bot.core.types import Citation
    from lifecycle_bot.triage.engine import TriageResult

SECTION_PREFIX = "#section-"


def section_link(c: Citation) -> str:
    """`[label](#section-<id>)`: the web app opens the section in its viewer; elsewhere the label is the reference."""
    label = c.label().replace("[", "(").replace("]", ")")
    return f"[{label}]({SECTION_PREFIX}{section_id(c.file, c.anchor or c.heading_path)})"


def _names_line(result: TriageResult) -> str:
    n = result.names
    parts = [f"{k} {code_span(v)}" for k, v in (("pod", n.pod), ("namespace", n.namespace), ("DAG", n.dag_id),
                                                ("task", n.task_id)) if v]
    return "Ticket names: " + ", ".join(parts) if parts else "The ticket names no pod, namespace, DAG or task."


def triage_markdown(result: TriageResult) -> str:
    """Markdown for the UI's Triage tab and for Slack (converted to mrkdwn there)."""
    out: list[str] = []
    if result.matched:
        out.append(f"**{result.title}** (`{result.failure_class}`), phase **{result.phase}**, "
                   f"confidence {result.confidence:.2f}")
    else:
        out.append("**None of the known failure classes** fits this ticket well; the nearest guesses and "
                   "sections are below.")
    if result.needs_human:
        out.append("")
        out.append(f"**Needs a human**: the classifier is not sure (confidence {result.confidence:.2f}).")
    if result.guesses:
        out.append("")
        out.append("Nearest other classes: " + ", ".join(f"`{g.failure_class}` {g.probability:.2f}"
                                                          for g in result.guesses))
    out += ["", _names_line(result)]
    if result.evidence:
        out += ["", "**Evidence**"]
        for e in result.evidence:
            where = f" (pod {code_span(e.pod)})" if e.pod else ""
            when = f" at {e.time}" if e.time else ""
            out.append(f"- line {e.line_no}{where}{when}: {code_span(_shorten(e.line))}")
    if result.secondary:
        out += ["", "**Also seen** (not the root cause)"]
        for s in result.secondary:
            lines = ", ".join(str(e.line_no) for e in s.evidence)
            out.append(f"- `{s.failure_class}` ({s.phase})" + (f", line {lines}" if lines else ""))
    if result.citations:
        out += ["", "**Read**"] + [f"- {section_link(c)}" for c in result.citations]
    if result.checklist:
        out += ["", "**Next steps**"]
        for n, item in enumerate(result.checklist, start=1):
            src = f" (KB {item.source})" if item.source else (" (not from the KB)" if item.command else "")
            out += ["", f"{n}. {item.text}{src}"]
            if item.command:
                out += ["", code_block(item.command)]
    if result.missing:
        out += ["", "**Still missing to decide**"] + [f"- {m}" for m in result.missing]
    return "\n".join(out)


def _shorten(line: str, width: int = 240) -> str:
    return line if len(line) <= width else line[: width - 3] + "..."
