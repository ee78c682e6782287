"""The eval harness's own arithmetic: split sets, kb_gap rows, decline shares, key facts with the cited lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lifecycle_bot.evaluation.calibrate import dev_items
from lifecycle_bot.evaluation.evaluate import EvalError, ItemResult, cited_text, score, set_parts

SECTION = {"file": "guide.md", "anchor": "pending", "heading_path": "Pending"}
OTHER = {"file": "guide.md", "anchor": "oom", "heading_path": "OOM"}


def _result(id_, answerable=True, refused=False, ranked=(), facts=(), cited=(), scored=True) -> ItemResult:
    return ItemResult(id_, "c", answerable, refused, list(ranked), [], list(facts), 10.0, 0.5,
                      key_facts_with_cited=list(cited), scored=scored)


def test_set_parts_splits_only_sets_with_a_split_field():
    plain = [{"id": "a"}, {"id": "b"}]
    assert set_parts(Path("qa.jsonl"), plain) == [("qa", plain)]
    rows = [{"id": "a", "split": "dev"}, {"id": "b", "split": "holdout"}, {"id": "c", "split": "dev"}]
    parts = dict(set_parts(Path("real.jsonl"), rows))
    assert [r["id"] for r in parts["real_dev"]] == ["a", "c"]
    assert [r["id"] for r in parts["real_holdout"]] == ["b"]


def test_kb_gap_rows_are_counted_but_not_scored():
    items = {"q1": {"expected": [SECTION]}, "q2": {"expected": [], "kb_gap": True}, "q3": {"expected": []}}
    results = [
        _result("q1", ranked=[OTHER, OTHER, SECTION], facts=[True, False], cited=[True, True]),
        _result("q2", answerable=False, refused=False, scored=False),
        _result("q3", answerable=False, refused=True),
    ]
    out = score(results, items)
    assert out["n"] == 2 and out["kb_gap"] == 1
    assert (out["hit@1"], out["hit@3"], out["hit@5"]) == (0.0, 1.0, 1.0)
    assert out["key_fact_recall"] == 0.5 and out["key_fact_recall_cited"] == 1.0
    assert out["in_scope_declined"] == 0.0 and out["out_of_scope_declined"] == 1.0
    assert out["refusal_precision"] == 1.0 and out["refusal_recall"] == 1.0


def test_declined_answerable_question_loses_its_facts_and_counts_as_declined():
    items = {"q1": {"expected": [SECTION]}, "q2": {"expected": [SECTION]}}
    results = [_result("q1", refused=True, ranked=[SECTION], facts=[True], cited=[True]),
               _result("q2", ranked=[SECTION], facts=[True], cited=[True])]
    out = score(results, items)
    assert out["key_fact_recall"] == 0.5 and out["key_fact_recall_cited"] == 0.5
    assert out["in_scope_declined"] == 0.5
    assert out["refusal_precision"] == 0.0


def test_cited_text_reads_the_cited_lines_and_skips_missing_files(tmp_path: Path):
    (tmp_path / "guide.md").write_text("one\ntwo\nthree\nfour\n", encoding="utf-8")
    cites = [{"file": "guide.md", "start_line": 2, "end_line": 3}, {"file": "gone.md", "start_line": 1, "end_line": 2}]
    assert cited_text(tmp_path, cites) == "two\nthree"


def test_calibration_fits_only_dev_rows_and_never_a_holdout(tmp_path: Path):
    rows = [{"id": "d1", "question": "q", "split": "dev", "expected": [SECTION]},
            {"id": "h1", "question": "q", "split": "holdout", "expected": [SECTION]},
            {"id": "g1", "question": "q", "split": "dev", "expected": [], "kb_gap": True},
            {"id": "o1", "question": "q", "split": "dev", "expected": [], "out_of_scope": True}]
    path = tmp_path / "real.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert [i["id"] for i in dev_items(path)] == ["d1", "o1"]
    with pytest.raises(EvalError):
        dev_items(tmp_path / "holdout.jsonl")


def test_gate_bounds_declines_of_answerable_questions_from_above():
    from lifecycle_bot.evaluation.evaluate import check_gate

    limits = {"s": {"in_scope_declined": 0.3, "hit@3": 0.5, "latency_p95_ms": 100}}
    assert check_gate("s", {"in_scope_declined": 0.2, "hit@3": 0.6, "latency_p95_ms": 90}, limits) == []
    failures = check_gate("s", {"in_scope_declined": 0.4, "hit@3": 0.4, "latency_p95_ms": 120}, limits)
    assert [f.split(" = ")[0] for f in failures] == ["s: in_scope_declined", "s: hit@3", "s: latency_p95_ms"]


def test_failing_holdout_rows_are_listed_by_id_only():
    from lifecycle_bot.evaluation.evaluate import failing_questions

    items = {"h1": {"question": "secret words of a holdout question", "expected": [SECTION]}}
    results = [_result("h1", ranked=[OTHER], facts=[False])]
    assert "secret words" in failing_questions(results, items)[0]
    assert "secret words" not in failing_questions(results, items, holdout=True)[0]
    items["h1"]["split"] = "holdout"
    assert "secret words" not in failing_questions(results, items)[0]


def test_reliability_table_bins_confidences_and_counts_the_answerable():
    from lifecycle_bot.evaluation.calibrate import out_of_fold, reliability

    table = reliability([0.05, 0.15, 0.9, 0.95, 1.0], [0, 1, 1, 0, 1])
    assert [r["n"] for r in table] == [2, 0, 0, 0, 3]
    assert table[0] == {"bin": "0.0-0.2", "n": 2, "confidence": 0.1, "answerable": 0.5}
    assert table[-1]["answerable"] == round(2 / 3, 3) and table[1]["confidence"] is None
    # out of fold: every row is scored by a model fitted on the other folds, which still learns a clean signal
    rows = [({"top_dense": 0.9 if i % 2 else 0.1}, i % 2) for i in range(40)]
    preds = out_of_fold(rows, [f"t{i}" for i in range(40)])
    assert min(p for p, (_, y) in zip(preds, rows) if y) > max(p for p, (_, y) in zip(preds, rows) if not y)
