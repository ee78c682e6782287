"""The Slack face: app mentions and DMs answered in a thread, with sources, votes and paste triage.

Socket Mode (SLACK_APP_TOKEN + SLACK_BOT_TOKEN) needs no public URL; HTTP mode (SLACK_SIGNING_SECRET +
SLACK_BOT_TOKEN) serves Slack's signed requests on /slack/events. `build_app` takes an optional
WebClient so tests can point the Web API at a local stand-in. Follow-ups read the thread's earlier
user turns from conversations.replies (the source of truth), falling back to an in-process cache.
Every Slack library logs through one logger that redacts tokens and the signing secret.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterable
from collections import OrderedDict
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from lifecycle_bot.core.settings import Settings
from lifecycle_bot.core.signatures import looks_like_paste
from lifecycle_bot.render.slack import escape, md_to_mrkdwn

if TYPE_CHECKING:  # pragma: no cover
    from lifecycle_bot.core.bot import Bot
    from lifecycle_bot.core.types import Answer

LOG_NAME = "lifecycle_bot.slack"
SECTION_LIMIT = 2900  # Slack allows 3000 characters per section block
MAX_THREADS = 2000
_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
_SECRETISH = re.compile(r"xox[abposr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+")


class SlackConfigError(RuntimeError):
    """Missing or contradictory Slack credentials."""


# -- logging without secrets ----------------------------------------------------------------------

class RedactSecrets(logging.Filter):
    """Masks Slack tokens (by shape) and the configured secrets (by value) in every record."""

    def __init__(self, secrets: list[str] | None = None):
        super().__init__()
        self.secrets = [s for s in (secrets or []) if s and len(s) >= 6]

    def _clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        return _SECRETISH.sub("[redacted]", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self._clean(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, ()
        return True


_REDACT = RedactSecrets()  # one shared instance: Bolt copies the base logger's filters into its own loggers


def slack_logger(secrets: list[str]) -> logging.Logger:
    """The single logger handed to Bolt, the WebClient and Socket Mode (filters act per logger)."""
    _REDACT.secrets = sorted({*_REDACT.secrets, *(s for s in secrets if s and len(s) >= 6)}, key=len, reverse=True)
    logger = logging.getLogger(LOG_NAME)
    if _REDACT not in logger.filters:
        logger.addFilter(_REDACT)
    return logger


def _sections(mrkdwn: str) -> list[dict]:
    """Section blocks of at most SECTION_LIMIT characters, split at paragraph or line boundaries."""
    blocks, current = [], ""
    for para in re.split(r"(\n\n)", mrkdwn):
        if len(current) + len(para) > SECTION_LIMIT and current.strip():
            blocks.append(current)
            current = ""
        while len(para) > SECTION_LIMIT:
            cut = para.rfind("\n", 0, SECTION_LIMIT)
            cut = cut if cut > 0 else SECTION_LIMIT
            blocks.append(para[:cut])
            para = para[cut:]
        current += para
    if current.strip():
        blocks.append(current)
    return [{"type": "section", "text": {"type": "mrkdwn", "text": b.strip()}} for b in blocks if b.strip()]


# -- what a reply looks like ---------------------------------------------------------------------

@dataclass
class Reply:
    text: str  # notification fallback
    blocks: list[dict] = field(default_factory=list)


def answer_blocks(answer: Answer, ref: str, triage_md: str | None = None) -> Reply:
    """Triage summary (for pastes), the answer, its sources as a context block, and 👍/👎 buttons."""
    body = answer.message
    blocks: list[dict] = []
    if triage_md:
        blocks += [{"type": "header", "text": {"type": "plain_text", "text": "Triage"}}]
        blocks += _sections(md_to_mrkdwn(triage_md))
        blocks.append({"type": "divider"})
    blocks += _sections(md_to_mrkdwn(body))
    source_lines = answer.sources
    if source_lines and not answer.refused:
        text = "*Sources*\n" + "\n".join(escape(s) for s in source_lines)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": text[:2900]}]})
    conf = f"confidence {answer.confidence:.2f}" + (", declined" if answer.refused else "")
    if answer.mode == "generated":
        conf += f" \u00b7 written by {escape(answer.model)}, checked against the docs"
    if answer.notice:
        conf += f"\n{escape(answer.notice)}"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": conf}]})
    blocks.append({
        "type": "actions", "block_id": "feedback",
        "elements": [
            {"type": "button", "action_id": "vote_up", "value": ref, "text": {"type": "plain_text", "text": "👍"}},
            {"type": "button", "action_id": "vote_down", "value": ref, "text": {"type": "plain_text", "text": "👎"}},
        ],
    })
    return Reply(text=md_to_mrkdwn(body)[:3000], blocks=blocks[:50])  # the fallback is mrkdwn too: escaped


# -- feedback adapter ----------------------------------------------------------------------------

@dataclass
class Asked:
    question: str
    answer: dict  # Answer.to_dict()
    history: list[str]
    session: str
    turn: int


def record_vote(settings: Settings, asked: Asked, vote: str, user: str = "") -> int:
    """Write one Slack vote to the shared feedback store (lifecycle_bot.feedback)."""
    from lifecycle_bot.feedback.store import Feedback, FeedbackStore

    return FeedbackStore(settings.feedback_db).add(Feedback.from_answer(
        asked.answer, asked.question, asked.history, asked.session, asked.turn, vote,
        reason=f"slack user {user}" if user else ""))


# -- the app --------------------------------------------------------------------------------------

class _LRU(OrderedDict):
    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def put(self, key, value) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


def clean_text(text: str) -> str:
    """A Slack message as the user meant it: mentions dropped, entities unescaped."""
    text = _MENTION.sub("", text or "")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()


class SlackBot:
    """State and handlers behind the Bolt app (thread cache, answers awaiting votes)."""

    def __init__(self, bot: Bot, settings: Settings, logger: logging.Logger):
        self.bot = bot
        self.settings = settings
        self.logger = logger
        self.threads: _LRU = _LRU(MAX_THREADS)  # (channel, thread_ts) -> [user turns]
        self.asked: _LRU = _LRU(MAX_THREADS * 4)  # ref -> Asked
        self.seen: _LRU = _LRU(MAX_THREADS * 4)  # (channel, ts) already answered (Slack retries)
        self.votes: _LRU = _LRU(MAX_THREADS * 4)  # action keys already recorded (replays, retries)
        self.signing_secret = ""  # HTTP mode's secret, for the request check in front of Bolt
        self._lock = threading.Lock()

    def history(self, client: WebClient, channel: str, thread_ts: str, current_ts: str, bot_user: str | None) -> list[str]:
        """Earlier user turns of the thread, oldest first: conversations.replies, else the cache."""
        try:
            resp = client.conversations_replies(channel=channel, ts=thread_ts, limit=200)
            turns = []
            for msg in resp.get("messages", []):
                if msg.get("ts") == current_ts or float(msg.get("ts", "0")) > float(current_ts):
                    continue
                if msg.get("bot_id") or msg.get("subtype") or (bot_user and msg.get("user") == bot_user):
                    continue
                text = clean_text(msg.get("text", ""))
                if text:
                    turns.append(text)
            return turns
        except (SlackApiError, ValueError, KeyError) as exc:
            response = getattr(exc, "response", None)
            reason = response.get("error") if response is not None else type(exc).__name__
            self.logger.info("conversations.replies unavailable (%s); using the thread cache", reason)
            with self._lock:
                return list(self.threads.get((channel, thread_ts), []))

    def handle(self, event: dict, client: WebClient, bot_user: str | None) -> None:
        channel, ts = event.get("channel", ""), event.get("ts", "")
        thread_ts = event.get("thread_ts") or ts
        with self._lock:
            if (channel, ts) in self.seen:
                return
            self.seen.put((channel, ts), True)
        question = clean_text(event.get("text", ""))
        if not question:
            client.chat_postMessage(channel=channel, thread_ts=thread_ts,
                                    text="Ask me about the KubernetesExecutor task lifecycle, or paste kubectl output.")
            return
        turns = self.history(client, channel, thread_ts, ts, bot_user) if event.get("thread_ts") else []
        with self._lock:
            cached = self.threads.get((channel, thread_ts), [])
            self.threads.put((channel, thread_ts), cached + [question])
        reply = self.reply(question, turns, session=f"slack:{channel}:{thread_ts}")
        client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=reply.text, blocks=reply.blocks,
                                unfurl_links=False, unfurl_media=False)

    def reply(self, question: str, turns: list[str], session: str) -> Reply:
        from lifecycle_bot.core.bot import QuestionError
        from lifecycle_bot.render.triage import triage_markdown
        from lifecycle_bot.triage.engine import triage

        try:
            answer = self.bot.ask(question, history=turns)
        except QuestionError as exc:
            return Reply(text=f"I can't take that question: {exc}")
        triage_md = None
        if looks_like_paste(question):
            result = triage(question, self.bot)
            if result.matched:
                triage_md = triage_markdown(result)
        ref = uuid.uuid4().hex[:16]
        with self._lock:
            self.asked.put(ref, Asked(question, answer.to_dict(), list(turns), session, len(turns)))
        return answer_blocks(answer, ref, triage_md)

    @staticmethod
    def action_key(body: dict) -> tuple[str, ...]:
        """What makes a click one click: who pressed which button on which message, when (Slack's action_ts).

        A replayed or retried request carries the same key, so it is recorded and acknowledged once.
        """
        action = (body.get("actions") or [{}])[0]
        message = body.get("message") or {}
        container = body.get("container") or {}
        return ((body.get("user") or {}).get("id", ""), (body.get("channel") or {}).get("id", ""),
                str(message.get("ts") or container.get("message_ts") or ""), str(action.get("action_id", "")),
                str(action.get("action_ts", "")), str(action.get("value", "")))

    def vote(self, body: dict, client: WebClient, vote: str) -> None:
        action = (body.get("actions") or [{}])[0]
        ref = action.get("value", "")
        user = (body.get("user") or {}).get("id", "")
        key = self.action_key(body)
        with self._lock:
            if key in self.votes:
                self.logger.info("vote %s already recorded; replay ignored", ref)
                return
            self.votes.put(key, True)
            asked = self.asked.get(ref)
        message = body.get("message") or {}
        if asked is None:  # the process restarted since the answer: keep the vote with what Slack sent back
            asked = Asked("", {"answer": message.get("text", "")}, [],
                          f"slack:{(body.get('channel') or {}).get('id', '')}:{message.get('thread_ts', '')}", 0)
        record_vote(self.settings, asked, vote, user)
        channel = (body.get("channel") or {}).get("id")
        if channel and message.get("ts"):
            blocks = [b for b in message.get("blocks", []) if b.get("block_id") != "feedback"]
            blocks.append({"type": "context", "elements": [
                {"type": "mrkdwn", "text": f"{'👍' if vote == 'up' else '👎'} feedback recorded, thanks <@{user}>"}]})
            try:
                client.chat_update(channel=channel, ts=message["ts"], text=message.get("text", ""), blocks=blocks)
            except SlackApiError as exc:
                self.logger.info("could not update the voted message: %s", exc.response.get("error"))


def build_app(bot: Bot, settings: Settings, client: WebClient | None = None, *, token: str | None = None,
              signing_secret: str | None = None) -> App:
    """The Bolt app. Credentials default to SLACK_BOT_TOKEN / SLACK_SIGNING_SECRET from the environment."""
    token = token or (client.token if client is not None else None) or os.environ.get("SLACK_BOT_TOKEN")
    if not token:
        raise SlackConfigError("SLACK_BOT_TOKEN is not set (a bot token, xoxb-...)")
    secret = signing_secret if signing_secret is not None else os.environ.get("SLACK_SIGNING_SECRET", "")
    logger = slack_logger([token, secret, os.environ.get("SLACK_APP_TOKEN", "")])
    if client is None:
        client = WebClient(token=token, logger=logger, base_url=os.environ.get("LIFECYCLE_BOT_SLACK_API_URL")
                           or WebClient.BASE_URL)
    elif _REDACT not in client.logger.filters:
        client.logger.addFilter(_REDACT)  # a caller's client keeps its logger, but not our secrets
    app = App(client=client, signing_secret=secret, logger=logger, process_before_response=False)
    state = SlackBot(bot, settings, logger)
    state.signing_secret = secret
    app._lifecycle_state = state  # type: ignore[attr-defined]  # for tests and diagnostics

    @app.event("app_mention")
    def on_mention(event: dict, client: WebClient, context: Any) -> None:
        state.handle(event, client, context.get("bot_user_id"))

    @app.event("message")
    def on_message(event: dict, client: WebClient, context: Any) -> None:
        if event.get("channel_type") != "im" or event.get("bot_id") or event.get("subtype"):
            return  # channel messages arrive as app_mention; edits, joins and bots are ignored
        state.handle(event, client, context.get("bot_user_id"))

    @app.action("vote_up")
    def on_up(ack, body: dict, client: WebClient) -> None:
        ack()
        state.vote(body, client, "up")

    @app.action("vote_down")
    def on_down(ack, body: dict, client: WebClient) -> None:
        ack()
        state.vote(body, client, "down")

    return app


# -- serving --------------------------------------------------------------------------------------

class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        logging.getLogger(LOG_NAME).debug("http %s", format % args)


MAX_BODY = 1_000_000  # Slack's payloads are a few kB


def _plain(start_response, status: str, text: str) -> list[bytes]:
    data = text.encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))])
    return [data]


def parse_signed_body(body: str, content_type: str) -> bool:
    """True when a (verified) body is what Slack sends: a JSON object, or a form whose `payload` is JSON."""
    try:
        if "application/x-www-form-urlencoded" in content_type:
            form = urllib.parse.parse_qs(body, strict_parsing=bool(body))
            return "payload" not in form or isinstance(json.loads(form["payload"][0]), dict)
        return isinstance(json.loads(body), dict)
    except ValueError:
        return False


def checked_requests(handler: Callable, signing_secret: str, path: str) -> Callable:
    """WSGI middleware in front of Bolt: a request whose signature cannot be checked (no or non-numeric
    timestamp, bad signature) gets 401 and a signed request whose body is not Slack's JSON gets 400, where
    Bolt answered both with 500 and a traceback in the log."""
    from slack_sdk.signature import SignatureVerifier

    verifier = SignatureVerifier(signing_secret)

    def app(environ: dict, start_response) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != path or environ.get("REQUEST_METHOD") != "POST":
            return handler(environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _plain(start_response, "400 Bad Request", "bad Content-Length")
        if length > MAX_BODY:
            return _plain(start_response, "413 Payload Too Large", "request body too large")
        raw = environ["wsgi.input"].read(length) if length > 0 else b""
        timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
        signature = environ.get("HTTP_X_SLACK_SIGNATURE", "")
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            body = None
        if not timestamp.isdigit() or body is None or not verifier.is_valid(body, timestamp, signature):
            return _plain(start_response, "401 Unauthorized", "invalid request signature")
        if not parse_signed_body(body, environ.get("CONTENT_TYPE", "")):
            return _plain(start_response, "400 Bad Request", "malformed request body")
        environ["wsgi.input"] = io.BytesIO(raw)
        return handler(environ, start_response)

    return app


def http_server(app: App, host: str = "0.0.0.0", port: int = 3000, path: str = "/slack/events") -> WSGIServer:
    """A threaded WSGI server for HTTP mode (port 0 picks a free port); call serve_forever()."""
    from slack_bolt.adapter.wsgi import SlackRequestHandler

    secret = app._lifecycle_state.signing_secret  # type: ignore[attr-defined]
    return make_server(host, port, checked_requests(SlackRequestHandler(app, path=path), secret, path),
                       server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)


def run(settings: Settings, port: int = 3000) -> None:
    """`lifecycle-bot slack`: Socket Mode when SLACK_APP_TOKEN is set, otherwise HTTP mode."""
    from lifecycle_bot.core.bot import Bot

    bot_token = os.environ.get("SLACK_BOT_TOKEN")
    app_token = os.environ.get("SLACK_APP_TOKEN")
    secret = os.environ.get("SLACK_SIGNING_SECRET")
    if not bot_token:
        raise SlackConfigError("set SLACK_BOT_TOKEN (xoxb-...) and either SLACK_APP_TOKEN (Socket Mode) "
                               "or SLACK_SIGNING_SECRET (HTTP mode); see docs/slack.md")
    if not app_token and not secret:
        raise SlackConfigError("set SLACK_APP_TOKEN (xapp-..., Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode)")
    if app_token and not app_token.startswith("xapp-"):
        raise SlackConfigError("SLACK_APP_TOKEN must be an app-level token (xapp-...) with connections:write")
    bot = Bot(settings)
    from slack_bolt.error import BoltError

    try:  # the token is checked (auth.test) before the index is opened: a wrong token fails at once
        app = build_app(bot, settings, token=bot_token, signing_secret=secret or "")
    except BoltError as exc:  # auth.test failed: bad or revoked token (the message names no secret)
        raise SlackConfigError(f"Slack rejected SLACK_BOT_TOKEN: {exc}") from None
    except OSError as exc:  # URLError, timeouts, DNS: no network or a proxy in the way
        reason = getattr(exc, "reason", None) or exc
        raise SlackConfigError(f"cannot reach Slack to check SLACK_BOT_TOKEN ({reason}); check the network "
                               "or the proxy (HTTPS_PROXY), then start again") from None
    bot.open()
    logger = logging.getLogger(LOG_NAME)
    if app_token:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        logger.info("Slack bot running in Socket Mode")
        SocketModeHandler(app, app_token, logger=logger).start()
        return
    host = os.environ.get("LIFECYCLE_BOT_SLACK_HOST", "0.0.0.0")
    server = http_server(app, host, port)
    logger.info("Slack bot listening on http://%s:%d/slack/events", host, server.server_port)
    try:
        server.serve_forever()
    finally:
        server.server_close()
