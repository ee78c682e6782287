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


def test_a_question_closest_to_the_kbs_not_covered_list_is_declined_as_outside(kb_copy, tmp_path):
    """No product name to go by: the KB's own list of what it does not cover decides, through its wording."""
    from lifecycle_bot.core.bot import Bot
    from lifecycle_bot.core.scope import SCOPE_ANCHOR
    from lifecycle_bot.core.settings import Settings

    question = "the ingress in front of the airflow webserver answers 502 bad gateway"
    (kb_copy / "README.md").write_text("# KB\n\nAbout the executor.\n\n## What this knowledge base does not cover\n\n"
                                       "The cluster itself: load balancers and DNS.\n")
    bot = Bot(Settings(kb_dir=kb_copy, data_dir=tmp_path / "data"))
    bot.index()
    bot.load()
    try:
        assert not bot.ask(question).body.startswith("That is outside")  # no wording yet: an ordinary decision
        (kb_copy / "README.asked.toml").write_text(
            f'["{SCOPE_ANCHOR}"]\nasked = ["ingress for the Airflow webserver returns 502", "DNS fails in the cluster"]\n')
        bot.index()
        answer = bot.ask(question)
        assert answer.refused and not answer.citations
        assert answer.body.startswith("That is outside what I cover.") and "KubernetesExecutor" in answer.body
        assert not bot.ask("why is my worker pod stuck in Pending?").refused  # the executor's own questions stay
    finally:
        bot.close()
