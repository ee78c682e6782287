"""Triage benchmark: milliseconds per ticket over every ticket in eval/ (synthetic and real, texts never printed).

Run: .venv/bin/python bench/bench_triage.py [--kb kb] [--data-dir data] [--runs 3]
Three figures per ticket, each the median over --runs passes after one warm-up pass:
  classify   read_ticket: names, signals, the rule and the learned model (no KB)
  triage     the whole report without the KB (evidence, steps with placeholders, missing facts)
  report     triage with the KB (sections, commands quoted from the KB) rendered as Markdown and Slack mrkdwn
Target (issue 15): <= 10 ms a ticket.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tickets() -> list[str]:
    texts = []
    for name in ("tickets.jsonl", "real_tickets.jsonl"):
        for line in (ROOT / "eval" / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                texts.append(json.loads(line)["text"])
    return texts


def per_ticket_ms(fn, texts: list[str], runs: int) -> dict[str, float]:
    fn_all = lambda: [fn(t) for t in texts]  # noqa: E731
    fn_all()  # warm-up: caches, the model file, the KB's sections per signature
    samples: list[float] = []
    for _ in range(runs):
        for t in texts:
            started = time.perf_counter()
            fn(t)
            samples.append(1000 * (time.perf_counter() - started))
    samples.sort()
    return {"mean": round(statistics.fmean(samples), 3), "p50": round(samples[len(samples) // 2], 3),
            "p95": round(samples[int(0.95 * (len(samples) - 1))], 3), "max": round(samples[-1], 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kb", type=Path, default=ROOT / "kb")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from lifecycle_bot.render.slack import md_to_mrkdwn
    from lifecycle_bot.render.triage import triage_markdown
    from lifecycle_bot.triage.engine import read_ticket, triage

    texts = tickets()
    out = {"tickets": len(texts), "runs": args.runs,
           "classify_ms": per_ticket_ms(read_ticket, texts, args.runs),
           "triage_ms": per_ticket_ms(triage, texts, args.runs)}
    try:
        from lifecycle_bot.core.bot import Bot
        from lifecycle_bot.core.settings import Settings

        bot = Bot(Settings(kb_dir=args.kb, data_dir=args.data_dir))
        bot.open()

        def report(text: str) -> None:
            md = triage_markdown(triage(text, bot))
            md_to_mrkdwn(md)

        out["report_ms"] = per_ticket_ms(report, texts, args.runs)
    except Exception as exc:  # no index: the KB figure is skipped, the others stand
        out["report_ms"] = f"skipped: {type(exc).__name__}: {exc}"
    print(json.dumps(out, indent=2))
    worst = max(v["p50"] for v in out.values() if isinstance(v, dict))
    sys.exit(0 if worst <= 10.0 else 1)


if __name__ == "__main__":
    main()
