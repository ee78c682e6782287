"""What the KB is not about: neighbouring products whose questions share our words (pods, Pending, OOM, logs).

A question that names one of them and nothing of the KubernetesExecutor's own is most likely about that
product. This is one feature of the confidence model, not a rule: its weight is fitted on the dev sets.
"""

from __future__ import annotations

import re

# Products operators run next to the executor, from the out-of-scope kinds of the eval sets.
FOREIGN = re.compile(
    r"\b(?:kubernetes\s?pod\s?operator|kpo|celery(?!\s?kubernetes)\w*|spark\w*|argo\w*|flink|kubeflow|dask|tekton"
    r"|keda|karpenter|nextflow|docker[\s-]compose)\b",
    re.IGNORECASE,
)
# Words that tie a question to the KubernetesExecutor itself, so a comparison or a migration stays in scope.
OURS = re.compile(
    r"kubernetes\s?executor|k8s\s?executor|kubernetes_executor|celery\s?kubernetes\s?executor|worker\s?pods?\b"
    r"|executor_config|pod_override|pod_template_file|multi_namespace_mode|kubernetesjobwatcher",
    re.IGNORECASE,
)


def foreign_subject(text: str) -> float:
    """1.0 when the text names a neighbouring product and nothing of the executor's own, else 0.0."""
    return 1.0 if FOREIGN.search(text) and not OURS.search(text) else 0.0


# What a declined question is about, as the decline names it.
_NAMES = (("kubernetespodoperator", "The KubernetesPodOperator"), ("kpo", "The KubernetesPodOperator"),
          ("celery", "Celery"), ("spark", "Spark"), ("argo", "Argo"), ("flink", "Flink"), ("kubeflow", "Kubeflow"),
          ("dask", "Dask"), ("tekton", "Tekton"), ("keda", "KEDA"), ("karpenter", "Karpenter"),
          ("nextflow", "Nextflow"), ("docker", "Docker Compose"))


def foreign_topic(text: str) -> str | None:
    """The neighbouring product a question is about (as `foreign_subject` decides), by its usual name."""
    if not foreign_subject(text):
        return None
    word = re.sub(r"\s+", "", FOREIGN.search(text).group(0).lower())
    return next((name for key, name in _NAMES if word.startswith(key)), word)


# The KB's own statement of what it does not cover (kb/README.md): a question closest to its operators' wording
# is about a neighbouring tool, and is declined as such (`beside_the_kb`).
SCOPE_ANCHOR = "what-this-knowledge-base-does-not-cover"


def beside_the_kb(rows: dict[tuple[str, str], dict[str, float]]) -> bool:
    """True when the question's closest operators' wording (`ingest.asked`) of any section is that of the KB's
    "not covered" list: it reads like a question about a neighbouring tool, whatever words it shares with ours."""
    return any(key[1] == SCOPE_ANCHOR and row.get("asked_gap", 1.0) <= 0.0 for key, row in rows.items())


def outside_scope(topic: str | None) -> str:
    """The decline for a question about a neighbouring product: what this assistant covers, and that the topic
    is not part of it (no nearest sections: they would be about something else)."""
    where = f"for {topic}, its own documentation is the place to look" if topic else (
        "for the tools around it, their own documentation is the place to look")
    return (f"{topic or 'That'} is outside what I cover. I answer questions about how Airflow's KubernetesExecutor "
            f"runs a task, from the scheduler queueing it to the worker pod's cleanup, and about debugging that; "
            f"{where}.")
