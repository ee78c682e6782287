"""The real-question and real-ticket eval sets: counts, labels that resolve, and a thread-clean dev/holdout split."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from lifecycle_bot.evaluation.evaluate import REAL_QUESTIONS, REAL_TICKETS, split_of, thread_key
from lifecycle_bot.core.ingest import load_kb
from lifecycle_bot.core.jsonl import read_jsonl
from lifecycle_bot.core.signatures import CLASSES, PHASES

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = read_jsonl(ROOT / REAL_QUESTIONS)
TICKETS = read_jsonl(ROOT / REAL_TICKETS)
IN_SCOPE_CATEGORIES = {
    "pending_scheduling", "oom_resources", "image_pull", "logs", "pod_template_override", "queued_stuck",
    "state_sync", "cleanup", "api_rbac", "dag_code_config", "db_connections", "airflow3_execution_api",
    "sidecar_mesh", "version_upgrade", "other",
}
OOS_KINDS = {"kpo", "celery", "other_workload", "cluster_networking", "airflow_unrelated", "other"}
# Failure families the real tickets contain that the signature catalogue does not name yet (issue 15 adds them).
NEW_FAMILIES = {"db_connection_exhaustion", "dag_not_found_in_worker", "pod_startup_crash", "template_override_error",
                "execution_api_unreachable", "task_killed_externally", "secrets_config", "unknown"}


def _in_scope(rows):
    return [r for r in rows if not r.get("out_of_scope")]


def test_counts_hold():
    assert len(_in_scope(QUESTIONS)) >= 150
    assert sum(bool(r.get("out_of_scope")) for r in QUESTIONS) >= 30
    assert len(TICKETS) >= 80


@pytest.mark.parametrize("rows", [QUESTIONS, TICKETS], ids=["questions", "tickets"])
def test_every_row_has_a_public_thread_as_source(rows):
    for r in rows:
        parts = urlsplit(r["source"])
        assert parts.scheme == "https" and "." in parts.netloc and parts.path.strip("/"), (r["id"], r["source"])
        assert r.get("resolution", "").strip(), r["id"]


def test_ids_are_unique():
    ids = [r["id"] for r in QUESTIONS + TICKETS]
    assert not [i for i, n in Counter(ids).items() if n > 1]


def test_split_is_by_thread_and_no_thread_feeds_both_parts():
    parts_by_thread: dict[str, set[str]] = {}
    for r in QUESTIONS + TICKETS:
        if r.get("split_note"):  # a holdout row seen while working is moved to dev, and says why
            assert r["split"] == "dev" and split_of(r["source"]) == "holdout", r["id"]
            continue
        assert r["split"] == split_of(r["source"]), r["id"]
        parts_by_thread.setdefault(thread_key(r["source"]), set()).add(r["split"])
    assert all(len(p) == 1 for p in parts_by_thread.values())
    for rows in (QUESTIONS, TICKETS):
        split = Counter(r["split"] for r in rows)
        assert split["holdout"] >= 0.2 * len(rows) and split["dev"] >= 0.5 * len(rows), split


def test_thread_key_ignores_comment_anchors_and_issue_or_pull_spelling():
    a = thread_key("https://github.com/apache/airflow/issues/123#issuecomment-9")
    assert a == thread_key("https://github.com/Apache/Airflow/pull/123") == "github.com/apache/airflow/issues/123"
    assert thread_key("https://stackoverflow.com/questions/42/some-title?noredirect=1") == \
        thread_key("https://stackoverflow.com/q/42")
    assert a != thread_key("https://github.com/apache/airflow/issues/124")


def test_question_labels_resolve_against_the_kb():
    chunks, errors = load_kb(ROOT / "kb")
    assert not errors
    sections = {(c.file, c.anchor) for c in chunks} | {(c.file, "") for c in chunks if c.kind == "diagram"}
    for r in QUESTIONS:
        assert isinstance(r["history"], list) and all(isinstance(h, str) for h in r["history"]), r["id"]
        assert r["question"].strip(), r["id"]
        for exp in r["expected"]:
            assert (exp["file"], exp["anchor"]) in sections, (r["id"], exp)
        if r.get("out_of_scope"):
            assert r["category"] == "out_of_scope" and r["oos_kind"] in OOS_KINDS and not r["expected"], r["id"]
        else:
            assert r["category"] in IN_SCOPE_CATEGORIES, r["id"]
            assert r["expected"] or (r.get("kb_gap") and r.get("gap", "").strip()), r["id"]
            assert r["key_facts"] or r.get("kb_gap"), r["id"]


def test_in_scope_questions_cover_the_categories_operators_ask_about():
    cats = Counter(r["category"] for r in _in_scope(QUESTIONS))
    assert len(cats) >= 10, cats
    assert sum(bool(r["history"]) for r in QUESTIONS) >= 10
    kinds = Counter(r["oos_kind"] for r in QUESTIONS if r.get("out_of_scope"))
    assert {"kpo", "celery", "other_workload"} <= set(kinds), kinds


def test_ticket_labels_are_known_classes_and_phases():
    for t in TICKETS:
        assert t["text"].strip(), t["id"]
        assert t["label_class"] in set(CLASSES) | NEW_FAMILIES, (t["id"], t["label_class"])
        assert t["label_phase"] in set(PHASES) | {None}, (t["id"], t["label_phase"])
