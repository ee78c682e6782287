"""The triage renderer: a `TriageResult` as Markdown, for the web app's Triage tab, the CLI and Slack
(converted to mrkdwn by `render.slack`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lifecycle_bot.core.markdown import code_span

if TYPE_CHECKING:  # pragma: no cover
    from lifecycle_bot.triage.engine import TriageResult


def triage_markdown(result: TriageResult) -> str:
    """Markdown for the UI's Triage tab and for Slack (converted to mrkdwn there)."""
    out: list[str] = []
    if result.matched:
        out.append(f"**{result.title}** (`{result.failure_class}`), phase **{result.phase}**, "
                   f"confidence {result.confidence:.2f}")
    else:
        out.append("**No known failure signature** in this ticket; the nearest sections are cited below.")
    if result.evidence:
        out += ["", "**Evidence**"] + [f"- line {e.line_no}: {code_span(_shorten(e.line))}" for e in result.evidence]
    if result.secondary:
        out += ["", "**Also seen** (not the root cause by the precedence rule)"]
        for s in result.secondary:
            lines = ", ".join(str(e.line_no) for e in s.evidence)
            out.append(f"- `{s.failure_class}` ({s.phase}), line {lines}")
    if result.citations:
        out += ["", "**Read**"] + [f"- {c.label()}" for c in result.citations]
    if result.checklist:
        out += ["", "**Next steps**"]
        for n, item in enumerate(result.checklist, start=1):
            out.append(f"{n}. {item.text}")
            if item.command:
                src = f" (KB {item.source})" if item.source else " (not from the KB)"
                out.append(f"   ```\n   {item.command.replace(chr(10), chr(10) + '   ')}\n   ```{src}")
    if result.missing:
        out += ["", "**Still missing to decide**"] + [f"- {m}" for m in result.missing]
    return "\n".join(out)


def _shorten(line: str, width: int = 240) -> str:
    return line if len(line) <= width else line[: width - 3] + "..."
