"""The eval harness: score the bot on known Q&A pairs, gate releases, diff against the baseline.

No click here: `run` reports through an `echo(text, err=False)` callable and raises `EvalError`; the CLI face
turns those into output and exit codes. Eval files resolve against the project root, not the working directory.
"""

from __future__ import annotations

import functools
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
    """A user's path as given when it exists from the CWD, else relative to the project root; a bare set name
    ("real_tickets", "tickets", "qa") names eval/<name>.jsonl."""
    path = Path(path)
    if path.is_absolute() or path.exists():
        return path
    if len(path.parts) == 1 and not path.suffix and (project_root() / "eval" / f"{path}.jsonl").exists():
        return project_root() / "eval" / f"{path}.jsonl"
    return project_root() / path


EVAL_DIR = project_root() / "eval"
REAL_QUESTIONS = EVAL_DIR / "real_questions.jsonl"
DEFAULT_SETS = (EVAL_DIR / "qa.jsonl", EVAL_DIR / "holdout.jsonl", REAL_QUESTIONS)
THRESHOLDS = EVAL_DIR / "thresholds.toml"
BASELINE = EVAL_DIR / "baseline.json"
TICKETS = EVAL_DIR / "tickets.jsonl"
REAL_TICKETS = EVAL_DIR / "real_tickets.jsonl"
TICKET_SETS = (TICKETS, REAL_TICKETS)

METRICS = ("hit@1", "hit@3", "hit@5", "mrr", "ndcg@5", "key_fact_recall", "key_fact_recall_cited",
           "citation_precision", "refusal_precision", "refusal_recall", "in_scope_declined",
           "out_of_scope_declined", "latency_p50_ms", "latency_p95_ms")
HOLDOUT_SHARE = 3  # one source thread in three goes to the holdout part of a real set


def thread_key(source: str) -> str:
    """The thread a URL belongs to: comment anchors, queries and issue/PR spelling do not make a new thread."""
    from urllib.parse import urlsplit

    parts = urlsplit(source.strip())
    host = parts.netloc.lower().removeprefix("www.")
    segs = [s for s in parts.path.split("/") if s]
    if host == "github.com" and len(segs) >= 4 and segs[2] in ("issues", "pull", "discussions"):
        kind = "discussions" if segs[2] == "discussions" else "issues"
        segs = [segs[0].lower(), segs[1].lower(), kind, segs[3]]
    elif host.endswith("stackoverflow.com") or host.endswith("stackexchange.com"):
        if len(segs) >= 2 and segs[0] in ("questions", "q", "a"):
            segs = ["questions", segs[1]]
    return "/".join([host, *segs]).rstrip("/")


def split_of(source: str) -> str:
    """"dev" or "holdout", fixed by the source thread alone, so no thread feeds both parts of any set."""
    import hashlib

    digest = hashlib.sha256(thread_key(source).encode()).hexdigest()
    return "holdout" if int(digest, 16) % HOLDOUT_SHARE == 0 else "dev"


def set_parts(path: Path, items: list[dict]) -> list[tuple[str, list[dict]]]:
    """A set whose rows carry a `split` is scored as two sets, `<name>_dev` and `<name>_holdout`."""
    if not any("split" in i for i in items):
        return [(path.stem, items)]
    parts = []
    for split in ("dev", "holdout"):
        rows = [i for i in items if i.get("split") == split]
        if rows:
            parts.append((f"{path.stem}_{split}", rows))
    return parts


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
    key_facts_with_cited: list[bool] = field(default_factory=list)
    scored: bool = True  # False for a kb_gap row the KB cannot answer yet: reported, not scored
    hit5: float = 0.0

    @property
    def passed(self) -> bool:
        if not self.scored:
            return True
        if not self.answerable:
            return self.refused
        return (not self.refused) and self.hit5 == 1.0 and all(self.key_facts_found)


def _section(hit) -> dict:
    c = hit.chunk
    return {"file": c.file, "anchor": c.anchor, "heading_path": c.heading_path}


@functools.lru_cache(maxsize=64)
def _file_lines(path: str, mtime_ns: int) -> tuple[str, ...]:
    """A KB file's lines, read once per version of the file (every question of a set cites the same few)."""
    return tuple(Path(path).read_text(encoding="utf-8").splitlines())


def cited_text(kb_dir: Path, citations: list[dict]) -> str:
    """The KB lines the answer cites, read from the files: what a reader sees on opening the citations."""
    out = []
    for c in citations:
        path = Path(kb_dir) / c["file"]
        try:
            lines = _file_lines(str(path), path.stat().st_mtime_ns)
        except (OSError, UnicodeDecodeError):
            continue
        out.append("\n".join(lines[max(0, c["start_line"] - 1): c["end_line"]]))
    return "\n\n".join(out)


def run_item(bot, item: dict) -> ItemResult:
    from lifecycle_bot.core.bot import QuestionError

    expected = item.get("expected") or []
    scored = bool(expected) or not item.get("kb_gap")
    started = time.perf_counter()
    try:
        answer = bot.ask(item["question"], history=item.get("history") or [])
    except QuestionError:
        return ItemResult(item["id"], item.get("category", ""), bool(expected), True, [], [], [], 0.0, 0.0,
                          scored=scored)
    latency = (time.perf_counter() - started) * 1000
    ranked = [_section(h) for h in answer.hits]
    citations = [c.to_dict() for c in answer.citations]
    key_facts = item.get("key_facts") or []
    facts = [M.key_fact_found(f, answer.text) for f in key_facts]
    with_cited = answer.text + "\n\n" + cited_text(bot.settings.kb_dir, citations) if citations else answer.text
    result = ItemResult(item["id"], item.get("category", ""), bool(expected), answer.refused, ranked, citations,
                        facts, latency, answer.confidence, answer.text, answer.mode,
                        key_facts_with_cited=[M.key_fact_found(f, with_cited) for f in key_facts], scored=scored)
    result.hit5 = M.hit_at(ranked, expected, 5) if expected else 0.0
    return result


def _fact_share(rows: list[ItemResult], attr: str) -> float:
    facts = [f for r in rows for f in (getattr(r, attr) if not r.refused else [False] * len(getattr(r, attr)))]
    return sum(facts) / len(facts) if facts else 1.0


def score(results: list[ItemResult], items: dict[str, dict]) -> dict[str, float]:
    """Set-level figures over scored rows (a kb_gap row without an expected section is only counted)."""
    gaps = [r for r in results if not r.scored]
    results = [r for r in results if r.scored]
    answerable = [r for r in results if r.answerable]
    declinable = [r for r in results if not r.answerable]
    out: dict[str, float] = {"n": float(len(results)), "answerable": float(len(answerable))}
    if gaps:
        out["kb_gap"] = float(len(gaps))
    if answerable:
        exp = {r.id: items[r.id].get("expected") or [] for r in answerable}
        for k in (1, 3, 5):
            out[f"hit@{k}"] = sum(M.hit_at(r.ranked, exp[r.id], k) for r in answerable) / len(answerable)
        out["mrr"] = sum(M.reciprocal_rank(r.ranked, exp[r.id]) for r in answerable) / len(answerable)
        out["ndcg@5"] = sum(M.ndcg_at(r.ranked, exp[r.id], 5) for r in answerable) / len(answerable)
        out["key_fact_recall"] = _fact_share(answerable, "key_facts_found")
        out["key_fact_recall_cited"] = _fact_share(answerable, "key_facts_with_cited")
        answered = [r for r in answerable if not r.refused]
        out["citation_precision"] = (
            sum(M.citation_precision(r.citations, exp[r.id]) for r in answered) / len(answered) if answered else 0.0
        )
        out["in_scope_declined"] = sum(r.refused for r in answerable) / len(answerable)
    if declinable:
        out["out_of_scope_declined"] = sum(r.refused for r in declinable) / len(declinable)
    p, rc = M.refusal_scores([(not r.answerable, r.refused) for r in results])
    out["refusal_precision"], out["refusal_recall"] = p, rc
    lat = [r.latency_ms for r in results if r.latency_ms]
    out["latency_p50_ms"] = M.percentile(lat, 50)
    out["latency_p95_ms"] = M.percentile(lat, 95)
    return out


def evaluate_set(bot, path: Path | list[dict]) -> tuple[list[ItemResult], dict[str, float], dict[str, dict[str, float]]]:
    items = load_items(path) if isinstance(path, Path) else path
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
    widths = [max(len(c), 6) + 2 for c in cols]
    first = max(22, len(title) + 2, *(len(n) + 2 for n in rows))
    head = f"{title:<{first}}" + "".join(f"{c:>{w}}" for c, w in zip(cols, widths))
    lines = [head, "-" * len(head)]
    for name, row in rows.items():
        cells = []
        for c, w in zip(cols, widths):
            v = row.get(c)
            if v is None:
                cells.append(f"{'-':>{w}}")
            elif c == "n":
                cells.append(f"{v:>{w}.0f}")
            elif c.startswith("latency"):
                cells.append(f"{v:>{w}.1f}")
            else:
                cells.append(f"{v:>{w}.3f}")
        lines.append(f"{name:<{first}}" + "".join(cells))
    return "\n".join(lines)


def lower_is_better(metric: str) -> bool:
    """Latency and the share of answerable questions declined are bounded from above; the rest from below."""
    return metric.startswith("latency") or metric == "in_scope_declined"


def check_gate(name: str, overall: dict[str, float], thresholds: dict) -> list[str]:
    failures = []
    for metric, bound in thresholds.get(name, {}).items():
        value = overall.get(metric)
        if value is None:
            failures.append(f"{name}: {metric} missing")
        elif lower_is_better(metric) and value > bound:
            failures.append(f"{name}: {metric} = {value:.3f} > {bound}")
        elif not lower_is_better(metric) and value < bound:
            failures.append(f"{name}: {metric} = {value:.3f} < {bound}")
    return failures


def failing_questions(results: list[ItemResult], items: dict[str, dict], holdout: bool = False) -> list[str]:
    """One line per failing (or unscored kb_gap) row; holdout rows by id only, so that reading a gate run
    does not leak them into tuning."""
    out = []
    for r in results:
        if not r.scored:
            item = items[r.id]
            top = r.ranked[0]["heading_path"] if r.ranked else "-"
            what = "declined" if r.refused else f"answered from {top!r}"
            gap = "" if holdout or item.get("split") == "holdout" else f": {item.get('gap', '')[:80]!r}"
            out.append(f"  {r.id} [{r.category}] kb_gap, not scored ({what}){gap}")
            continue
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
        text = "" if holdout or item.get("split") == "holdout" else f": {item['question'][:90]!r}"
        out.append(f"  {r.id} [{r.category}] {why}{text}")
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


def is_ticket_set(path: Path) -> bool:
    """A labelled tickets file (rows with `text` and `label_class`), scored by triage rather than by `Bot.ask`."""
    from lifecycle_bot.core.jsonl import read_jsonl

    if path in TICKET_SETS:
        return True
    try:
        rows = read_jsonl(path)
    except (OSError, ValueError):
        return False
    return bool(rows) and all("text" in r and "label_class" in r for r in rows[:5])


def _eval_tickets(bot, thresholds: dict, echo: "Echo", paths: list[Path] | None = None) -> list[str]:
    """Triage accuracy, macro-F1 and phase accuracy on every labelled tickets set (each part of a split set).
    A holdout part lists its misses by id only: neither its labels nor the confusion are printed."""
    from lifecycle_bot.core.jsonl import read_jsonl
    from lifecycle_bot.evaluation.tickets import score_tickets

    failures: list[str] = []
    for path in paths or TICKET_SETS:
        if not path.exists():
            continue
        for name, rows in set_parts(path, read_jsonl(path)):
            t = score_tickets(rows, bot=bot)
            echo(f"triage {name}: accuracy {t['accuracy']:.3f}  macro-F1 {t['macro_f1']:.3f}  "
                 f"phase accuracy {t['phase_accuracy']:.3f}  needs-a-human {t['needs_human_share']:.3f}  "
                 f"n={t['n']}  {t['ms_per_ticket']:.1f} ms/ticket")
            if "holdout" in name:
                if t["failures"]:
                    echo("  class missed (ids): " + " ".join(f["id"] for f in t["failures"]))
            elif t["confusion"]:
                top = sorted(t["confusion"].items(), key=lambda kv: -kv[1])[:8]
                echo("  most confused: " + "; ".join(f"{k} ({v})" for k, v in top))
            section = "tickets" if path == TICKETS else name
            failures += check_gate(section, t, thresholds)
    return failures


Echo = Callable[..., None]


def run(bot, sets: list[Path], gate: bool, accept: bool = False, triage: bool = True,
        echo: Echo = lambda text="", err=False: None) -> list[str]:
    """Score every set, print the tables, diff against the baseline; returns the gate failures."""
    given = [resolve(p) for p in sets]
    ticket_paths = [p for p in given if is_ticket_set(p)]
    sets = [p for p in given if p not in ticket_paths] if given else default_sets()
    if ticket_paths and not sets:  # `--set real_tickets`: triage only
        failures = _eval_tickets(bot, tomllib.loads(THRESHOLDS.read_text()) if THRESHOLDS.exists() else {}, echo,
                                 ticket_paths)
        if gate:
            echo("GATE FAILED:\n  " + "\n  ".join(failures) if failures else "gate passed", err=bool(failures))
        return failures
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
        for name, rows in set_parts(path, load_items(path)):
            items = {i["id"]: i for i in rows}
            results, overall, per_category = evaluate_set(bot, rows)
            echo(format_table(f"{name} (overall)", {"overall": overall, **per_category}))
            if "generated_share" in overall:
                echo(f"{name}: generated (passed the citation check) {overall['generated_share']:.3f} of answers")
            echo("")
            diff = baseline_diff(name, results, baseline)
            if diff:
                echo(f"{name}: changes against eval/baseline.json")
                echo("\n".join(diff))
            failures += check_gate(name, overall, thresholds)
            bad = failing_questions(results, items, holdout="holdout" in name)
            if bad:
                echo(f"{name}: {len(bad)} question(s) not fully passed or not scored")
                echo("\n".join(bad))
            echo("")
            accepted[name] = {r.id: r.passed for r in results if r.scored}
    if triage:
        failures += _eval_tickets(bot, thresholds, echo, ticket_paths or None)
    if accept:
        BASELINE.write_text(json.dumps(accepted, indent=1, sort_keys=True) + "\n")
        echo(f"baseline written to {BASELINE.relative_to(project_root()).as_posix()}")
    if gate:
        if failures:
            echo("GATE FAILED:\n  " + "\n  ".join(failures), err=True)
        else:
            echo("gate passed")
    return failures
