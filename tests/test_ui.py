"""ui.py handlers in plain Python: streaming, memory, citations, votes, startup pages, concurrency."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

gr = pytest.importorskip("gradio")

from lifecycle_bot.faces.web import app as ui  # noqa: E402  (imports lifecycle_bot first: offline env)
from lifecycle_bot.core.bot import Bot  # noqa: E402
from lifecycle_bot.feedback.store import FeedbackStore  # noqa: E402
from lifecycle_bot.core.settings import Settings  # noqa: E402
from lifecycle_bot.faces.web.viewer import SectionIndex  # noqa: E402

FIXTURE_KB = Path(__file__).resolve().parent / "fixtures" / "kb"


@pytest.fixture(scope="module")
def ready(session_bot):
    """A started app on the session's fixture-KB bot (conftest.py: indexed in a tmp data dir)."""
    bot = session_bot
    startup = ui.Startup(bot)
    startup.run()
    assert startup.state == "ready", startup.message
    return bot, startup


@pytest.fixture()
def app(ready, tmp_path):
    bot, startup = ready
    return ui.App(bot, startup, FeedbackStore(tmp_path / "fb.sqlite3"), )


def run(app: ui.App, question: str, state: dict | None = None, chat: list | None = None, paste: str = ""):
    """Drain the ask generator; returns (all yields, final chat, final state)."""
    steps = list(app.ask(question, paste, chat or [], state or {}))
    final = steps[-1]
    return steps, final[0], final[1]


def like(index: int, liked: bool | str):
    return SimpleNamespace(index=index, liked=liked, value=None)


def click(ref: str):
    return SimpleNamespace(_data={"ref": ref})


def test_extractive_answer_comes_whole_in_one_update_with_citations(app):
    steps, chat, state = run(app, "why is my pod Pending?")
    # no fake typing and no placeholder: the user's turn and the quoted answer in one update
    assert len(steps) == 1, "the whole answer at once"
    assert app.ask_at_once("why is my pod Pending?", "", [], {})[0][1]["role"] == "assistant"
    assert chat[0]["role"] == "user" and chat[1]["role"] == "assistant"
    assert "lb-waiting" not in chat[1]["content"]
    assert 'href="#cite-0-1"' in chat[1]["content"] and "Pending" in chat[1]["content"]
    assert "\n" not in chat[1]["content"]
    (record,) = state["turns"]
    assert record["citations"][0]["section"] and record["message_index"] == 1 and not record["refused"]
    assert steps[0][2] == "", "the box is cleared"
    assert chat[1]["content"].count('class="lb-sources"') == 1, "one sources list, in the answer"
    assert "Sources:" not in chat[1]["content"].split('class="lb-copy')[0], "the Markdown list is only in the copy text"
    assert 'class="cite-pop"' in chat[1]["content"], "each [n] previews the lines it quotes"
    assert record["citations"][0]["preview"] and record["citations"][0]["quoted"]
    assert all(step[5] == "Stop" for step in steps), "no model: the Stop button is left hidden, never updated"
    assert all(len(step) == 6 for step in steps), "the comment row is hidden in the page, not by the server"


def test_followups_pass_earlier_user_turns_as_history(app, monkeypatch):
    seen: list[list[str]] = []
    real = app.bot.ask

    def spy(question, history=()):
        seen.append(list(history))
        return real(question, history=history)

    monkeypatch.setattr(app.bot, "ask", spy)
    _, chat, state = run(app, "why is my pod Pending?")
    _, chat, state = run(app, "how do I fix it?", state, chat)
    assert seen == [[], ["why is my pod Pending?"]]
    assert len(chat) == 4 and state["turns"][1]["history"] == ["why is my pod Pending?"]
    assert state["turns"][1]["message_index"] == 3
    reset = app.new_conversation()
    assert reset[0] == [] and reset[1]["turns"] == [] and reset[1]["id"] != state["id"]


def test_empty_and_invalid_questions_do_not_break(app):
    steps = list(app.ask("   ", "", [], {}))
    assert len(steps) == 1 and steps[0][0] == [] and "Type a question" in steps[0][4]
    steps = list(app.ask("x" * 9000, "", [], {}))
    (chat, state, question_box, _, status, _), = steps
    assert chat == [] and state["turns"] == [] and "limit" in status
    assert question_box == gr.skip(), "the text stays in the box so it can be shortened"


def test_question_html_is_escaped_in_the_chat(app):
    _, chat, _ = run(app, "<img src=x onerror=alert(1)> why is my pod Pending?")
    assert "<img" not in chat[0]["content"] and "&lt;img src=x onerror=alert(1)&gt;" in chat[0]["content"]


def test_citation_opens_the_indexed_section_highlighted(app):
    _, _, state = run(app, "why is my pod Pending?")
    html, state = app.open_citation(state, click("0-1"))
    assert "Pod stuck in Pending" in html and re.search(r'class="[^"]*\bcited\b', html)
    assert "kubectl describe pod" in html  # the whole section, not only the cited lines


def test_viewer_highlights_the_lines_the_answer_quotes_not_the_whole_span(app):
    _, chat, state = run(app, "why is my pod Pending?")
    c = state["turns"][0]["citations"][0]
    span = set(range(c["start_line"], c["end_line"] + 1))
    assert set(c["quoted"]) < span, "only the quoted lines of the cited span"
    html, _ = app.open_citation(state, click("0-1"))
    sections = app.startup.current_sections()
    whole = sections.render(c["section"], (c["start_line"], c["end_line"]))
    assert 0 < html.count("cited") < whole.count("cited")
    assert c["preview"] and c["preview"] in chat[1]["content"]


def test_a_question_about_a_diagram_shows_the_diagram_in_the_answer(app):
    _, chat, state = run(app, "show me the diagram of the task flow")
    drawing = state["turns"][0]["drawing"]
    assert drawing and drawing["section"], state["turns"][0]
    assert 'class="lb-figure"' in chat[-1]["content"] and "lb-zoomable" in chat[-1]["content"]
    assert "<svg" in chat[-1]["content"] or 'class="mermaid"' in chat[-1]["content"]
    _, chat, state = run(app, "why is my pod Pending?")
    assert state["turns"][0]["drawing"] is None and "lb-figure" not in chat[-1]["content"]


def test_conversation_is_drawn_again_from_the_browsers_copy(app):
    _, chat, state = run(app, "why is my pod Pending?")
    _, chat, state = run(app, "how do I fix it?", state, chat)
    restored, state2 = app.restore(json.loads(json.dumps(state)))  # what localStorage gives back
    assert [m["content"] for m in restored] == [m["content"] for m in chat]
    assert app.open_citation(state2, click("1-1"))[0] != gr.skip()
    for junk in (None, "x", {"turns": "x"}, {"turns": [{"question": 1}]}, {"turns": [{"citations": None}]}):
        restored, fresh = app.restore(junk)
        assert restored == [] and fresh["turns"] == []


@pytest.mark.parametrize("ref", ["", "0-0", "0-99", "7-1", "../../etc/passwd", "0-1; rm", "guide.md", None])
def test_viewer_ignores_refs_that_are_not_citations_of_this_session(app, ref):
    _, _, state = run(app, "why is my pod Pending?")
    html, _ = app.open_citation(state, SimpleNamespace(_data={"ref": ref}))
    assert html == gr.skip()  # nothing is shown or changed


def test_a_tampered_citation_opens_no_file(app):
    _, _, state = run(app, "why is my pod Pending?")
    state["turns"][0]["citations"][0].update(section="../../etc/passwd", file="/etc/passwd", start_line="x")
    assert app.open_citation(state, click("0-1"))[0] == gr.skip()
    state["turns"][0]["citations"][0]["start_line"] = 1
    assert "not in the index" in app.open_citation(state, click("0-1"))[0]


def test_section_index_never_reads_files_outside_the_index(ready, tmp_path):
    bot, startup = ready
    sections: SectionIndex = startup.sections
    assert sections.diagram("excalidraw/flow.excalidraw")["type"] == "excalidraw"
    for name in ("guide.md", "../fixtures/kb/excalidraw/flow.excalidraw", "/etc/passwd", "excalidraw/none.excalidraw"):
        assert sections.diagram(name) is None
    assert sections.get("not-an-id") is None and "not in the index" in sections.render("not-an-id")
    outside = tmp_path / "kb"
    (outside / "excalidraw").mkdir(parents=True)
    chunk = next(c for c in bot.load().chunks.values() if c.kind == "diagram")
    other = SectionIndex([chunk], outside)  # indexed name, but the file is not under this KB dir
    assert other.diagram(chunk.file) is None


def test_diagram_citation_is_drawn_as_svg_with_cited_elements(app):
    _, _, state = run(app, "what does the scheduler send to the queue?")
    refs = [n for n, c in enumerate(state["turns"][0]["citations"], 1) if c["file"].endswith(".excalidraw")]
    assert refs, state["turns"][0]["citations"]
    html, _ = app.open_citation(state, click(f"0-{refs[0]}"))
    assert "<svg" in html and 'class="el cited"' in html and ">Scheduler</tspan>" in html


def test_paste_answer_shows_which_lines_it_used(app):
    paste = ("Events:\n  Type     Reason            Age   From               Message\n"
             "  Warning  FailedScheduling  2m    default-scheduler  0/3 nodes are available: 3 Insufficient memory.")
    _, chat, state = run(app, "why is this pod not starting?", paste=paste)
    findings = state["turns"][0]["paste_findings"]
    assert findings and findings[0]["failure_class"].startswith("scheduling")
    assert '<mark class="paste-hit">' in chat[-1]["content"] and "FailedScheduling" in chat[-1]["content"]


def test_vote_on_the_message_with_a_preset_reason_then_a_comment(app):
    _, _, state = run(app, "why is my pod Pending?")
    message, state, comment_row = app.vote(state, like(1, "Wrong section"))
    assert "recorded" in message and comment_row["visible"] is True
    message, box, row = app.comment(state, "it missed the taint case")
    assert "recorded" in message and box == "" and row["visible"] is False
    rows = sqlite3.connect(app.store.path).execute(
        "SELECT question, vote, reason, citations, mode FROM feedback").fetchall()
    assert rows[0][:3] == ("why is my pod Pending?", "down", "Wrong section: it missed the taint case")
    assert json.loads(rows[0][3])[0]["file"] == "guide.md" and rows[0][4] == "extractive"
    assert app.vote(state, like(0, True))[0].startswith("That message is not an answer")
    assert app.vote(state, like(1, "not a preset"))[0].startswith("Vote removed")
    assert app.comment({}, "no vote")[0] == "Vote on an answer first."
    assert app.store.count() == 1


def test_declined_questions_are_logged_reviewed_and_exported(app):
    _, chat, state = run(app, "what is the best pizza topping in naples?")
    assert state["turns"][0]["refused"] and "declined" in chat[-1]["content"]
    _, _, state2 = run(app, "why is my pod Pending?")
    app.vote(state2, like(1, False))
    run(app, "What is the best pizza topping in Naples?")  # the same question again: one row, asked twice
    table = app.review_table()
    assert {row[1] for row in table} == {"What is the best pizza topping in Naples?", "why is my pod Pending?"}
    pizza = next(row for row in table if "pizza" in row[1])
    assert pizza[2] == 2 and pizza[3] == "declined"
    path, message = app.export()
    rows = [json.loads(x) for x in Path(path).read_text().splitlines()]
    assert len(rows) == 2 and all(r["category"] == "from-feedback" for r in rows) and "2 candidate" in message


def test_each_answer_carries_its_markdown_and_slack_copy(app):
    import html as html_lib
    import re

    _, chat, state = run(app, "why is my pod Pending?")
    content = chat[1]["content"]
    md = html_lib.unescape(re.search(r'<pre class="lb-copy lb-md">(.*?)</pre>', content).group(1))
    slack = html_lib.unescape(re.search(r'<pre class="lb-copy lb-slack">(.*?)</pre>', content).group(1))
    assert md == state["turns"][0]["answer"] and "Sources:" in md and "<p>" not in md
    assert "[1] guide.md" in slack and "confidence" in slack and not re.search(r"&(amp|lt|gt);", slack)
    assert 'href="#copy-md-0"' in content and 'href="#copy-slack-0"' in content


def test_startup_progress_then_ready(ready):
    bot, _ = ready
    gate = threading.Event()

    class SlowBot:
        settings = bot.settings

        def open(self, progress=None):
            progress(64, 128)
            gate.wait(10)
            bot.open()

        def chunks(self):
            return bot.chunks()

        @property
        def ingest_errors(self):
            return bot.ingest_errors

        @property
        def generation(self):
            return bot.generation

    startup = ui.Startup(SlowBot()).start()
    app = ui.App(SlowBot(), startup, FeedbackStore(bot.settings.data_dir / "x.sqlite3"))
    shown: list[str] = []
    for starting, error, main in app.wait_ready():
        if starting.get("visible"):
            shown.append(starting["value"])
            gate.set()
    assert any("64 of 128 sections and sentences" in h and "<progress" in h for h in shown), shown
    assert main["visible"] is True and error["visible"] is False and starting["visible"] is False


def test_startup_says_each_stage_with_the_time_left(ready):
    bot, _ = ready
    startup = ui.Startup(bot)
    assert "Reading the knowledge base" in startup.stage()[0]
    startup._progress(0, 1000)
    startup.embedding_since -= 10
    startup._progress(250, 1000)
    what, fraction, left = startup.stage()
    assert "250 of 1,000" in what and fraction == 0.25 and left == "about 30 s left"
    startup._progress(1000, 1000)
    assert startup.stage()[0].startswith("Saving the index")


def test_startup_missing_kb_shows_a_page_with_the_fix(tmp_path):
    startup = ui.Startup(Bot(Settings(kb_dir=tmp_path / "nope", data_dir=tmp_path / "d")))
    startup.run()
    app = ui.App(startup.bot, startup, FeedbackStore(tmp_path / "fb.sqlite3"))
    *_, (_, error, main) = app.wait_ready()
    assert error["visible"] is True and main["visible"] is False
    assert "knowledge-base directory not found" in error["value"] and "LIFECYCLE_BOT_KB" in error["value"]
    assert "Traceback" not in error["value"]
    steps = list(app.ask("why?", "", [], {}))
    assert "not ready" in steps[-1][4]


def test_startup_corrupt_index_shows_rebuild_command(tmp_path):
    data = tmp_path / "data"
    (data / "index").mkdir(parents=True)
    (data / "index" / "registry.sqlite3").write_bytes(b"this is not a database" * 100)
    startup = ui.Startup(Bot(Settings(kb_dir=FIXTURE_KB, data_dir=data)))
    startup.run()
    assert startup.state == "error"
    assert "lifecycle-bot index --rebuild" in startup.error_html()
    assert "&lt;" not in startup.fix


def test_twenty_concurrent_users_all_get_answers(app):
    questions = ["why is my pod Pending?", "what does task_publish_max_retries do?", "OOMKilled exit code 137",
                 "ErrImagePull vs ImagePullBackOff", "how do I bake bread?"]
    results: dict[int, str] = {}
    errors: list[BaseException] = []

    def user(n: int) -> None:
        try:
            _, chat, state = run(app, questions[n % len(questions)])
            _, chat, state = run(app, "and how do I fix it?", state, chat)
            results[n] = chat[-1]["content"]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=user, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(results) == 20
    assert all("confidence" in html for html in results.values())


def test_build_app_wires_the_blocks(ready, tmp_path):
    bot, startup = ready
    demo = ui.build_app(bot, startup=startup, store=FeedbackStore(tmp_path / "fb.sqlite3"))
    assert isinstance(demo, gr.Blocks) and demo.lifecycle_app.startup is startup
    names = {d.api_name for d in demo.fns.values() if d.api_name}
    assert "ask" in names
    assert ui.STATIC_DIR.joinpath("mermaid.min.js").stat().st_size > 1_000_000
    assert "MIT" in ui.STATIC_DIR.joinpath("mermaid.min.js").read_text(encoding="utf-8")[:300]
    opts = ui.launch_options()
    fonts = [*opts["theme"].font, *opts["theme"].font_mono]
    assert not any(isinstance(f, gr.themes.GoogleFont) for f in fonts) and opts["css"]


OOM_TICKET = """Hi team, our nightly ETL fails every night since Monday.

$ kubectl describe pod etl-transform-x8k2p0qd -n airflow
    Last State:     Terminated
      Reason:       OOMKilled
      Exit Code:    137
"""


def test_triage_tab_handles_a_pasted_ticket(app):
    out = app.triage_ticket(OOM_TICKET)
    assert "oom_killed" in out and "running" in out
    assert "OOMKilled" in out  # the evidence line is quoted
    assert "Paste a ticket first" in app.triage_ticket("   ")


def test_triage_tab_batch_upload_returns_csv(app, tmp_path):
    import csv
    import json

    batch = tmp_path / "tickets.jsonl"
    batch.write_text(json.dumps({"id": "t1", "text": OOM_TICKET}) + "\n"
                     + json.dumps({"id": "t2", "text": "the weather is nice"}) + "\n")
    path, message = app.triage_file(str(batch))
    rows = list(csv.DictReader(open(path, newline="")))
    assert [r["id"] for r in rows] == ["t1", "t2"]
    assert rows[0]["failure_class"] == "oom_killed" and rows[1]["failure_class"] == "unknown"
    assert "Triaged" in message
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"\xff\xfe not json")
    path, message = app.triage_file(str(bad))
    assert path is None and "Cannot triage" in message


def test_generated_answer_streams_sentence_by_sentence_and_says_who_wrote_it(ready, tmp_path):
    from chat_server import ScriptedChatServer

    bot, startup = ready
    reply = "A pod stays Pending when no node can take it [1]. Lower the memory request or add nodes [1]."
    with ScriptedChatServer(reply, delay=0.01) as server:
        llm = Bot(bot.settings.with_(llm="openai-compatible", llm_url=server.url, llm_model="scripted",
                                     refusal_threshold=0.0))
        llm.load()
        app = ui.App(llm, startup, FeedbackStore(tmp_path / "fb.sqlite3"), )
        shown = []
        for step in app.ask("why is my pod stuck in Pending?", "", [], {}):
            shown.append(step[0][-1]["content"])  # the chat list is reused between updates: copy now
        chat, state = step[0], step[1]
    shown = shown[1:]  # [0]: the question and "Searching"
    assert len(shown) == 3, "two checked sentences, then the final answer"
    assert "no node can take it" in shown[0] and "Lower the memory" not in shown[0], "first sentence alone first"
    assert "written by scripted, checked against the docs" in chat[-1]["content"]
    assert state["turns"][0]["mode"] == "generated"


def test_model_failure_is_shown_with_the_extractive_answer(ready, tmp_path):
    from chat_server import ScriptedChatServer

    bot, startup = ready
    with ScriptedChatServer(status=503) as server:
        llm = Bot(bot.settings.with_(llm="openai-compatible", llm_url=server.url, llm_model="scripted",
                                     refusal_threshold=0.0))
        llm.load()
        app = ui.App(llm, startup, FeedbackStore(tmp_path / "fb.sqlite3"), )
        _, chat, state = run(app, "why is my pod stuck in Pending?")
    assert 'class="notice"' in chat[-1]["content"] and "Showing the extractive answer" in chat[-1]["content"]
    assert state["turns"][0]["mode"] == "extractive" and state["turns"][0]["citations"]


def test_startup_with_a_malformed_diagram_serves_the_rest_of_the_kb(kb_copy, tmp_path, caplog):
    (kb_copy / "broken.excalidraw").write_text(
        '{"type": "excalidraw", "elements": [{"id": ["r1"], "type": "rectangle", "x": "left", "y": null}]}',
        encoding="utf-8")
    startup = ui.Startup(Bot(Settings(kb_dir=kb_copy, data_dir=tmp_path / "data")))
    with caplog.at_level("WARNING"):
        startup.run()
    assert startup.state == "ready", startup.message
    assert "broken.excalidraw" in caplog.text
    answer = startup.bot.ask("why is my pod stuck in Pending?")
    assert not answer.refused and all(c.file != "broken.excalidraw" for c in answer.citations)
