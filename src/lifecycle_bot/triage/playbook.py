"""Per failure class: the next steps to take and the facts still needed to decide.

Steps name a command *shape* (`find`, a regex) rather than a command: triage quotes the matching
command verbatim from the cited KB section's code blocks, so the checklist follows the KB as it
changes. `fallback` is used only when the KB has no such command (it is then marked as not from the KB).
Missing-info probes are skipped when `present` already matches the ticket.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    text: str
    find: str = ""  # regex over KB commands; "" = advice without a command
    fallback: str = ""


@dataclass(frozen=True)
class Need:
    text: str
    present: str  # regex: the ticket already contains this


VERSIONS = Need("the Airflow and cncf.kubernetes provider versions (behaviour changed across releases)",
                r"(?i)(airflow|provider|cncf)[^\n]{0,25}\b\d+\.\d+")
EVENTS = Need("the Events of `kubectl describe pod <pod>` for the worker pod", r"(?im)^\s*Events:|FailedScheduling|kubelet\s")
SCHED_LOG = Need("the scheduler log lines for this task (`kubectl logs deploy/<scheduler> | grep <dag_id>`)",
                 r"(?i)kubernetes_executor|scheduler_job|KubernetesJobWatcher|TaskInstanceKey|\bERROR\b|\bWARNING\b")

_DESCRIBE = Step("Read the pod's Events and status", r"^kubectl describe pod\b(?!.*sed)", "kubectl describe pod -n <ns> <pod>")
_EVENTS = Step("List recent Warning events in the namespace", r"^kubectl get events .*(type=Warning|FailedScheduling)",
               "kubectl get events -n <ns> --field-selector type=Warning --sort-by=.lastTimestamp")
_POD_YAML = Step("Inspect the pod spec as submitted (template + pod_override merged)", r"^kubectl get pod \S+ \S+ -o yaml",
                 "kubectl get pod -n <ns> <pod> -o yaml")
_SCHED_GREP = Step("Grep the scheduler log for the executor's messages about this task",
                   r"^kubectl logs .*scheduler.*grep", "kubectl logs -n <ns> deploy/airflow-scheduler --since=1h | grep -i <dag_id>")
_TASK_PODS = Step("Find every pod of this task (newest last)", r"^kubectl get pods .*-l dag_id=.*sort-by",
                  "kubectl get pods -n <ns> -l dag_id=<dag_id>,task_id=<task_id> --sort-by=.metadata.creationTimestamp")
_BASE_LOGS = Step("Read the worker container's own output", r"^kubectl logs \S+ \S+ \S+ -c base",
                  "kubectl logs -n <ns> <pod> -c base --tail=200")
_CLEAR = Step("After the fix, clear the failed task instances so they run again")

PLAYBOOK: dict[str, tuple[tuple[Step, ...], tuple[Need, ...]]] = {
    "scheduling_insufficient_resources": (
        (_DESCRIBE,
         Step("Compare the pod's requests with what the nodes can still allocate", r"^kubectl describe nodes?\b",
              "kubectl describe nodes | grep -A8 'Allocated resources'"),
         Step("Check whether the autoscaler could add a node (NotTriggerScaleUp, max group size)",
              r"^kubectl get events .*FailedScheduling", "kubectl get events -n <ns> --field-selector reason=FailedScheduling"),
         Step("Lower the task's requests in pod_override or add capacity; keep task_queued_timeout above a normal scale-up",
              r"^airflow config get-value scheduler task_queued_timeout", "airflow config get-value scheduler task_queued_timeout")),
        (EVENTS, Need("the pod's resource requests (`Requests:` in `kubectl describe pod`)", r"(?i)requests[:=]|\"requests\"|request_(memory|cpu)|\b\d+(\.\d+)?\s*(?-i:Gi|Mi|Ki|G|M)\b|\b\d+m? ?(cpu|vcpu|cores?)\b"),
         Need("node sizes and autoscaler limits (`kubectl describe nodes`, Allocatable)", r"(?i)allocatable|Allocated resources|max node group|node type|m5\.|\d+Gi nodes")),
    ),
    "scheduling_taint": (
        (_DESCRIBE, _POD_YAML,
         Step("List the taints on the nodes", r"^kubectl describe nodes?\b",
              "kubectl get nodes -o custom-columns=NAME:.metadata.name,TAINTS:.spec.taints"),
         Step("Add the matching toleration to the pod template or the task's pod_override (or pick untainted nodes)")),
        (EVENTS, Need("the pod's tolerations (`kubectl get pod <pod> -o yaml`)", r"(?i)tolerations"),
         Need("the node taints (`kubectl describe node`, Taints:)", r"(?i)taints?:|\{[\w./-]+: [\w-]*\}|NoSchedule")),
    ),
    "scheduling_affinity": (
        (_DESCRIBE, _POD_YAML,
         Step("Compare with the labels the nodes really carry", r"^kubectl get nodes .*labels",
              "kubectl get nodes --show-labels"),
         Step("Fix nodeSelector / affinity in the template or pod_override, or label a node pool to match")),
        (EVENTS, Need("the pod's nodeSelector / affinity (`kubectl get pod <pod> -o yaml`)", r"(?i)node_?selector|affinity:|Node-Selectors:"),
         Need("the node labels (`kubectl get nodes --show-labels`)", r"(?i)--show-labels|Labels:\s")),
    ),
    "scheduling_unbound_pvc": (
        (_DESCRIBE,
         Step("Check the claims the pod mounts: bound? access mode?", r"^kubectl get pvc", "kubectl get pvc -n <ns>"),
         Step("Describe the pending claim for provisioner errors", r"^kubectl describe pvc", "kubectl describe pvc -n <ns> <claim>"),
         Step("Use ReadWriteMany storage for DAG or log volumes shared by many pods")),
        (EVENTS, Need("the PVC status (`kubectl get pvc -n <ns>`)", r"(?i)kubectl get pvc|\bBound\b|ReadWrite"),
         Need("the pod template's volumes section", r"(?i)persistentVolumeClaim|claimName|volumes:")),
    ),
    "image_pull": (
        (Step("Read the pull events (the registry's exact error)", r"^kubectl get events .*involvedObject",
              "kubectl get events -n <ns> --field-selector involvedObject.name=<pod> --sort-by=.lastTimestamp"),
         Step("Check which image the pod asked for", r"^kubectl get pod .*jsonpath=.*image",
              "kubectl get pod -n <ns> <pod> -o jsonpath='{.spec.containers[0].image}'"),
         Step("Test the pull by hand", r"^kubectl run pulltest", "kubectl run pulltest -n <ns> --image=<image> --restart=Never --command -- true"),
         Step("Fix the reference or add imagePullSecrets, then clean up the failed pods", r"^airflow kubernetes cleanup-pods",
              "airflow kubernetes cleanup-pods --namespace <ns>")),
        (Need("the exact image reference the pod uses", r"(?i)pulling image|image[:=]\s*\S|Image:\s"),
         Need("the Failed event message from the kubelet", r"(?i)failed to pull image|couldn't parse|pull access denied|Failed to apply default image|fatal reason"),
         Need("whether the pod or its service account has imagePullSecrets", r"(?i)imagePullSecret|pull ?secret|docker login"),
         VERSIONS),
    ),
    "create_container_config": (
        (Step("Read the Events: they name the missing Secret, ConfigMap or key", r"^kubectl describe pod .*Events",
              "kubectl describe pod -n <ns> <pod> | sed -n '/Events:/,$p'"),
         Step("Check the object exists in the *worker* namespace", r"^kubectl get (secret|configmap)",
              "kubectl get secret,configmap -n <ns>"),
         Step("Create the object (or fix the name/key) in the pod's namespace; mark optional refs optional: true"),
         _CLEAR),
        (Need("the Events line naming the missing object or key", r"(?i)not found|couldn't find key"),
         Need("the namespace the worker pods run in and where the Secret/ConfigMap lives", r"(?i)namespace")),
    ),
    "pod_launch_failure": (
        (_DESCRIBE, _BASE_LOGS,
         Step("Check the fatal-reason list the watcher uses",
              r"^airflow config get-value kubernetes_executor", "airflow config get-value kubernetes_executor worker_pod_pending_fatal_container_state_reasons"),
         Step("Fix the image, entrypoint or security context, then clear the task")),
        (EVENTS, Need("the container's waiting message (`Error: ...` in the Events)", r"(?i)Error: ")),
    ),
    "oom_killed": (
        (Step("Confirm the reason, exit code and memory limit of the container", r"^kubectl describe pod\b(?!.*sed)",
              "kubectl describe pod -n <ns> <pod>"),
         Step("Find other OOM-killed worker pods", r"OOMKilled", "kubectl get pods -n <ns> -l kubernetes_executor=True -o json | jq -r '.items[] | select(.status.containerStatuses[]?.state.terminated.reason==\"OOMKilled\") | .metadata.name'"),
         Step("Raise both requests and limits for this task via pod_override (the override replaces resources as a whole)"),
         Step("Reduce the task's peak memory (chunking, streaming) and give it retries")),
        (Need("the container's memory limit and request", r"(?i)limits?:|limit[s ]+memory|memory:\s*\d|\b\d+(\.\d+)?\s*(?-i:Gi|Mi|G|M)\b"),
         Need("whether the task was already running when killed (task state, task log)", r"(?i)up_for_retry|\[running\]|\[queued\]|task log|Executing <Task"),
         Need("the container reason and exit code (`kubectl describe pod`)", r"(?i)OOMKilled|exit[ _]?code|Exit Code")),
    ),
    "pod_evicted": (
        (Step("List eviction events", r"^kubectl get events .*Evicted", "kubectl get events -n <ns> --field-selector reason=Evicted"),
         Step("See which worker pods failed and why", r"^kubectl get pods .*custom-columns",
              "kubectl get pods -n <ns> -l kubernetes_executor=True -o wide"),
         Step("Check node conditions and autoscaler/spot activity at that time", r"^kubectl describe nodes?\b", "kubectl describe node <node>"),
         Step("Protect running tasks: PodDisruptionBudget or the safe-to-evict annotation; set requests close to real use")),
        (Need("the eviction or deletion message (which resource the node was low on, or who deleted the pod)",
              r"(?i)low on resource|deleted before|scale.?down|spot|preempt|drain"),
         Need("the node events around the time (NotReady, drain, scale-down)", r"(?i)NotReady|drain|scale.?down|interruption")),
    ),
    "pod_deleted_pending": (
        (Step("Find the executor's messages about the vanished pod", r"^kubectl logs .*scheduler.*grep",
              "kubectl logs -n <ns> deploy/airflow-scheduler --since=1h | grep -E 'Failed to start pod|Cannot find pod for ti'"),
         Step("Find who deletes Pending pods (cleanup jobs, admission controllers, audit log)"),
         Step("Make the external deleter skip pods labelled kubernetes_executor=True; the task is rescheduled after task_queued_timeout")),
        (Need("who or what deleted the pod (cleanup CronJob, controller, audit log entry)", r"(?i)cronjob|janitor|cleanup|audit|kubectl delete"),
         VERSIONS),
    ),
    "pod_pending": (
        (_DESCRIBE, _EVENTS,
         Step("Match the FailedScheduling / pull / volume reason to its section, then fix that cause")),
        (Need("the Events of `kubectl describe pod <pod>` (FailedScheduling reason, image pull or volume messages)",
              r"(?im)^\s*Events:|FailedScheduling|nodes are available"),),
    ),
    "quota_exceeded": (
        (Step("Compare quota Used vs Hard in the worker namespace", r"^kubectl describe resourcequota",
              "kubectl describe resourcequota -n <ns>"),
         Step("Check the publish retry budget (0 = fail at the first 403)", r"task_publish_max_retries",
              "airflow config get-value kubernetes_executor task_publish_max_retries"),
         Step("Count leftover worker pods that still hold quota", r"^kubectl get pods .*kubernetes_executor=True",
              "kubectl get pods -n <ns> -l kubernetes_executor=True"),
         Step("Set task_publish_max_retries > 0 (or -1), keep [core] parallelism within the quota, or lower requests")),
        (Need("`kubectl describe resourcequota -n <ns>` (Used vs Hard)", r"(?i)Used\s+Hard|describe resourcequota|limited: |used: "),
         Need("the value of task_publish_max_retries", r"(?i)task_publish_max_retries|\[Try \d+ of"),
         VERSIONS),
    ),
    "rbac_forbidden": (
        (Step("Check each verb the executor needs, as its service account", r"^(for verb|kubectl auth can-i)",
              "kubectl auth can-i create pods -n <ns> --as=system:serviceaccount:<ns>:<scheduler-sa>"),
         Step("Inspect the Role/RoleBinding bound to that service account",
              r"^kubectl get (role|rolebinding)", "kubectl get role,rolebinding -n <ns> -o yaml"),
         Step("Grant create, get, list, watch, patch, delete on pods (and get on pods/log for the log reader)"),
         _CLEAR),
        (Need("the exact denied verb and resource (the `cannot <verb> resource` text)", r"(?i)cannot \w+ resource"),
         Need("the Role/ClusterRole and binding of the service account", r"(?i)kind: (Cluster)?Role|RoleBinding|verbs|rbac\.create")),
    ),
    "api_conflict": (
        (_SCHED_GREP,
         Step("Render the pod the executor builds and look for a fixed metadata.name", r"^airflow kubernetes generate-dag-yaml",
              "airflow kubernetes generate-dag-yaml <dag_id> -o /tmp/podspec"),
         Step("Remove metadata.name from pod_override; for 'object has been modified' raise task_publish_max_retries",
              r"task_publish_max_retries", "airflow config get-value kubernetes_executor task_publish_max_retries")),
        (Need("the full 409 message (`already exists` vs `object has been modified`)", r"(?i)already exists|object has been modified"),
         Need("the task's pod_override / executor_config", r"(?i)pod_override|executor_config|V1ObjectMeta"), VERSIONS),
    ),
    "api_invalid": (
        (Step("Render the pod spec the executor would submit", r"^airflow kubernetes generate-dag-yaml",
              "airflow kubernetes generate-dag-yaml <dag_id> -o /tmp/podspec"),
         Step("Validate it against the API server", r"dry-run=server", "kubectl apply --dry-run=server -f <file>"),
         Step("Fix the invalid field: requests above limits, duplicate volume/env names, over-long labels")),
        (Need("the full 422 message naming the invalid field", r"(?i)Invalid value|Duplicate value|is invalid"),
         Need("the template and pod_override / pod_mutation_hook involved", r"(?i)pod_override|pod_template|mutation_hook|executor_config")),
    ),
    "invalid_executor_config": (
        (Step("Render the task's pod to see the error without a cluster", r"^airflow kubernetes generate-dag-yaml",
              "airflow kubernetes generate-dag-yaml <dag_id> -o /tmp/podspec"),
         _SCHED_GREP,
         Step("Use executor_config={'pod_override': k8s.V1Pod(...)} with the worker container named base")),
        (Need("the task's executor_config", r"(?i)executor_config"), VERSIONS),
    ),
    "watcher_410": (
        (Step("See how often the watcher dies and restarts", r"KubernetesJobWatcher",
              "kubectl logs -n <ns> deploy/airflow-scheduler --since=2h | grep -E -A3 'KubernetesJobWatcher|too old'"),
         Step("Check TCP keepalive and request timeouts", r"^airflow config get-value kubernetes_executor",
              "airflow config get-value kubernetes_executor enable_tcp_keepalive"),
         Step("An occasional 410 needs nothing; repeated ones point at API server restarts or proxy idle timeouts")),
        (Need("how often it happens (timestamps over an hour or more)", r"(?i)every \d|times (per|in|an)|\d+ times|per hour|few minutes"),
         Need("what sits between the scheduler and the API server (load balancer, proxy idle timeout)", r"(?i)load balancer|\bNLB\b|\bELB\b|haproxy|proxy|idle timeout"),
         VERSIONS),
    ),
    "state_mismatch": (
        (Step("Query the state-mismatch rows the scheduler wrote", r"event = 'state mismatch'",
              "SELECT dttm, dag_id, task_id, try_number, extra FROM log WHERE event = 'state mismatch' ORDER BY dttm DESC LIMIT 20;"),
         _TASK_PODS, _BASE_LOGS,
         Step("Act on the root cause the pod shows (the message itself is only the messenger)")),
        (Need("the worker pod's status and its `kubectl logs <pod> -c base` output", r"(?i)kubectl logs|container_reason|Reason:|\bError\b\s+\d"),
         Need("the Extra info / Info part of the message", r"(?i)Extra info: \S|Info: (?!None)"), VERSIONS),
    ),
    "queued_timeout": (
        (Step("Does a pod exist for the task, and in what phase?", r"^kubectl get pods .*-l kubernetes_executor=True,dag_id",
              "kubectl get pods -n <ns> -l kubernetes_executor=True,dag_id=<dag_id>,task_id=<task_id> -o wide"),
         Step("Read the executor's side: pod creation, rate limits, stuck-in-queued", r"^kubectl logs .*scheduler.*grep",
              "kubectl logs -n <ns> deploy/airflow-scheduler --since=30m | grep -E 'Creating kubernetes pod|rate limit|stuck in queued'"),
         Step("List queued task instances and how long they waited", r"WHERE state = 'queued'",
              "SELECT dag_id, task_id, queued_dttm FROM task_instance WHERE state = 'queued' ORDER BY queued_dttm;"),
         Step("Check the pod creation batch size", r"worker_pods_creation_batch_size",
              "airflow config get-value kubernetes_executor worker_pods_creation_batch_size")),
        (Need("whether a pod exists for the task (`kubectl get pods -l dag_id=...,task_id=...`)", r"(?i)kubectl get (pods|po)\b|no pods|pod is there"),
         Need("worker_pods_creation_batch_size, parallelism and task_queued_timeout", r"(?i)worker_pods_creation_batch_size|parallelism|task_queued_timeout"),
         VERSIONS),
    ),
    "missing_logs": (
        (Step("Is remote logging on (scheduler, API server and the worker pods)?", r"^airflow config get-value logging remote",
              "airflow config get-value logging remote_logging"),
         Step("Read the pod's log directly while it exists", r"^kubectl logs \S+ \S+ \S+ -c base",
              "kubectl logs -n <ns> <pod> -c base --tail=50"),
         Step("Check the pod can be found by its labels (exactly one match)", r"^kubectl get pods .*try_number",
              "kubectl get pods -n <ns> -l dag_id=<dag_id>,task_id=<task_id>,try_number=<n>"),
         Step("Turn on remote logging (or a shared RWX log volume); give the log reader get on pods/log")),
        (Need("whether remote logging is configured ([logging] remote_logging)", r"(?i)remote_logging|remote logging|\bs3://|\bgs://|\bGCS\b|\bS3\b|PVC"),
         Need("whether the task was running or finished when the log was missing", r"(?i)\[running\]|\[success\]|\[failed\]|while (it|the task) runs|finished|running task")),
    ),
    "adoption": (
        (Step("Which scheduler jobs are alive?", r"^airflow jobs check", "airflow jobs check --job-type SchedulerJob --allow-multiple --limit 5"),
         Step("Which scheduler owns each worker pod?", r"-L airflow-worker", "kubectl get pods -n <ns> -l kubernetes_executor=True -L airflow-worker"),
         Step("Can the scheduler relabel pods (patch)?", r"can-i", "kubectl auth can-i patch pods -n <ns> --as=system:serviceaccount:<ns>:<scheduler-sa>"),
         Step("Expect up to one orphaned_tasks_check_interval (300 s) before adoption after a crash")),
        (Need("the scheduler job states (`airflow jobs check`)", r"(?i)jobs check|SchedulerJob|alive job"),
         Need("whether the scheduler's service account can patch pods", r"(?i)patch|can-i")),
    ),
    "template_override_error": (
        (Step("Render the pod the executor builds for this task (template + generated pod + pod_override)",
              r"^airflow kubernetes generate-dag-yaml", "airflow kubernetes generate-dag-yaml <dag_id> -l <logical_date> -o /tmp/podspec"),
         Step("Compare with the pod as it really ran, container by container", r"^kubectl get pod .*jsonpath=.*containers",
              "kubectl get pod -n <ns> <pod> -o yaml"),
         Step("Put the override in a k8s.V1Pod whose first container is named base; check pod_mutation_hook keeps it"),
         _CLEAR),
        (Need("the task's executor_config / pod_override as written", r"(?i)pod_override|executor_config|V1Pod"),
         Need("the pod template file in use (`pod_template_file`)", r"(?i)pod_template_file|podTemplate|kind: Pod"),
         VERSIONS),
    ),
    "pod_startup_crash": (
        (Step("Read why the container (or an init container) exited", r"^kubectl describe pod\b(?!.*sed)",
              "kubectl describe pod -n <ns> <pod>"),
         Step("Read the container's own output, init containers included", r"^kubectl logs \S+ \S+ \S+ -c base",
              "kubectl logs -n <ns> <pod> --all-containers --prefix"),
         Step("Check the image and command the worker runs (Airflow 3: python -m airflow.sdk.execution_time.execute_workload)",
              r"^kubectl get pod .*jsonpath=.*image", "kubectl get pod -n <ns> <pod> -o jsonpath='{.spec.containers[0].image}'"),
         Step("Fix the image, entrypoint, init container or security context, then clear the task")),
        (Need("the container's last state and exit code (`kubectl describe pod`)", r"(?i)Last State|Exit Code|exit code|exited with"),
         Need("the first error lines of the container log", r"(?i)Traceback|\bError\b|error:|ModuleNotFoundError|Permission denied"),
         Need("the worker image and tag", r"(?i)image[:=]\s*\S|Image:\s|worker_container_(repository|tag)"), VERSIONS),
    ),
    "dag_not_found_in_worker": (
        (Step("Read the worker's own error about the DAG", r"^kubectl logs .*could not be found",
              "kubectl logs -n <ns> <pod> -c base | grep -iE 'could not be found|not found during start up|not configured'"),
         Step("See how the DAGs reach the pod (init containers, mounts)", r"^kubectl get pod .*initContainers",
              "kubectl get pod -n <ns> <pod> -o yaml"),
         Step("Compare the scheduler's dags_folder with the worker's", r"dags_folder",
              "kubectl exec -n <ns> deploy/airflow-scheduler -- airflow config get-value core dags_folder"),
         Step("Give the worker the DAGs and their packages: image, read-many volume or a git-sync init container")),
        (Need("how DAGs reach the worker pod (image, volume, git-sync)", r"(?i)git-?sync|dags?_in_image|persistence|volume|baked"),
         Need("the worker pod's log (`kubectl logs <pod> -c base`)", r"(?i)kubectl logs|Traceback|could not be found"), VERSIONS),
    ),
    "secrets_config": (
        (Step("Compare what the worker pod's base container gets with the scheduler's settings",
              r"^kubectl get pod .*FERNET_KEY", "kubectl get pod -n <ns> <pod> -o yaml"),
         Step("List the Airflow variables the worker really has", r"AIRFLOW_\(CONN\|VAR\)|env \| grep",
              "kubectl exec -n <ns> <pod> -c base -- sh -c 'env | grep ^AIRFLOW_ | cut -d= -f1'"),
         Step("Declare env / envFrom (DB connection, Fernet key, AIRFLOW_CONN_*) in the pod template's base container")),
        (Need("which setting the worker lacks (DB connection, Fernet key, a connection or variable)",
              r"(?i)sql_alchemy_conn|fernet|AIRFLOW_CONN_|AIRFLOW_VAR_|sqlite|secret"),
         Need("how the worker pod template sets env / envFrom", r"(?i)envFrom|secretKeyRef|env:\s|podTemplate|pod_template_file"),
         VERSIONS),
    ),
    "execution_api_unreachable": (
        (Step("Read the worker's connection error", r"^kubectl logs .*ConnectError",
              "kubectl logs -n <ns> <pod> -c base | grep -m3 -E 'ConnectError|Connection refused'"),
         Step("See which Execution API URL the pod was given", r"EXECUTION_API_SERVER_URL",
              "kubectl get pod -n <ns> <pod> -o yaml | grep -A1 EXECUTION_API_SERVER_URL"),
         Step("Probe the API server from the worker namespace", r"^kubectl run api-probe",
              "kubectl run api-probe -n <ns> --rm -i --restart=Never --image=curlimages/curl -- curl -sS http://<api-server>/execution/health"),
         Step("Set AIRFLOW__CORE__EXECUTION_API_SERVER_URL in the pod template to the API server Service")),
        (Need("the execution_api_server_url the worker uses", r"(?i)execution_api_server_url|/execution/"),
         Need("whether a NetworkPolicy or mesh sits between worker pods and the API server", r"(?i)NetworkPolicy|egress|istio|mesh|sidecar"),
         VERSIONS),
    ),
    "db_connection_exhaustion": (
        (Step("Count connections in use against max_connections", r"pg_stat_activity",
              "SELECT count(*) AS in_use, current_setting('max_connections')::int AS max_connections FROM pg_stat_activity;"),
         Step("Check the pool settings of the components", r"sql_alchemy_pool",
              "airflow config get-value database sql_alchemy_pool_size"),
         Step("Put PgBouncer in front of the metadata DB (or raise max_connections); do not raise sql_alchemy_pool_size")),
        (Need("how many tasks run at once (parallelism, concurrent worker pods)", r"(?i)parallelism|\d+ (tasks|pods)|concurren"),
         Need("whether PgBouncer is in use and Postgres max_connections", r"(?i)pgbouncer|max_?connections"), VERSIONS),
    ),
    "task_killed_externally": (
        (Step("Read the pod's events around the kill", r"^kubectl get events .*involvedObject",
              "kubectl get events -n <ns> --field-selector involvedObject.name=<pod>"),
         Step("See which node it ran on and why it was disrupted", r"DisruptionTarget",
              "kubectl get pod -n <ns> <pod> -o jsonpath='{.spec.nodeName} {.status.reason}'"),
         Step("Protect running worker pods: safe-to-evict \"false\" / karpenter.sh/do-not-disrupt in the pod template")),
        (Need("the task log around the kill (`Received SIGTERM`, exit code)", r"(?i)SIGTERM|exit code|return code"),
         Need("autoscaler / node activity at that time (scale-down, drain, spot)", r"(?i)autoscal|karpenter|scale.?down|drain|spot"),
         VERSIONS),
    ),
    "unknown": (
        (_DESCRIBE, _SCHED_GREP, _BASE_LOGS),
        (EVENTS, SCHED_LOG, Need("the task instance state and its task log", r"(?i)\b(queued|running|failed|up_for_retry|success)\b"),
         VERSIONS),
    ),
}
