"""No answer of any eval set shows a pipe-joined table row, a wrong claim as if it were so, or a list of
diagram element ids. Holdout rows are named by id only: their questions stay unread."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lifecycle_bot.core.bot import Bot
from lifecycle_bot.core.settings import Settings
from lifecycle_bot.evaluation.defects import answer_defects, element_ids, myth_claims

ROOT = Path(__file__).resolve().parents[1]


def test_the_scan_finds_each_defect_and_passes_clean_text():
    claims = ["The watcher is a thread."]
    ids = frozenset(f"flow-{n}" for n in "abcdef")
    assert answer_defects("- `namespace`: Default: `default`; Meaning: where pods go [1]", claims, ids) == []
    assert answer_defects("```bash\nkubectl logs x | grep y\n```\nRun `a | b` first.", claims, ids) == []
    assert answer_defects("- Not so: The watcher is a thread. In fact: It is a process. [1]", claims, ids) == []
    assert answer_defects("`delete_worker_pods` | `True` | Delete pods.", claims, ids)[0].startswith("pipe-joined")
    assert answer_defects("| a | b |", claims, ids)[0].startswith("pipe-joined")
    assert answer_defects("The watcher is a thread. It is not.", claims, ids)[0].startswith("wrong claim")
    assert answer_defects("(elements flow-a, flow-b, flow-c, flow-d, flow-e)", claims, ids) == ["element ids listed: 5"]
    assert answer_defects("(elements flow-a, flow-b, flow-c, flow-d and 2 more)", claims, ids) == []


@pytest.fixture(scope="module")
def kb_bot(tmp_path_factory) -> Bot:
    bot = Bot(Settings(kb_dir=ROOT / "kb", data_dir=tmp_path_factory.mktemp("kb-defects") / "data"))
    bot.index()
    return bot


def _questions() -> list[dict]:
    rows = []
    for name in ("qa.jsonl", "holdout.jsonl", "real_questions.jsonl"):
        for line in (ROOT / "eval" / name).read_text().splitlines():
            if line.strip():
                rows.append(json.loads(line))
    return rows


def test_no_answer_of_any_eval_set_shows_a_defect(kb_bot: Bot):
    claims = myth_claims(kb_bot.chunks())
    ids = element_ids(kb_bot.settings.kb_dir)
    assert len(claims) >= 10 and len(ids) >= 50, "the scan reads the KB's claims table and drawings"
    rows = _questions()
    assert len(rows) > 500
    bad = {}
    for row in rows:
        answer = kb_bot.ask(row["question"], history=row.get("history") or [])
        found = answer_defects(answer.text, claims, ids)
        if found:
            bad[row["id"]] = found  # ids only: a holdout question is not shown
    assert not bad, bad
