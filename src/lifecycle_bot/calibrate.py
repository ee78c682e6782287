"""Fit the answer-confidence model on the dev eval set (answerable = 1, must-decline = 0)."""

from __future__ import annotations

from pathlib import Path

import click

from lifecycle_bot import confidence as conf
from lifecycle_bot.evaluate import load_items


def feature_rows(bot, items: list[dict]) -> list[tuple[dict[str, float], int]]:
    rows = []
    for item in items:
        analysis = bot.analyse(item["question"], history=item.get("history") or [])
        rows.append((analysis.features, 1 if item.get("expected") else 0))
    return rows


def cli_calibrate(ctx: click.Context, eval_set: Path) -> None:
    from lifecycle_bot.cli import _open_bot_for_questions

    if "holdout" in eval_set.name:
        raise click.ClickException("the holdout set is never used for fitting")
    bot = _open_bot_for_questions(ctx)
    rows = feature_rows(bot, load_items(eval_set))
    cal = conf.fit(rows)
    cal.fitted_on = eval_set.as_posix()
    conf.save(cal)
    correct = sum((cal.predict(x) >= bot.settings.refusal_threshold) == bool(y) for x, y in rows)
    click.echo(f"fitted on {len(rows)} items; training accuracy {correct / len(rows):.3f}")
    click.echo(f"weights {cal.weights} bias {cal.bias} -> {conf.CALIBRATION_FILE}")
