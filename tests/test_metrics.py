"""Metric functions on hand-made cases, including a refusal, a multi-turn item and a miss."""

from __future__ import annotations

import pytest

from lifecycle_bot.evaluation import metrics as M
from lifecycle_bot.evaluation.evaluate import ItemResult, score

PENDING = {"file": "g.md", "anchor": "122-pod-stuck-in-pending", "heading_path": "12. Debugging > 12.2 Pod stuck in Pending"}
QUEUED = {"file": "g.md", "anchor": "121-task-stuck-in-queued", "heading_path": "12. Debugging > 12.1 Task stuck in QUEUED"}
OOM = {"file": "g.md", "anchor": "123-oomkilled", "heading_path": "12. Debugging > 12.3 OOMKilled"}
DIAGRAM = {"file": "excalidraw/02.excalidraw", "anchor": "", "heading_path": "Diagram: Pod lifecycle (part 2)"}


def test_ranking_metrics():
    expected = [{"file": "g.md", "anchor": "122-pod-stuck-in-pending"}]
    ranked = [QUEUED, PENDING, OOM]
    assert M.hit_at(ranked, expected, 1) == 0.0
    assert M.hit_at(ranked, expected, 5) == 1.0
    assert M.reciprocal_rank(ranked, expected) == 0.5
    assert M.ndcg_at(ranked, expected, 5) == pytest.approx(1 / 1.5849625, rel=1e-6)
    assert M.reciprocal_rank([QUEUED, OOM], expected) == 0.0  # a miss


def test_ndcg_with_two_expected_sections_counts_each_once():
    expected = [{"file": "g.md", "anchor": "122-pod-stuck-in-pending"}, {"file": "excalidraw/02.excalidraw", "anchor": ""}]
    assert M.ndcg_at([PENDING, DIAGRAM], expected) == pytest.approx(1.0)
    assert M.ndcg_at([DIAGRAM, DIAGRAM, PENDING], expected) < 1.0  # the second diagram part is not a new hit


def test_diagram_matches_by_file():
    assert M.matches_expected(DIAGRAM, [{"file": "excalidraw/02.excalidraw", "anchor": ""}])
    assert not M.matches_expected(DIAGRAM, [{"file": "excalidraw/01.excalidraw", "anchor": ""}])


@pytest.mark.parametrize(
    "fact, answer",
    [
        ("600 seconds", "The default task_queued_timeout is 600 s, i.e. 600 seconds."),
        ("task_publish_max_retries defaults to 0", "By default `task_publish_max_retries` is `0`."),
        ("pods are deleted", "Finished pods get deleted by the executor."),  # stemming
        ("ImagePullBackOff is not fatal", "**`ImagePullBackOff` is not in the list**, so it is not fatal by default."),
    ],
)
def test_key_fact_matches_rewordings(fact, answer):
    assert M.key_fact_found(fact, answer)


@pytest.mark.parametrize(
    "fact, answer",
    [
        ("600 seconds", "The default is 300 seconds."),  # a different number
        ("ImagePullBackOff is not fatal", "ImagePullBackOff is fatal."),  # negation dropped
        ("airflow_executor_done label", "The pod gets the airflow_pod_revoked label."),
        ("watcher restarts from 0", "The watcher is a separate process per namespace. " + "filler " * 60 + "It restarts 0"),
    ],
)
def test_key_fact_false_positives_are_rejected(fact, answer):
    assert not M.key_fact_found(fact, answer)


def test_refusal_scores():
    pairs = [(True, True), (True, False), (False, True), (False, False), (False, False)]
    assert M.refusal_scores(pairs) == (0.5, 0.5)
    assert M.refusal_scores([(False, False)]) == (1.0, 1.0)


def _result(id, category, answerable, refused, ranked, citations, facts, latency=10.0):
    r = ItemResult(id, category, answerable, refused, ranked, citations, facts, latency, 0.9)
    r.hit5 = 1.0 if answerable and ranked else 0.0
    return r


def test_score_over_a_small_set():
    items = {
        "a": {"id": "a", "expected": [{"file": "g.md", "anchor": "122-pod-stuck-in-pending"}], "key_facts": ["x", "y"]},
        "turn": {"id": "turn", "history": ["why is my pod pending?"], "expected": [{"file": "g.md", "anchor": "122-pod-stuck-in-pending"}],
                 "key_facts": ["z"]},
        "out": {"id": "out", "expected": [], "key_facts": []},
        "miss": {"id": "miss", "expected": [{"file": "g.md", "anchor": "123-oomkilled"}], "key_facts": ["k"]},
    }
    results = [
        _result("a", "debugging", True, False, [PENDING], [PENDING, QUEUED], [True, False]),
        _result("turn", "multi_turn", True, False, [QUEUED, PENDING], [PENDING], [True]),
        _result("out", "out_of_scope", False, True, [QUEUED], [QUEUED], []),
        _result("miss", "debugging", True, True, [QUEUED], [], [False]),  # wrongly declined
    ]
    s = score(results, items)
    assert s["hit@1"] == pytest.approx(1 / 3)
    assert s["hit@5"] == pytest.approx(2 / 3)
    assert s["mrr"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert s["key_fact_recall"] == pytest.approx(2 / 4)
    assert s["citation_precision"] == pytest.approx((0.5 + 1.0) / 2)
    assert s["refusal_precision"] == pytest.approx(0.5) and s["refusal_recall"] == 1.0
    assert results[2].passed and not results[3].passed and not results[0].passed
