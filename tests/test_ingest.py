"""Ingestion: sections, anchors, line ranges, atomic blocks, diagrams, and unreadable files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import invoke

from lifecycle_bot.core.ingest import load_kb
from lifecycle_bot.core.ingest.excalidraw import parse_excalidraw
from lifecycle_bot.core.ingest.markdown import Slugger, parse_markdown, slugify, split_units
from lifecycle_bot.core.ingest.mermaid import read_mermaid
from lifecycle_bot.core.settings import Settings


def test_sections_carry_path_anchor_and_lines(kb_copy: Path):
    chunks, errors = load_kb(kb_copy)
    assert errors == []
    pending = next(c for c in chunks if c.heading_path.endswith("3.1 Pod stuck in Pending"))
    assert pending.heading_path == "3. Debugging > 3.1 Pod stuck in Pending"
    assert pending.anchor == "31-pod-stuck-in-pending"
    lines = (kb_copy / "guide.md").read_text().splitlines()
    assert lines[pending.start_line - 1] == "### 3.1 Pod stuck in Pending"
    assert lines[pending.end_line - 1] == "```"
    assert pending.heading_path in pending.embed_text


def test_github_slugs():
    assert slugify("12.2 Pod stuck in Pending") == "122-pod-stuck-in-pending"
    assert slugify("13.1 [kubernetes_executor] options") == "131-kubernetes_executor-options"
    assert slugify("Executor reports task finished although the task says it's queued") == (
        "executor-reports-task-finished-although-the-task-says-its-queued"
    )


def test_duplicate_headings_get_numbered_anchors():
    chunks = parse_markdown("x.md", "## Fix\n\none\n\n## Fix\n\ntwo\n")
    assert [c.anchor for c in chunks] == ["fix", "fix-1"]


def test_long_sections_split_between_blocks_rows_and_items_only():
    code = "```bash\n" + "\n".join(f"kubectl get pods # {i}" for i in range(40)) + "\n```"
    table = "| a | b |\n|---|---|\n" + "\n".join(f"| {i} | x |" for i in range(30))
    items = "\n".join(f"- item {i} with some words" for i in range(30))
    paras = "\n\n".join(f"Paragraph {i} has a sentence. And another one here." for i in range(20))
    text = f"## 1. Big\n\n{paras}\n\n{code}\n\n{table}\n\n{items}\n"
    lines = text.splitlines()
    chunks = parse_markdown("big.md", text, max_chars=200)
    assert len(chunks) > 3
    assert {c.heading_path for c in chunks} == {"1. Big"}
    rows, list_items = [], []
    for c in chunks:
        assert c.text.count("```") % 2 == 0, "a code fence was cut"
        assert c.text == "\n".join(lines[c.start_line - 1:c.end_line]), "a chunk is not its source lines"
        for unit in split_units(c):
            assert unit.text.split()[0] in lines[unit.start_line - 1], "a unit points at the wrong line"
            if unit.kind in ("row", "header"):
                rows.append(unit.text)
            if unit.kind == "row":
                assert unit.header == ("a", "b") and unit.display == f"{unit.cells[0]}: b: x", "read under its header"
            elif unit.kind == "item":
                list_items.append(unit.text)
        # a later piece of the table is read under the table's header, and quotes none of it
        if c.text.startswith("| ") and not c.text.startswith("| a |"):
            assert c.head == "| a | b |\n|---|---|"
    assert sum(1 for c in chunks if "| 1 | x |" in c.text or "| 29 | x |" in c.text) == 2, "the table was not split"
    assert rows == ["a | b"] + [f"{i} | x" for i in range(30)], "a row was lost, repeated or cut"
    assert list_items == [f"item {i} with some words" for i in range(30)], "an item was lost, repeated or cut"
    joined = "\n".join(c.text for c in chunks)
    for i in range(20):
        assert f"Paragraph {i} " in joined


def test_a_row_is_shown_under_its_header_and_a_wrong_claim_as_not_so():
    text = ("## T\n\n| Option | Default | Meaning |\n|---|---|---|\n| `a_b` | `1` | Does a \\| b. |\n\n"
            "| Claim | What the code does |\n|---|---|\n| Pods restart. | They do not. |\n\n"
            "| `x` | `y` | Result |\n|---|---|---|\n| `True` | `False` | kept |\n")
    (chunk,) = parse_markdown("t.md", text)
    units = split_units(chunk)
    assert [u.kind for u in units] == ["header", "row", "header", "row", "header", "row"]
    rows = [u for u in units if u.kind == "row"]
    assert rows[0].display == "`a_b`: Default: `1`; Meaning: Does a | b.", "an escaped pipe is a pipe"
    assert rows[1].display == "Not so: Pods restart. In fact: They do not."
    assert rows[2].display == "`x`: `True`; `y`: `False`; Result: kept"
    assert rows[0].text == "`a_b` | `1` | Does a \\| b.", "the text embedded stays the row as written"


def test_units_have_exact_lines():
    text = "## A\n\nFirst sentence. Second one\nwraps here.\n\n- item one\n- item two\n"
    (chunk,) = parse_markdown("a.md", text)
    units = split_units(chunk)
    lines = text.splitlines()
    for u in units:
        span = " ".join(lines[u.start_line - 1 : u.end_line])
        assert " ".join(u.text.split()) in " ".join(span.split())


def test_mermaid_reading_names_states_and_transitions():
    reading = read_mermaid("stateDiagram-v2\n    [*] --> Pending\n    Pending --> Running: containers started\n")
    assert "Pending goes to Running when containers started" in reading
    seq = read_mermaid("sequenceDiagram\n    participant S as Scheduler\n    S->>API: create_namespaced_pod\n")
    assert "Scheduler to API: create_namespaced_pod" in seq
    flow = read_mermaid("flowchart LR\n    A[Scheduler] -->|execute_async| B[(task_queue)]\n")
    assert "Scheduler leads to task_queue (execute_async)" in flow


def test_mermaid_kept_with_its_section(kb_copy: Path):
    chunks, _ = load_kb(kb_copy)
    overview = next(c for c in chunks if c.anchor == "1-overview")
    assert "```mermaid" in overview.text
    assert "Running goes to Succeeded" in overview.reading


def test_excalidraw_arrows_resolve_through_bindings(kb_copy: Path):
    chunks, _ = load_kb(kb_copy)
    (diagram,) = [c for c in chunks if c.kind == "diagram"]
    assert "Scheduler \u2192 task_queue: execute_async." in diagram.text
    assert diagram.heading_path == "Diagram: Fixture flow"
    assert {"a1", "sched", "queue"} <= set(diagram.element_ids)
    raw = (kb_copy / diagram.file).read_text().splitlines()
    cited = "\n".join(raw[diagram.start_line - 1 : diagram.end_line])
    assert '"execute_async"' in cited and '"Scheduler"' in cited


def test_unreadable_files_are_reported_and_skipped(kb_copy: Path):
    (kb_copy / "latin1.md").write_bytes("## Caf\xe9\n\nna\xefve text\n".encode("latin-1"))
    (kb_copy / "binary.md").write_bytes(b"\x00\x01\x02binary")
    (kb_copy / "excalidraw" / "broken.excalidraw").write_text('{"type": "excalidraw", "elements": [')
    (kb_copy / "excalidraw" / "wrong.excalidraw").write_text(json.dumps({"type": "other"}))
    chunks, errors = load_kb(kb_copy)
    by_file = {e.file: e.message for e in errors}
    assert set(by_file) == {"latin1.md", "binary.md", "excalidraw/broken.excalidraw", "excalidraw/wrong.excalidraw"}
    assert "UTF-8" in by_file["latin1.md"]
    assert "malformed JSON" in by_file["excalidraw/broken.excalidraw"]
    assert any(c.file == "guide.md" for c in chunks) and any(c.kind == "diagram" for c in chunks)


def test_excalidraw_deleted_and_unbound_elements_are_ignored():
    doc = {
        "type": "excalidraw",
        "version": 2,
        "elements": [
            {"id": "r", "type": "rectangle", "x": 0, "y": 0},
            {"id": "t", "type": "text", "text": "Pod", "containerId": "r", "x": 0, "y": 0},
            {"id": "gone", "type": "rectangle", "isDeleted": True, "x": 0, "y": 0},
            {"id": "gt", "type": "text", "text": "Deleted", "containerId": "gone", "x": 0, "y": 0},
            {"id": "free", "type": "arrow", "x": 0, "y": 0},
        ],
    }
    (chunk,) = parse_excalidraw("d.excalidraw", json.dumps(doc))
    assert "Pod." in chunk.text and "Deleted" not in chunk.text and "\u2192" not in chunk.text


def test_slugger_gives_githubs_unique_anchors():
    s = Slugger()
    assert [s.slug(h) for h in ("x", "x", "x")] == ["x", "x-1", "x-2"]
    s = Slugger()
    assert [s.slug(h) for h in ("x", "x-1", "x")] == ["x", "x-1", "x-2"]  # was x, x-1, x-1: a duplicate
    s = Slugger()
    assert [s.slug(h) for h in ("x-1", "x", "x")] == ["x-1", "x", "x-2"]


BAD_ELEMENTS = {
    "x is text": ({"id": "r1", "type": "rectangle", "x": "left", "y": 0}, '"x" must be a finite number'),
    "x is null": ({"id": "r1", "type": "rectangle", "x": None, "y": 0}, '"x" must be a finite number'),
    "binding is a string": ({"id": "a1", "type": "arrow", "x": 0, "y": 0, "startBinding": "r1"},
                            '"startBinding" must be an object'),
    "binding target is a number": ({"id": "a1", "type": "arrow", "startBinding": {"elementId": 7}},
                                   '"startBinding.elementId" must be text'),
    "id is a list": ({"id": ["r1"], "type": "rectangle", "x": 0, "y": 0}, '"id" must be text'),
    "text is an int": ({"id": "t1", "type": "text", "text": 42, "x": 0, "y": 0}, '"text" must be text'),
    "fontSize is a bool": ({"id": "t1", "type": "text", "text": "T", "fontSize": True}, '"fontSize" must be'),
}


@pytest.mark.parametrize("case", sorted(BAD_ELEMENTS))
def test_malformed_excalidraw_is_one_warning_naming_the_file_and_field(kb_copy: Path, case: str):
    element, reason = BAD_ELEMENTS[case]
    doc = {"type": "excalidraw", "elements": [{"id": "ok", "type": "text", "text": "Fine", "x": 0, "y": 0}, element]}
    (kb_copy / "excalidraw" / "bad.excalidraw").write_text(json.dumps(doc))
    chunks, errors = load_kb(kb_copy)
    (error,) = errors
    assert error.file == "excalidraw/bad.excalidraw" and reason in error.message and "element 2" in error.message
    assert {c.file for c in chunks} == {"guide.md", "excalidraw/flow.excalidraw"}  # the rest is indexed


@pytest.mark.parametrize("raw, reason", [
    ('{"type": "excalidraw", "elements": [{"id": "r", "type": "rectangle", "x": Infinity, "y": 0}]}', "Infinity"),
    ('{"type": "excalidraw", "elements": [{"id": "r", "type": "rectangle", "x": NaN, "y": 0}]}', "NaN"),
    ('{"type": "excalidraw", "elements": [' + "[" * 100_000 + "]" * 100_000 + "]}", "nested too deeply"),
])
def test_excalidraw_non_numbers_and_deep_nesting_are_warnings(kb_copy: Path, raw: str, reason: str):
    (kb_copy / "excalidraw" / "bad.excalidraw").write_text(raw)
    chunks, errors = load_kb(kb_copy)
    assert [e.file for e in errors] == ["excalidraw/bad.excalidraw"] and reason in errors[0].message
    assert any(c.file == "guide.md" for c in chunks)


def test_index_and_ask_survive_a_malformed_diagram(kb_copy: Path, tmp_path: Path):
    """The CLI end to end: a warning naming the file, the index built from the rest, the question answered."""
    (kb_copy / "excalidraw" / "bad.excalidraw").write_text(json.dumps(
        {"type": "excalidraw", "elements": [{"id": "a", "type": "arrow", "startBinding": "r1", "x": 0, "y": 0}]}))
    base = ("--kb", str(kb_copy), "--data-dir", str(tmp_path / "data"))
    ask = invoke(*base, "ask", "--json", "why is my pod stuck in Pending?")  # a first ask builds the index
    assert ask.returncode == 0, ask.stderr
    assert json.loads(ask.stdout)["citations"]
    index = invoke(*base, "index", "--rebuild")
    assert index.returncode == 0, index.stderr
    assert "warning: excalidraw/bad.excalidraw: invalid Excalidraw: element 1" in index.stderr.decode()


def test_a_file_over_the_size_limit_is_skipped_with_a_clear_message(kb_copy: Path, monkeypatch):
    (kb_copy / "huge.md").write_text("## Huge\n\n" + "word " * 500_000)  # 2.5 MB
    chunks, errors = load_kb(kb_copy, max_bytes=Settings().max_file_bytes)
    assert [(e.file, e.message) for e in errors] == [
        ("huge.md", "2.5 MB, over the 2.0 MB limit (LIFECYCLE_BOT_MAX_FILE_MB); file skipped")]
    assert any(c.file == "guide.md" for c in chunks)
    monkeypatch.setenv("LIFECYCLE_BOT_MAX_FILE_MB", "3")
    assert not load_kb(kb_copy, max_bytes=Settings().max_file_bytes)[1]
    monkeypatch.setenv("LIFECYCLE_BOT_MAX_FILE_MB", "lots")
    with pytest.raises(ValueError, match="LIFECYCLE_BOT_MAX_FILE_MB must be a number"):
        Settings()


def test_symlinks_out_of_the_kb_and_loops_are_reported_not_followed(kb_copy: Path, tmp_path: Path):
    secret = tmp_path / "outside" / "secret.md"
    secret.parent.mkdir()
    secret.write_text("## Secret\n\nThe root password is hunter2.\n")
    (kb_copy / "leak.md").symlink_to(secret)
    (kb_copy / "outside-dir").symlink_to(secret.parent, target_is_directory=True)
    (kb_copy / "excalidraw" / "loop").symlink_to(kb_copy, target_is_directory=True)
    (kb_copy / "again.md").symlink_to(kb_copy / "guide.md")
    (kb_copy / "dangling.md").symlink_to(tmp_path / "nowhere.md")
    chunks, errors = load_kb(kb_copy)
    assert not any("hunter2" in c.text for c in chunks)
    by_file = {e.file: e.message for e in errors}
    assert by_file["leak.md"].startswith(f"symbolic link to {secret}, outside the knowledge base; not followed")
    assert "outside the knowledge base" in by_file["outside-dir"]
    assert by_file["excalidraw/loop"].startswith("symbolic link loop")
    assert by_file["again.md"] == "symbolic link to guide.md inside the knowledge base; read there, not here"
    assert by_file["dangling.md"].startswith("broken symbolic link")
    assert len(errors) == 5
    assert sorted({c.file for c in chunks}) == ["excalidraw/flow.excalidraw", "guide.md"]


def test_index_prints_progress_on_a_long_build(kb_copy: Path, tmp_path: Path):
    (kb_copy / "many.md").write_text("# Many\n\n" + "".join(
        f"## Topic {n}\n\nThe scheduler handles case number {n} of the executor.\n\n" for n in range(200)))
    result = invoke("--kb", str(kb_copy), "--data-dir", str(tmp_path / "data"), "index")
    assert result.returncode == 0, result.stderr
    lines = [ln for ln in result.stderr.decode().splitlines() if ln.startswith("embedding: ")]
    total = lines[-1].split("/")[1].split()[0]
    assert int(total.replace(",", "")) > 80, "the total counts sentences as well as sections"
    assert lines[0] == f"embedding: 0/{total} sections and sentences"
    assert lines[-1] == f"embedding: {total}/{total} sections and sentences"
    assert len(lines) >= 3
