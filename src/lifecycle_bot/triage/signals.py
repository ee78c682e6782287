"""What a ticket says, read as a whole: the names it gives (pod, namespace, DAG, task) and every signal
(a signature line, its pod, its time), with signals on another pod than the ticket's own demoted.

A ticket is about one task's pod; lines of other pods (the Postgres pod Pending, a neighbour's
ImagePullBackOff) are context, not the cause. `ticket_names` finds the ticket's own names once, for
the classifier (which pod is "ours") and for the report (the commands use them).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace

from lifecycle_bot.core.signatures import STRONG, WEAK, Match, scan

_NAME = r"[a-z0-9][a-z0-9.-]{2,252}[a-z0-9]"
_POD_PATTERNS = (
    re.compile(rf"(?m)^Name:\s+({_NAME})\s*$"),  # kubectl describe
    re.compile(rf"\bkubectl\s+(?:-n\s+\S+\s+)?(?:describe|logs|get|delete|exec)\s+(?:-n\s+\S+\s+)?(?:pods?\s+|po\s+|pod/)?({_NAME})\b"),
    re.compile(rf"\bpod/({_NAME})\b"),
    re.compile(rf"\bpods? \\?\"({_NAME})\\?\""),
    re.compile(rf"\bEvent: ({_NAME}) (?:had an event|Status|is Pending|Failed|Succeeded|Running|Pending)"),
    re.compile(rf"\b(?:worker|task|executor) pod:?\s+`?({_NAME})`?"),
    re.compile(rf"(?m)^({_NAME})\s+\d+/\d+\s+\S+\s+\d+"),  # kubectl get pods rows
    re.compile(r"\b([a-z0-9](?:[a-z0-9-]*[a-z0-9])?-(?=[a-z0-9]*\d)(?=[a-z0-9]*[a-z])[a-z0-9]{8})\b"),
    re.compile(r"\b([a-z][a-z0-9-]*\.[0-9a-f]{32})\b"),  # Airflow 2.0-2.2 pod names: <dag><task>.<uuid hex>
)
_NS_PATTERNS = (
    re.compile(r"(?:\s-n|--namespace)[ =]([a-z0-9][a-z0-9-]{0,62})\b"),
    re.compile(r"(?m)^Namespace:\s+([a-z0-9][a-z0-9-]{0,62})\s*$"),
    re.compile(r"in the namespace \\?\"([a-z0-9-]+)"),
    re.compile(r"system:serviceaccount:([a-z0-9-]+):"),
    re.compile(r"assigned ([a-z0-9-]+)/"),
    re.compile(r"\bnamespace\s*[=:]\s*['\"]?([a-z0-9][a-z0-9-]{1,62})['\"]?"),
)
_DAG_PATTERNS = (
    re.compile(r"dag_id='([\w.-]+)'"),
    re.compile(r"(?m)^\s+dag_id=([\w.-]+)\s*$"),  # describe labels
    re.compile(r"dag_id could not be found: ([\w.-]+)"),
    re.compile(r"Dag '([\w.-]+)'"),
    re.compile(r"<TaskInstance: ([\w.-]+)\.[\w.-]+ "),
    re.compile(r"dag_id[=:]\s*['\"]?([\w.-]+)['\"]?"),
    re.compile(r"'tasks', 'run', '([\w.-]+)', '"),
)
_TASK_PATTERNS = (
    re.compile(r"task_id='([\w.-]+)'"),
    re.compile(r"(?m)^\s+task_id=([\w.-]+)\s*$"),
    re.compile(r"<TaskInstance: [\w.-]+?\.([\w-]+(?:\.[\w-]+)*) "),
    re.compile(r"task_id[=:]\s*['\"]?([\w.-]+)['\"]?"),
    re.compile(r"'tasks', 'run', '[\w.-]+', '([\w.-]+)'"),
)
_PLACEHOLDER = re.compile(r"^(x+|p+|pods?|po|name|my-?pod|your-?pod|airflow|default|none|true|false|events?|nodes?|"
                          r"pvc|svc|secrets?|configmaps?|deploy(ment)?s?|jobs?|all|logs?|describe)$|<|\.\.\.")
_POD_SUFFIX = re.compile(r"([-.][0-9a-f]{32}|-[a-z0-9]{8}|-[a-z0-9]{5})$")
_CONTROL_PLANE = re.compile(r"scheduler|webserver|web-|api-server|postgres|pgbouncer|redis|statsd|triggerer|"
                            r"dag-processor|migrations|flower|create-user|^airflow-worker-\d+$")
_TIME = re.compile(r"\d{4}-\d\d-\d\d[T ,]+\d\d:\d\d:\d\d(?:[.,]\d+)?Z?|\b\d\d:\d\d:\d\d\b")


@dataclass(frozen=True)
class TicketNames:
    """The ticket's own names, for the classifier's "our pod" and for the report's commands."""

    pod: str | None = None
    namespace: str | None = None
    dag_id: str | None = None
    task_id: str | None = None
    pods: tuple[str, ...] = ()  # every pod named, ours first


@dataclass(frozen=True)
class Signal:
    """One signature line: where it is, which pod it is about, when, and whether that is the ticket's pod."""

    line_no: int
    line: str
    match: Match  # the signature as read; demoted to WEAK when it is about another pod
    pod: str | None
    time: str | None
    own_pod: bool

    @property
    def failure_class(self) -> str:
        return self.match.signature.failure_class

    @property
    def strong(self) -> bool:
        return self.match.signature.strength == STRONG


def _first(patterns: tuple[re.Pattern, ...], text: str, ok=lambda v: True) -> str | None:
    for pattern in patterns:
        for m in pattern.finditer(text):
            value = m.group(1).strip(".-")
            if value and ok(value):
                return value
    return None


def _real(name: str) -> bool:
    return not _PLACEHOLDER.search(name) and len(name) >= 4 and any(c.isalpha() for c in name)


def pods_on(line: str) -> list[str]:
    """Pod names written on one line, in the order of the patterns (most explicit first)."""
    found: list[str] = []
    for pattern in _POD_PATTERNS:
        for m in pattern.finditer(line):
            name = m.group(1).strip(".-")
            if _real(name) and name not in found and not name.endswith((".py", ".yaml", ".yml", ".com", ".io")):
                found.append(name)
    return found


def same_task(a: str, b: str) -> bool:
    """Two pods of one task (retries, a re-created pod): the name without its random suffix matches."""
    return a == b or _POD_SUFFIX.sub("", a) == _POD_SUFFIX.sub("", b) != ""


def worker_pod(name: str) -> bool:
    return not _CONTROL_PLANE.search(name)


def ticket_names(text: str) -> TicketNames:
    """The pod the ticket is about (the worker pod named most, describe's Name: and kubectl targets
    counting double), its namespace, DAG and task."""
    counts: Counter[str] = Counter()
    order: dict[str, int] = {}
    for n, line in enumerate(text.splitlines()):
        for name in pods_on(line):
            order.setdefault(name, n)
            explicit = line.lstrip().startswith(("Name:", "$ kubectl", "kubectl")) or "pod/" in line
            counts[name] += 2 if explicit else 1
    ranked = sorted(counts, key=lambda p: (not worker_pod(p), -counts[p], order[p]))
    pod = ranked[0] if ranked and worker_pod(ranked[0]) else None
    ns = _first(_NS_PATTERNS, text, lambda v: _real(v) or v == "airflow")
    dag = _first(_DAG_PATTERNS, text, lambda v: not v.startswith("<") and v.lower() not in {"dag_id", "none"})
    task = _first(_TASK_PATTERNS, text, lambda v: not v.startswith("<") and v.lower() not in {"task_id", "none"})
    return TicketNames(pod, ns, dag, task, tuple(ranked))


def read_signals(text: str, names: TicketNames | None = None) -> list[Signal]:
    """Every signature line with its pod and time; a line about another pod than ours is demoted to a hint."""
    names = names or ticket_names(text)
    lines = text.splitlines()
    described: str | None = None  # the pod of the `kubectl describe` block we are in
    line_pods: dict[int, str | None] = {}
    for n, line in enumerate(lines, start=1):
        header = re.match(rf"^Name:\s+({_NAME})\s*$", line)
        if header:
            described = header.group(1)
        named = pods_on(line)
        line_pods[n] = named[0] if named else described
    out: list[Signal] = []
    for m in scan(text):
        pod = line_pods.get(m.line_no)
        own = pod is None or names.pod is None or same_task(pod, names.pod)
        match = m if own else Match(m.line_no, m.line, replace(m.signature, strength=WEAK))
        time = _TIME.search(lines[m.line_no - 1]) if m.line_no - 1 < len(lines) else None
        out.append(Signal(m.line_no, m.line, match, pod, time.group(0) if time else None, own))
    return out
