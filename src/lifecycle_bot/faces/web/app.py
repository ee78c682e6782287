"""The Gradio app: streamed cited answers, a citation viewer, paste triage, votes and review.

Built on `Bot.ask` as it is. All per-user state (turns, their citations, the opaque section ids
they point at) lives server-side in `gr.State`; the browser only ever sends back "turn t,
citation n", so a request can never name a file. Everything shown is rendered by `render`.
"""

from __future__ import annotations

import lifecycle_bot  # noqa: F401  (offline environment before gradio is imported)

import html
import logging
import re
import shlex
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import gradio as gr

from lifecycle_bot import render
from lifecycle_bot.core.bot import Bot, QuestionError
from lifecycle_bot.feedback.store import Feedback, FeedbackStore, export_candidates
from lifecycle_bot.core.index.store import IndexUnavailable
from lifecycle_bot.core.answer.generate import join_sentences
from lifecycle_bot.core.types import Answer, Delta, PasteFinding
from lifecycle_bot.core.settings import Settings
from lifecycle_bot.faces.web.viewer import SectionIndex

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
MERMAID_URL = f"/gradio_api/file={STATIC_DIR / 'mermaid.min.js'}"
EXAMPLES = [
    "Why is my pod Pending?",
    "What does task_publish_max_retries do?",
    "My task was OOMKilled with exit code 137. How do I fix it?",
    "What is the difference between ErrImagePull and ImagePullBackOff?",
    "What happens after the worker pod starts running?",
]
PASTE_EXAMPLE = (
    "Events:\n  Type     Reason            Age   From               Message\n"
    "  ----     ------            ----  ----               -------\n"
    "  Warning  FailedScheduling  2m    default-scheduler  0/3 nodes are available: 3 Insufficient memory."
)
VIEWER_HINT = '<div class="lb-viewer"><p class="muted">Click a <b>[n]</b> marker in an answer, or a source above, to see the cited section here.</p></div>'
NO_SOURCES = '<div class="sources"><p class="muted">Sources of the selected answer appear here.</p></div>'
REVIEW_HEADERS = ["last seen", "question", "times", "why", "reasons", "confidence"]
_REF = re.compile(r"^(\d{1,6})-(\d{1,3})$")

# Local fonts only: the default theme would fetch Google Fonts, and this app runs offline.
THEME = gr.themes.Default(
    font=[gr.themes.Font("system-ui"), "sans-serif"],
    font_mono=[gr.themes.Font("ui-monospace"), "monospace"],
)
CSS = (Path(__file__).resolve().parent / "static" / "ui.css").read_text(encoding="utf-8")

# Registers one capture-phase listener for every citation link on the page (answers and the
# sources list) and forwards "turn-n" to the viewer's click event; the listener always calls the
# viewer's latest `trigger`, so a re-mounted viewer still works. Then draws Mermaid and scrolls
# the first highlighted block into view whenever the viewer's content changes.
VIEWER_JS = """
window.__lbTrigger = trigger;
if (!window.__lbCiteListener) {
  window.__lbCiteListener = true;
  document.addEventListener('click', (ev) => {
    const a = ev.target && ev.target.closest ? ev.target.closest('a[href^="#cite-"]') : null;
    if (!a) return;
    ev.preventDefault();
    ev.stopPropagation();
    if (window.__lbTrigger) window.__lbTrigger('click', {ref: a.getAttribute('href').slice(6)});
  }, true);
}
const draw = () => {
  if (window.mermaid) {
    if (!window.__lbMermaidReady) {
      window.mermaid.initialize({startOnLoad: false, securityLevel: 'strict', theme: 'default'});
      window.__lbMermaidReady = true;
    }
    const nodes = element.querySelectorAll('pre.mermaid:not([data-processed])');
    if (nodes.length) window.mermaid.run({nodes}).catch((e) => console.warn('mermaid', e));
  }
  const hit = element.querySelector('.cited');
  if (hit) hit.scrollIntoView({block: 'nearest'});
};
watch('value', draw);
draw();
"""
# Triage reports link cited sections as "#section-<id>" (render.triage.section_link); this listener opens them
# in the Triage tab's own viewer. The id is opaque: the handler renders only a section the index holds.
SECTION_JS = """
window.__lbSectionTrigger = trigger;
if (!window.__lbSectionListener) {
  window.__lbSectionListener = true;
  document.addEventListener('click', (ev) => {
    const a = ev.target && ev.target.closest ? ev.target.closest('a[href^="#section-"]') : null;
    if (!a) return;
    ev.preventDefault();
    ev.stopPropagation();
    if (window.__lbSectionTrigger) window.__lbSectionTrigger('click', {section: a.getAttribute('href').slice(9)});
  }, true);
}
"""
TRIAGE_VIEWER_HINT = '<div class="lb-viewer"><p class="muted">Click a section under <b>Read</b> to see it here.</p></div>'
_SECTION_ID = re.compile(r"^[0-9a-f]{16}$")
COPY_JS = "(text) => { if (text && navigator.clipboard) { navigator.clipboard.writeText(text).catch(() => {}); } }"


class Startup:
    """Builds the index if there is none, then loads it, once, in the background.

    The page polls this object, so every visitor sees the same progress bar, and a failure becomes
    a message with the command that fixes it instead of a traceback.
    """

    def __init__(self, bot: Bot):
        self.bot = bot
        self.state = "starting"  # starting | building | loading | ready | error
        self.done = 0
        self.total = 0
        self.message = ""
        self.fix = ""
        self.sections: SectionIndex | None = None
        self._sections_generation: object = None
        self._sections_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def start(self) -> "Startup":
        if self._thread is None:
            self._thread = threading.Thread(target=self.run, name="index-startup", daemon=True)
            self._thread.start()
        return self

    def _progress(self, done: int, total: int) -> None:
        self.state, self.done, self.total = "building", done, total

    def run(self) -> None:
        try:
            self.state = "building"
            self.bot.open(progress=self._progress)
            for error in self.bot.ingest_errors:  # a skipped file is said, the rest of the KB is served
                log.warning("knowledge base: %s", error)
            self.state = "loading"
            self.current_sections()
            self.state = "ready"
        except IndexUnavailable as exc:
            self._fail(str(exc), self._command("index --rebuild"))
        except FileNotFoundError as exc:
            self._fail(str(exc), "lifecycle-bot --kb PATH/TO/KB index   (or set LIFECYCLE_BOT_KB)")
        except Exception as exc:  # a broken index must become a page, not a dead app
            log.exception("index startup failed")
            self._fail(f"{type(exc).__name__}: {exc}", self._command("index --rebuild"))
        finally:
            self._ready.set()

    def current_sections(self) -> SectionIndex:
        """The viewer's sections of the generation the bot answers from (rebuilt after a re-index)."""
        with self._sections_lock:
            if self.sections is None or self._sections_generation != self.bot.generation:
                chunks = self.bot.chunks()  # switches to the live generation first if it changed
                self.sections = SectionIndex(chunks, self.bot.settings.kb_dir)
                self._sections_generation = self.bot.generation
            return self.sections

    def _command(self, args: str) -> str:
        """The fix as a command for this very KB and data dir, ready to copy."""
        s = self.bot.settings
        where = f"--chroma-url {shlex.quote(s.chroma_url)}" if s.chroma_url else f"--data-dir {shlex.quote(str(s.data_dir))}"
        return f"lifecycle-bot --kb {shlex.quote(str(s.kb_dir))} {where} {args}"

    def _fail(self, message: str, fix: str) -> None:
        self.message, self.fix, self.state = message, fix, "error"

    @property
    def ready(self) -> bool:
        return self.state == "ready" and self._ready.is_set()

    def finished(self) -> bool:
        return self._ready.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        self._ready.wait(timeout)
        return self.state == "ready"

    def error_html(self) -> str:
        return (
            '<div class="lb-error"><h2>The knowledge-base index is not available</h2>'
            f"<p>{render.escape(self.message)}</p><p>To fix it, run:</p>"
            f"<pre class=\"code\"><code>{render.escape(self.fix)}</code></pre>"
            "<p>then restart <code>lifecycle-bot serve</code>.</p></div>"
        )


def _session(state: dict | None) -> dict:
    state = dict(state or {})
    state.setdefault("id", uuid.uuid4().hex)
    state.setdefault("turns", [])
    state.setdefault("selected", None)
    return state


class App:
    """Event handlers, plain Python so tests can call them without a browser."""

    def __init__(self, bot: Bot, startup: Startup, store: FeedbackStore):
        self.bot = bot
        self.startup = startup
        self.store = store

    # -- startup ---------------------------------------------------------------------------
    def wait_ready(self, progress: Callable = gr.Progress()) -> tuple:
        while not self.startup.finished():
            if self.startup.state == "building" and self.startup.total:
                progress((self.startup.done, self.startup.total), desc="Building the index", unit="chunks")
            elif self.startup.state == "loading":
                progress(1.0, desc="Loading the index and the embedding model")
            else:  # before the first batch is embedded: reading the KB, loading the model
                progress(0.0, desc="Reading the knowledge base")
            time.sleep(0.2)
        if self.startup.ready:
            return gr.update(visible=False), gr.update(visible=False), gr.update(visible=True)
        return gr.update(visible=False), gr.update(value=self.startup.error_html(), visible=True), gr.update(visible=False)

    # -- asking ----------------------------------------------------------------------------

    def events(self, question: str, history: list[str]) -> Iterator[Delta | Answer]:
        """Checked sentences while a model writes, then the answer (extractive: the answer only).

        No lock here: the Bot guards its shared BM25 retriever itself, so users are answered in parallel.
        """
        if self.bot.settings.llm:
            yield from self.bot.stream(question, history=history)
        else:
            yield self.bot.ask(question, history=history)

    def _record(self, text: str, history: list[str], answer: Answer, message_index: int) -> dict:
        sections = self.startup.current_sections() if self.startup.ready else None
        record = answer.to_dict()  # the one serialiser; the web app adds its opaque section ids
        record["confidence"] = answer.confidence
        for c, d in zip(answer.citations, record["citations"]):
            d["section"] = sections.id_for(c.file, c.anchor, c.heading_path) if sections else None
        return {**record, "question": text, "history": history, "message_index": message_index}

    def _bubble(self, record: dict, turn: int, text: str | None = None, final: bool = True) -> str:
        shown = record["answer"] if text is None else text
        parts = [render.answer_html(shown, turn, len(record["citations"]))]
        if final:
            if record["paste_findings"]:
                findings = [PasteFinding(**p) for p in record["paste_findings"]]
                parts.append(render.paste_html(record["question"], findings))
            what = "declined" if record["refused"] else f"{len(record['citations'])} sources"
            how = f" \u00b7 written by {render.escape(record['model'])}, checked against the docs" \
                if record.get("mode") == "generated" else ""
            parts.append(f'<p class="meta">{what} \u00b7 confidence {record["confidence"]:.2f}{how}</p>')
            if record.get("notice"):
                parts.append(f'<p class="notice">{render.escape(record["notice"])}</p>')
        return render.for_chat("".join(parts))

    def ask(self, question: str, paste: str, chat: list, state: dict) -> Iterator[tuple]:
        """Stream one answer: the user's turn at once, then the answer growing (word by word when quoted,
        sentence by sentence as a model writes and the check passes them)."""
        state = _session(state)
        chat = list(chat or [])
        text = "\n\n".join(p.strip() for p in (question or "", paste or "") if p and p.strip())
        if not text:
            yield chat, state, gr.skip(), gr.skip(), gr.skip(), "Type a question (or paste kubectl output) first."
            return
        if not self.startup.ready:
            yield chat, state, gr.skip(), gr.skip(), gr.skip(), "The index is not ready yet; try again in a moment."
            return
        try:
            self.bot.validate(text)
        except QuestionError as exc:  # keep what the user typed so it can be shortened
            yield chat, state, gr.skip(), gr.skip(), gr.skip(), f"I cannot take that question: {exc}"
            return
        history = [t["question"] for t in state["turns"]]
        chat.append({"role": "user", "content": render.for_chat(render.question_html(text))})
        waiting = "Searching the docs and writing the answer" if self.bot.settings.llm else "Searching the docs"
        chat.append({"role": "assistant", "content": f'<p class="muted">{waiting}\u2026</p>'})
        yield chat, state, "", "", gr.skip(), ""
        turn = len(state["turns"])
        answer, written = None, []
        try:
            for event in self.events(text, history):
                if isinstance(event, Answer):
                    answer = event
                    break
                written.append(event.text)
                partial = render.answer_html(join_sentences(written), turn, 0)
                chat[-1] = {"role": "assistant", "content": render.for_chat(partial + '<p class="muted">\u2026</p>')}
                yield chat, state, gr.skip(), gr.skip(), gr.skip(), ""
        except QuestionError as exc:
            chat[-1] = {"role": "assistant", "content": render.for_chat(
                f'<p class="error">I cannot take that question: {render.escape(exc)}</p>')}
            yield chat, state, gr.skip(), gr.skip(), gr.skip(), ""
            return
        except Exception as exc:  # keep the page alive; the log has the traceback
            log.exception("ask failed")
            chat[-1] = {"role": "assistant", "content": render.for_chat(
                f'<p class="error">Something went wrong while answering ({render.escape(type(exc).__name__)}).</p>')}
            yield chat, state, gr.skip(), gr.skip(), gr.skip(), ""
            return
        record = self._record(text, history, answer, len(chat) - 1)
        state["turns"] = state["turns"] + [record]
        state["selected"] = turn
        if answer.refused:
            self._log_declined(state, turn)
        chat[-1] = {"role": "assistant", "content": self._bubble(record, turn)}
        yield chat, state, gr.skip(), gr.skip(), self.sources_html(state), ""

    def _log_declined(self, state: dict, turn: int) -> None:
        record = state["turns"][turn]
        try:
            self.store.add(self._feedback(state, turn, record, vote=None, reason=""))
        except Exception:
            log.exception("could not log a declined question")

    def _feedback(self, state: dict, turn: int, record: dict, vote: str | None, reason: str) -> Feedback:
        return Feedback.from_answer(record, record["question"], record["history"], state["id"], turn, vote, reason)

    def new_conversation(self) -> tuple:
        return [], _session(None), "", "", NO_SOURCES, VIEWER_HINT, "", ""

    # -- citations -------------------------------------------------------------------------
    def sources_html(self, state: dict) -> str:
        state = _session(state)
        turn = state["selected"]
        if turn is None or not 0 <= turn < len(state["turns"]):
            return NO_SOURCES
        record = state["turns"][turn]
        if not record["citations"]:
            return NO_SOURCES
        items = []
        for n, c in enumerate(record["citations"], start=1):
            lines = f"lines {c['start_line']}\u2013{c['end_line']}"
            items.append(f'<li><a class="cite source" href="#cite-{turn}-{n}">[{n}] '
                         f'{render.escape(c["heading_path"])}</a><br><small><code>{render.escape(c["file"])}'
                         f'</code> \u00b7 {lines}</small></li>')
        title = f"Sources of answer {turn + 1}" + (" (nearest sections; the answer was declined)" if record["refused"] else "")
        return render.sanitize(f'<div class="sources"><div class="sources-title">{render.escape(title)}</div>'
                               f'<ol>{"".join(items)}</ol></div>')

    def open_citation(self, state: dict, evt: gr.EventData) -> tuple:
        """Show citation "turn-n" of this session; anything else shows nothing."""
        state = _session(state)
        ref = str((getattr(evt, "_data", None) or {}).get("ref", ""))
        return (*self.citation_view(state, ref), state)

    def citation_view(self, state: dict, ref: str) -> tuple[str, str]:
        m = _REF.match(ref or "")
        if not m or not self.startup.ready:
            return gr.skip(), gr.skip()
        turn, n = int(m.group(1)), int(m.group(2))
        if not (0 <= turn < len(state["turns"]) and 1 <= n <= len(state["turns"][turn]["citations"])):
            return gr.skip(), gr.skip()
        c = state["turns"][turn]["citations"][n - 1]
        state["selected"] = turn
        html = self.startup.current_sections().render(c["section"], (c["start_line"], c["end_line"]), c["element_ids"],
                                            heading=c["heading_path"])
        return html, self.sources_html(state)

    def select_message(self, state: dict, evt: gr.SelectData) -> tuple:
        state = _session(state)
        index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        for turn, record in enumerate(state["turns"]):
            if record["message_index"] in (index, index + 1):
                state["selected"] = turn
        return self.sources_html(state), state

    # -- Slack -----------------------------------------------------------------------------
    def slack(self, state: dict) -> str:
        state = _session(state)
        turn = state["selected"]
        if turn is None or not 0 <= turn < len(state["turns"]):
            return ""
        record = state["turns"][turn]
        return render.slack_mrkdwn(record["answer"], record["confidence"], record["refused"])

    # -- feedback --------------------------------------------------------------------------
    def vote(self, state: dict, reason: str, data: gr.LikeData) -> tuple:
        state = _session(state)
        index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        turn = next((t for t, r in enumerate(state["turns"]) if r["message_index"] == index), None)
        if turn is None:
            return "That message is not an answer.", gr.skip()
        if data.liked is True:
            vote = "up"
        elif data.liked is False:
            vote = "down"
        else:
            return "Vote removed (the earlier vote stays recorded).", gr.skip()
        self.store.add(self._feedback(state, turn, state["turns"][turn], vote, reason or ""))
        thanks = "Thanks \u2014 recorded \U0001f44d." if vote == "up" else "Thanks \u2014 recorded \U0001f44e; it will show under Review."
        return thanks, ""

    def review_table(self) -> list[list]:
        """One row per distinct question (newest first): how often, why, and the reasons given."""
        groups: dict[str, list] = {}
        for fb in self.store.review():  # newest first
            key = " ".join(fb.question.lower().split())
            if key not in groups:
                when = time.strftime("%Y-%m-%d %H:%M", time.localtime(fb.created_at))
                groups[key] = [when, fb.question[:300], 0, set(), [], round(fb.confidence, 2)]
            row = groups[key]
            row[2] += 1
            row[3].update(w for w, on in (("declined", fb.refused), ("\U0001f44e", fb.vote == "down")) if on)
            if fb.reason and fb.reason not in row[4]:
                row[4].append(fb.reason)
        return [[w, q, n, " + ".join(sorted(why)), " | ".join(reasons), c] for w, q, n, why, reasons, c in groups.values()]

    def triage_ticket(self, text: str) -> str:
        """Triage tab: one pasted ticket -> class, phase, evidence, sections, checklist (Markdown, escaped)."""
        from lifecycle_bot.triage.engine import triage

        if not (text or "").strip():
            return "Paste a ticket first: `kubectl describe pod` output, events, logs or the user's own words."
        if len(text) > 200_000:
            return "That ticket is over 200,000 characters; paste the relevant part (Events, the failing log lines)."
        return render.triage_markdown(triage(text, self.bot))

    def open_section(self, evt: gr.EventData) -> str:
        """Triage tab: show the section a report's "#section-<id>" link names; anything else shows nothing."""
        sid = str((getattr(evt, "_data", None) or {}).get("section", ""))
        if not _SECTION_ID.match(sid) or not self.startup.ready:
            return gr.skip()
        return self.startup.current_sections().render(sid)

    def triage_file(self, upload) -> tuple:
        """Triage tab: a JSONL batch ({id, text} per line) -> a CSV to download, or a clear error."""
        from lifecycle_bot.triage.batch import triage_batch_csv

        if upload is None:
            return None, "Upload a `.jsonl` file with one `{\"id\", \"text\"}` object per line."
        path_in = Path(upload if isinstance(upload, str) else upload.name)
        out = self.bot.settings.data_dir / f"triage-{path_in.stem}.csv"
        try:
            triage_batch_csv(path_in, out, self.bot)
        except (ValueError, OSError, UnicodeDecodeError) as exc:
            return None, f"Cannot triage `{path_in.name}`: {html.escape(str(exc))}"
        return str(out), f"Triaged `{path_in.name}`: results in `{out.name}`."

    def export(self) -> tuple:
        path = self.bot.settings.data_dir / "feedback_candidates.jsonl"
        count = export_candidates(self.store, path)
        return str(path), f"{count} candidate rows written to `{path}` (add the good ones to eval/qa.jsonl)."


def build_app(bot: Bot, startup: Startup | None = None, store: FeedbackStore | None = None) -> gr.Blocks:
    """The Blocks app around `bot`; starts the index startup thread if the caller did not."""
    gr.set_static_paths([STATIC_DIR])
    startup = (startup or Startup(bot)).start()
    store = store or FeedbackStore(bot.settings.feedback_db)
    app = App(bot, startup, store)

    with gr.Blocks(title="lifecycle-bot", fill_width=True) as demo:
        state = gr.State({})
        gr.HTML('<div class="lb-header"><h1>lifecycle-bot</h1><p>Cited answers about the Airflow '
                'KubernetesExecutor task lifecycle, from the local docs only.</p></div>')
        starting = gr.HTML('<p class="muted">Preparing the knowledge base\u2026 (the first start builds the index, '
                           'which can take a minute)</p>', elem_id="starting",
                           min_height=120)
        error_panel = gr.HTML(visible=False, elem_id="startup-error")
        with gr.Column(visible=False, elem_id="main") as main:
            with gr.Tabs():
                with gr.Tab("Ask", id="ask"):
                    with gr.Row(equal_height=False):
                        with gr.Column(scale=3, min_width=420):
                            chat = gr.Chatbot(elem_id="chat", height=560, label="Conversation",
                                              latex_delimiters=[], sanitize_html=True, allow_tags=False,
                                              feedback_options=("Like", "Dislike"), buttons=["copy"])
                            question = gr.Textbox(label="Question", elem_id="question", lines=1, max_lines=6,
                                                  placeholder="e.g. Why is my pod Pending?  (Enter sends)")
                            with gr.Accordion("Paste kubectl describe / events / logs (optional)", open=False):
                                paste = gr.Textbox(label="Pasted output (Shift+Enter sends)", elem_id="paste", lines=8, max_lines=30,
                                                   placeholder=PASTE_EXAMPLE)
                            with gr.Row():
                                ask_btn = gr.Button("Ask", variant="primary", elem_id="ask-btn")
                                new_btn = gr.Button("New conversation", elem_id="new-btn")
                            reason = gr.Textbox(label="Reason for your \U0001f44d / \U0001f44e (optional; type it, then vote on the answer)",
                                                elem_id="reason", lines=1, max_lines=3)
                            status = gr.Markdown(elem_id="status")
                            examples = gr.Examples(EXAMPLES, inputs=[question], label="Example questions")
                        with gr.Column(scale=2, min_width=360):
                            sources = gr.HTML(NO_SOURCES, elem_id="sources", js_on_load=None)
                            viewer = gr.HTML(VIEWER_HINT, elem_id="viewer", js_on_load=VIEWER_JS,
                                             head=f'<script src="{MERMAID_URL}"></script>', max_height=640,
                                             autoscroll=False)
                            slack_btn = gr.Button("Copy for Slack", elem_id="slack-btn", size="sm")
                            slack_box = gr.Textbox(label="Slack mrkdwn", elem_id="slack", lines=6, max_lines=20,
                                                   buttons=["copy"], interactive=False)
                with gr.Tab("Triage", id="triage"):
                    gr.Markdown("Paste a support ticket (any mix of prose, `kubectl` output and logs) to get its "
                                "failure class, lifecycle phase, evidence lines, sections to read and next steps.")
                    ticket = gr.Textbox(label="Ticket", elem_id="ticket", lines=10, max_lines=40)
                    triage_btn = gr.Button("Triage", variant="primary", elem_id="triage-btn")
                    triage_out = gr.Markdown(elem_id="triage-result", sanitize_html=True)
                    triage_viewer = gr.HTML(TRIAGE_VIEWER_HINT, elem_id="triage-viewer", js_on_load=SECTION_JS,
                                            max_height=640, autoscroll=False)
                    gr.Markdown("Or upload a batch (`.jsonl`, one `{\"id\", \"text\"}` per line) and download the CSV.")
                    batch_in = gr.File(label="Tickets (.jsonl)", file_types=[".jsonl"], elem_id="triage-batch")
                    batch_out = gr.File(label="Results (.csv)", interactive=False)
                    batch_msg = gr.Markdown()
                with gr.Tab("Review", id="review") as review_tab:
                    gr.Markdown("Declined and \U0001f44e questions: candidates for `eval/qa.jsonl`.")
                    table = gr.Dataframe(headers=REVIEW_HEADERS, value=[], interactive=False, wrap=True,
                                         elem_id="review-table")
                    with gr.Row():
                        refresh_btn = gr.Button("Refresh", size="sm")
                        export_btn = gr.Button("Export JSONL", variant="primary", size="sm", elem_id="export-btn")
                    export_file = gr.File(label="Candidates", interactive=False)
                    export_msg = gr.Markdown()

        demo.load(app.wait_ready, None, [starting, error_panel, main], show_progress="full",
                  show_progress_on=[starting], concurrency_limit=None, api_visibility="private")
        ask_io = dict(inputs=[question, paste, chat, state],
                      outputs=[chat, state, question, paste, sources, status])
        asks = [
            ask_btn.click(app.ask, api_name="ask", concurrency_limit=32, concurrency_id="ask", **ask_io),
            question.submit(app.ask, api_visibility="private", concurrency_limit=32, concurrency_id="ask", **ask_io),
            paste.submit(app.ask, api_visibility="private", concurrency_limit=32, concurrency_id="ask", **ask_io),
            examples.load_input_event.then(app.ask, api_visibility="private", concurrency_limit=32,
                                           concurrency_id="ask", **ask_io),
        ]
        reset_io = [chat, state, question, paste, sources, viewer, slack_box, status]
        new_btn.click(app.new_conversation, None, reset_io, cancels=asks, api_visibility="private", queue=False)
        chat.clear(app.new_conversation, None, reset_io, api_visibility="private", queue=False)
        viewer.click(app.open_citation, [state], [viewer, sources, state], api_visibility="private",
                     concurrency_limit=16)
        chat.select(app.select_message, [state], [sources, state], api_visibility="private")
        chat.like(app.vote, [state, reason], [status, reason], api_visibility="private")
        slack_btn.click(app.slack, [state], [slack_box], api_visibility="private").then(
            None, [slack_box], None, js=COPY_JS)
        triage_btn.click(app.triage_ticket, [ticket], [triage_out], api_name="triage", concurrency_limit=8)
        triage_viewer.click(app.open_section, None, [triage_viewer], api_visibility="private", concurrency_limit=16)
        batch_in.upload(app.triage_file, [batch_in], [batch_out, batch_msg], api_visibility="private",
                        concurrency_limit=2)
        for trigger in (review_tab.select, refresh_btn.click):
            trigger(app.review_table, None, [table], api_visibility="private")
        export_btn.click(app.export, None, [export_file, export_msg], api_visibility="private").then(
            app.review_table, None, [table], api_visibility="private")
    demo.queue(default_concurrency_limit=8, max_size=512)
    demo.lifecycle_app = app  # handlers, for tests and tools
    return demo


def launch_options() -> dict:
    """What Gradio 6 takes at launch, not in Blocks(): theme, CSS."""
    return {"theme": THEME, "css": CSS}


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860, open_browser: bool = False) -> None:
    """Start the app; the index is built (with a progress bar in the page) if there is none."""
    bot = Bot(settings)
    demo = build_app(bot)
    demo.launch(server_name=host, server_port=port, inbrowser=open_browser, share=False,
                show_error=False, footer_links=[], max_threads=64, enable_monitoring=False,
                ssr_mode=False, pwa=False, mcp_server=False, **launch_options())
