"""The CLI: index, ask, --json, --batch, and clear errors without tracebacks (in-process, CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import invoke as run_cli


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    import shutil

    from conftest import FIXTURE_KB

    base = tmp_path_factory.mktemp("cli")
    shutil.copytree(FIXTURE_KB, base / "kb")
    proc = run_cli("--kb", str(base / "kb"), "--data-dir", str(base / "data"), "index")
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert b"full build" in proc.stdout
    return base


def _args(base: Path, *rest: str) -> list[str]:
    return ["--kb", str(base / "kb"), "--data-dir", str(base / "data"), *rest]


def test_batch_answers_jsonl_in_one_process(indexed: Path, tmp_path: Path):
    batch = tmp_path / "q.jsonl"
    batch.write_text(
        "\n".join(json.dumps(x) for x in [
            {"id": "1", "question": "why is my pod stuck in Pending?"},
            {"id": "2", "question": "how do I fix it?", "history": ["my container was OOMKilled"]},
            {"id": "3", "question": "what is the capital of France?"},
            {"id": "4", "question": ""},
        ]) + "\n"
    )
    proc = run_cli(*_args(indexed, "ask", "--batch", str(batch)))
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    rows = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert [r["id"] for r in rows] == ["1", "2", "3", "4"]
    first = rows[0]
    assert set(first) >= {"id", "answer", "citations", "confidence", "refused"}
    assert set(first["citations"][0]) >= {"file", "heading_path", "anchor", "start_line", "end_line"}
    assert first["citations"][0]["anchor"] == "31-pod-stuck-in-pending"
    assert rows[1]["citations"][0]["anchor"] == "32-oomkilled"
    assert rows[2]["refused"] is True
    assert "empty" in rows[3]["error"]


def test_ask_json_and_index_no_change(indexed: Path):
    proc = run_cli(*_args(indexed, "index"))
    assert b"up to date" in proc.stdout and b"nothing embedded" in proc.stdout
    proc = run_cli(*_args(indexed, "ask", "--json", "what does OOMKilled mean?"))
    data = json.loads(proc.stdout)
    assert data["citations"][0]["anchor"] == "32-oomkilled" and data["refused"] is False


@pytest.mark.parametrize(
    "args, message",
    [
        (["ask", ""], b"the question is empty"),
        (["ask", "x" * 9000], b"the limit is 8,000"),
    ],
)
def test_bad_questions_exit_nonzero_without_traceback(indexed: Path, args, message):
    proc = run_cli(*_args(indexed, *args))
    assert proc.returncode == 1
    assert message in proc.stderr
    assert b"Traceback" not in proc.stderr


def test_non_utf8_stdin_and_bad_batch(indexed: Path, tmp_path: Path):
    proc = run_cli(*_args(indexed, "ask", "-"), input=b"\xff\xfe caf\xe9")
    assert proc.returncode == 1 and b"not UTF-8" in proc.stderr and b"Traceback" not in proc.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1, "question": "ok"}\n{not json\n')
    proc = run_cli(*_args(indexed, "ask", "--batch", str(bad)))
    assert proc.returncode == 1 and b"bad.jsonl:2" in proc.stderr and b"Traceback" not in proc.stderr


def test_missing_kb_directory(tmp_path: Path):
    proc = run_cli("--kb", str(tmp_path / "nope"), "--data-dir", str(tmp_path / "d"), "ask", "why pending?")
    assert proc.returncode == 1
    assert b"knowledge-base directory not found" in proc.stderr and b"Traceback" not in proc.stderr


def test_corrupt_index_message_then_rebuild(indexed: Path, tmp_path: Path):
    import shutil

    base = tmp_path / "c"
    shutil.copytree(indexed, base)
    for f in (base / "data").rglob("chroma.sqlite3"):
        f.write_bytes(b"garbage" * 1000)
    proc = run_cli(*_args(base, "ask", "why pending?"))
    assert proc.returncode == 1 and b"--rebuild" in proc.stderr and b"Traceback" not in proc.stderr
    proc = run_cli(*_args(base, "index", "--rebuild"))
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    proc = run_cli(*_args(base, "ask", "--json", "why is my pod stuck in Pending?"))
    assert json.loads(proc.stdout)["citations"][0]["anchor"] == "31-pod-stuck-in-pending"


def test_a_bad_history_is_one_lines_error_and_the_rest_is_answered(indexed: Path, tmp_path: Path):
    batch = tmp_path / "q.jsonl"
    batch.write_text("\n".join(json.dumps(x) for x in [
        {"id": "a", "question": "why is my pod stuck in Pending?"},
        {"id": "b", "question": "how do I fix it?", "history": 12},
        {"id": "c", "question": "how do I fix it?", "history": "my pod is OOMKilled"},
        {"id": "d", "question": "how do I fix it?", "history": ["why is my pod stuck in Pending?"]},
    ]) + "\n")
    proc = run_cli(*_args(indexed, "ask", "--batch", str(batch)))
    assert proc.returncode == 0, proc.stderr
    rows = {r["id"]: r for r in map(json.loads, proc.stdout.decode().splitlines())}
    assert list(rows) == ["a", "b", "c", "d"]
    assert rows["b"]["error"] == rows["c"]["error"].replace("str", "int") == \
        "the history must be a list of earlier questions, got int"
    assert rows["a"]["citations"] and rows["d"]["citations"] and "error" not in rows["d"]


def test_a_bad_question_is_refused_before_the_index_loads(kb_copy: Path, tmp_path: Path):
    data = tmp_path / "never-built"
    proc = run_cli("--kb", str(kb_copy), "--data-dir", str(data), "ask", "   ")
    assert proc.returncode == 1 and b"the question is empty" in proc.stderr
    batch = tmp_path / "q.jsonl"
    batch.write_text(json.dumps({"id": "x", "question": "", "history": 3}) + "\n")
    proc = run_cli("--kb", str(kb_copy), "--data-dir", str(data), "ask", "--batch", str(batch))
    assert json.loads(proc.stdout)["error"] == "the question is empty"
    assert not data.exists()  # nothing was built or loaded to find that out
