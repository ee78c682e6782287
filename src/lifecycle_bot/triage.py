"""Ticket triage: failure class, phase, quoted evidence, cited KB sections, next steps, missing facts.

The class comes from `signatures` alone (deterministic, no embedding), so scoring 100 tickets takes
milliseconds. Sections and commands come from the KB through `bot.search` on the signature's query,
cached per signature and bot, so triage follows the KB as it is rewritten.
"""

from __future__ import annotations

import csv
import json
import re
import threading
import time
import weakref
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifecycle_bot.jsonl import iter_jsonl
from lifecycle_bot.models import Chunk, Citation
from lifecycle_bot.playbook import PLAYBOOK, Step
from lifecycle_bot.signatures import BY_NAME, CLASSES, PRECEDENCE_RULE, STRONG, Match, rank_classes, scan
from lifecycle_bot.text import content_terms

if TYPE_CHECKING:  # pragma: no cover
    from lifecycle_bot.bot import Bot

UNKNOWN = "unknown"
MAX_EVIDENCE = 5
KB_POD, KB_NS = ("etl-load-4t1zxx72", "etl-load-9qk2m0ab"), "airflow"  # the KB's example values


@dataclass(frozen=True)
class Evidence:
    line_no: int  # 1-based line of the ticket
    line: str
    signature: str
    failure_class: str
    strong: bool


@dataclass(frozen=True)
class Secondary:
    failure_class: str
    phase: str
    evidence: tuple[Evidence, ...]
    citation: Citation | None = None


@dataclass(frozen=True)
class ChecklistItem:
    text: str
    command: str = ""
    source: str = ""  # "file:line" when quoted from the KB, "" when not from the KB


@dataclass
class TriageResult:
    failure_class: str
    phase: str | None
    confidence: float
    matched: bool
    evidence: list[Evidence] = field(default_factory=list)
    secondary: list[Secondary] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    checklist: list[ChecklistItem] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    rule: str = ""
    title: str = ""
    elapsed_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "failure_class": self.failure_class,
            "title": self.title,
            "phase": self.phase,
            "confidence": round(self.confidence, 3),
            "matched": self.matched,
            "evidence": [asdict(e) for e in self.evidence],
            "secondary": [
                {"failure_class": s.failure_class, "phase": s.phase, "evidence": [asdict(e) for e in s.evidence],
                 "citation": s.citation.to_dict() if s.citation else None}
                for s in self.secondary
            ],
            "citations": [c.to_dict() | {"label": c.label()} for c in self.citations],
            "checklist": [asdict(c) for c in self.checklist],
            "missing": list(self.missing),
            "rule": self.rule,
        }


# -- classification (no KB needed) ------------------------------------------------------------------

def _evidence(ms: list[Match]) -> list[Evidence]:
    """The class's lines (strong ones only, when there are any), in ticket order."""
    if any(m.signature.strength == STRONG for m in ms):
        ms = [m for m in ms if m.signature.strength == STRONG]
    seen: set[int] = set()
    out = []
    for m in ms:
        if m.line_no in seen:
            continue
        seen.add(m.line_no)
        out.append(Evidence(m.line_no, m.line, m.signature.name, m.signature.failure_class,
                            m.signature.strength == STRONG))
    return sorted(out[:MAX_EVIDENCE], key=lambda e: e.line_no)


def _confidence(groups: list[list[Match]]) -> float:
    """Explicit reason strings are trusted; bare hints are not; a competing strong cause lowers it."""
    primary = groups[0][0]
    strong = primary.signature.strength == STRONG
    conf = 0.9 if strong else 0.55
    conf += 0.02 * min(len({m.line_no for m in groups[0]}) - 1, 3)
    info = CLASSES[primary.signature.failure_class]
    for g in groups[1:]:
        other = g[0].signature
        oinfo = CLASSES[other.failure_class]
        if other.strength == STRONG and oinfo.kind == "cause" and info.kind == "cause":
            conf -= 0.15 if oinfo.rank == info.rank else 0.05
    return round(max(0.05, min(conf, 0.99)), 3)


def _drop_redundant(groups: list[list[Match]]) -> list[list[Match]]:
    """Weak hints of other classes add nothing next to a strong primary ("no logs" beside a quota 403)."""
    if groups[0][0].signature.strength != STRONG:
        return groups
    return [groups[0]] + [g for g in groups[1:] if g[0].signature.strength == STRONG]


def classify(text: str) -> tuple[str, str | None, float, list[list[Match]]]:
    """(class, phase, confidence, ranked match groups) from the ticket text alone."""
    groups = rank_classes(scan(text))
    if not groups:
        return UNKNOWN, None, 0.0, []
    groups = _drop_redundant(groups)
    primary = groups[0][0]
    return primary.signature.failure_class, primary.signature.phase, _confidence(groups), groups


# -- KB grounding ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class KBCommand:
    command: str
    file: str
    line: int
    root: str  # section root ("12. Debugging Guide > 12.7 Quota 403 at pod creation")


_cache: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()
_cache_lock = threading.RLock()  # Slack and the UI triage from worker threads
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
_INLINE = re.compile(r"`((?:kubectl|airflow|helm) [^`\n]+)`")
_SHELL = {"bash", "sh", "shell", "console", "zsh"}


def section_root(heading_path: str) -> str:
    parts = heading_path.split(" > ")
    return " > ".join(parts[:2]) if len(parts) > 1 else heading_path


def _citation(chunk: Chunk) -> Citation:
    return Citation(chunk.file, chunk.heading_path, chunk.anchor, chunk.start_line, chunk.end_line, chunk.element_ids)


def chunk_commands(chunk: Chunk) -> list[KBCommand]:
    """Shell commands in a chunk's code fences (continuations and for-loops joined) and inline code."""
    out: list[KBCommand] = []
    root = section_root(chunk.heading_path)
    for fence in _FENCE.finditer(chunk.text):
        first = chunk.start_line + chunk.text.count("\n", 0, fence.start(2))
        if fence.group(1).lower() == "sql":
            out += _sql_statements(fence.group(2), chunk.file, first, root)
            continue
        shell = fence.group(1).lower() in _SHELL  # in other fences only "$ " prompt lines are commands
        lines = fence.group(2).splitlines()
        i = 0
        while i < len(lines):
            line, start = lines[i].strip(), first + i
            if not line or line.startswith("#") or not (shell or line.startswith("$ ")):
                i += 1
                continue
            parts = [line.removeprefix("$ ")]
            loop = line.startswith(("for ", "while "))
            while i + 1 < len(lines) and (parts[-1].endswith("\\") or lines[i + 1].lstrip().startswith("|")
                                          or (loop and not parts[-1].startswith("done"))):
                i += 1
                parts.append(lines[i].strip())
            command = "\n".join(parts)
            if len(parts) == 1:
                command = re.sub(r"\s{2,}#.*$", "", command)  # a trailing explanation is not the command
            out.append(KBCommand(command, chunk.file, start, root))
            i += 1
    for n, line in enumerate(chunk.text.splitlines()):
        for m in _INLINE.finditer(line):
            out.append(KBCommand(m.group(1).strip(), chunk.file, chunk.start_line + n, root))
    return out


def _sql_statements(body: str, file: str, first: int, root: str) -> list[KBCommand]:
    out: list[KBCommand] = []
    current: list[str] = []
    start = first
    for n, line in enumerate(body.splitlines()):
        if not current and (not line.strip() or line.lstrip().startswith("--")):
            continue
        if not current:
            start = first + n
        current.append(line.rstrip())
        if line.rstrip().endswith(";"):
            out.append(KBCommand("\n".join(current), file, start, root))
            current = []
    return out


def _kb(bot: Bot) -> dict:
    """Per-bot cache: every chunk's commands, and resolved sections per signature."""
    with _cache_lock:
        entry = _cache.get(bot)
        if entry is None:
            chunks = list(bot.load().chunks.values())
            commands = [c for ch in sorted(chunks, key=lambda c: (c.file, c.start_line)) for c in chunk_commands(ch)]
            entry = {"chunks": chunks, "commands": commands, "sections": {}}
            _cache[bot] = entry
        return entry


_GENERIC_HEADINGS = {"symptom", "caus", "fix", "confirm", "overview", "note", "exampl"}


def _title_terms(heading_path: str) -> set[str]:
    parts = heading_path.split(" > ")
    title = parts[1] if len(parts) > 1 else parts[0]
    return {t for t in content_terms(title) if not t.isdigit() and t not in _GENERIC_HEADINGS}


def rerank_by_title(hits: list, query: str) -> list:
    """Prefer a section whose own heading names the failure over hub sections (intro tables,
    config reference) that merely mention every identifier: score x (1 + 2 x heading overlap)."""
    q = set(content_terms(query))

    def key(hit) -> float:
        title = _title_terms(hit.chunk.heading_path)
        overlap = len(title & q) / len(title) if title else 0.0
        return hit.score * (1 + 2 * overlap)

    return sorted(hits, key=key, reverse=True)


def sections_for(bot: Bot, signature: str, limit: int = 3) -> list[Citation]:
    """The KB sections that explain a signature: its query searched once, the best section first."""
    kb = _kb(bot)
    with _cache_lock:
        if signature in kb["sections"]:
            return kb["sections"][signature]
    if signature not in kb["sections"]:
        sig = BY_NAME[signature]
        hits = rerank_by_title(bot.search(sig.query, boost_terms=list(sig.terms)).hits, sig.query)
        if hits:
            root = section_root(hits[0].chunk.heading_path)
            q = set(content_terms(sig.query))
            same = [h for h in hits if section_root(h.chunk.heading_path) == root]
            named = [h for h in hits if h not in same and _title_terms(h.chunk.heading_path) & q]
            hits = same[:limit] + named[:1]  # the section itself, then one related section named like it
        kb["sections"][signature] = [_citation(h.chunk) for h in hits[:limit]]
    return kb["sections"][signature]


def _ticket_values(text: str) -> tuple[str | None, str | None]:
    """(pod, namespace) named in the ticket, to fill into the KB's example commands."""
    pod = re.search(r"(?m)^Name:\s+(\S+)|pod/([a-z0-9][a-z0-9.-]+)|pods? \\?\"([a-z0-9][a-z0-9.-]+)\\?\"|"
                    r"\b([a-z0-9](?:[a-z0-9-]*[a-z0-9])?-(?=[a-z0-9]*\d)(?=[a-z0-9]*[a-z])[a-z0-9]{8})\b", text)
    ns = re.search(r"(?m)(?:\s-n|--namespace)[ =]([a-z0-9][a-z0-9-]{0,62})\b|^Namespace:\s+(\S+)|"
                   r"in the namespace \\?\"([a-z0-9-]+)|failed in pod ([a-z0-9-]+)/|assigned ([a-z0-9-]+)/", text)
    first = lambda m: next((g for g in m.groups() if g), None) if m else None  # noqa: E731
    return first(pod), first(ns)


def _fill(command: str, pod: str | None, ns: str | None, sa: str | None = None) -> str:
    if sa:
        command = re.sub(r"system:serviceaccount:[\w.-]+:[\w.-]+", sa, command)
    if pod:
        for example in KB_POD:
            command = command.replace(example, pod)
        command = command.replace("<pod>", pod)
    if ns:
        command = re.sub(rf"(-n |--namespace[ =]|namespace=){KB_NS}\b", rf"\g<1>{ns}", command)
        command = command.replace("<ns>", ns)
    return command


def checklist(bot: Bot | None, cls: str, citations: list[Citation], text: str) -> list[ChecklistItem]:
    """The class's steps, each with a command quoted from the cited sections (else the whole KB)."""
    steps: tuple[Step, ...] = PLAYBOOK.get(cls, PLAYBOOK[UNKNOWN])[0]
    pod, ns = _ticket_values(text)
    sa_match = re.search(r"system:serviceaccount:[\w.-]+:[\w.-]+", text)
    sa = sa_match.group(0) if sa_match else None
    commands: list[KBCommand] = _kb(bot)["commands"] if bot is not None else []
    roots = {section_root(c.heading_path) for c in citations}
    cited = [c for c in commands if c.root in roots]
    items: list[ChecklistItem] = []
    used: set[str] = set()
    for step in steps:
        if not step.find:
            items.append(ChecklistItem(step.text))
            continue
        pattern = re.compile(step.find, re.I | re.M)
        found = next((c for pool in (cited, commands) for c in pool
                      if pattern.search(c.command) and c.command not in used), None)
        if found is not None:
            used.add(found.command)
            items.append(ChecklistItem(step.text, _fill(found.command, pod, ns, sa), f"{found.file}:{found.line}"))
        else:
            items.append(ChecklistItem(step.text, _fill(step.fallback, pod, ns, sa), ""))
    return items


def missing_info(cls: str, text: str) -> list[str]:
    needs = PLAYBOOK.get(cls, PLAYBOOK[UNKNOWN])[1]
    return [n.text for n in needs if not re.search(n.present, text)]


# -- the entry point ------------------------------------------------------------------------------

def triage(text: str, bot: Bot | None = None) -> TriageResult:
    """Triage one ticket; without a bot only the class, evidence, steps and missing facts are filled."""
    started = time.perf_counter()
    cls, phase, confidence, groups = classify(text)
    result = TriageResult(cls, phase, confidence, bool(groups), title=CLASSES[cls].title if cls in CLASSES else
                          "No known failure signature")
    if groups:
        primary = groups[0]
        result.evidence = _evidence(primary)
        result.rule = PRECEDENCE_RULE if len(groups) > 1 else "single failure class in the ticket"
        if bot is not None:
            result.citations = sections_for(bot, primary[0].signature.name)
        for g in groups[1:4]:
            cite = sections_for(bot, g[0].signature.name, limit=1) if bot is not None else []
            result.secondary.append(Secondary(g[0].signature.failure_class, g[0].signature.phase,
                                              tuple(_evidence(g)[:2]), cite[0] if cite else None))
    else:
        result.rule = "no signature matched: nearest sections by searching the ticket text"
        if bot is not None and text.strip():
            result.citations = [_citation(h.chunk) for h in bot.search(text[:2000]).hits[:3]]
    result.checklist = checklist(bot, cls, result.citations, text)
    result.missing = missing_info(cls, text)
    result.elapsed_ms = (time.perf_counter() - started) * 1000
    return result


def triage_markdown(result: TriageResult) -> str:
    """Markdown for the UI's Triage tab and for Slack (converted to mrkdwn there)."""
    out: list[str] = []
    if result.matched:
        out.append(f"**{result.title}** (`{result.failure_class}`), phase **{result.phase}**, "
                   f"confidence {result.confidence:.2f}")
    else:
        out.append("**No known failure signature** in this ticket; the nearest sections are cited below.")
    if result.evidence:
        out += ["", "**Evidence**"] + [f"- line {e.line_no}: `{_md_code(e.line)}`" for e in result.evidence]
    if result.secondary:
        out += ["", "**Also seen** (not the root cause by the precedence rule)"]
        for s in result.secondary:
            lines = ", ".join(str(e.line_no) for e in s.evidence)
            out.append(f"- `{s.failure_class}` ({s.phase}), line {lines}")
    if result.citations:
        out += ["", "**Read**"] + [f"- {c.label()}" for c in result.citations]
    if result.checklist:
        out += ["", "**Next steps**"]
        for n, item in enumerate(result.checklist, start=1):
            out.append(f"{n}. {item.text}")
            if item.command:
                src = f" (KB {item.source})" if item.source else " (not from the KB)"
                out.append(f"   ```\n   {item.command.replace(chr(10), chr(10) + '   ')}\n   ```{src}")
    if result.missing:
        out += ["", "**Still missing to decide**"] + [f"- {m}" for m in result.missing]
    return "\n".join(out)


def _md_code(line: str, width: int = 240) -> str:
    line = line.replace("`", "'")
    return line if len(line) <= width else line[: width - 3] + "..."


# -- batches and scoring --------------------------------------------------------------------------

def read_tickets(path: Path) -> list[dict]:
    """JSONL of {id, text, ...}; a ticket without an id is named by its line number."""
    items = []
    for n, item in iter_jsonl(path, required=("text",)):
        item.setdefault("id", str(n))
        items.append(item)
    return items


def _row(item: dict, result: TriageResult) -> dict:
    row = {"id": item["id"], **result.to_dict()}
    for key in ("label_class", "label_phase"):
        if key in item:
            row[key] = item[key]
    return row


CSV_FIELDS = ("id", "failure_class", "phase", "confidence", "secondary", "evidence", "citations", "checklist",
              "missing", "label_class", "label_phase")


def _csv_row(row: dict) -> dict:
    return {
        "id": row["id"], "failure_class": row["failure_class"], "phase": row["phase"] or "",
        "confidence": row["confidence"],
        "secondary": "; ".join(s["failure_class"] for s in row["secondary"]),
        "evidence": "\n".join(f"L{e['line_no']}: {e['line']}" for e in row["evidence"]),
        "citations": "\n".join(c["label"] for c in row["citations"]),
        "checklist": "\n".join(f"{i}. {c['text']}" + (f": {c['command']}" if c["command"] else "")
                               for i, c in enumerate(row["checklist"], start=1)),
        "missing": "\n".join(row["missing"]),
        "label_class": row.get("label_class", ""), "label_phase": row.get("label_phase") or "",
    }


def write_results(rows: list[dict], out: Path) -> None:
    """JSONL, or CSV when the name ends in .csv (one row per ticket, lists joined by newlines)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".csv":
        with out.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
            writer.writeheader()
            writer.writerows(_csv_row(r) for r in rows)
    else:
        out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def triage_batch(items: list[dict], bot: Bot | None = None) -> list[dict]:
    return [_row(item, triage(str(item["text"]), bot)) for item in items]


def triage_batch_csv(path_in: str | Path, path_out: str | Path, bot: Bot | None = None) -> Path:
    """For the UI: triage a JSONL file of tickets and write CSV (or JSONL by extension)."""
    write_results(triage_batch(read_tickets(Path(path_in)), bot), Path(path_out))
    return Path(path_out)


def score_tickets(path: str | Path | list[dict], bot: Bot | None = None) -> dict[str, Any]:
    """Accuracy and macro-F1 of the class (and phase accuracy) over a labelled tickets file or its rows."""
    rows = path if isinstance(path, list) else read_tickets(Path(path))
    items = [i for i in rows if "label_class" in i]
    started = time.perf_counter()
    predicted = [(i, triage(str(i["text"]), bot)) for i in items]
    seconds = time.perf_counter() - started
    gold = [i["label_class"] for i in items]
    pred = [r.failure_class for _, r in predicted]
    labels = sorted(set(gold) | set(pred))
    per_class: dict[str, dict[str, float]] = {}
    for label in labels:
        tp = sum(g == p == label for g, p in zip(gold, pred))
        fp = sum(p == label != g for g, p in zip(gold, pred))
        fn = sum(g == label != p for g, p in zip(gold, pred))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
                            "support": gold.count(label)}
    in_gold = [label for label in labels if label in gold]
    phase_ok = sum((i.get("label_phase") or None) == r.phase for i, r in predicted)
    failures = [{"id": i["id"], "label_class": i["label_class"], "predicted": r.failure_class,
                 "label_phase": i.get("label_phase"), "predicted_phase": r.phase,
                 "evidence": [f"L{e.line_no}: {e.line[:160]}" for e in r.evidence[:2]]}
                for i, r in predicted if i["label_class"] != r.failure_class]
    n = len(items)
    return {
        "n": n,
        "accuracy": round(sum(g == p for g, p in zip(gold, pred)) / n, 4) if n else 0.0,
        "macro_f1": round(sum(per_class[c]["f1"] for c in in_gold) / len(in_gold), 4) if in_gold else 0.0,
        "phase_accuracy": round(phase_ok / n, 4) if n else 0.0,
        "per_class": per_class,
        "failures": failures,
        "confusion": dict(Counter(f"{g} -> {p}" for g, p in zip(gold, pred) if g != p)),
        "seconds": round(seconds, 4),
        "ms_per_ticket": round(1000 * seconds / n, 3) if n else 0.0,
    }


# -- CLI ------------------------------------------------------------------------------------------

def _print_result(result: TriageResult, as_json: bool) -> None:
    import click

    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(triage_markdown(result))


def cli_triage(ctx, file: Path | None, batch: Path | None, out: Path | None, as_json: bool) -> None:
    """`lifecycle-bot triage FILE|-` or `--batch tickets.jsonl [--out results.jsonl|.csv]`."""
    import sys

    import click

    from lifecycle_bot.cli import BotError, _open_bot_for_questions

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
