"""What every CLI command shares: the error type, the settings and the opened bot."""

from __future__ import annotations

from collections.abc import Callable

import click

from lifecycle_bot.core.settings import Settings
from lifecycle_bot.render.progress import eta_text


class BotError(click.ClickException):
    """Shown as `Error: ...` with exit code 1 and no traceback."""


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj["settings"]


def _bot(ctx: click.Context):
    from lifecycle_bot.core.bot import Bot

    if "bot" not in ctx.obj:
        ctx.obj["bot"] = Bot(_settings(ctx))
    return ctx.obj["bot"]


def _check_kb(settings: Settings) -> None:
    if not settings.kb_dir.is_dir():
        raise BotError(f"knowledge-base directory not found: {settings.kb_dir} (set --kb or LIFECYCLE_BOT_KB)")


def progress_printer(label: str = "embedding") -> Callable[[int, int], None]:
    """A `progress(done, total)` that prints "embedding: 512/2,487 sections and sentences, about 40 s left" to
    stderr, so a long build is seen to move; a build of one batch or less prints nothing."""
    import time

    started: list[float] = []

    def show(done: int, total: int) -> None:
        if total <= 64:
            return
        now = time.monotonic()
        if not started or done == 0:
            started[:] = [now]
        left = ""
        if 0 < done < total and now - started[0] > 1:
            left = f", about {eta_text((now - started[0]) / done * (total - done))} left"
        click.echo(f"{label}: {done:,}/{total:,} sections and sentences{left}", err=True)

    return show


def _open_bot_for_questions(ctx: click.Context):
    from lifecycle_bot.core.index.store import IndexUnavailable

    settings = _settings(ctx)
    _check_kb(settings)
    bot = _bot(ctx)
    try:
        report = bot.open(progress=progress_printer("building the index"))
        if report is not None:
            click.echo(f"built the index: {report.total} chunks ({report.seconds:.1f}s)", err=True)
    except IndexUnavailable as exc:
        raise BotError(str(exc)) from None
    return bot
