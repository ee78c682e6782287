"""The `lifecycle-bot` command line (click)."""

from lifecycle_bot.faces.cli.main import main

__all__ = ["main"]
