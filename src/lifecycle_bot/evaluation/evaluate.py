"""The eval harness: score the bot on known Q&A pairs, gate releases, diff against the baseline.

No click here: `run` reports through an `echo(text, err=False)` callable and raises `EvalError`; the CLI face
turns those into output and exit codes. Eval files resolve against the project root, not the working directory.
"""

from __future__ import annotations

import json
import os
import time
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from collections.abc import Callable

from lifecycle_bot.evaluation import metrics as M


class EvalError(ValueError):
    """The eval cannot run as asked (a missing or malformed set, --accept with a model)."""


def project_root() -> Path:
    """The checkout that holds eval/ (LIFECYCLE_BOT_ROOT overrides; an installed package falls back to the CWD)."""
    if os.environ.get("LIFECYCLE_BOT_ROOT"):
        return Path(os.environ["LIFECYCLE_BOT_ROOT"])
    here = Path(__file__).resolve().parents[3]
    return here if (here / "eval").is_dir() else Path.cwd()


def resolve(path: Path) -> Path:
    """A user's path as given when it exists from the CWD, else relative to the project root."""
    path = Path(path)
    if path.is_absolute() or path.exists():
        return path
    return project_root() / path


EVAL_DIR = project_root() / "eval"
DEFAULT_SETS = (EVAL_DIR / "qa.jsonl", EVAL_DIR / "holdout.jsonl")
THRESHOLDS = EVAL_DIR / "thresholds.toml"
BASELINE = EVAL_DIR / "baseline.json"
TICKETS = EVAL_DIR / "tickets.jsonl"

METRICS = ("hit@1", "hit@5", "mrr", "ndcg@5", "key_fact_recall", "citation_precision",
           "refusal_precision", "refusal_recall", "latency_p50_ms", "latency_p95_ms")


def load_items(path: Path) -> list[dict]:
    from lifecycle_bot.core.jsonl import read_jsonl

    try:
        return read_jsonl(resolve(path), required=("id", "question"))
    except ValueError as exc:
        raise EvalError(str(exc)) from None


@dataclass
class ItemResult:
    id: str
    category: str
    answerable: bool
    refused: bool
    ranked: list[dict]
    citations: list[dict]
    key_facts_found: list[bool]
    latency_ms: float
    confidence: float
    answer: str = field(repr=False, default="")
    mode: str = "extractive"

    @property
    def passed(self) -> bool:
        if not self.answerable:
            return self.refused
        return (not self.refused) and self.hit5 == 1.0 and all(self.key_facts_found)

    hit5: float = 0.0


def _section(hit) -> dict:
    c = hit.chunk
    return {"file": c.file, "anchor": c.anchor, "heading_path": c.heading_path}


def run_item(bot, item: dict) -> ItemResult:
    from lifecycle_bot.core.bot import QuestionError

    expected = item.get("expected") or []
    started = time.perf_counter()
    try:
        answer = bot.ask(item["question"], history=item.get("history") or [])
    except QuestionError:
        return ItemResult(item["id"], item.get("category", ""), bool(expected), True, [], [], [], 0.0, 0.0)
    latency = (time.perf_counter() - started) * 1000
    ranked = [_section(h) for h in answer.hits]
    citations = [c.to_dict() for c in answer.citations]
    facts = [M.key_fact_found(f, answer.text) for f in item.get("key_facts") or []]
    result = ItemResult(item["id"], item.get("category", ""), bool(expected), answer.refused, ranked, citations,
                        facts, latency, answer.confidence, answer.text, answer.mode)
    result.hit5 = M.hit_at(ranked, expected, 5) if expected else 0.0
    return result


def score(results: list[ItemResult], items: dict[str, dict]) -> dict[str, float]:
    answerable = [r for r in results if r.answerable]
    out: dict[str, float] = {"n": float(len(results)), "answerable": float(len(answerable))}
    if answerable:
        exp = {r.id: items[r.id].get("expected") or [] for r in answerable}
        out["hit@1"] = sum(M.hit_at(r.ranked, exp[r.id], 1) for r in answerable) / len(answerable)
        out["hit@5"] = sum(M.hit_at(r.ranked, exp[r.id], 5) for r in answerable) / len(answerable)
        out["mrr"] = sum(M.reciprocal_rank(r.ranked, exp[r.id]) for r in answerable) / len(answerable)
        out["ndcg@5"] = sum(M.ndcg_at(r.ranked, exp[r.id], 5) for r in answerable) / len(answerable)
        facts = [f for r in answerable for f in (r.key_facts_found if not r.refused else [False] * len(r.key_facts_found))]
        out["key_fact_recall"] = sum(facts) / len(facts) if facts else 1.0
        answered = [r for r in answerable if not r.refused]
        out["citation_precision"] = (
            sum(M.citation_precision(r.citations, exp[r.id]) for r in answered) / len(answered) if answered else 0.0
        )
    p, rc = M.refusal_scores([(not r.answerable, r.refused) for r in results])
    out["refusal_precision"], out["refusal_recall"] = p, rc
    lat = [r.latency_ms for r in results if r.latency_ms]
    out["latency_p50_ms"] = M.percentile(lat, 50)
    out["latency_p95_ms"] = M.percentile(lat, 95)
    return out


def evaluate_set(bot, path: Path) -> tuple[list[ItemResult], dict[str, float], dict[str, dict[str, float]]]:
    items = load_items(path)
    by_id = {i["id"]: i for i in items}
    results = [run_item(bot, item) for item in items]
    overall = score(results, by_id)
    if bot.settings.llm:  # how often the model's answer passed the citation check (else: extractive fallback)
        answered = [r for r in results if r.answerable and not r.refused]
        overall["generated_share"] = sum(r.mode == "generated" for r in answered) / len(answered) if answered else 0.0
    groups: dict[str, list[ItemResult]] = defaultdict(list)
    for r in results:
        groups[r.category].append(r)
    per_category = {cat: score(rs, by_id) for cat, rs in sorted(groups.items())}
    return results, overall, per_category


def format_table(title: str, rows: dict[str, dict[str, float]]) -> str:
    cols = ("n",) + METRICS
    head = f"{title:<22}" + "".join(f"{c:>19}" for c in cols)
    lines = [head, "-" * len(head)]
    for name, row in rows.items():
        cells = []
        for c in cols:
            v = row.get(c)
            if v is None:
                cells.append(f"{'-':>19}")
            elif c == "n" or c.startswith("latency"):
                cells.append(f"{v:>19.0f}" if c == "n" else f"{v:>19.1f}")
            else:
                cells.append(f"{v:>19.3f}")
        lines.append(f"{name:<22}" + "".join(cells))
    return "\n".join(lines)


def check_gate(name: str, overall: dict[str, float], thresholds: dict) -> list[str]:
    failures = []
    for metric, bound in thresholds.get(name, {}).items():
        value = overall.get(metric)
        if value is None:
            failures.append(f"{name}: {metric} missing")
        elif metric.startswith("latency") and value > bound:
            failures.append(f"{name}: {metric} = {value:.1f} > {bound}")
        elif not metric.startswith("latency") and value < bound:
            failures.append(f"{name}: {metric} = {value:.3f} < {bound}")
    return failures


def failing_questions(results: list[ItemResult], items: dict[str, dict]) -> list[str]:
    out = []
    for r in results:
        if r.passed:
            continue
        item = items[r.id]
        if not r.answerable:
            why = "answered but should decline"
        elif r.refused:
            why = "declined but is answerable"
        elif r.hit5 < 1:
            why = "expected section not in top 5"
        else:
            missing = [f for f, ok in zip(item.get("key_facts") or [], r.key_facts_found) if not ok]
            why = f"missing key facts {missing}"
        out.append(f"  {r.id} [{r.category}] {why}: {item['question'][:90]!r}")
    return out


def baseline_diff(set_name: str, results: list[ItemResult], baseline: dict) -> list[str]:
    before = baseline.get(set_name, {})
    lines = []
    for r in results:
        if r.id not in before:
            continue
        if before[r.id] and not r.passed:
            lines.append(f"  pass -> FAIL  {r.id}")
        elif not before[r.id] and r.passed:
            lines.append(f"  fail -> pass  {r.id}")
    return lines


def default_sets() -> list[Path]:
    return [p for p in DEFAULT_SETS if p.exists()]


Echo = Callable[..., None]


def run(bot, sets: list[Path], gate: bool, accept: bool = False, triage: bool = True,
        echo: Echo = lambda text="", err=False: None) -> list[str]:
    """Score every set, print the tables, diff against the baseline; returns the gate failures."""
    sets = [resolve(p) for p in sets] or default_sets()
    if not sets:
        raise EvalError("no eval set found (expected eval/qa.jsonl)")
    if accept and bot.settings.llm:
        raise EvalError("--accept records the extractive baseline; run it without --llm")
    if bot.settings.llm:
        echo(f"LLM mode: {bot.settings.llm} {bot.settings.llm_model or bot.settings.llm_path} "
                   f"(answers that fail the citation check fall back to extractive)")
    thresholds = tomllib.loads(THRESHOLDS.read_text()) if THRESHOLDS.exists() else {}
    baseline = json.loads(BASELINE.read_text()) if BASELINE.exists() else {}
    failures: list[str] = []
    accepted: dict[str, dict[str, bool]] = {}
    for path in sets:
        name = path.stem
        items = {i["id"]: i for i in load_items(path)}
        results, overall, per_category = evaluate_set(bot, path)
        echo(format_table(f"{name} (overall)", {"overall": overall, **per_category}))
        if "generated_share" in overall:
            echo(f"{name}: generated (passed the citation check) {overall['generated_share']:.3f} of answers")
        echo("")
        diff = baseline_diff(name, results, baseline)
        if diff:
            echo(f"{name}: changes against eval/baseline.json")
            echo("\n".join(diff))
        gate_failures = check_gate(name, overall, thresholds)
        if gate_failures:
            failures += gate_failures
        bad = failing_questions(results, items)
        if bad:
            echo(f"{name}: {len(bad)} question(s) not fully passed")
            echo("\n".join(bad))
        echo("")
        accepted[name] = {r.id: r.passed for r in results}
    if triage and TICKETS.exists():
        from lifecycle_bot.evaluation.tickets import score_tickets

        t = score_tickets(TICKETS, bot=bot)
        row = {"accuracy": t["accuracy"], "macro_f1": t["macro_f1"]}
        echo(f"triage ({TICKETS.relative_to(project_root()).as_posix()}): accuracy {t['accuracy']:.3f}  macro-F1 {t['macro_f1']:.3f}  n={t.get('n', '?')}")
        failures += check_gate("tickets", row, thresholds)
    if accept:
        BASELINE.write_text(json.dumps(accepted, indent=1, sort_keys=True) + "\n")
        echo(f"baseline written to {BASELINE.relative_to(project_root()).as_posix()}")
    if gate:
        if failures:
            echo("GATE FAILED:\n  " + "\n  ".join(failures), err=True)
        else:
            echo("gate passed")
    return failures
