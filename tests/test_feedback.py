"""feedback.py: no vote is lost under concurrent writers; review and export pick the right rows."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from lifecycle_bot.feedback.store import Feedback, FeedbackStore, candidate_rows, export_candidates

SRC = Path(__file__).resolve().parent.parent / "src"

WRITER = r"""
import sys, threading
sys.path.insert(0, sys.argv[4])
from lifecycle_bot.feedback.store import Feedback, FeedbackStore
store = FeedbackStore(sys.argv[1])
tag, threads, per = sys.argv[2], 4, int(sys.argv[3])
def work(t):
    for i in range(per):
        store.add(Feedback(question=f"{tag}-{t}-{i}", answer="a", vote="down", reason="r", session=tag, turn=t * 1000 + i))
ts = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
[t.start() for t in ts]; [t.join() for t in ts]
"""


def _fb(question: str, **kw) -> Feedback:
    base = dict(answer="an answer [1]", citations=[{"file": "guide.md", "heading_path": "3.1 Pending"}],
                confidence=0.8)
    base.update(kw)
    return Feedback(question=question, **base)


def test_round_trip_and_wal(tmp_path):
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    rid = store.add(_fb("why pending?", vote="down", reason="  wrong section  ", history=["earlier"], session="s", turn=2))
    (row,) = store.rows()
    assert row.id == rid and row.vote == "down" and row.reason == "wrong section"
    assert row.citations == [{"file": "guide.md", "heading_path": "3.1 Pending"}] and row.history == ["earlier"]
    assert row.created_at > 0 and row.confidence == 0.8
    mode = sqlite3.connect(tmp_path / "fb.sqlite3").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_rejects_unknown_vote(tmp_path):
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    try:
        store.add(_fb("q", vote="meh"))
    except ValueError:
        pass
    else:
        raise AssertionError("a bad vote value was stored")
    assert store.count() == 0


def test_no_row_lost_under_threads_and_processes(tmp_path):
    db = tmp_path / "data" / "fb.sqlite3"
    per_process = 40
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(db), f"p{n}", str(per_process), str(SRC)])
        for n in range(3)
    ]
    store = FeedbackStore(db)  # created while the processes start up: the schema race is covered too
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(50):
                store.add(_fb(f"thread-{t}-{i}", vote="up" if i % 2 else "down", session="main", turn=t * 1000 + i))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = [p.wait(timeout=120) for p in procs]
    assert codes == [0, 0, 0] and not errors
    rows = store.rows()
    expected = 16 * 50 + 3 * 4 * per_process
    assert len(rows) == expected == store.count()
    assert len({r.id for r in rows}) == expected
    assert len({r.question for r in rows}) == expected


def test_review_keeps_declined_and_latest_down_votes(tmp_path):
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    store.add(_fb("declined q", refused=True, confidence=0.2, session="a", turn=0))  # logged by the UI
    store.add(_fb("flip-flop", vote="down", session="a", turn=1))
    store.add(_fb("flip-flop", vote="up", session="a", turn=1))  # latest vote wins: not for review
    store.add(_fb("bad answer", vote="down", reason="cites the wrong option", session="b", turn=0))
    store.add(_fb("good answer", vote="up", session="b", turn=1))
    store.add(_fb("declined and down", refused=True, session="c", turn=0))
    store.add(_fb("declined and down", refused=True, vote="down", reason="it is covered", session="c", turn=0))
    got = {fb.question: fb for fb in store.review()}
    assert set(got) == {"declined q", "bad answer", "declined and down"}
    assert got["declined and down"].vote == "down" and got["declined and down"].reason == "it is covered"


def test_export_candidates_jsonl(tmp_path):
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    store.add(_fb("why pending?", refused=True, confidence=0.31, history=["hi"], session="a", turn=0))
    store.add(_fb("Why pending?", vote="down", reason="too vague", history=["HI"], session="b", turn=0))
    store.add(_fb("what is 137?", vote="down", session="b", turn=1))
    out = tmp_path / "out" / "candidates.jsonl"
    assert export_candidates(store, out) == 2  # the same question asked twice is one candidate
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    for row in rows:
        assert set(row) == {"id", "question", "history", "expected", "key_facts", "category", "difficulty", "note"}
        assert row["category"] == "from-feedback" and row["expected"] == [] and row["key_facts"] == []
        assert row["id"].startswith("fb-")
    pending = next(r for r in rows if r["question"].lower() == "why pending?")
    assert "declined" in pending["note"] and "too vague" in pending["note"] and pending["history"] in (["hi"], ["HI"])
    assert candidate_rows([]) == []


def test_an_old_store_is_migrated_and_keeps_its_rows(tmp_path):
    import sqlite3

    from lifecycle_bot.feedback.store import MIGRATIONS, SCHEMA

    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)  # the schema before mode/model existed (user_version 0)
    conn.execute("INSERT INTO feedback (created_at, question) VALUES (1.0, 'why pending?')")
    conn.commit()
    conn.close()
    store = FeedbackStore(path)
    (old,) = store.rows()
    assert old.question == "why pending?" and old.mode == "extractive" and old.model == ""
    store.add(Feedback(question="q", answer="a", vote="up", mode="generated", model="qwen"))
    assert [(f.mode, f.model) for f in store.rows()] == [("extractive", ""), ("generated", "qwen")]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    conn.close()
    FeedbackStore(path)  # opening again changes nothing
    assert len(store.rows()) == 2
