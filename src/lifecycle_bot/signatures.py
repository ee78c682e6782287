"""Failure signatures found in pasted kubectl output, events, pod status and Airflow logs.

Shared by the answerer (a paste drives retrieval) and triage (a ticket gets a failure class and the
lifecycle phase where it broke). Patterns are ordered: the first match of a line wins, so the
specific forms (quota 403) come before the general ones (any 403).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PHASES = ("queued", "pod creation", "pending", "running", "completion", "logs")


@dataclass(frozen=True)
class Signature:
    name: str
    failure_class: str
    phase: str
    pattern: re.Pattern
    query: str  # what to search the KB for
    terms: tuple[str, ...] = ()  # identifiers to boost


def _s(name, cls, phase, regex, query, terms=()):
    return Signature(name, cls, phase, re.compile(regex, re.IGNORECASE), query, tuple(terms))


SIGNATURES: tuple[Signature, ...] = (
    _s("quota_403", "quota_exceeded", "pod creation",
       r"exceeded quota|forbidden:.*quota|\bquota\b.*\b(exceeded|forbidden)|ResourceQuota.*(exceed|denied)",
       "403 exceeded quota ResourceQuota pod creation task_publish_max_retries", ("task_publish_max_retries",)),
    _s("rbac_403", "rbac_forbidden", "pod creation",
       r"\b403\b.*forbidden|forbidden.*(cannot|is not allowed|User \"system:serviceaccount)|\bReason: Forbidden\b",
       "403 Forbidden RBAC service account pods create permission Role", ("RBAC",)),
    _s("conflict_409", "api_conflict", "pod creation",
       r"\b409\b|object has been modified|AlreadyExists|\bConflict\b",
       "409 conflict object has been modified pod creation retry", ("409",)),
    _s("invalid_422", "api_invalid", "pod creation",
       r"\b422\b|Unprocessable Entity|\bis invalid\b.*spec|Invalid value:",
       "422 invalid pod spec pod creation fails task immediately", ("422",)),
    _s("watch_410", "watcher_410", "completion",
       r"\b410\b|too old resource version|resource version is too old|\bGone\b.*resourceVersion|Expired: too old",
       "watcher 410 too old resource version KubernetesJobWatcher", ("410",)),
    _s("state_mismatch", "state_mismatch", "completion",
       r"finished \(\w+\) although the task says (it'?s|its) queued|executor reports task instance .* finished|state mismatch",
       "executor reports task instance finished failed although the task says it's queued", ()),
    _s("oom", "oom_killed", "running",
       r"OOMKilled|exit code:?\s*137\b|exitCode\"?:?\s*137\b|\bsignal 9\b|out of memory|memory limit",
       "OOMKilled exit code 137 memory limit", ("OOMKilled", "137")),
    _s("image_invalid", "image_pull", "pending",
       r"InvalidImageName|couldn't parse image reference",
       "InvalidImageName image pull errors worker_pod_pending_fatal_container_state_reasons", ("InvalidImageName",)),
    _s("image_pull", "image_pull", "pending",
       r"ErrImagePull|ImagePullBackOff|Back-off pulling image|Failed to pull image|pull access denied|manifest unknown",
       "ErrImagePull ImagePullBackOff image pull errors", ("ErrImagePull", "ImagePullBackOff")),
    _s("create_container_config", "create_container_config", "pending",
       r"CreateContainerConfigError|secret \"?[\w.-]+\"? not found|configmap \"?[\w.-]+\"? not found|couldn't find key",
       "CreateContainerConfigError missing Secret ConfigMap", ("CreateContainerConfigError",)),
    _s("unbound_pvc", "scheduling_unbound_pvc", "pending",
       r"unbound immediate PersistentVolumeClaims|persistentvolumeclaim \"?[\w.-]+\"? not found|pod has unbound",
       "FailedScheduling unbound PersistentVolumeClaim pod Pending volume", ("FailedScheduling",)),
    _s("taint", "scheduling_taint", "pending",
       r"untolerated taint|had taint|didn't tolerate",
       "FailedScheduling untolerated taint tolerations pod Pending", ("FailedScheduling", "tolerations")),
    _s("affinity", "scheduling_affinity", "pending",
       r"didn't match (Pod's )?node (affinity|selector)|node\(s\) didn't match|MatchNodeSelector|node affinity",
       "FailedScheduling node affinity node selector mismatch pod Pending", ("FailedScheduling", "nodeSelector")),
    _s("insufficient", "scheduling_insufficient_resources", "pending",
       r"Insufficient (cpu|memory|nvidia|ephemeral)|FailedScheduling|0/\d+ nodes are available|Too many pods",
       "FailedScheduling Insufficient cpu memory pod stuck in Pending requests", ("FailedScheduling",)),
    _s("queued_timeout", "queued_timeout", "queued",
       r"stuck in queued|task_queued_timeout|queued for longer than|marked failed because it was queued|"
       r"Skipping pod creation due to kubernetes rate limit|exceeded max number of retries for stuck in queued",
       "task stuck in queued task_queued_timeout revoke", ("task_queued_timeout",)),
    _s("missing_logs", "missing_logs", "logs",
       r"could not read served logs|\*\*\* Log file does not exist|log file (not found|does not exist)|"
       r"Reading from k8s pod logs failed|Failed to fetch log file|No logs found|logs? (are |is )?not available",
       "logs not available remote logging pod deleted could not read served logs", ("remote_logging",)),
    _s("adoption", "adoption", "running",
       r"adopt(ed|ing)? (pod|task)|try_adopt_task_instances|Reset the following \d+ orphaned|orphaned TaskInstances|"
       r"Adopting or resetting orphaned",
       "adoption after a scheduler restart orphaned tasks airflow-worker label", ("try_adopt_task_instances",)),
    _s("pending_fatal", "pod_launch_failure", "pending",
       r"ErrImageNeverPull|CreateContainerError|ImageInspectError|RunContainerError",
       "worker_pod_pending_fatal_container_state_reasons pod launch failure", ("worker_pod_pending_fatal_container_state_reasons",)),
    _s("evicted", "pod_evicted", "running",
       r"\bEvicted\b|The node was low on resource|DeadlineExceeded|Preempting|preempted",
       "pod deleted evicted before it could complete task failed", ("Evicted",)),
)

_NOISE = re.compile(r"^\s*$")


@dataclass(frozen=True)
class Match:
    line_no: int
    line: str
    signature: Signature


def scan(text: str) -> list[Match]:
    """Every line that matches a signature (first matching signature per line)."""
    matches: list[Match] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if _NOISE.match(line) or len(line) > 2000:
            continue
        for sig in SIGNATURES:
            if sig.pattern.search(line):
                matches.append(Match(n, line.strip(), sig))
                break
    return matches


_PASTE_HINT = re.compile(
    r"^\s*(Events:|Name:\s|Namespace:\s|Status:\s|State:\s|Reason:\s|Type\s+Reason\s+Age|LAST SEEN|"
    r"\[\d{4}-\d\d-\d\d[T ]|\d{4}-\d\d-\d\d[T ]\d\d:\d\d|(Warning|Normal)\s+\w+|apiVersion:|\{\s*\"|"
    r"(ERROR|WARNING|INFO)\s*[-:\]]|Traceback|kubernetes\.client)",
    re.MULTILINE,
)


def looks_like_paste(text: str) -> bool:
    """Multi-line machine output (kubectl, events, logs), as opposed to a typed question."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return len(lines) >= 2 and len(_PASTE_HINT.findall(text)) >= 1


def split_question(text: str) -> tuple[str, str]:
    """(prose, paste): lines that look like machine output go to the paste part."""
    if not looks_like_paste(text):
        return text.strip(), ""
    prose, paste = [], []
    for line in text.splitlines():
        is_machine = bool(_PASTE_HINT.match(line)) or line.startswith(("  ", "\t")) or bool(
            re.match(r"^\s*[\w.-]+\s{2,}\S", line)
        )
        (paste if is_machine or (paste and line.strip() and not line.rstrip().endswith("?")) else prose).append(line)
    return "\n".join(prose).strip(), "\n".join(paste).strip()


def dominant(matches: list[Match]) -> list[Match]:
    """One match per failure class, most specific classes first (order of SIGNATURES)."""
    order = {s.name: i for i, s in enumerate(SIGNATURES)}
    firsts: dict[str, Match] = {}
    for m in matches:
        firsts.setdefault(m.signature.failure_class, m)
    return sorted(firsts.values(), key=lambda m: order[m.signature.name])
