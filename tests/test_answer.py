"""Answers: grounded and cited, pastes recognised, follow-ups, refusals, exact identifiers."""

from __future__ import annotations

import re

import pytest

from lifecycle_bot.core.bot import Bot, QuestionError, is_followup, resolve_query
from lifecycle_bot.core.retrieve import extract_identifiers
from lifecycle_bot.core.text import normalise

DESCRIBE = """\
Name:         etl-load-4t1zxx72
Namespace:    airflow
Status:       Pending
Events:
  Type     Reason            Age   From               Message
  ----     ------            ----  ----               -------
  Warning  FailedScheduling  2m    default-scheduler  0/3 nodes are available: 3 Insufficient memory.
"""


def _paragraph_claims(answer_text: str) -> list[tuple[int, str]]:
    """(citation number, quoted text) for every cited paragraph of an answer."""
    body = answer_text.split("\n\nSources:\n")[0]
    claims = []
    for para in body.split("\n\n"):
        m = re.search(r"\[(\d+)\]\s*$", para)
        if not m or para.startswith("From your paste"):
            continue
        text = para[: m.start()]
        for piece in text.split("\n"):
            piece = piece[2:] if piece.startswith("- ") else piece
            if piece.strip() and not piece.startswith("```"):
                claims.append((int(m.group(1)), piece))
    return claims


_ROW_SHOWN = re.compile(r"^Not so: .+ In fact: ")


def assert_grounded(bot: Bot, answer) -> None:
    assert answer.citations, "an answer must cite something"
    claims = _paragraph_claims(answer.text)
    assert claims
    for n, text in claims:
        c = answer.citations[n - 1]
        lines = (bot.settings.kb_dir / c.file).read_text().splitlines()[c.start_line - 1 : c.end_line]
        cited = normalise(" ".join(lines))
        if c.file.endswith(".excalidraw"):
            # a diagram statement is built from element labels: each label must be in the cited JSON
            for label in re.split(r" \u2192 |: |\. ", text.rstrip(".")):
                if not label.strip():
                    continue
                assert f'"{label.strip().rstrip(".")}"' in " ".join(lines), f"{label!r} not in {c.label()}"
            continue
        if _ROW_SHOWN.match(text) or "; " in text:
            # a table row shown under its header's names: each cell from the cited rows, each name a header
            all_lines = (bot.settings.kb_dir / c.file).read_text().splitlines()
            headers = normalise(" ".join(ln for ln, nxt in zip(all_lines, all_lines[1:]) if re.match(r"\|\s*:?-{3}", nxt)))
            for fragment in re.split(r"^Not so: | In fact: |; |: ", text):
                if fragment.strip():
                    f = normalise(fragment)
                    assert f in cited or f in headers, f"{fragment!r} is not in {c.label()} nor a header there"
            continue
        for sentence in re.split(r"(?<=[.!?])\s+", text):
            assert normalise(sentence) in cited, f"{sentence!r} is not in {c.label()}"


def test_answer_is_cited_and_grounded(session_bot: Bot):
    answer = session_bot.ask("why is my pod stuck in Pending?")
    assert not answer.refused
    top = answer.citations[0]
    assert top.anchor == "31-pod-stuck-in-pending" and top.file == "guide.md"
    assert "[1]" in answer.text and "Sources:" in answer.text
    assert "guide.md \u00a7 3. Debugging > 3.1 Pod stuck in Pending (lines" in answer.text
    assert_grounded(session_bot, answer)


@pytest.mark.parametrize(
    "question",
    ["what does task_publish_max_retries do?", "my container was OOMKilled", "is ImagePullBackOff fatal?",
     "what happens after the pod is Running?", "which method puts work on task_queue?"],
)
def test_every_answer_is_grounded(permissive_bot: Bot, question: str):
    answer = permissive_bot.ask(question)
    assert not answer.refused, question
    assert_grounded(permissive_bot, answer)


def test_exact_identifiers_are_boosted(session_bot: Bot):
    assert session_bot.ask("what does task_publish_max_retries do?").citations[0].anchor == "21-options"
    assert session_bot.ask("ErrImagePull").citations[0].anchor == "33-image-pull-errors"
    assert session_bot.ask("exit code 137").citations[0].anchor == "32-oomkilled"


def test_identifier_extraction():
    ids = extract_identifiers("why `delete_worker_pods` and ErrImagePull, 410 from KubernetesJobWatcher._run()?")
    assert {"delete_worker_pods", "ErrImagePull", "410", "KubernetesJobWatcher._run"} <= set(ids)
    assert extract_identifiers("why is my pod pending") == []


def test_state_diagram_found_by_words(permissive_bot: Bot):
    answer = permissive_bot.ask("what happens after the pod is Running?")
    assert answer.citations[0].anchor == "1-overview"


def test_excalidraw_diagram_cited_by_elements(permissive_bot: Bot):
    answer = permissive_bot.ask("what does the Scheduler send to task_queue with execute_async?")
    diagram = next(c for c in answer.citations if c.file.endswith(".excalidraw"))
    assert "a1" in diagram.element_ids


def test_pasted_describe_output_drives_retrieval(session_bot: Bot):
    answer = session_bot.ask("my task never starts, here is the pod:\n" + DESCRIBE)
    assert answer.citations[0].anchor == "31-pod-stuck-in-pending"
    finding = answer.paste_findings[0]
    assert finding.failure_class == "scheduling_insufficient_resources"
    assert "Insufficient memory" in finding.line
    assert finding.line_no == 8  # line 8 of what the user sent
    assert re.search(r"line 8: `Warning\s+FailedScheduling.*` \u2192 \[\d\] 3\. Debugging > 3\.1 Pod stuck in Pending",
                     answer.text)


def test_a_pasted_signature_is_linked_to_its_section_with_one_search_per_index(session_bot: Bot, monkeypatch):
    """The link from a pasted line to its section depends only on the signature and the loaded index."""
    question = "my task never starts, here is the pod:\n" + DESCRIBE
    first = session_bot.ask(question)
    queries: list[str] = []
    search = session_bot.search
    monkeypatch.setattr(session_bot, "search", lambda q, **kw: queries.append(q) or search(q, **kw))
    again = session_bot.ask(question)
    assert len(queries) == 1  # the question's own search; the paste's link came from the first ask
    assert again.paste_findings == first.paste_findings and again.citations == first.citations


def test_an_answer_reads_only_the_chunks_around_the_one_found():
    from lifecycle_bot.core.answer.extract import around
    from lifecycle_bot.core.types import Chunk

    page = [Chunk("ref.md", "Ref > Huge", "huge", i * 10 + 1, i * 10 + 9, f"part {i}") for i in range(300)]
    assert around(page[3], page[:9]) == page[:9]  # a section of kb/'s size is read whole
    window = around(page[150], page, window=12)
    assert len(window) == 12 and page[150] in window and window == page[144:156]
    assert around(page[0], page, window=12) == page[:12] and around(page[299], page, window=12) == page[288:]


def test_follow_up_uses_the_conversation(session_bot: Bot):
    first = "why is my pod stuck in Pending?"
    answer = session_bot.ask("how do I fix it?", history=[first])
    assert answer.citations[0].anchor == "31-pod-stuck-in-pending"
    assert not answer.refused
    alone = session_bot.ask("how do I fix it?")
    assert alone.refused or alone.citations[0].anchor != "31-pod-stuck-in-pending"


def test_followup_detection():
    assert is_followup("how do I fix it?")
    assert is_followup("and on Airflow 3?")
    assert not is_followup("why is my KubernetesExecutor pod stuck in Pending for an hour?")
    assert resolve_query("what about that?", ["what is OOMKilled?"]) == "what is OOMKilled? what about that?"
    # a reply that is not a follow-up still continues its thread: the thread's topic leads, cut short
    reply = "Posting the scheduler log from this morning as requested, nothing else changed since Friday."
    assert resolve_query(reply, ["Worker pod stuck in Pending"]) == f"Worker pod stuck in Pending {reply}"
    assert resolve_query(reply, ["x" * 500]).startswith("x" * 200 + " Posting")


def test_a_reply_in_a_thread_is_answered_from_the_thread_topic(permissive_bot: Bot):
    reply = "Posting the scheduler log from this morning as requested, nothing else changed since Friday."
    threaded = permissive_bot.search(resolve_query(reply, ["my worker pod is stuck in Pending"]))
    assert threaded.hits[0].chunk.anchor == "31-pod-stuck-in-pending"
    answer = permissive_bot.ask(reply, history=["my worker pod is stuck in Pending"])
    assert answer.citations[0].anchor == "31-pod-stuck-in-pending"


@pytest.mark.parametrize(
    "question",
    ["how do I bake sourdough bread?", "what is the capital of France?", "how do I reverse a list in Python?"],
)
def test_out_of_scope_is_declined_with_nearest_sections(session_bot: Bot, question: str):
    answer = session_bot.ask(question)
    assert answer.refused
    assert "don't cover this" in answer.text
    assert answer.citations and answer.confidence < session_bot.settings.refusal_threshold


@pytest.mark.parametrize("bad", ["", "   \n", "x" * 9000, "nul\x00byte", None])
def test_bad_questions_raise_clear_errors(session_bot: Bot, bad):
    with pytest.raises(QuestionError) as err:
        session_bot.ask(bad)
    assert str(err.value)


def test_history_as_chat_dicts(session_bot: Bot):
    history = [{"role": "user", "content": "my pod is OOMKilled"}, {"role": "assistant", "content": "..."}]
    answer = session_bot.ask("how do I fix it?", history=history)
    assert answer.citations[0].anchor == "32-oomkilled"


def test_fitted_models_come_from_the_data_dir_with_packaged_defaults(tmp_path):
    import json

    from lifecycle_bot.core.answer import confidence as conf
    from lifecycle_bot.core.answer import generate as gen
    from lifecycle_bot.core.settings import Settings

    settings = Settings(kb_dir=tmp_path / "kb", data_dir=tmp_path / "data")
    packaged = conf.load(settings.calibration_file)
    assert packaged == conf.load(None) and packaged.weights  # nothing fitted yet: the package's default
    fitted = conf.Calibration(weights={"top_dense": 1.0}, bias=-0.5, fitted_on="test", n=3)
    conf.save(fitted, settings.calibration_file)
    assert conf.load(settings.calibration_file) == fitted
    assert conf.load(None) == packaged, "fitting never writes into the package"
    settings.support_file.write_text(json.dumps({"weight": 0.25, "threshold": 0.7}))
    assert gen.load_support_model(settings.support_file).threshold == 0.7
    assert gen.load_support_model(tmp_path / "absent.json") == gen.load_support_model(None)  # the packaged one


@pytest.mark.parametrize("question, part", [
    ("how do I fix it?", "Fix"), ("any workaround?", "Fix"), ("what should I change so it stops?", "Fix"),
    ("why is my pod Pending?", None), ("what does exit code 137 mean?", None),
])
def test_what_a_question_asks_of_a_debugging_entry(question, part):
    from lifecycle_bot.core.answer.extract import asked_part

    assert asked_part(question) == part


def test_how_do_i_fix_it_after_a_diagnosis_leads_with_the_fix(tmp_path):
    from lifecycle_bot.core.settings import Settings

    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "guide.md").write_text(
        "# Guide\n\n## 1. Debugging\n\n### 1.1 Task pod OOMKilled\n\n"
        "#### Symptoms\n\nThe pod shows OOMKilled and exit code 137 in the scheduler log.\n\n"
        "#### Causes\n\nThe task used more memory than the container limit of the worker pod.\n\n"
        "#### Fix\n\nRaise the memory request and limit of the task through pod_override in executor_config.\n\n"
        "## 2. Scheduling\n\n### 2.1 Pending pods\n\nA pod stays Pending when no node has room for its requests.\n")
    bot = Bot(Settings(kb_dir=kb, data_dir=tmp_path / "data", refusal_threshold=0.0))
    bot.index()
    fix = bot.ask("how do I fix it?", history=["my task pod was OOMKilled with exit code 137"])
    assert fix.body.startswith("Raise the memory request and limit"), fix.body
    assert "scheduler log" not in fix.body, "the symptoms are not given again"
    what = bot.ask("my task pod was OOMKilled with exit code 137, what does it look like?")
    assert "OOMKilled and exit code 137 in the scheduler log" in what.body, "without the intent: the whole entry"
