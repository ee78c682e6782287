"""Votes and declined questions in SQLite, and their export as eval candidates.

WAL mode lets readers run beside a writer; every write is its own short `BEGIN IMMEDIATE`
transaction on its own connection with a generous busy timeout, so many threads of the app and
other processes (a second app, an export run) can write at once without losing a row.
The schema is versioned (`PRAGMA user_version`) and brought up to date by `MIGRATIONS` on open.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at  REAL    NOT NULL,
    session     TEXT    NOT NULL DEFAULT '',
    turn        INTEGER NOT NULL DEFAULT 0,
    question    TEXT    NOT NULL,
    history     TEXT    NOT NULL DEFAULT '[]',
    answer      TEXT    NOT NULL DEFAULT '',
    citations   TEXT    NOT NULL DEFAULT '[]',
    confidence  REAL    NOT NULL DEFAULT 0,
    refused     INTEGER NOT NULL DEFAULT 0,
    vote        TEXT CHECK (vote IN ('up', 'down')),
    reason      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS feedback_review ON feedback (refused, vote);
"""
# Each entry upgrades the schema by one version; never edit one that has shipped, append a new one.
MIGRATIONS = (
    "ALTER TABLE feedback ADD COLUMN mode TEXT NOT NULL DEFAULT 'extractive';"
    "ALTER TABLE feedback ADD COLUMN model TEXT NOT NULL DEFAULT '';",
)
MAX_REASON_CHARS = 2000
RETRIES = 8


@dataclass
class Feedback:
    question: str
    answer: str
    citations: list[dict] = field(default_factory=list)
    confidence: float = 0.0
    refused: bool = False
    vote: str | None = None  # "up" | "down" | None: a declined answer logged without a vote
    reason: str = ""
    history: list[str] = field(default_factory=list)
    session: str = ""
    turn: int = 0
    mode: str = "extractive"  # how the answer was written: "extractive" | "generated"
    model: str = ""
    created_at: float = 0.0
    id: int | None = None

    @classmethod
    def from_answer(cls, answer: dict, question: str, history: list[str], session: str, turn: int,
                    vote: str | None, reason: str = "") -> "Feedback":
        """The one answer -> feedback row: `answer` is `Answer.to_dict()` (faces may add keys of their own)."""
        citations = [{k: v for k, v in c.items() if k != "section"} for c in answer.get("citations", [])]
        return cls(question=question, answer=answer.get("answer", ""), citations=citations,
                   confidence=float(answer.get("confidence", 0.0)), refused=bool(answer.get("refused", False)),
                   vote=vote, reason=reason, history=list(history), session=session, turn=turn,
                   mode=answer.get("mode") or "extractive", model=answer.get("model") or "")


def _row(r: sqlite3.Row) -> Feedback:
    return Feedback(
        question=r["question"], answer=r["answer"], citations=json.loads(r["citations"] or "[]"),
        confidence=r["confidence"], refused=bool(r["refused"]), vote=r["vote"], reason=r["reason"],
        history=json.loads(r["history"] or "[]"), session=r["session"], turn=r["turn"],
        mode=r["mode"], model=r["model"], created_at=r["created_at"], id=r["id"],
    )


class FeedbackStore:
    def __init__(self, path: Path | str, timeout: float = 30.0):
        self.path = Path(path)
        self.timeout = timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._retry(self._init)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        return conn

    def _retry(self, fn, *args):
        """Run fn, retrying on lock contention the busy timeout did not absorb (schema changes)."""
        for attempt in range(RETRIES):
            try:
                return fn(*args)
            except sqlite3.OperationalError as exc:
                text = str(exc).lower()
                if attempt == RETRIES - 1 or ("locked" not in text and "busy" not in text):
                    raise
                time.sleep(0.05 * (attempt + 1))

    def _init(self) -> None:
        conn = self._connect()
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript(SCHEMA)
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            for n, migration in enumerate(MIGRATIONS[version:], start=version + 1):
                conn.execute("BEGIN IMMEDIATE")
                if int(conn.execute("PRAGMA user_version").fetchone()[0]) < n:  # another process may have won
                    for statement in filter(str.strip, migration.split(";")):
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {n}")
                conn.execute("COMMIT")
        finally:
            conn.close()

    def add(self, fb: Feedback) -> int:
        """Store one row; returns its id."""
        if fb.vote not in (None, "up", "down"):
            raise ValueError(f"vote must be 'up', 'down' or None, not {fb.vote!r}")
        values = (
            fb.created_at or time.time(), fb.session, int(fb.turn), fb.question,
            json.dumps(list(fb.history), ensure_ascii=False), fb.answer,
            json.dumps(fb.citations, ensure_ascii=False), float(fb.confidence), int(bool(fb.refused)),
            fb.vote, (fb.reason or "").strip()[:MAX_REASON_CHARS], fb.mode or "extractive", fb.model or "",
        )
        return self._retry(self._insert, values)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write: BEGIN IMMEDIATE, COMMIT on success, ROLLBACK on anything else, always closed."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    def _insert(self, values: tuple) -> int:
        with self._transaction() as conn:
            cur = conn.execute(
                "INSERT INTO feedback (created_at, session, turn, question, history, answer, citations,"
                " confidence, refused, vote, reason, mode, model) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
            return int(cur.lastrowid)

    def add_comment(self, row_id: int, comment: str) -> bool:
        """Append a voter's comment to their vote's reason (a preset reason stays first); False: no such row."""
        comment = (comment or "").strip()
        if not comment:
            return False
        return self._retry(self._comment, int(row_id), comment)

    def _comment(self, row_id: int, comment: str) -> bool:
        with self._transaction() as conn:
            row = conn.execute("SELECT reason FROM feedback WHERE id = ? AND vote IS NOT NULL", (row_id,)).fetchone()
            if row is None:
                return False
            reason = f"{row[0]}: {comment}" if row[0] else comment
            conn.execute("UPDATE feedback SET reason = ? WHERE id = ?", (reason[:MAX_REASON_CHARS], row_id))
            return True

    def rows(self) -> list[Feedback]:
        conn = self._connect()
        try:
            return [_row(r) for r in conn.execute("SELECT * FROM feedback ORDER BY id")]
        finally:
            conn.close()

    def count(self) -> int:
        conn = self._connect()
        try:
            return int(conn.execute("SELECT COUNT(*) FROM feedback").fetchone()[0])
        finally:
            conn.close()

    def review(self) -> list[Feedback]:
        """Declined or down-voted answers, one per answer (its latest vote wins), newest first."""
        conn = self._connect()
        try:
            got = [_row(r) for r in conn.execute(
                "SELECT * FROM feedback WHERE refused = 1 OR vote IS NOT NULL ORDER BY id")]
        finally:
            conn.close()
        latest: dict[tuple, Feedback] = {}
        declined: set[tuple] = set()
        for fb in got:
            key = (fb.session, fb.turn) if fb.session else ("", fb.id)
            if fb.refused:
                declined.add(key)
            previous = latest.get(key)
            if fb.vote is not None or previous is None:
                if previous is not None and not fb.reason:
                    fb.reason = previous.reason
                latest[key] = fb
        out = [fb for key, fb in latest.items() if key in declined or fb.vote == "down"]
        return sorted(out, key=lambda fb: fb.created_at, reverse=True)


def candidate_rows(items: Iterable[Feedback]) -> list[dict]:
    """eval/qa.jsonl-shaped rows for a human to complete (expected and key_facts left empty)."""
    rows: dict[str, dict] = {}
    for fb in items:
        key = json.dumps([fb.question.strip().lower(), [h.strip().lower() for h in fb.history]])
        rid = "fb-" + hashlib.sha256(key.encode()).hexdigest()[:10]
        why = []
        if fb.refused:
            why.append(f"declined by the bot (confidence {fb.confidence:.2f})")
        if fb.vote == "down":
            why.append("down-voted" + (f": {fb.reason}" if fb.reason else ""))
        cited = "; ".join(f"{c.get('file')} \u00a7 {c.get('heading_path')}" for c in fb.citations[:3])
        note = ", ".join(why) + (f". Cited: {cited}" if cited else "") + \
            ". Fill in expected, key_facts and difficulty before adding to eval/qa.jsonl."
        if rid in rows:
            rows[rid]["note"] += f" | also {', '.join(why)}"
            continue
        rows[rid] = {
            "id": rid,
            "question": fb.question,
            "history": list(fb.history),
            "expected": [],
            "key_facts": [],
            "category": "from-feedback",
            "difficulty": "unrated",
            "note": note,
        }
    return list(rows.values())


def export_candidates(store: FeedbackStore, path: Path | str) -> int:
    """Write the candidate rows as JSONL (atomically); returns how many."""
    rows = candidate_rows(store.review())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")  # concurrent exports never share one
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(path)
    return len(rows)
