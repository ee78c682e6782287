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
