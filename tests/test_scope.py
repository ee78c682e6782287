"""The out-of-scope feature: a neighbouring product named without the executor's own words."""

from __future__ import annotations

import pytest

from lifecycle_bot.core.scope import foreign_subject


@pytest.mark.parametrize("text", [
    "how do i pass container_resources to the KubernetesPodOperator so its pod gets 4Gi memory?",
    "celery worker gets SIGTERM during KEDA scale down",
    "spark-submit driver pod can't create executor pods, forbidden",
    "Argo workflow pod OOMKilled and stuck in Running",
])
def test_neighbouring_products_alone_are_foreign(text):
    assert foreign_subject(text) == 1.0


@pytest.mark.parametrize("text", [
    "why is my worker pod stuck in Pending?",
    "we moved from Celery to the KubernetesExecutor, why are tasks slower to start?",
    "CeleryKubernetesExecutor: tasks on the kubernetes queue never start",
    "KubernetesPodOperator tasks run inside worker pods of the KubernetesExecutor, who deletes which pod?",
])
def test_the_executor_and_comparisons_with_it_are_not_foreign(text):
    assert foreign_subject(text) == 0.0
