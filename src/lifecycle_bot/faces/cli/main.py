"""`lifecycle-bot`: index, ask, serve, slack, triage, eval, calibrate. A thin face over `Bot`.

Each command opens the bot with `Bot.open`, calls the core (or `triage`, `evaluation`), and turns what comes
back into output and exit codes; the other faces are started from here but never imported by name here
except to run them.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from lifecycle_bot.core.settings import Settings
from lifecycle_bot.faces.cli.common import (
    BotError,
    _bot,
    _check_kb,
    _open_bot_for_questions,
    _settings,
    progress_printer,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--kb", "kb_dir", type=click.Path(path_type=Path), help="Knowledge-base directory [default: kb].")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Where the index and feedback live [default: data].")
@click.option("--chroma-url", help="Use a Chroma server (e.g. http://127.0.0.1:8000) instead of the local index.")
@click.version_option(package_name="lifecycle-bot")
@click.pass_context
def main(ctx: click.Context, kb_dir: Path | None, data_dir: Path | None, chroma_url: str | None) -> None:
    """Answer questions about Airflow's KubernetesExecutor task lifecycle, with citations."""
    ctx.ensure_object(dict)
    try:
        settings = Settings()
    except ValueError as exc:  # a bad LIFECYCLE_BOT_* value
        raise BotError(str(exc)) from None
    ctx.obj["settings"] = settings.with_(kb_dir=kb_dir, data_dir=data_dir, chroma_url=chroma_url)


def llm_options(command):
    """`--llm ...` flags shared by every command that answers questions."""

    @click.option("--llm", type=click.Choice(["openai-compatible", "gguf", "none"]),
                  help="Generate answers with a model (checked against the docs) [default: extractive].")
    @click.option("--llm-url", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1 "
                                    "(key, if any, from LIFECYCLE_BOT_LLM_API_KEY).")
    @click.option("--llm-model", help="Model name the server knows.")
    @click.option("--llm-path", type=click.Path(dir_okay=False), help="GGUF file for --llm gguf.")
    @click.option("--llm-timeout", type=float, help="Seconds before falling back to the extractive answer [60].")
    @functools.wraps(command)
    def wrapper(*args, llm, llm_url, llm_model, llm_path, llm_timeout, **kwargs):
        ctx = click.get_current_context()
        settings = _settings(ctx).with_(llm_url=llm_url, llm_model=llm_model, llm_path=llm_path,
                                        llm_timeout=llm_timeout)
        if llm is not None:
            settings = settings.with_(llm=llm if llm != "none" else "")
        if settings.llm == "openai-compatible" and not (settings.llm_url and settings.llm_model):
            raise click.UsageError("--llm openai-compatible needs --llm-url and --llm-model")
        if settings.llm == "gguf" and not settings.llm_path:
            raise click.UsageError("--llm gguf needs --llm-path FILE.gguf")
        ctx.obj["settings"] = settings
        return command(*args, **kwargs)

    return wrapper


def _print_streamed(bot, question: str, history: list[str]) -> None:
    """Print checked sentences as the model writes them, then the sources."""
    from lifecycle_bot.core.types import Answer

    shown = False
    for event in bot.stream(question, history=history):
        if not isinstance(event, Answer):
            click.echo(event.text + " ", nl=False)
            shown = True
            continue
        if event.mode == "generated":  # the body was printed sentence by sentence: the rest now
            sources = "\n".join(event.sources)
            click.echo(f"\n\n{event.lead}\n\nSources:\n{sources}" if event.lead else f"\n\nSources:\n{sources}")
        else:
            if shown:
                click.echo("\n")
            click.echo(event.text)
        extra = f", {event.model}" if event.mode == "generated" else ""
        click.echo(f"\n({event.mode}{extra}; confidence {event.confidence:.2f}{', declined' if event.refused else ''})")
        if event.notice:
            click.echo(f"note: {event.notice}", err=True)


@main.command()
@click.option("--rebuild", is_flag=True, help="Re-embed everything (also repairs a corrupt index).")
@click.option("--wait", type=click.FloatRange(min=0), default=600.0, show_default=True,
              help="Seconds to wait when another index build is running.")
@click.pass_context
def index(ctx: click.Context, rebuild: bool, wait: float) -> None:
    """Build or update the index (only new or changed sections are embedded)."""
    from lifecycle_bot.core.index.store import IndexUnavailable

    settings = _settings(ctx)
    _check_kb(settings)
    bot = _bot(ctx)
    try:
        report = bot.index(rebuild=rebuild, progress=progress_printer(), wait=wait,
                           notify=lambda message: click.echo(f"note: {message}", err=True))
    except IndexUnavailable as exc:
        raise BotError(str(exc)) from None
    for error in bot.ingest_errors:
        click.echo(f"warning: {error}", err=True)
    if report.unchanged:
        click.echo(f"index up to date: {report.total} chunks, nothing embedded ({report.seconds:.2f}s)")
    else:
        kind = "full build" if report.full_rebuild else "update"
        click.echo(
            f"index {kind}: {report.total} chunks, {report.embedded} embedded, {report.reused} reused, "
            f"{report.removed} removed ({report.seconds:.2f}s)"
        )


@main.command()
@click.argument("question", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@click.option("--batch", type=click.Path(path_type=Path, dir_okay=False), help="JSONL file of {id, question, history}.")
@click.option("--history", multiple=True, help="An earlier question in the conversation (repeatable).")
@llm_options
@click.pass_context
def ask(ctx: click.Context, question: str | None, as_json: bool, batch: Path | None, history: tuple[str, ...]) -> None:
    """Ask a question (or '-' to read it from stdin); --batch answers a JSONL file."""
    from lifecycle_bot.core.bot import QuestionError

    if batch is None and question is None:
        raise click.UsageError("give a QUESTION, '-' for stdin, or --batch FILE")
    if question == "-":
        data = sys.stdin.buffer.read()
        try:
            question = data.decode("utf-8")
        except UnicodeDecodeError:
            raise BotError("the question on stdin is not UTF-8 text") from None
    if question is not None and batch is None:
        try:
            _bot(ctx).check(question, list(history))  # before the index loads (seconds)
        except QuestionError as exc:
            raise BotError(str(exc)) from None
        bot = _open_bot_for_questions(ctx)
        try:
            if as_json:
                click.echo(json.dumps(bot.ask(question, history=list(history)).to_dict(), ensure_ascii=False, indent=2))
            else:
                _print_streamed(bot, question, list(history))
        except QuestionError as exc:
            raise BotError(str(exc)) from None
        return
    from lifecycle_bot.core.jsonl import read_jsonl

    try:
        items = read_jsonl(batch, required=("id", "question"))
    except ValueError as exc:
        raise BotError(str(exc)) from None
    errors: dict[int, str] = {}
    for n, item in enumerate(items):  # every line checked before the index loads; a bad one costs only itself
        try:
            _bot(ctx).check(item["question"], item.get("history"))
        except QuestionError as exc:
            errors[n] = str(exc)
    bot = _open_bot_for_questions(ctx) if len(errors) < len(items) else _bot(ctx)
    for n, item in enumerate(items):
        try:
            if n in errors:
                raise QuestionError(errors[n])
            answer = bot.ask(item["question"], history=item.get("history"))
            out = {"id": item["id"], **answer.to_dict()}
        except QuestionError as exc:
            out = {"id": item["id"], "error": str(exc), "answer": "", "citations": [], "confidence": 0.0,
                   "refused": True}
        click.echo(json.dumps(out, ensure_ascii=False))


@main.command()
@click.argument("file", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--batch", type=click.Path(path_type=Path, dir_okay=False), help="JSONL of tickets ({id, text}).")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Write results to .jsonl or .csv.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def triage(ctx: click.Context, file: Path | None, batch: Path | None, out: Path | None, as_json: bool) -> None:
    """Triage a support ticket (FILE or '-' for stdin) or a batch of them."""
    from lifecycle_bot.faces.cli.triage import run_triage

    run_triage(ctx, file=file, batch=batch, out=out, as_json=as_json)


@main.command(name="triage-fit")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Where to write the model [default: the packaged src/lifecycle_bot/triage/model.json].")
@click.option("--no-kb", is_flag=True, help="Fit without the KB's own sections (no index needed).")
@click.option("--cv-only", is_flag=True, help="Only print the dev cross-validation; write nothing.")
@click.pass_context
def triage_fit(ctx: click.Context, out: Path | None, no_kb: bool, cv_only: bool) -> None:
    """Refit triage's classifier on the real dev tickets, eval/tickets.jsonl and the KB; print the
    leave-one-thread-out figures on dev and the reliability table. The holdout is never read."""
    from lifecycle_bot.evaluation.evaluate import EVAL_DIR
    from lifecycle_bot.evaluation.triage_model import build
    from lifecycle_bot.triage.model import MODEL_PATH

    bot = None if no_kb else _open_bot_for_questions(ctx)
    target = None if cv_only else (out or MODEL_PATH)
    report = build(EVAL_DIR.parent, bot, target)
    click.echo(json.dumps(report, indent=2))
    if target is not None:
        click.echo(f"wrote {target}", err=True)


@main.command(name="eval")
@click.option("--set", "eval_set", type=click.Path(path_type=Path, dir_okay=False), multiple=True,
              help="Eval JSONL file(s) [default: every set in eval/].")
@click.option("--gate", is_flag=True, help="Exit non-zero when a metric falls below eval/thresholds.toml.")
@click.option("--accept", is_flag=True, help="Record this run as eval/baseline.json (never done by CI).")
@click.option("--compare", is_flag=True, help="Also run the baseline pipelines and write eval/report.md.")
@llm_options
@click.pass_context
def eval_cmd(ctx: click.Context, eval_set: tuple[Path, ...], gate: bool, accept: bool, compare: bool) -> None:
    """Score the bot on known question/answer pairs."""
    from lifecycle_bot.evaluation.evaluate import EvalError, default_sets, run

    if not eval_set and not default_sets():
        raise BotError("no eval set found (expected eval/qa.jsonl)")
    bot = _open_bot_for_questions(ctx)
    try:
        failures = run(bot, list(eval_set), gate=gate, accept=accept, echo=click.echo)
    except EvalError as exc:
        raise BotError(str(exc)) from None
    if gate and failures:
        ctx.exit(1)
    if compare:
        from lifecycle_bot.evaluation.compare import write_report

        write_report(bot, list(eval_set))


@main.command()
@click.option("--set", "eval_set", type=click.Path(path_type=Path, dir_okay=False), multiple=True,
              help="Dev set(s) to fit on; a split set gives only its dev rows; never the holdout "
                   "[default: eval/qa.jsonl and the dev part of eval/real_questions.jsonl].")
@click.option("--support", "support_set", type=click.Path(path_type=Path, dir_okay=False),
              help="Instead, fit the citation-support check of generated answers on this labelled set "
                   "(eval/support.jsonl) and write support.json.")
@click.option("--ranker", is_flag=True,
              help="Instead, fit the section ranker on the dev set(s) and write ranker.json (leave-thread-out "
                   "figures printed beside the ranker in use). Refit the confidence model after it.")
@click.pass_context
def calibrate(ctx: click.Context, eval_set: tuple[Path, ...], support_set: Path | None, ranker: bool) -> None:
    """Refit the answer-confidence model on the dev set and write calibration.json to the data dir."""
    from lifecycle_bot.evaluation import calibrate as fit
    from lifecycle_bot.evaluation.evaluate import EvalError

    try:
        sets = list(eval_set) or [Path("eval/qa.jsonl"), Path("eval/real_questions.jsonl")]
        if support_set is None:
            for path in sets:
                fit.check_dev_set(path)
        bot = _open_bot_for_questions(ctx)
        if ranker:
            from lifecycle_bot.evaluation.rank_fit import fit_ranker

            model, out = fit_ranker(bot, sets, bot.settings.ranker_file)
            click.echo(f"fitted on {model.n} questions -> {out}")
            for name, figures in model.measured.items():
                for which, row in figures.items():
                    click.echo(f"  {name:<16} {which:<8} " + "  ".join(f"{k} {v}" for k, v in row.items()))
            return
        if support_set is not None:
            model, out = fit.calibrate_support(bot, support_set)
            click.echo(f"weight {model.weight} threshold {model.threshold} -> {out}")
            for name, r in model.measured.items():
                if name == "test_by_kind":
                    for kind, kr in r.items():
                        click.echo(f"  test {kind:<16} {kr}")
                else:
                    click.echo(f"{name}: {r}")
            return
        cal, accuracy, out, table = fit.calibrate(bot, sets)
    except EvalError as exc:
        raise BotError(str(exc)) from None
    click.echo(f"fitted on {cal.n} items; training accuracy {accuracy:.3f}")
    click.echo(f"weights {cal.weights} bias {cal.bias} -> {out}")
    click.echo("reliability (out of fold, folds by thread): bin  n  mean confidence  share answerable")
    for row in table:
        click.echo(f"  {row['bin']}  {row['n']:>4}  {row['confidence'] if row['n'] else '-':>6}  "
                   f"{row['answerable'] if row['n'] else '-':>6}")
