"""Presentation shared by every face, pure functions only (no file system, no network):
the one HTML sanitiser and Markdown -> HTML (`html`), Excalidraw -> SVG (`svg`), the one Markdown -> Slack
mrkdwn converter (`slack`) and the triage renderer (`triage`). KB text and user text are treated as hostile.
"""

from lifecycle_bot.render.html import (answer_html, escape, for_chat, markdown_html, paste_html, question_html,
                                       sanitize, sources_html)
from lifecycle_bot.render.slack import md_to_mrkdwn, slack_mrkdwn
from lifecycle_bot.render.svg import excalidraw_svg
from lifecycle_bot.render.triage import triage_markdown

__all__ = ["answer_html", "escape", "excalidraw_svg", "for_chat", "markdown_html", "md_to_mrkdwn", "paste_html",
           "question_html", "sanitize", "slack_mrkdwn", "sources_html", "triage_markdown"]
