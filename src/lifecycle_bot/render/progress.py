"""Time left, said the way people read it: the CLI's build progress and the web app's first start share it."""

from __future__ import annotations


def eta_text(seconds: float) -> str:
    """A rough remaining time for people: "40 s", "3 min"."""
    if seconds < 90:
        return f"{max(5, round(seconds / 5) * 5):.0f} s"
    return f"{round(seconds / 60):.0f} min"
