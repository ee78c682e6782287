"""`lifecycle-bot triage FILE|-` and `--batch tickets.jsonl [--out results.jsonl|.csv]`."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

import click

from lifecycle_bot.faces.cli.common import BotError, _open_bot_for_questions
from lifecycle_bot.render.triage import triage_markdown
from lifecycle_bot.triage.batch import _row, read_tickets, triage_batch, write_results
from lifecycle_bot.triage.engine import TriageResult, triage


def _print_result(result: TriageResult, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(triage_markdown(result))


def run_triage(ctx, file: Path | None, batch: Path | None, out: Path | None, as_json: bool) -> None:
    """`lifecycle-bot triage FILE|-` or `--batch tickets.jsonl [--out results.jsonl|.csv]`."""

    if (file is None) == (batch is None):
        raise click.UsageError("give a ticket FILE ('-' for stdin) or --batch tickets.jsonl")
    if batch is not None:
        try:
            items = read_tickets(batch)
        except ValueError as exc:
            raise BotError(str(exc)) from None
        bot = _open_bot_for_questions(ctx)
        started = time.perf_counter()
        rows = triage_batch(items, bot)
        seconds = time.perf_counter() - started
        if out is not None:
            write_results(rows, out)
        else:
            for row in rows:
                click.echo(json.dumps(row, ensure_ascii=False))
        counts = Counter(r["failure_class"] for r in rows)
        labelled = [r for r in rows if "label_class" in r]
        score = ""
        if labelled:
            acc = sum(r["label_class"] == r["failure_class"] for r in labelled) / len(labelled)
            score = f", accuracy {acc:.3f} on {len(labelled)} labelled"
        click.echo(f"triaged {len(rows)} tickets in {seconds:.2f}s ({1000 * seconds / max(len(rows), 1):.1f} ms/ticket)"
                   f"{score}; classes: {dict(counts.most_common())}" + (f"; wrote {out}" if out else ""), err=True)
        return
    if str(file) == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            data = Path(file).read_bytes()
        except OSError as exc:
            raise BotError(f"cannot read {file}: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BotError(f"{file} is not UTF-8 text") from None
    if not text.strip():
        raise BotError("the ticket is empty")
    bot = _open_bot_for_questions(ctx)
    result = triage(text, bot)
    if out is not None:
        write_results([_row({"id": Path(str(file)).stem}, result)], out)
    _print_result(result, as_json)
