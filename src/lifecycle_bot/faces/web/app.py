"""The Gradio app: cited answers, a citation viewer, paste triage, votes and review.

Built on `Bot.ask` as it is. Per-user state (turns, their citations, the opaque section ids they point at)
is kept in the browser's storage (`gr.BrowserState`), so a conversation survives a reload; the server never
trusts it to name a file: a citation opens only a section the index holds, and every string is escaped.
Everything shown is rendered by `render`; the page's own behaviour (copy, previews, the mobile sheet, zoom)
is `static/ui.js`.
"""

from __future__ import annotations

import lifecycle_bot  # noqa: F401  (offline environment before gradio is imported)

import html
import logging
import os
import re
import secrets
import shlex
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import gradio as gr

# Gradio's queue rebuilds a pandas summary of its last 10,000 events after every event, for a monitoring page
# this app does not serve (enable_monitoring=False): a tenth of the server's CPU under load. Read when the
# queue is made (in build_app), so setting it here is enough.
os.environ["GRADIO_ANALYTICS_CACHE_FREQUENCY"] = str(10**12)

from lifecycle_bot import render
from lifecycle_bot.core.answer.generate import join_sentences
from lifecycle_bot.core.bot import Bot, QuestionError
from lifecycle_bot.core.index.store import IndexUnavailable
from lifecycle_bot.core.settings import Settings
from lifecycle_bot.core.types import Answer, Delta, PasteFinding
from lifecycle_bot.faces.web.viewer import SectionIndex
from lifecycle_bot.feedback.store import Feedback, FeedbackStore, export_candidates
from lifecycle_bot.render.progress import eta_text

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
MERMAID_URL = f"/gradio_api/file={STATIC_DIR / 'mermaid.min.js'}"
UI_JS_URL = f"/gradio_api/file={STATIC_DIR / 'ui.js'}"
WELCOME = (
    "### Ask how a task runs under Airflow's KubernetesExecutor\n"
    "From queueing to pod cleanup: `Pending` pods, `OOMKilled`, image pulls, lost logs, RBAC, `pod_override`, "
    "executor settings. Paste `kubectl describe pod` or a log too. Answers quote the local docs, with sources.\n\n"
    "*Not covered:* the KubernetesPodOperator, Celery and other executors, Kubernetes itself."
)
EXAMPLES = [
    "Why is my pod Pending?",
    "My task was OOMKilled with exit code 137. How do I fix it?",
    "How do I give one task 4 CPUs and 16Gi of memory?",
    "Show me the pod lifecycle diagram",
]
# Thumbs are Gradio's own; the other options sit under its flag icon and are preset reasons for a down vote.
REASONS = ("Wrong section", "Incomplete", "Incorrect", "Out of date")
FEEDBACK_OPTIONS = ("Like", "Dislike", *REASONS)
DIAGRAM_WORDS = re.compile(r"\b(diagrams?|charts?|flow ?charts?|drawings?|draw|pictures?|visuali[sz]e|sketch|"
                           r"excalidraw|mermaid|illustrat\w*)\b", re.IGNORECASE)
PASTE_EXAMPLE = (
    "Events:\n  Type     Reason            Age   From               Message\n"
    "  ----     ------            ----  ----               -------\n"
    "  Warning  FailedScheduling  2m    default-scheduler  0/3 nodes are available: 3 Insufficient memory."
)
VIEWER_HINT = ('<div class="lb-viewer lb-hint"><p class="muted">Sources open here: click a <b>[n]</b> in an answer, '
               'or one of its sources.</p></div>')
TRIAGE_VIEWER_HINT = '<div class="lb-viewer"><p class="muted">Click a section under <b>Read</b> to see it here.</p></div>'
REVIEW_HEADERS = ["last seen", "question", "times", "why", "reasons", "confidence"]
VOTE_REPEAT_S = 3.0  # the same vote on the same answer again within this time is the same click
MAX_TURNS = 40  # kept in the browser's storage; older turns of a long conversation drop out
_REF = re.compile(r"^(\d{1,6})-(\d{1,3})$")
_SECTION_ID = re.compile(r"^[0-9a-f]{16}$")

# Local fonts only: the default theme would fetch Google Fonts, and this app runs offline. The highlight of a
# cited line comes from the theme (light and dark), never a fixed colour.
THEME = gr.themes.Default(
    font=[gr.themes.Font("system-ui"), "sans-serif"],
    font_mono=[gr.themes.Font("ui-monospace"), "monospace"],
)
CSS = (STATIC_DIR / "ui.css").read_text(encoding="utf-8")

# The viewer's trigger, for ui.js's one citation listener; then Mermaid and the first highlight on every change.
VIEWER_JS = """
window.__lbTrigger = trigger;
const draw = () => { if (window.lbViewerChanged) window.lbViewerChanged(element); };
watch('value', draw);
draw();
"""
# Triage reports link cited sections as "#section-<id>" (render.triage.section_link); ui.js opens them in the
# Triage tab's own viewer. The id is opaque: the handler renders only a section the index holds.
SECTION_JS = "window.__lbSectionTrigger = trigger;"
# After a vote the comment box appears under the chat; on a phone that is below the fold, so bring it up.
SHOW_COMMENT_JS = ("() => { const row = document.getElementById('comment-row');"
                   " if (row) { row.classList.remove('lb-off');"
                   " setTimeout(() => row.scrollIntoView({block: 'nearest'}), 50); } }")
HIDE_COMMENT_JS = ("(...args) => { document.getElementById('comment-row')?.classList.add('lb-off');"
                   " return args; }")
STOP_LABEL = "Stop"


class Startup:
    """Builds the index if there is none, then loads it, once, in the background.

    The page polls this object, so every visitor sees the same progress (the real stage, how far, about how
    long), and a failure becomes a message with the command that fixes it instead of a traceback.
    """

    def __init__(self, bot: Bot):
        self.bot = bot
        self.state = "starting"  # starting | building | loading | ready | error
        self.done = 0
        self.total = 0
        self.message = ""
        self.fix = ""
        self.started = time.monotonic()
        self.embedding_since: float | None = None
        self.sections: SectionIndex | None = None
        self._sections_generation: object = None
        self._sections_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def start(self) -> "Startup":
        if self._thread is None:
            self.started = time.monotonic()
            self._thread = threading.Thread(target=self.run, name="index-startup", daemon=True)
            self._thread.start()
        return self

    def _progress(self, done: int, total: int) -> None:
        if self.embedding_since is None or done == 0:
            self.embedding_since = time.monotonic()
        self.state, self.done, self.total = "building", done, total

    def run(self) -> None:
        try:
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

    def stage(self) -> tuple[str, float | None, str]:
        """(what is happening, fraction done or None, time left or "") for people watching the first start."""
        if self.state == "building" and self.total:
            if self.done >= self.total:
                return "Saving the index (search data and the fast model)", None, ""
            left = ""
            spent = time.monotonic() - (self.embedding_since or self.started)
            if self.done and spent > 2:
                left = f"about {eta_text(spent / self.done * (self.total - self.done))} left"
            return (f"Embedding the knowledge base: {self.done:,} of {self.total:,} sections and sentences",
                    self.done / self.total, left)
        if self.state == "loading":
            return "Loading the index", None, ""
        return "Reading the knowledge base and loading the embedding model", None, ""

    def status_html(self) -> str:
        what, fraction, left = self.stage()
        bar = (f'<progress max="1000" value="{round(fraction * 1000)}"></progress>' if fraction is not None
               else "<progress></progress>")
        spent = time.monotonic() - self.started
        first = ("The first start builds the search index of the docs; later starts reuse it."
                 if self.state == "building" else "")
        when = " \u00b7 ".join(x for x in (left, f"{spent:.0f} s so far") if x)
        return (f'<div class="lb-starting" role="status"><div class="lb-stage">{render.escape(what)}</div>{bar}'
                f'<div class="muted">{render.escape(when)}</div><div class="muted">{render.escape(first)}</div></div>')

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
    """The browser's copy of a conversation, with every key present (anything else: a new conversation)."""
    state = dict(state) if isinstance(state, dict) else {}
    if not isinstance(state.get("id"), str):
        state["id"] = uuid.uuid4().hex
    if not isinstance(state.get("turns"), list) or not all(isinstance(t, dict) for t in state["turns"]):
        state["turns"] = []
    state.setdefault("vote", None)
    return state


def _event_data(evt: object) -> dict:
    data = getattr(evt, "_data", None)
    return data if isinstance(data, dict) else {}


class App:
    """Event handlers, plain Python so tests can call them without a browser."""

    def __init__(self, bot: Bot, startup: Startup, store: FeedbackStore):
        self.bot = bot
        self.startup = startup
        self.store = store
        self._votes_lock = threading.Lock()
        self._recent_votes: dict[tuple, tuple[int, float]] = {}

    # -- startup ---------------------------------------------------------------------------
    def wait_ready(self) -> Iterator[tuple]:
        """The real stage of the first start, twice a second, until the chat (or the fix) can be shown."""
        while not self.startup.finished():
            yield gr.update(value=self.startup.status_html(), visible=True), gr.skip(), gr.skip()
            time.sleep(0.5)
        if self.startup.ready:
            yield gr.update(visible=False), gr.update(visible=False), gr.update(visible=True)
        else:
            yield gr.update(visible=False), gr.update(value=self.startup.error_html(), visible=True), gr.update(visible=False)

    def restore(self, state: dict) -> tuple:
        """The conversation kept in the browser, drawn again after a reload (from its records, escaped)."""
        state = _session(state)
        if not self.startup.ready:
            return [], state
        chat: list[dict] = []
        for turn, record in enumerate(state["turns"]):
            try:
                chat.append({"role": "user", "content": render.for_chat(render.question_html(str(record["question"])))})
                record["message_index"] = len(chat)
                chat.append({"role": "assistant", "content": self._bubble(record, turn)})
            except (KeyError, TypeError, ValueError, AttributeError):
                log.info("a stored conversation could not be read; starting a new one")
                return [], _session(None)
        return chat, state

    # -- asking ----------------------------------------------------------------------------
    def events(self, question: str, history: list[str]) -> Iterator[Delta | Answer]:
        """Checked sentences while a model writes, then the answer (extractive: the answer only, at once).

        No lock here: the Bot guards its shared BM25 retriever itself, so users are answered in parallel.
        """
        if self.bot.settings.llm:
            yield from self.bot.stream(question, history=history)
        else:
            yield self.bot.ask(question, history=history)

    def _record(self, text: str, history: list[str], answer: Answer, message_index: int) -> dict:
        """What the browser keeps of one answer: the serialised answer plus the viewer's opaque ids, the lines
        each citation quotes and their previews, and the diagram shown for a diagram question."""
        sections = self.startup.current_sections()
        record = answer.to_dict()  # the one serialiser; the web app adds its own keys
        record["confidence"] = answer.confidence
        record["message"] = answer.body if answer.refused else answer.message
        for c, d in zip(answer.citations, record["citations"]):
            d["section"] = sections.id_for(c.file, c.anchor, c.heading_path)
            d["quoted"] = sections.quoted_lines(d["section"], (c.start_line, c.end_line), answer.body)
            d["preview"] = sections.quote(d["section"], d["quoted"])
        record["drawing"] = self._drawing_for(text, answer, sections) if not answer.refused else None
        return {**record, "question": text, "history": history, "message_index": message_index}

    @staticmethod
    def _drawing_for(question: str, answer: Answer, sections: SectionIndex) -> dict | None:
        """For a question about a diagram: the first of the top sections that has one (Excalidraw or Mermaid)."""
        if not DIAGRAM_WORDS.search(question):
            return None
        for hit in answer.hits[:6]:
            sid = sections.id_for(hit.chunk.file, hit.chunk.anchor, hit.chunk.heading_path)
            if sid and sections.has_drawing(sid):
                return {"section": sid, "heading": hit.chunk.heading_path, "file": hit.chunk.file}
        return None

    def _bubble(self, record: dict, turn: int, text: str | None = None, final: bool = True) -> str:
        citations = record["citations"]
        previews = [str(c.get("preview", "")) for c in citations]
        shown = record.get("message", record["answer"]) if text is None else text
        parts = [render.answer_html(shown, turn, len(citations), previews)]
        if not final:
            return render.for_chat("".join(parts))
        drawing = record.get("drawing")
        if isinstance(drawing, dict) and self.startup.ready:
            svg = self.startup.current_sections().drawing(drawing.get("section"))
            if svg:
                parts.append(f'<figure class="lb-figure">{svg}<figcaption>{render.escape(drawing.get("heading", ""))}'
                             f' \u00b7 <code>{render.escape(drawing.get("file", ""))}</code> \u00b7 click to enlarge'
                             f'</figcaption></figure>')
        if record["paste_findings"]:
            findings = [PasteFinding(**p) for p in record["paste_findings"]]
            parts.append(render.paste_html(record["question"], findings))
        title = "Nearest sections (the answer was declined)" if record["refused"] else "Sources"
        parts.append(render.sources_html(turn, citations, previews, title))
        how = f" \u00b7 written by {render.escape(record['model'])}, checked against the docs" \
            if record.get("mode") == "generated" else ""
        what = "declined" if record["refused"] else f"{len(citations)} sources"
        slack = render.slack_mrkdwn(record["answer"], record["confidence"], record["refused"])
        parts.append(
            f'<div class="meta"><span>{what} \u00b7 confidence {record["confidence"]:.2f}{how}</span>'
            f'<span class="lb-actions"><a class="lb-act" href="#copy-md-{turn}" title="Copy the answer as Markdown">'
            f'Copy</a><a class="lb-act" href="#copy-slack-{turn}" title="Copy as Slack mrkdwn">Copy for Slack</a></span>'
            f'</div><pre class="lb-copy lb-md">{render.escape(record["answer"])}</pre>'
            f'<pre class="lb-copy lb-slack">{render.escape(slack)}</pre>')
        if record.get("notice"):
            parts.append(f'<p class="notice">{render.escape(record["notice"])}</p>')
        return render.for_chat("".join(parts))

    def ask(self, question: str, paste: str, chat: list, state: dict) -> Iterator[tuple]:
        """One answer: the user's turn at once, then the answer (sentence by sentence only while a model
        writes). Outputs: chat, state, question, paste, status, stop button, comment row."""
        state = _session(state)
        chat = list(chat or [])
        text = "\n\n".join(p.strip() for p in (question or "", paste or "") if p and p.strip())
        unchanged = (gr.skip(),)  # the Stop button
        if not text:
            yield chat, state, gr.skip(), gr.skip(), "Type a question (or paste kubectl output) first.", *unchanged
            return
        if not self.startup.ready:
            yield chat, state, gr.skip(), gr.skip(), "The index is not ready yet; try again in a moment.", *unchanged
            return
        try:
            self.bot.validate(text)
        except QuestionError as exc:  # keep what the user typed so it can be shortened
            yield chat, state, gr.skip(), gr.skip(), f"I cannot take that question: {exc}", *unchanged
            return
        history = [str(t.get("question", "")) for t in state["turns"]]
        chat.append({"role": "user", "content": render.for_chat(render.question_html(text))})
        chat.append({"role": "assistant", "content": '<p class="muted lb-waiting">Searching the docs and writing'
                                                     ' the answer\u2026</p>'})
        # Without a model the answer is ready in milliseconds: the page gets it in one update (each update
        # is a full Gradio round of pre/post-processing, a third of the server's time per question).
        streamed = bool(self.bot.settings.llm)
        if streamed:
            yield chat, state, "", "", "", self._stop_button(visible=True)
        turn = len(state["turns"])
        answer, written = None, []
        try:
            for event in self.events(text, history):
                if isinstance(event, Answer):
                    answer = event
                    break
                written.append(event.text)
                partial = render.answer_html(join_sentences(written), turn, 0)
                chat[-1] = {"role": "assistant", "content": render.for_chat(partial + '<p class="muted lb-waiting">\u2026</p>')}
                yield chat, state, gr.skip(), gr.skip(), gr.skip(), gr.skip()
        except QuestionError as exc:
            chat[-1] = {"role": "assistant", "content": render.for_chat(
                f'<p class="error">I cannot take that question: {render.escape(exc)}</p>')}
            yield chat, state, gr.skip(), gr.skip(), gr.skip(), self._stop_button(visible=False)
            return
        except Exception as exc:  # keep the page alive; the log has the traceback
            log.exception("ask failed")
            chat[-1] = {"role": "assistant", "content": render.for_chat(
                f'<p class="error">Something went wrong while answering ({render.escape(type(exc).__name__)}).</p>')}
            yield chat, state, gr.skip(), gr.skip(), gr.skip(), self._stop_button(visible=False)
            return
        record = self._record(text, history, answer, len(chat) - 1)
        state["turns"] = (state["turns"] + [record])[-MAX_TURNS:]
        if len(state["turns"]) < turn + 1:  # the oldest turns dropped out: draw the kept ones again
            chat, state = self.restore(state)
        else:
            chat[-1] = {"role": "assistant", "content": self._bubble(record, turn)}
        if answer.refused:
            self._log_declined(state, len(state["turns"]) - 1)
        boxes = (gr.skip(), gr.skip()) if streamed else ("", "")  # emptied by the first update, or now
        yield chat, state, *boxes, "", self._stop_button(visible=False)

    def _stop_button(self, visible: bool):
        """The Stop button shows only while a model writes. Without a model it never shows, and its own label
        leaves it as it is: any update dict, even `gr.skip()`, makes Gradio rebuild the component and its
        config on every answer (a sixth of the server's time under load)."""
        return gr.update(visible=visible) if self.bot.settings.llm else STOP_LABEL

    def ask_example(self, chat: list, state: dict, evt: gr.SelectData) -> Iterator[tuple]:
        """A welcome example clicked: asked as if typed."""
        value = evt.value if isinstance(evt.value, dict) else {"text": str(evt.value or "")}
        yield from self.ask(str(value.get("text", "")), "", chat, state)

    def ask_at_once(self, question: str, paste: str, chat: list, state: dict) -> tuple:
        """`ask` as one update, for the extractive bot: Gradio runs a generator one step per thread hop."""
        return _last(self.ask(question, paste, chat, state))

    def ask_example_at_once(self, chat: list, state: dict, evt: gr.SelectData) -> tuple:
        return _last(self.ask_example(chat, state, evt))

    def stopped(self, chat: list) -> tuple:
        """After Stop: the half-written answer stays, marked as stopped."""
        chat = list(chat or [])
        if chat and chat[-1].get("role") == "assistant":
            content = str(chat[-1].get("content", ""))
            content = content.replace('<p class="muted lb-waiting">\u2026</p>', "")
            chat[-1] = {"role": "assistant", "content": content + '<p class="notice">Stopped; ask again to get the whole answer.</p>'}
        return chat, gr.update(visible=False)

    def _log_declined(self, state: dict, turn: int) -> None:
        record = state["turns"][turn]
        try:
            self.store.add(self._feedback(state, turn, record, vote=None, reason=""))
        except Exception:
            log.exception("could not log a declined question")

    def _feedback(self, state: dict, turn: int, record: dict, vote: str | None, reason: str) -> Feedback:
        return Feedback.from_answer(record, record["question"], record["history"], state["id"], turn, vote, reason)

    def new_conversation(self) -> tuple:
        return ([], _session(None), "", "", VIEWER_HINT, "", gr.update(visible=False), "")

    # -- citations -------------------------------------------------------------------------
    def open_citation(self, state: dict, evt: gr.EventData) -> tuple:
        """Show citation "turn-n" of this session; anything else shows nothing."""
        state = _session(state)
        return self.citation_view(state, str(_event_data(evt).get("ref", ""))), state

    def citation_view(self, state: dict, ref: str) -> str:
        m = _REF.match(ref or "")
        if not m or not self.startup.ready:
            return gr.skip()
        turn, n = int(m.group(1)), int(m.group(2))
        if not (0 <= turn < len(state["turns"]) and 1 <= n <= len(state["turns"][turn].get("citations", []))):
            return gr.skip()
        c = state["turns"][turn]["citations"][n - 1]
        try:
            span = (int(c["start_line"]), int(c["end_line"]))
            quoted = [int(x) for x in c.get("quoted", [])][:5000]
        except (KeyError, TypeError, ValueError):
            return gr.skip()
        return self.startup.current_sections().render(
            c.get("section"), span, [str(i) for i in c.get("element_ids", [])][:500],
            heading=str(c.get("heading_path", "")), quoted=quoted)

    # -- feedback --------------------------------------------------------------------------
    def vote(self, state: dict, data: gr.LikeData) -> tuple:
        """A thumb or a preset reason on the message itself; then an optional comment box right under the chat."""
        state = _session(state)
        index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        turn = next((t for t, r in enumerate(state["turns"]) if r.get("message_index") == index), None)
        if turn is None:
            return "That message is not an answer.", state, gr.update(visible=False)
        if data.liked is True:
            vote, reason = "up", ""
        elif data.liked is False:
            vote, reason = "down", ""
        elif isinstance(data.liked, str) and data.liked in REASONS:
            vote, reason = "down", data.liked
        else:
            return "Vote removed (the earlier vote stays recorded).", state, gr.update(visible=False)
        row = self._vote_once((state["id"], turn, vote, reason),
                              lambda: self.store.add(self._feedback(state, turn, state["turns"][turn], vote, reason)))
        state["vote"] = row
        what = "\U0001f44d" if vote == "up" else f"\U0001f44e{f' ({reason})' if reason else ''}"
        return (f"Thanks: answer {turn + 1} recorded {what}. Add a comment below if you like.", state,
                gr.update(visible=True))

    def _vote_once(self, key: tuple, add: Callable[[], int]) -> int:
        """One row per click: Gradio sends a flag option's like event twice, at once, with the same state."""
        now = time.monotonic()
        with self._votes_lock:
            self._recent_votes = {k: v for k, v in self._recent_votes.items() if now - v[1] < VOTE_REPEAT_S}
            if key in self._recent_votes:
                return self._recent_votes[key][0]
            row = add()
            self._recent_votes[key] = (row, now)
            return row

    def comment(self, state: dict, text: str) -> tuple:
        """The optional comment after a vote, added to that vote."""
        state = _session(state)
        if not (text or "").strip():
            return "Type a comment first, or just leave it.", gr.skip(), gr.skip()
        if not isinstance(state.get("vote"), int) or not self.store.add_comment(state["vote"], text):
            return "Vote on an answer first.", gr.skip(), gr.skip()
        return "Thanks: your comment is recorded with your vote.", "", gr.update(visible=False)

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

    # -- triage ----------------------------------------------------------------------------
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
        sid = str(_event_data(evt).get("section", ""))
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


def _browser_secret(data_dir: Path) -> str:
    """The key the browser's stored conversation is sealed with, kept in the data dir so reloads and
    restarts can read it back (a new data dir: old conversations start afresh)."""
    path = Path(data_dir) / "browser-state.key"
    try:
        return path.read_text(encoding="ascii").strip() or _new_secret(path)
    except (OSError, UnicodeDecodeError):
        return _new_secret(path)


def _new_secret(path: Path) -> str:
    key = secrets.token_hex(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(key, encoding="ascii")
    except OSError:
        log.warning("could not save %s; stored conversations will not survive a restart", path)
    return key


def _last(updates: Iterator[tuple]) -> tuple:
    out: tuple = ()
    for out in updates:
        pass
    return out


def ask_workers(settings: Settings) -> int:
    """Answers computed at once. Extractive answers are CPU work under one GIL: more threads than cores only
    queue inside Python (50 users x 30 s here: 21.8 q/s with 32, 29.2 q/s with 2). A model mostly waits
    (on a server, or on llama.cpp outside the GIL), so it gets many."""
    return 32 if settings.llm else max(2, os.cpu_count() or 2)


def build_app(bot: Bot, startup: Startup | None = None, store: FeedbackStore | None = None) -> gr.Blocks:
    """The Blocks app around `bot`; starts the index startup thread if the caller did not."""
    gr.set_static_paths([STATIC_DIR])
    startup = (startup or Startup(bot)).start()
    store = store or FeedbackStore(bot.settings.feedback_db)
    app = App(bot, startup, store)

    with gr.Blocks(title="lifecycle-bot", fill_width=True) as demo:
        state = gr.BrowserState({}, storage_key="lifecycle-bot-conversation",
                                secret=_browser_secret(bot.settings.data_dir))
        gr.HTML('<div class="lb-header"><h1>lifecycle-bot</h1><p>Answers about Airflow tasks under the '
                'KubernetesExecutor, quoted from the local docs.</p></div>',
                head=f'<script src="{MERMAID_URL}"></script><script src="{UI_JS_URL}"></script>')
        starting = gr.HTML(startup.status_html(), elem_id="starting")
        error_panel = gr.HTML(visible=False, elem_id="startup-error")
        with gr.Column(visible=False, elem_id="main") as main:
            with gr.Tabs():
                with gr.Tab("Ask", id="ask"):
                    with gr.Row(equal_height=False):
                        with gr.Column(scale=3, min_width=320, elem_id="chat-col"):
                            chat = gr.Chatbot(elem_id="chat", height="min(62vh, 640px)", label="Conversation",
                                              show_label=False, latex_delimiters=[], sanitize_html=True,
                                              allow_tags=False, feedback_options=FEEDBACK_OPTIONS, buttons=[],
                                              autoscroll=False, placeholder=WELCOME,
                                              examples=[{"text": q} for q in EXAMPLES])
                            with gr.Row(elem_id="ask-row", equal_height=True):
                                question = gr.Textbox(show_label=False, elem_id="question", lines=1, max_lines=6,
                                                      placeholder="Ask, or describe what you see (Enter sends)",
                                                      scale=5, container=False)
                                ask_btn = gr.Button("Ask", variant="primary", elem_id="ask-btn", scale=0, min_width=70)
                                stop_btn = gr.Button(STOP_LABEL, variant="stop", elem_id="stop-btn", scale=0,
                                                     min_width=70, visible=False)
                            status = gr.Markdown(elem_id="status")
                            with gr.Row(visible=False, elem_id="comment-row") as comment_row:
                                comment_box = gr.Textbox(show_label=False, elem_id="comment", lines=1, max_lines=3,
                                                         placeholder="What was wrong or missing? (optional)",
                                                         scale=5, container=False)
                                comment_btn = gr.Button("Send", elem_id="comment-btn", scale=0, min_width=70, size="sm")
                            with gr.Row(elem_id="tools-row"):
                                with gr.Accordion("Paste kubectl describe / events / logs", open=False, elem_id="paste-acc"):
                                    paste = gr.Textbox(label="Pasted output (Shift+Enter sends)", elem_id="paste",
                                                       lines=8, max_lines=30, placeholder=PASTE_EXAMPLE)
                            new_btn = gr.Button("New conversation", elem_id="new-btn", size="sm", variant="secondary")
                        with gr.Column(scale=2, min_width=320, elem_id="viewer-col"):
                            viewer = gr.HTML(VIEWER_HINT, elem_id="viewer", js_on_load=VIEWER_JS, autoscroll=False)
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

        demo.load(app.wait_ready, None, [starting, error_panel, main], show_progress="hidden",
                  concurrency_limit=None, api_visibility="private").then(
            app.restore, [state], [chat, state], api_visibility="private")
        outputs = [chat, state, question, paste, status, stop_btn]
        # a new question hides the comment row in the page (no server update: see _stop_button)
        asking = dict(concurrency_limit=ask_workers(bot.settings), concurrency_id="ask", outputs=outputs, js=HIDE_COMMENT_JS)
        streamed = bool(bot.settings.llm)  # only a model's answer comes in more than one update
        ask, ask_example = (app.ask, app.ask_example) if streamed else (app.ask_at_once, app.ask_example_at_once)
        asks = [
            ask_btn.click(ask, [question, paste, chat, state], api_name="ask", **asking),
            question.submit(ask, [question, paste, chat, state], api_visibility="private", **asking),
            paste.submit(ask, [question, paste, chat, state], api_visibility="private", **asking),
            chat.example_select(ask_example, [chat, state], api_visibility="private", **asking),
        ]
        stop_btn.click(app.stopped, [chat], [chat, stop_btn], cancels=asks, api_visibility="private", queue=False)
        reset_io = [chat, state, question, paste, viewer, status, comment_row, comment_box]
        new_btn.click(app.new_conversation, None, reset_io, cancels=asks, api_visibility="private", queue=False)
        chat.clear(app.new_conversation, None, reset_io, api_visibility="private", queue=False)
        viewer.click(app.open_citation, [state], [viewer, state], api_visibility="private", concurrency_limit=16)
        chat.like(app.vote, [state], [status, state, comment_row], api_visibility="private").then(
            None, js=SHOW_COMMENT_JS)
        comment_io = dict(inputs=[state, comment_box], outputs=[status, comment_box, comment_row], api_visibility="private")
        comment_btn.click(app.comment, **comment_io)
        comment_box.submit(app.comment, **comment_io)
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
    """Start the app; the index is built (with its progress in the page) if there is none."""
    bot = Bot(settings)
    demo = build_app(bot)
    demo.launch(server_name=host, server_port=port, inbrowser=open_browser, share=False,
                show_error=False, footer_links=[], max_threads=64, enable_monitoring=False,
                ssr_mode=False, pwa=False, mcp_server=False, **launch_options())
