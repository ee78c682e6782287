"""Ticket triage: failure class, phase, quoted evidence, cited KB sections, next steps, missing facts.

The class comes from `signatures` alone (deterministic, no embedding), so scoring 100 tickets takes
milliseconds. Sections and commands come from the KB through `bot.search` on the signature's query,
kept per index (`KBIndex`, reached only through `Bot`'s public API), so triage follows the KB as it is rewritten.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from lifecycle_bot.core.markdown import fences
from lifecycle_bot.core.signatures import BY_NAME, CLASSES, PRECEDENCE_RULE, SIGNATURES, STRONG, Match, rank_classes
from lifecycle_bot.core.text import content_terms
from lifecycle_bot.core.types import Chunk, Citation
from lifecycle_bot.triage.playbook import PLAYBOOK, Step
from lifecycle_bot.triage.model import Model, load_model, signal_features, ticket_terms
from lifecycle_bot.triage.signals import Signal, TicketNames, read_signals, ticket_names

if TYPE_CHECKING:  # pragma: no cover
    from lifecycle_bot.core.bot import Bot

UNKNOWN = "unknown"
HUMAN_THRESHOLD = 0.5  # below a calibrated one half the class is more likely wrong than right
UNKNOWN_MARGIN = 1.0  # "none of these" when more likely than any class; 2.0 gained one dev ticket in CV (0.809 vs 0.798) but sent a synthetic unknown (T057) to a class
MAX_EVIDENCE = 5
KB_POD, KB_NS = ("etl-load-4t1zxx72", "etl-load-9qk2m0ab"), "airflow"  # the KB's example values


@dataclass(frozen=True)
class Evidence:
    line_no: int  # 1-based line of the ticket
    line: str
    signature: str  # "words" when the line is quoted for its vocabulary (a ticket without a signature line)
    failure_class: str
    strong: bool
    pod: str = ""  # the pod the line is about, when it names one
    time: str = ""  # the line's timestamp, when it has one


@dataclass(frozen=True)
class Guess:
    """A nearest other class, with its calibrated probability."""

    failure_class: str
    probability: float
    title: str = ""


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
    needs_human: bool = False
    guesses: list[Guess] = field(default_factory=list)
    names: TicketNames = field(default_factory=TicketNames)
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
            "needs_human": self.needs_human,
            "guesses": [asdict(g) for g in self.guesses],
            "names": {k: v for k, v in asdict(self.names).items() if k != "pods"},
        }


# -- classification (no KB needed) ------------------------------------------------------------------

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


def rule_reading(signals: list[Signal]) -> tuple[str, str | None, float, list[list[Match]]]:
    """The precedence rule alone over the signals (lines about another pod count as hints)."""
    groups = rank_classes([s.match for s in signals])
    if not groups:
        return UNKNOWN, None, 0.0, []
    groups = _drop_redundant(groups)
    primary = groups[0][0]
    return primary.signature.failure_class, primary.signature.phase, _confidence(groups), groups


@dataclass(frozen=True)
class Reading:
    """Everything classification found in a ticket, before the KB is asked."""

    names: TicketNames
    signals: list[Signal]
    groups: list[list[Match]]  # the rule's class groups, primary first
    rule_class: str
    failure_class: str
    phase: str | None
    confidence: float
    guesses: list[tuple[str, float]]  # the next most likely classes with their probabilities
    needs_human: bool
    term_lines: list[Evidence] = field(default_factory=list)  # lines whose words speak for the class


def _phase(cls: str, groups: list[list[Match]], signals: list[Signal], model: Model | None) -> str | None:
    """The phase the real tickets give this class's best line (its signature), else the line's own phase when
    the signature names one, else the phase the real tickets give the class, else the class's default."""
    phases = (model.phases or {}) if model else {}
    sig = next((g[0].signature for g in groups if g[0].signature.failure_class == cls), None)
    if sig is not None and f"sig:{sig.name}" in phases:
        return phases[f"sig:{sig.name}"]
    if sig is not None and (sig.phase != CLASSES[cls].phase or f"class:{cls}" not in phases):
        return sig.phase
    if f"class:{cls}" in phases:
        return phases[f"class:{cls}"]
    return CLASSES[cls].phase if cls in CLASSES else None


def _term_lines(text: str, cls: str, model: Model, limit: int = 3) -> list[Evidence]:
    """The ticket lines whose words weigh most toward the class (evidence for a prose-only ticket)."""
    weights = model.term_weights(cls)
    scored = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.strip().startswith("```"):
            continue
        score = sum(weights.get(t, 0.0) for t in set(ticket_terms(line)))
        if score > 0:
            scored.append((score, n, line.strip()))
    top = sorted(scored, key=lambda t: (-t[0], t[1]))[:limit]
    return sorted((Evidence(n, _clip(line), "words", cls, False) for _, n, line in top), key=lambda e: e.line_no)


def _clip(line: str, width: int = 220) -> str:
    return line if len(line) <= width else line[: width - 3] + "..."


def read_ticket(text: str, model: Model | None | bool = True) -> Reading:
    """Names, signals, the rule's pick and (with the shipped model) the learned class, calibrated."""
    names = ticket_names(text)
    signals = read_signals(text, names)
    rule_cls, rule_phase, rule_conf, groups = rule_reading(signals)
    if model is True:
        model = load_model()
    if not model:
        guesses = [(g[0].signature.failure_class, 0.0) for g in groups[1:4]]
        return Reading(names, signals, groups, rule_cls, rule_cls, rule_phase, rule_conf, guesses,
                       rule_conf < HUMAN_THRESHOLD)
    p = model.proba(model.vector(ticket_terms(text), signal_features(signals, rule_cls if groups else None)))
    cls, conf = decide(groups, p, model.classes)
    order = [int(i) for i in np.argsort(-p) if model.classes[int(i)] != cls]
    guesses = [(model.classes[i], round(float(p[i]), 3)) for i in order[:3]]
    term_lines = _term_lines(text, cls, model) if cls != UNKNOWN else []
    return Reading(names, signals, groups, rule_cls, cls, _phase(cls, groups, signals, model), round(conf, 3),
                   guesses, conf < model.human_threshold or cls == UNKNOWN, term_lines)


def decide(groups: list[list[Match]], proba: np.ndarray, classes: tuple[str, ...]) -> tuple[str, float]:
    """An explicit reason string on the ticket's own pod decides (the precedence rule); otherwise the model's
    most likely class. The confidence is the model's calibrated probability of the class chosen, so a rule
    the words do not support comes out unsure."""
    if groups and groups[0][0].signature.strength == STRONG:
        cls = groups[0][0].signature.failure_class
    else:
        known = [i for i, c in enumerate(classes) if c != UNKNOWN]
        best = max(known, key=lambda i: proba[i])
        unknown = proba[classes.index(UNKNOWN)] if UNKNOWN in classes else 0.0
        cls = UNKNOWN if unknown > UNKNOWN_MARGIN * proba[best] else classes[best]
    return cls, float(proba[classes.index(cls)]) if cls in classes else 0.0


def classify(text: str) -> tuple[str, str | None, float, list[list[Match]]]:
    """(class, phase, confidence, the rule's ranked match groups) from the ticket text alone."""
    r = read_ticket(text)
    return r.failure_class, r.phase, r.confidence, r.groups


# -- KB grounding ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class KBCommand:
    command: str
    file: str
    line: int
    root: str  # section root ("12. Debugging Guide > 12.7 Quota 403 at pod creation")


_INLINE = re.compile(r"`((?:kubectl|airflow|helm) [^`\n]+)`")
_SHELL = {"bash", "sh", "shell", "console", "zsh"}


def section_root(heading_path: str) -> str:
    parts = heading_path.split(" > ")
    return " > ".join(parts[:2]) if len(parts) > 1 else heading_path


def chunk_commands(chunk: Chunk) -> list[KBCommand]:
    """Shell commands in a chunk's code fences (continuations and for-loops joined) and inline code."""
    out: list[KBCommand] = []
    root = section_root(chunk.heading_path)
    for fence in fences(chunk.text):
        if fence.level or fence.indent:  # a fence inside a list item or quote is an example, not a step
            continue
        first = chunk.start_line + fence.start + 1
        lang = re.match(r"\w*", fence.info).group(0).lower()
        if lang == "sql":
            out += _sql_statements(fence.content, chunk.file, first, root)
            continue
        shell = lang in _SHELL  # in other fences only "$ " prompt lines are commands
        lines = fence.content.splitlines()
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


class KBIndex:
    """What triage needs from the KB, read through `Bot`'s public API and kept per index: every chunk's
    commands, and the sections resolved per signature. A re-index (new chunk list) starts it afresh."""

    def __init__(self, bot: Bot):
        self.bot = bot
        self._lock = threading.RLock()  # Slack and the UI triage from worker threads
        self._chunks: list | None = None
        self.commands: list[KBCommand] = []
        self.sections: dict[str, list[Citation]] = {}
        self.matches: dict[str, list[KBCommand]] = {}  # a step's `find` -> the KB commands it matches

    def matching(self, find: str) -> list[KBCommand]:
        """The KB's commands a playbook step's pattern matches, in KB order (found once per index)."""
        with self._lock:
            found = self.matches.get(find)
            if found is None:
                pattern = re.compile(find, re.I | re.M)
                found = self.matches[find] = [c for c in self.commands if pattern.search(c.command)]
            return found

    def refresh(self) -> "KBIndex":
        chunks = self.bot.chunks()
        with self._lock:
            if chunks is not self._chunks:
                self.commands = [c for ch in sorted(chunks, key=lambda c: (c.file, c.start_line))
                                 for c in chunk_commands(ch)]
                self.sections = {}
                self.matches = {}
                self._chunks = chunks
        return self


_kb_lock = threading.Lock()


def _kb(bot: Bot) -> KBIndex:
    """The bot's KB view for triage, made on first use and kept on the bot's public `extensions` slot."""
    with _kb_lock:
        kb = bot.extensions.get("triage")
        if kb is None:
            kb = bot.extensions["triage"] = KBIndex(bot)
    return kb.refresh()


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
    with kb._lock:
        if signature in kb.sections:
            return kb.sections[signature]
    if signature not in kb.sections:
        sig = BY_NAME[signature]
        hits = rerank_by_title(bot.search(sig.query, boost_terms=list(sig.terms)).hits, sig.query)
        if hits:
            root = section_root(hits[0].chunk.heading_path)
            q = set(content_terms(sig.query))
            same = [h for h in hits if section_root(h.chunk.heading_path) == root]
            named = [h for h in hits if h not in same and _title_terms(h.chunk.heading_path) & q]
            hits = same[:limit] + named[:1]  # the section itself, then one related section named like it
        kb.sections[signature] = [Citation.from_chunk(h.chunk) for h in hits[:limit]]
    return kb.sections[signature]


_RESOURCE_WORDS = {"pod", "pods", "po", "events", "event", "nodes", "node", "pvc", "svc", "secret", "secrets",
                   "configmap", "configmaps", "deploy", "deployment", "role", "rolebinding", "sa", "ns", "jobs", "all"}
_POD_ARG = re.compile(r"(kubectl\s+(?:describe|logs|get|delete|exec|top)\s+(?:pods?\s+|po\s+|pod/)?)"
                      r"(?!-)([a-z0-9<][a-z0-9.<>_-]*[a-z0-9>])(?=\s|$)")


def fill(command: str, names: TicketNames, sa: str | None = None) -> str:
    """A KB command with the ticket's own pod, namespace, DAG and task (a placeholder where the ticket has none)."""
    pod, ns = names.pod or "<pod>", names.namespace or "<ns>"
    if sa:
        command = re.sub(r"system:serviceaccount:[\w.-]+:[\w.-]+", sa, command)

    def pod_arg(m: re.Match) -> str:
        return m.group(0) if m.group(2) in _RESOURCE_WORDS else m.group(1) + pod

    parts = command.split("|")  # only the kubectl part of a pipeline names pods and namespaces (not `sed -n`)
    for i, part in enumerate(parts):
        if "kubectl" not in part:
            continue
        part = _POD_ARG.sub(pod_arg, part)
        part = re.sub(r"(involvedObject\.name=)[\w.<>-]+", rf"\g<1>{pod}", part)
        parts[i] = re.sub(r"(\s-n |--namespace[ =]|\bnamespace=)(?!-)[\w.<>-]+", rf"\g<1>{ns}", part)
    command = "|".join(parts)
    for example in KB_POD:
        command = command.replace(example, pod)
    command = command.replace("<pod>", pod).replace("<ns>", ns)
    if names.dag_id:
        command = re.sub(r"(\bdag_id=)[\w.<>-]+", rf"\g<1>{names.dag_id}", command).replace("<dag_id>", names.dag_id)
    if names.task_id:
        command = re.sub(r"(\btask_id=)[\w.<>-]+", rf"\g<1>{names.task_id}", command).replace("<task_id>", names.task_id)
    return command


def checklist(bot: Bot | None, cls: str, citations: list[Citation], text: str,
              names: TicketNames | None = None) -> list[ChecklistItem]:
    """The class's steps, each with a command quoted from the cited sections (else the whole KB),
    filled with the ticket's own names."""
    steps: tuple[Step, ...] = PLAYBOOK.get(cls, PLAYBOOK[UNKNOWN])[0]
    names = names or ticket_names(text)
    sa_match = re.search(r"system:serviceaccount:[\w.-]+:[\w.-]+", text)
    sa = sa_match.group(0) if sa_match else None
    kb = _kb(bot) if bot is not None else None
    roots = {section_root(c.heading_path) for c in citations}
    items: list[ChecklistItem] = []
    used: set[str] = set()
    for step in steps:
        if not step.find:
            items.append(ChecklistItem(step.text))
            continue
        matches = kb.matching(step.find) if kb is not None else []
        found = next((c for c in matches if c.root in roots and c.command not in used), None) or \
            next((c for c in matches if c.command not in used), None)  # the cited sections first, then the KB
        if found is not None:
            used.add(found.command)
            items.append(ChecklistItem(step.text, fill(found.command, names, sa), f"{found.file}:{found.line}"))
        else:
            items.append(ChecklistItem(step.text, fill(step.fallback, names, sa), ""))
    return items


_POD_CLASSES = {c for c, info in CLASSES.items() if info.phase in ("pending", "running", "logs")} | {
    "pod_launch_failure", "pod_startup_crash", "create_container_config"}


def missing_info(cls: str, text: str, names: TicketNames | None = None) -> list[str]:
    """What the ticket does not say yet and the class needs: the playbook's facts whose mark is absent,
    then the names the commands need (pod, namespace) when the ticket gives none."""
    needs = PLAYBOOK.get(cls, PLAYBOOK[UNKNOWN])[1]
    out = [n.text for n in needs if not re.search(n.present, text)]
    names = names or ticket_names(text)
    if cls in _POD_CLASSES | {UNKNOWN} and names.pod is None:
        out.append("the worker pod's name (`kubectl get pods -n <ns> -l dag_id=<dag_id>,task_id=<task_id>`)")
    if names.namespace is None:
        out.append("the namespace the worker pods run in")
    return out


def _evidence_of(signals: list[Signal], cls: str) -> list[Evidence]:
    """The class's lines, the ticket's own pod and strong lines first, at most MAX_EVIDENCE, in ticket order."""
    own = [s for s in signals if s.failure_class == cls]
    if any(s.strong for s in own):
        own = [s for s in own if s.strong]
    ranked = sorted(own, key=lambda s: (not s.own_pod, not s.strong, s.line_no))
    seen: set[int] = set()
    out = []
    for s in ranked:
        if s.line_no not in seen:
            seen.add(s.line_no)
            out.append(Evidence(s.line_no, s.line, s.match.signature.name, cls, s.strong, s.pod or "", s.time or ""))
    return sorted(out[:MAX_EVIDENCE], key=lambda e: e.line_no)


def _class_signature(cls: str, signals: list[Signal]) -> str | None:
    """The signature whose KB sections explain the class: its best line's, else the class's first strong one."""
    own = sorted((s for s in signals if s.failure_class == cls), key=lambda s: (not s.strong, s.line_no))
    if own:
        return own[0].match.signature.name
    return next((s.name for s in SIGNATURES if s.failure_class == cls and s.strength == STRONG), None)


# -- the entry point ------------------------------------------------------------------------------

def triage(text: str, bot: Bot | None = None) -> TriageResult:
    """Triage one ticket; without a bot only the class, evidence, steps and missing facts are filled."""
    started = time.perf_counter()
    r = read_ticket(text)
    cls = r.failure_class
    result = TriageResult(cls, r.phase, r.confidence, cls != UNKNOWN,
                          title=CLASSES[cls].title if cls in CLASSES else "None of the known failure classes")
    result.needs_human = r.needs_human
    result.guesses = [Guess(c, p, CLASSES[c].title if c in CLASSES else "") for c, p in r.guesses if c != cls]
    result.names = r.names
    result.evidence = _evidence_of(r.signals, cls) or list(r.term_lines)
    others = [g for g in rank_classes([s.match for s in r.signals]) if g[0].signature.failure_class != cls
              and any(s.failure_class == g[0].signature.failure_class and (s.strong or not s.own_pod)
                      for s in r.signals)]  # strong lines, and lines about other pods (red herrings), not hints
    result.rule = PRECEDENCE_RULE if others else "single failure class in the ticket"
    if not r.signals:
        result.rule = "no signature matched: classified from the ticket's words"
    signature = _class_signature(cls, r.signals) if cls != UNKNOWN else None
    if bot is not None:
        if signature is not None:
            result.citations = sections_for(bot, signature)
        elif text.strip():
            result.citations = [Citation.from_chunk(h.chunk) for h in bot.search(text[:2000]).hits[:3]]
    for g in others[:3]:
        cite = sections_for(bot, g[0].signature.name, limit=1) if bot is not None else []
        result.secondary.append(Secondary(g[0].signature.failure_class, g[0].signature.phase,
                                          tuple(_evidence_of(r.signals, g[0].signature.failure_class)[:2]),
                                          cite[0] if cite else None))
    result.checklist = checklist(bot, cls, result.citations, text, r.names)
    result.missing = missing_info(cls, text, r.names)
    result.elapsed_ms = (time.perf_counter() - started) * 1000
    return result
