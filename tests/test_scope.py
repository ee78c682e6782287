"""The out-of-scope feature: a neighbouring product named without the executor's own words."""

from __future__ import annotations

import pytest

from lifecycle_bot.core.scope import foreign_subject, foreign_topic


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


@pytest.mark.parametrize("text, topic", [
    ("how do i pass container_resources to the KubernetesPodOperator so its pod gets 4Gi memory?",
     "The KubernetesPodOperator"),
    ("celery worker gets SIGTERM during KEDA scale down", "Celery"),
    ("spark-submit driver pod can't create executor pods, forbidden", "Spark"),
    ("Argo workflow pod OOMKilled and stuck in Running", "Argo"),
    ("why is my worker pod stuck in Pending?", None),
])
def test_the_topic_a_decline_names(text, topic):
    assert foreign_topic(text) == topic


def test_a_declined_question_about_a_neighbour_says_what_is_covered_and_lists_nothing(session_bot):
    answer = session_bot.ask("my celery worker keeps losing connection to redis, how do i tune the broker pool?")
    assert answer.refused and not answer.citations
    assert answer.body.startswith("Celery is outside what I cover.") and "KubernetesExecutor" in answer.body
    assert "nearest sections" not in answer.text
    plain = session_bot.ask("what colour is the sky on a tuesday afternoon in spring?")
    assert plain.refused and not plain.body.startswith("Celery"), "other declines keep their nearest sections"
