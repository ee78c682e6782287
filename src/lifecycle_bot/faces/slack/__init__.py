"""The Slack bot: Bolt handlers, thread history, Block Kit replies and votes (`app`)."""

from lifecycle_bot.faces.slack.app import SlackConfigError, build_app, http_server, run

__all__ = ["SlackConfigError", "build_app", "http_server", "run"]
