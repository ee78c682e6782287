"""Failure signatures found in pasted kubectl output, events, pod status and Airflow logs.

Shared by the answerer (a paste drives retrieval) and triage (a ticket gets a failure class and the
lifecycle phase where it broke). Pastes come in every shape (describe, events, YAML, JSON, logs,
prose), so matching is line based on a normalised copy of each line (YAML '' quotes, JSON \\" escapes,
folded YAML scalars joined). The first signature of a line wins, so specific forms (quota 403) come
before general ones (a bare 403), and a bare 403 takes its class from the specific 403 next to it.

Which class is the root cause when several appear is decided by `precedence_key`; the rule is
written out in `PRECEDENCE_RULE` so triage can show it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PHASES = ("queued", "pod creation", "pending", "running", "completion", "logs")
STRONG, WEAK = 2, 1


@dataclass(frozen=True)
class FailureClass:
    """A failure class: where it breaks and how it ranks as a root cause."""

    name: str
    phase: str  # default lifecycle phase
    kind: str  # "cause" (an explicit reason) or "symptom" (what a cause looks like downstream)
    rank: int  # cause: lifecycle step reached (higher = later); symptom: precedence (lower wins)
    title: str


CLASSES: dict[str, FailureClass] = {
    c.name: c
    for c in (
        FailureClass("invalid_executor_config", "pod creation", "cause", 0, "Invalid executor_config / pod spec"),
        FailureClass("quota_exceeded", "pod creation", "cause", 1, "Quota 403 at pod creation"),
        FailureClass("rbac_forbidden", "pod creation", "cause", 1, "RBAC 403 forbidden"),
        FailureClass("api_conflict", "pod creation", "cause", 1, "409 conflict at pod creation"),
        FailureClass("api_invalid", "pod creation", "cause", 1, "422 invalid pod at pod creation"),
        FailureClass("scheduling_insufficient_resources", "pending", "cause", 2, "FailedScheduling: insufficient resources"),
        FailureClass("scheduling_taint", "pending", "cause", 2, "FailedScheduling: untolerated taint"),
        FailureClass("scheduling_affinity", "pending", "cause", 2, "FailedScheduling: node selector / affinity"),
        FailureClass("scheduling_unbound_pvc", "pending", "cause", 2, "FailedScheduling: volume / PVC"),
        FailureClass("pod_deleted_pending", "pending", "cause", 2, "Pod deleted while Pending"),
        FailureClass("pod_pending", "pending", "cause", 2, "Pod Pending, reason not shown"),
        FailureClass("image_pull", "pending", "cause", 3, "Image pull error"),
        FailureClass("create_container_config", "pending", "cause", 4, "CreateContainerConfigError"),
        FailureClass("pod_launch_failure", "pending", "cause", 4, "Container could not be created"),
        FailureClass("template_override_error", "pod creation", "cause", 0,
                     "pod_override / pod template not applied as intended"),
        FailureClass("pod_startup_crash", "pending", "cause", 4, "Worker pod dies before the task starts"),
        FailureClass("dag_not_found_in_worker", "running", "cause", 5, "DAG or its code missing in the worker pod"),
        FailureClass("secrets_config", "running", "cause", 5, "Worker pod lacks its config, secrets or DB connection"),
        FailureClass("execution_api_unreachable", "running", "cause", 5, "Worker cannot reach the Execution API"),
        FailureClass("db_connection_exhaustion", "running", "cause", 5, "Metadata DB out of connections"),
        FailureClass("task_killed_externally", "running", "cause", 5, "Running task killed from outside (SIGTERM, scale-down)"),
        FailureClass("oom_killed", "running", "cause", 5, "OOMKilled (exit 137)"),
        FailureClass("pod_evicted", "running", "cause", 5, "Pod evicted or deleted while running"),
        FailureClass("adoption", "running", "symptom", 0, "Adoption after a scheduler restart"),
        FailureClass("state_mismatch", "completion", "symptom", 1, "Executor reports finished although queued"),
        FailureClass("watcher_410", "completion", "symptom", 2, "Watcher 410 too old resource version"),
        FailureClass("queued_timeout", "queued", "symptom", 3, "Task stuck in queued"),
        FailureClass("missing_logs", "logs", "symptom", 4, "Logs not available"),
    )
}

PRECEDENCE_RULE = (
    "Root cause = (1) strong evidence (an exact reason or log string) before weak hints (a bare exit code, "
    "the word Pending, 'no logs'); (2) a cause (an explicit reason: API rejection, scheduling, image, config, "
    "OOM, eviction) before a symptom (state mismatch, stuck in queued, missing logs, watcher 410, adoption); "
    "(3) among causes, the furthest lifecycle step the pod reached (create < schedule < image pull < "
    "container config < run), because Kubernetes only moves forward and earlier-step events (FailedScheduling "
    "before a scale-up) were overcome; among symptoms: adoption > state mismatch > watcher 410 > queued > logs; "
    "(4) then the more specific signature, then more evidence lines."
)


@dataclass(frozen=True)
class Signature:
    name: str
    failure_class: str
    phase: str
    pattern: re.Pattern
    query: str  # what to search the KB for
    terms: tuple[str, ...] = ()  # identifiers to boost
    strength: int = STRONG
    generic: bool = False  # a bare status (403) whose class comes from the lines around it


def _s(name, cls, regex, query, terms=(), *, phase=None, strength=STRONG, generic=False, flags=re.IGNORECASE):
    return Signature(name, cls, phase or CLASSES[cls].phase, re.compile(regex, flags), query, tuple(terms),
                     strength, generic)


_Q_PENDING = "Pod stuck in Pending FailedScheduling events"
_Q_403 = "403 Forbidden"

SIGNATURES: tuple[Signature, ...] = (
    _s("invalid_executor_config", "invalid_executor_config",
       r"Invalid executor_config|Pod Mutation Hook failed|PodMutationHookException|PodReconciliationError",
       "pod_override not applied: Invalid executor_config passed, legacy format raises TypeError",
       ("pod_override",)),
    _s("quota_403", "quota_exceeded",
       r"exceeded quota|failed quota|forbidden:.*\bquota\b|\bquota\b.*\b(exceeded|forbidden)|ResourceQuota.*(exceed|denied|full)",
       "Quota 403 at pod creation exceeded quota ResourceQuota task_publish_max_retries",
       ("task_publish_max_retries", "ResourceQuota")),
    _s("limitrange_403", "quota_exceeded",
       r"maximum (cpu|memory|ephemeral-storage) usage per (Container|Pod)|minimum (cpu|memory) usage per|LimitRange",
       "LimitRange 403 Forbidden maximum memory usage per Container defaults", ("LimitRange",)),
    _s("rbac_403_logs", "rbac_forbidden", r"cannot (get|list) resource \"pods/log\"",
       "RBAC 403 forbidden pods/log service account logs", ("RBAC", "pods/log"), phase="logs"),
    _s("rbac_403_watch", "rbac_forbidden", r"cannot (watch|list) resource \"pods\"",
       "RBAC 403 forbidden watch list pods watcher service account", ("RBAC",), phase="completion"),
    _s("rbac_403_delete", "rbac_forbidden", r"cannot delete resource \"pods\"",
       "RBAC 403 forbidden delete pods cleanup service account", ("RBAC",), phase="completion"),
    _s("rbac_403_patch", "rbac_forbidden", r"cannot patch resource \"pods\"",
       "RBAC 403 forbidden patch pods adoption service account", ("RBAC",), phase="running"),
    _s("rbac_403", "rbac_forbidden",
       r"cannot \w+ resource \"?[\w/]+\"?(?= |$|\b)|is forbidden: User \"system:serviceaccount|\bRBAC\b.*\b(forbid|denied|missing|permission)",
       "RBAC 403 forbidden cannot create resource pods service account Role", ("RBAC",)),
    _s("missing_logs", "missing_logs",
       r"could not read served logs|Unable to fetch logs from worker pod|Log file does not exist|Log file not found|Reading from k8s pod logs failed|"
       r"Failed to fetch log file|port=8793|Could not read remote logs|No logs found|Trying to get logs .*from worker pod",
       "Logs not available could not read served logs remote logging pod deleted", ("remote_logging",)),
    _s("adoption", "adoption",
       r"Failed to adopt pod|attempting to adopt (pod|taskinstance)|\badopt(ed|ing) pod|Reset the following \d+ orphaned|"
       r"try_adopt_task_instances|Marked \d+ SchedulerJob instances as failed",
       "Adoption after a scheduler restart orphaned tasks airflow-worker label", ("airflow-worker",)),
    _s("state_mismatch", "state_mismatch",
       r"finished \(\w+\) although the task says (it'?s|its) (queued|running)|"
       r"finished with state \w+, but the task instance's state attribute is|\bstate mismatch\b|"
       r"task-state-changed-externally|Was the task killed externally|killed externally|"
       r"\bstate=(queued|running)\b.*\bexecutor_state=(failed|success)\b",
       "Executor reports task finished although the task says it's queued state mismatch", ()),
    _s("conflict_409", "api_conflict",
       r"\(409\)|\b409 Conflict|\b409 error|\berror 409\b|HTTP 409\b|Reason: '?Conflict|\"code\":\s*409|object has been modified|"
       r"\bpods? \"[^\"]+\" already exists|AlreadyExists",
       "409 and 422 errors at pod creation 409 conflict already exists object has been modified", ("409",)),
    _s("invalid_422", "api_invalid",
       r"\(422\)|\b422 Unprocessable|Unprocessable Entity|\bis invalid: \[?(spec|metadata)|Invalid value:|"
       r"Duplicate value:|\"code\":\s*422",
       "409 and 422 errors at pod creation 422 invalid pod spec Unprocessable Entity", ("422",)),
    _s("watch_410", "watcher_410",
       r"\(410\)|\b410 Gone|too old resource version|resource version is too old|Expired: too old|"
       r"'code': 410|\"code\":\s*410|Unknown error in KubernetesJobWatcher|health checking kube watcher|Reason: Gone",
       "Watcher 410 errors too old resource version KubernetesJobWatcher", ("410", "KubernetesJobWatcher")),
    _s("watch_restart", "watcher_410", r"my watch begins starting at resource_version: 0",
       "Watcher 410 errors too old resource version KubernetesJobWatcher", ("410",), strength=WEAK),
    _s("oom", "oom_killed", r"OOMKilled|\bOOM[- ]?killed|oom-kill|memory cgroup out of memory",
       "OOMKilled exit code 137 memory limit pod_override", ("OOMKilled", "137")),
    _s("oom_exit_137", "oom_killed",
       r"\bOOM\b|out of memory|memory limit (is |was |gets |got )?(exceeded|hit|reached)|exceed\w* (the |its )?memory limit|"
       r"\bexit[ _]?code\"?:?\s*137\b|exitCode\"?:?\s*137\b|\bcode 137\b|return code (-9|Negsignal\.SIGKILL)|"
       r"\bSIGKILL\b|killed by signal 9|\bsignal 9\b",
       "OOMKilled exit code 137 memory limit pod_override", ("OOMKilled", "137"), strength=WEAK),
    _s("deleted_pending_prose", "pod_deleted_pending",
       r"(deleted|evicted|removed)\W+(\w+\W+){0,3}(while|in|when)( the| it is| still)* pending|"
       r"pending (pod|state)\b.{0,40}\b(deleted|evicted)",
       "Pod deleted while Pending Failed to start pod", ()),
    _s("evicted", "pod_evicted",
       r"\bEvicted\b|The node was low on resource|deleted before it could complete|\bpreempted\b|"
       r"spot (instance )?(interruption|reclaim)|\bnode (was )?drained\b",
       "Pods left behind or deleted too early evicted deleted before it could complete", ("Evicted",)),
    _s("image_pull_qps", "image_pull", r"pull QPS exceeded",
       "ErrImagePull pull QPS exceeded registryPullQPS", ("ErrImagePull",)),
    _s("image_invalid", "image_pull", r"InvalidImageName|couldn't parse image reference|invalid reference format",
       "Image pull errors InvalidImageName worker_container_repository", ("InvalidImageName",)),
    _s("image_pull", "image_pull",
       r"ErrImagePull|ImagePullBackOff|ErrImageNeverPull|Back-off pulling image|Failed to pull image|"
       r"pull access denied|manifest unknown|image ?pull ?(back[- ]?off|error|fail)",
       "Image pull errors ErrImagePull ImagePullBackOff imagePullSecrets", ("ErrImagePull", "ImagePullBackOff")),
    _s("create_container_config", "create_container_config",
       r"CreateContainerConfigError|\bsecrets? \"[\w.-]+\" not found|\bconfigmaps? \"[\w.-]+\" not found|"
       r"couldn't find key \S+ in (Secret|ConfigMap)",
       "CreateContainerConfigError missing Secret or ConfigMap", ("CreateContainerConfigError",)),
    _s("pod_launch_failure", "pod_launch_failure",
       r"CreateContainerError|RunContainerError|ImageInspectError|\bStartError\b|failed to create containerd task|"
       r"failed to generate container",
       "Pod stuck in Pending: fatal container reason CreateContainerError worker_pod_pending_fatal_container_state_reasons",
       ("worker_pod_pending_fatal_container_state_reasons",)),
    _s("admission_denied", "pod_launch_failure",
       r"admission webhook \S+ denied|denied the request:|error looking up service account|"
       r"namespaces? \"[\w.-]+\" not found",
       "pod creation rejected admission webhook service account not found namespace task_publish_max_retries",
       ("task_publish_max_retries",), phase="pod creation"),
    _s("db_connections", "db_connection_exhaustion",
       r"too many clients already|remaining connection slots are reserved|too many connections|"
       r"QueuePool limit of size \d+ overflow|no more connections allowed|max_client_conn|"
       r"connection slots (are )?(reserved|exhausted)",
       "metadata database connections PgBouncer max_connections too many clients", ("max_connections", "PgBouncer")),
    _s("execution_api", "execution_api_unreachable",
       r"execution_api_server_url|EXECUTION_API_SERVER_URL|httpx\.(ConnectError|ConnectTimeout|ReadTimeout)|"
       r"httpcore\.(ConnectError|ConnectTimeout|ReadTimeout)|/execution/\S*.{0,80}(refused|timed? ?out|unreachable)|"
       r"airflow\.sdk\.api\.client\.ServerResponseError",
       "httpx.ConnectError Connection refused to the Execution API execution_api_server_url",
       ("execution_api_server_url",)),
    _s("worker_config_missing", "secrets_config",
       r"cannot use sqlite with the \w+|sqlite3?\.OperationalError|\bno such table: (log|task_instance|dag)\b|"
       r"kubernetes_secrets|kubernetes_environment_variables|AIRFLOW__KUBERNETES_SECRETS|"
       r"AIRFLOW__KUBERNETES_ENVIRONMENT_VARIABLES|fernet\.InvalidToken|FERNET_KEY configuration is missing|"
       r"Can't decrypt|conn_id `?[\w-]+`? isn't defined",
       "Fernet key, connections and variables in worker pods secrets env", ("fernet",)),
    _s("dag_not_found", "dag_not_found_in_worker",
       r"dag_id could not be found|Dag '?[\w.-]+'? could not be found|DagNotFound|Dag not found during start ?up|"
       r"Either the dag did not exist or it failed to parse|Requested bundle '[\w.-]+' is not configured|"
       r"could not find (the )?dag",
       "Dag could not be found in the worker pod git-sync dags_folder", ("dags_folder",)),
    _s("git_sync_init", "dag_not_found_in_worker",
       r"git-sync(-clone|-init)?\b.{0,80}\b(fail\w*|error|usage|exit\w*)|usage: git \[|GIT_SYNC_MAX_SYNC_FAILURES|"
       r"init container\b.{0,40}\b(did not|didn't|doesn't|does not|fail\w* to|can't|cannot) clone|\bgit usage\b",
       "git-sync as an init container in the worker pod template Dag could not be found", ("git-sync",),
       phase="pending"),
    _s("startup_crash", "pod_startup_crash",
       r"Init:(Error|CrashLoopBackOff)|No module named '?airflow'?(?![.\w])|Error while finding module specification for 'airflow|"
       r"Maximum number of retries \(\d+\) reached|exec format error|exec: \S+: (executable file )?not found|"
       r"airflow: (command )?not found|\bcrash(es|ed|ing)? (on|at|during) start-?up|"
       r"init container\b.{0,60}\b(fail\w*|error|exit\w*|timed? ?out|permission denied)",
       "worker pod fails before the task starts entrypoint image init container", ("CrashLoopBackOff",)),
    _s("override_not_applied", "template_override_error",
       r"reconcile_specs|pod_template_override|"
       r"(pod_override|executor_config|pod_template_file|pod template)\b.{0,60}\b(is |are |gets |got )?"
       r"(ignored|not (being )?(applied|working|used|merged|honou?red|taken)|doesn'?t (work|apply|take)|has no effect|"
       r"overrid\w+ by)|"
       r"\b(ignored|not applied|not merged)\b.{0,40}\b(pod_override|executor_config|pod_template_file)|"
       r"duplicate (init[ _]?containers?|containers?) name|\brestartPolicy\b",
       "pod_override not applied pod_template_file merge base container", ("pod_override", "pod_template_file")),
    _s("legacy_executor_config", "invalid_executor_config",
       r"['\"]KubernetesExecutor['\"]\s*:\s*\{|Using a dictionary for the executor_config is deprecated",
       "pod_override not applied: Invalid executor_config passed, legacy format raises TypeError",
       ("pod_override",)),
    _s("killed_externally", "task_killed_externally",
       r"safe-to-evict|do-not-disrupt|scale[- ]?down|ScaleDown|consolidat\w+ .{0,40}node|"
       r"State of this instance has been externally set|AirflowTaskTerminated",
       "Received SIGTERM: eviction, scale-down and spot reclaim safe-to-evict", ("safe-to-evict",)),
    # Scheduling: a "0/N nodes are available" message is read as a whole by `_scheduling_reason`.
    _s("autoscaler_no_scale_up", "scheduling_insufficient_resources",
       r"didn't trigger scale-up|NotTriggerScaleUp|max node group size reached",
       f"{_Q_PENDING} Insufficient cpu memory autoscaler requests", ("FailedScheduling",), strength=WEAK),
    _s("unbound_pvc", "scheduling_unbound_pvc",
       r"unbound immediate PersistentVolumeClaims|persistentvolumeclaim \"[\w.-]+\" not found|pod has unbound|"
       r"volume node affinity conflict|Multi-Attach error|FailedAttachVolume",
       f"{_Q_PENDING} unbound PersistentVolumeClaim PVC ReadWriteMany", ("FailedScheduling", "persistentVolumeClaim")),
    _s("taint", "scheduling_taint",
       r"untolerated taint|had taints? that the pod didn't tolerate|didn't tolerate|node\(s\) were unschedulable",
       f"{_Q_PENDING} taints and tolerations", ("FailedScheduling", "tolerations")),
    _s("taint_hint", "scheduling_taint",
       r"^\s*Taints:\s+(?!<none>)\S|\btainted\b|\btaints?\b.*\btolerat|:NoSchedule\b",
       f"{_Q_PENDING} taints and tolerations", ("tolerations",), strength=WEAK),
    _s("affinity", "scheduling_affinity",
       r"didn't match (Pod's )?node (affinity|selector)|node\(s\) didn't match|MatchNodeSelector|node affinity/selector",
       f"{_Q_PENDING} nodeSelector affinity", ("FailedScheduling", "nodeSelector")),
    _s("insufficient", "scheduling_insufficient_resources",
       r"Insufficient [\w./-]+|Too many pods",
       f"{_Q_PENDING} Insufficient cpu memory requests", ("FailedScheduling",), flags=0),
    _s("failed_scheduling", "pod_pending", r"FailedScheduling|nodes are available|\bUnschedulable\b(?!:\s*false)",
       _Q_PENDING, ("FailedScheduling",), strength=WEAK),
    _s("pod_deleted_pending", "pod_deleted_pending", r"Failed to start pod\b",
       "Pod deleted while Pending Failed to start pod", ()),
    _s("queued_timeout", "queued_timeout",
       r"stuck in queued|requeued more than \d+ times|queued for longer than|"
       r"marked failed because it was queued|Skipping pod creation due to kubernetes rate limit|"
       r"Backing off pod creation|status 429|\(429\)|Too Many Requests",
       "Task stuck in QUEUED: stuck in queued reschedule, revoke_task, task_queued_timeout", ("task_queued_timeout",)),
    _s("queued_hint", "queued_timeout",
       r"Cannot find pod for ti|Dropping stale Kubernetes workload|\btask_queued_timeout\b|"
       r"\b(is|are|sit|sits|sitting|stay|stays|staying|stuck|hang|hangs|hanging|remain|remains|wait|waits)\s+"
       r"(in\s+)?(the\s+)?[\"'`]?queued\b",
       "Task stuck in QUEUED task_queued_timeout", ("task_queued_timeout",), strength=WEAK),
    _s("quota_hint", "quota_exceeded", r"\b(resource ?)?quota\b",
       "Quota 403 at pod creation ResourceQuota task_publish_max_retries", ("task_publish_max_retries",),
       strength=WEAK),
    _s("pod_launch_hint", "pod_launch_failure",
       r"pod launch (error|fail\w*)|(unable|fail\w*) to (launch|create) the (worker )?pods?\b|invalid namespace",
       "pod creation rejected task_publish_max_retries pod launch", ("task_publish_max_retries",), phase="pod creation",
       strength=WEAK),
    _s("pvc_hint", "scheduling_unbound_pvc",
       r"persistent ?volume ?claims?|\bPVCs?\b.{0,30}(pending|unbound|not bound)|kubectl (-n \S+ )?get pvc",
       f"{_Q_PENDING} unbound PersistentVolumeClaim PVC", ("persistentVolumeClaim",), strength=WEAK),
    _s("state_hint", "state_mismatch", r"\b_change_state\b|TaskInstanceState\(|\bprocess_watcher_task\b",
       "Executor reports task finished although the task says it's queued state mismatch", (), strength=WEAK),
    _s("pod_pending_hint", "pod_pending",
       r"\b[Pp]ending\b(?! tasks)|\bContainerCreating\b|\bInit:\d+/\d+|PodScheduled\s+False",
       _Q_PENDING, ("FailedScheduling",), strength=WEAK, flags=0),
    _s("adoption_hint", "adoption", r"Adopting or resetting orphaned tasks|\borphaned task",
       "Adoption after a scheduler restart orphaned tasks", ("airflow-worker",), strength=WEAK),
    _s("logs_hint", "missing_logs",
       r"\blogs? (are |is )?(gone|missing|empty|lost|not available|not found|disappear\w*)|can'?t see (the |any )?logs?|"
       r"\bno (task )?logs?\b",
       "Logs not available remote logging", ("remote_logging",), strength=WEAK),
    _s("sigterm_hint", "task_killed_externally", r"Received SIGTERM|\bSIGTERM\b",
       "Received SIGTERM: eviction, scale-down and spot reclaim", ("SIGTERM",), strength=WEAK),
    _s("db_hint", "db_connection_exhaustion", r"\bmax_connections\b|\bpgbouncer\b|sql_alchemy_pool_size",
       "metadata database connections PgBouncer max_connections", ("max_connections",), strength=WEAK),
    _s("execution_api_hint", "execution_api_unreachable",
       r"\bexecution[ _-]api\b|Connecting to server:.{0,40}/execution",
       "Airflow 3 worker pods and the Execution API execution_api_server_url", ("execution_api_server_url",),
       strength=WEAK),
    _s("dag_code_hint", "dag_not_found_in_worker",
       r"\bgit[- ]?sync\b|\binstallRequirements\b|requirements\.txt|pip (install|dependencies)|"
       r"ImportError: cannot import name|dags? folder .{0,20}empty",  # not "No module named": the DAG processor says it too
       "Dag could not be found in the worker pod packages plugins worker image", ("dags_folder",), strength=WEAK),
    _s("startup_hint", "pod_startup_crash",
       r"CrashLoopBackOff|Back-off restarting failed container|fail\w* to (initiali[sz]e|start up|spin up)|"
       r"\bPermission denied\b|before the task (starts|runs|ran|begins)|exits? (immediately|right away)|"
       r"\bentrypoint\b.{0,40}(fail|exit|error)|\bInit:\d+/\d+\b.{0,40}\bError\b",
       "worker pod fails before the task starts entrypoint init container", (), strength=WEAK),
    _s("override_hint", "template_override_error",
       r"\bpod_override\b|\bpod_template_file\b|\bpod_mutation_hook\b|\bpod template\b|\binit_containers\b|"
       r"\bPodGenerator\b|\bdynamic_pod\b",
       "pod_override not applied pod_template_file", ("pod_override",), strength=WEAK),
    _s("http_403", "rbac_forbidden",
       r"\(403\)|\b403 Forbidden|Reason: '?Forbidden|reason '?Forbidden|\"code\":\s*403|\bForbidden\b",
       _Q_403, (), strength=WEAK, generic=True),
)

BY_NAME = {s.name: s for s in SIGNATURES}
_ORDER = {s.name: i for i, s in enumerate(SIGNATURES)}
_FAMILY_403 = {"quota_exceeded", "rbac_forbidden", "missing_logs", "adoption", "image_pull"}
_CONTEXT = 6  # lines either side in which a bare 403 looks for its specific line

_NOISE = re.compile(r"^\s*$")
_SEGMENT = re.compile(r"(?=\bExtra info:|\(Info: (?!None\)))")
_CONTROL_PLANE = re.compile(
    r"\b(scheduler|webserver|api[- ]server|triggerer|dag[- ]processor|postgres\w*|pgbouncer|redis)\b(?![_.])", re.I)
_NODES = re.compile(r"\d+/\d+ nodes are available:(?P<body>[^\n]*)", re.I)
_SYSTEM_TAINT = re.compile(
    r"control-plane|node-role\.kubernetes\.io/master|node\.kubernetes\.io/(not-ready|unreachable|disk-pressure|"
    r"memory-pressure|pid-pressure|unschedulable|network-unavailable)|were unschedulable", re.I)


@dataclass(frozen=True)
class Match:
    line_no: int  # 1-based line in the pasted text
    line: str  # the line as pasted (stripped, shortened around the match when very long)
    signature: Signature


def normalise_line(line: str) -> str:
    """One matching form for YAML ('' quotes), JSON (\\" and \\\\" escapes) and plain text."""
    return line.replace('\\\\"', '"').replace('\\"', '"').replace("''", "'")


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(line number, text) with folded YAML scalars ('...' or "..." spanning lines) joined."""
    out: list[tuple[int, str]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        n, line = i + 1, lines[i]
        m = re.match(r"^\s*(- )?[\w.-]+:\s+(['\"])", line)
        if m and len(line) < 2000:
            quote = m.group(2)
            body = line[m.end():].replace(quote * 2, "")
            while quote not in body and i + 1 < len(lines) and len(line) < 4000:
                i += 1
                line = line + " " + lines[i].strip()
                body = body + " " + lines[i].replace(quote * 2, "")
        out.append((n, line))
        i += 1
    return out


def _quote(line: str, start: int, end: int, width: int = 220) -> str:
    line = line.strip()
    if len(line) <= width:
        return line
    lo = max(0, start - width // 4)
    hi = min(len(line), lo + width)
    return ("..." if lo else "") + line[lo:hi].strip() + ("..." if hi < len(line) else "")


def _scheduling_reason(message: str) -> Signature | None:
    """The binding constraint of a "0/N nodes are available: ..." message.

    Nodes are reported under the first filter they fail (taints are checked before affinity, affinity
    before resources), so: nodes that passed taints and affinity but lack CPU/memory mean the eligible
    nodes are full; a PVC problem blocks every node; a non-system taint hides the nodes the pod was
    meant for; then affinity; system taints (control-plane, not-ready, cordoned) alone mean no usable node.
    """
    m = _NODES.search(message)
    if not m:
        return None
    body = re.split(r"preemption:", m.group("body"), flags=re.I)[0]
    if re.search(r"Insufficient|Too many pods", body, re.I):
        return BY_NAME["insufficient"]
    if BY_NAME["unbound_pvc"].pattern.search(body) or re.search(r"volume|PersistentVolumeClaim", body, re.I):
        return BY_NAME["unbound_pvc"]
    taints = [p for p in re.split(r",\s*(?=\d+ )", body) if BY_NAME["taint"].pattern.search(p)]
    user_taints = [p for p in taints if not _SYSTEM_TAINT.search(p)]
    if user_taints:
        return BY_NAME["taint"]
    if BY_NAME["affinity"].pattern.search(body) or re.search(r"node selector|affinity", body, re.I):
        return BY_NAME["affinity"]
    if taints:
        return BY_NAME["taint"]
    return None


def _match_segment(segment: str) -> tuple[Signature, re.Match] | None:
    probe = normalise_line(segment)
    for sig in SIGNATURES:
        found = sig.pattern.search(probe)
        if found and sig.failure_class == "oom_killed" and _CONTROL_PLANE.search(probe):
            continue  # the scheduler or the DB running out of memory is not a worker-pod OOM
        if found:
            if sig.failure_class.startswith("scheduling_") or sig.name == "failed_scheduling":
                refined = _scheduling_reason(probe)
                if refined is not None:
                    sig = refined
            return sig, found
    return None


def _resolve_generic(matches: list[Match]) -> list[Match]:
    """A bare 403 takes the class of the nearest specific 403-family line (quota, RBAC, logs, adoption)."""
    specific = [m for m in matches if not m.signature.generic and m.signature.failure_class in _FAMILY_403]
    out: list[Match] = []
    for m in matches:
        if not m.signature.generic:
            out.append(m)
            continue
        near = [s for s in specific if abs(s.line_no - m.line_no) <= _CONTEXT]
        if near:
            best = min(near, key=lambda s: (abs(s.line_no - m.line_no), s.line_no < m.line_no))
            out.append(Match(m.line_no, m.line, best.signature))
        else:
            out.append(m)
    return out


def scan(text: str) -> list[Match]:
    """Every line (or clause after "Extra info:") that matches a signature, in text order."""
    matches: list[Match] = []
    for n, line in logical_lines(text):
        if _NOISE.match(line):
            continue
        for segment in _SEGMENT.split(line):
            if not segment.strip():
                continue
            hit = _match_segment(segment[:20000])
            if hit is None:
                continue
            sig, found = hit
            offset = line.find(segment)
            matches.append(Match(n, _quote(line, offset + found.start(), offset + found.end()), sig))
    return _resolve_generic(matches)


def precedence_key(cls: str, strength: int, signature: str, evidence: int = 1, first_line: int = 0) -> tuple:
    """Sort key, smallest = primary (see PRECEDENCE_RULE)."""
    info = CLASSES[cls]
    step = -info.rank if info.kind == "cause" else info.rank
    return (-strength, info.kind != "cause", step, _ORDER.get(signature, 999), -evidence, first_line)


def rank_classes(matches: list[Match]) -> list[list[Match]]:
    """Matches grouped by failure class, primary first (PRECEDENCE_RULE)."""
    groups: dict[str, list[Match]] = {}
    for m in matches:
        groups.setdefault(m.signature.failure_class, []).append(m)

    def key(ms: list[Match]) -> tuple:
        best = min(ms, key=lambda m: (-m.signature.strength, _ORDER[m.signature.name]))
        return precedence_key(best.signature.failure_class, best.signature.strength, best.signature.name,
                              len(ms), ms[0].line_no)

    ordered = sorted(groups.values(), key=key)
    for ms in ordered:  # strongest, most specific evidence first within a class
        ms.sort(key=lambda m: (-m.signature.strength, _ORDER[m.signature.name], m.line_no))
    return ordered


def dominant(matches: list[Match]) -> list[Match]:
    """One strong match per failure class, root cause first.

    Weak hints (the word Pending, a bare exit code, "no logs") are left to triage: the answerer treats
    any match here as an in-scope paste and steers retrieval by it, which a hint should not do.
    """
    strong = [m for m in matches if m.signature.strength == STRONG]
    return [g[0] for g in rank_classes(strong)]


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
