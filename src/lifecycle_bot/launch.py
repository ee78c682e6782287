"""The `lifecycle-bot` console script: the composition root, and the only module that knows every face.

It takes the CLI face's command group and adds the two commands that start the other faces (`serve` for
the web app, `slack` for the Slack bot), so no face imports another.
"""

from __future__ import annotations

import click

from lifecycle_bot.faces.cli.common import BotError, _check_kb, _settings
from lifecycle_bot.faces.cli.main import llm_options, main


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=7860, show_default=True, type=int)
@click.option("--open-browser/--no-browser", default=False, help="Open the page in a browser once it is up.")
@llm_options
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, open_browser: bool) -> None:
    """Open the Gradio app (builds the index first if there is none)."""
    _check_kb(_settings(ctx))
    from lifecycle_bot.faces.web import serve as run_ui

    run_ui(_settings(ctx), host=host, port=port, open_browser=open_browser)


@main.command()
@click.option("--port", default=3000, show_default=True, type=int, help="HTTP mode port.")
@llm_options
@click.pass_context
def slack(ctx: click.Context, port: int) -> None:
    """Run the Slack bot (Socket Mode with SLACK_APP_TOKEN, else HTTP mode with SLACK_SIGNING_SECRET)."""
    _check_kb(_settings(ctx))
    from lifecycle_bot.core.index.store import IndexUnavailable
    from lifecycle_bot.faces.slack import SlackConfigError
    from lifecycle_bot.faces.slack import run as run_slack

    try:
        run_slack(_settings(ctx), port=port)
    except (SlackConfigError, IndexUnavailable) as exc:
        raise BotError(str(exc)) from None


__all__ = ["main"]
