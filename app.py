"""`python app.py [options]` is `lifecycle-bot serve`: the Gradio app on http://127.0.0.1:7860.

Accepts the group options (--kb, --data-dir, --chroma-url) and the serve options (--host,
--port, --open-browser) in any order, so hosting platforms that run `python app.py` just work.
"""

from __future__ import annotations

import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent / "src"
if SRC.is_dir() and str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))  # a plain checkout works without `pip install -e .`

GROUP_OPTIONS = ("--kb", "--data-dir", "--chroma-url")


def split_args(argv: list[str]) -> list[str]:
    """Reorder argv into `[group options] serve [serve options]` for the click CLI."""
    group: list[str] = []
    rest: list[str] = []
    args = iter(argv)
    for arg in args:
        name = arg.split("=", 1)[0]
        if name in GROUP_OPTIONS:
            group.append(arg)
            if "=" not in arg:
                group.append(next(args, ""))
        else:
            rest.append(arg)
    return [*group, "serve", *rest]


def main() -> None:
    from lifecycle_bot.launch import main as cli

    cli(args=split_args(sys.argv[1:]), prog_name="app.py", obj={})


if __name__ == "__main__":
    main()
