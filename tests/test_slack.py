"""Slack face over real loopback HTTP: signed Events API requests into the Bolt app's WSGI server, and
slack_sdk's WebClient pointed at a local stand-in of the Slack Web API that records every call."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from lifecycle_bot.core.bot import Bot
from lifecycle_bot.feedback.store import FeedbackStore
from lifecycle_bot.faces.slack import build_app, http_server
from lifecycle_bot.render.slack import md_to_mrkdwn

BOT_TOKEN = "xoxb-1111111111-2222222222-TestTokenNeverLogged"
SIGNING_SECRET = "8f14e45fceea167a5a36dedd4bea2543-test-secret"
BOT_USER = "UBOT0001"
T0 = "1700000000.000100"


class FakeSlackAPI:
    """Answers auth.test, conversations.replies, chat.postMessage, chat.update; records the calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict, dict]] = []
        self.replies: dict[str, list[dict]] = {}  # thread_ts -> messages
        self.replies_error: str | None = None
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _params(self) -> dict:
                parsed = urllib.parse.urlparse(self.path)
                params = {k: v[0] for k, v in urllib.parse.parse_qs(parsed.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                if raw and "json" in (self.headers.get("Content-Type") or ""):
                    params.update(json.loads(raw))
                elif raw:
                    params.update({k: v[0] for k, v in urllib.parse.parse_qs(raw).items()})
                return params

            def _handle(self) -> None:
                method = urllib.parse.urlparse(self.path).path.rsplit("/", 1)[-1]
                params = self._params()
                with api.lock:
                    api.calls.append((method, params, dict(self.headers)))
                body = api.respond(method, params)
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/api/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def respond(self, method: str, params: dict) -> dict:
        if method == "auth.test":
            return {"ok": True, "url": "https://example.slack.com/", "team": "Example", "user": "lifecycle-bot",
                    "team_id": "T0001", "user_id": BOT_USER, "bot_id": "BBOT0001", "is_enterprise_install": False}
        if method == "conversations.replies":
            if self.replies_error:
                return {"ok": False, "error": self.replies_error}
            return {"ok": True, "messages": self.replies.get(params.get("ts", ""), []), "has_more": False}
        if method == "chat.postMessage":
            return {"ok": True, "channel": params.get("channel"), "ts": f"{time.time():.6f}",
                    "message": {"text": params.get("text", ""), "bot_id": "BBOT0001"}}
        return {"ok": True}

    def posted(self, n: int = 1, timeout: float = 60.0) -> list[dict]:
        """The first n chat.postMessage calls, waiting for the app's background listener."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                got = [p for m, p, _ in self.calls if m == "chat.postMessage"]
            if len(got) >= n:
                return got
            time.sleep(0.05)
        raise AssertionError(f"expected {n} chat.postMessage call(s), got {len(got)}: {self.calls}")

    def called(self, method: str) -> list[dict]:
        with self.lock:
            return [p for m, p, _ in self.calls if m == method]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slack_api():
    api = FakeSlackAPI()
    yield api
    api.close()


@pytest.fixture
def bolt(slack_api: FakeSlackAPI, session_bot: Bot, tmp_path: Path):
    """The Bolt app served by lifecycle_bot.slack.http_server on a free loopback port."""
    settings = session_bot.settings.with_(data_dir=tmp_path / "data")
    client = WebClient(token=BOT_TOKEN, base_url=slack_api.url)
    app = build_app(session_bot, settings, client=client, signing_secret=SIGNING_SECRET)
    server = http_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.server_port}/slack/events", "settings": settings, "app": app}
    server.shutdown()
    server.server_close()


def sign(body: str, timestamp: str | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    ts = timestamp or str(int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def post(url: str, body: str, headers: dict[str, str], content_type: str = "application/json") -> int:
    req = urllib.request.Request(url, data=body.encode(), method="POST",
                                 headers={"Content-Type": content_type, **headers})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def event_body(event: dict, event_id: str = "Ev0001") -> str:
    return json.dumps({
        "token": "legacy-verification", "team_id": "T0001", "api_app_id": "A0001", "type": "event_callback",
        "event_id": event_id, "event_time": int(time.time()), "event": event,
        "authorizations": [{"team_id": "T0001", "user_id": BOT_USER, "is_bot": True}],
    })


def mention(text: str, ts: str = T0, thread_ts: str | None = None, event_id: str = "Ev0001") -> str:
    event = {"type": "app_mention", "user": "U0USER01", "text": f"<@{BOT_USER}> {text}", "ts": ts,
             "channel": "C0CHAN01", "event_ts": ts}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event_body(event, event_id)


def block_texts(blocks: list[dict]) -> str:
    out = []
    for b in blocks:
        if "text" in b and isinstance(b["text"], dict):
            out.append(b["text"]["text"])
        for el in b.get("elements", []):
            if isinstance(el.get("text"), str):
                out.append(el["text"])
    return "\n".join(out)


def test_signature_helper_matches_slack_sdk():
    body = mention("hello")
    headers = sign(body)
    verifier = SignatureVerifier(SIGNING_SECRET)
    assert verifier.is_valid(body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"])


def test_mention_gets_a_threaded_answer_with_sources(bolt, slack_api: FakeSlackAPI):
    body = mention("why is my KubernetesExecutor pod stuck in Pending?")
    assert post(bolt["url"], body, sign(body)) == 200
    msg = slack_api.posted(1)[0]
    assert msg["channel"] == "C0CHAN01" and msg["thread_ts"] == T0
    blocks = msg["blocks"]
    context = [b for b in blocks if b["type"] == "context"]
    assert any("Sources" in e["text"] and "guide.md" in e["text"] and "Pod stuck in Pending" in e["text"]
               for b in context for e in b["elements"])
    actions = next(b for b in blocks if b["type"] == "actions")
    assert [e["action_id"] for e in actions["elements"]] == ["vote_up", "vote_down"]
    assert "**" not in block_texts(blocks)  # Markdown bold converted to mrkdwn


def test_followup_in_thread_uses_the_threads_earlier_turns(bolt, slack_api: FakeSlackAPI):
    first, reply, follow = T0, "1700000005.000200", "1700000010.000300"
    slack_api.replies[first] = [
        {"type": "message", "user": "U0USER01", "text": f"<@{BOT_USER}> why is my pod stuck in Pending?", "ts": first},
        {"type": "message", "user": BOT_USER, "bot_id": "BBOT0001", "text": "A pod stays Pending when ...", "ts": reply},
        {"type": "message", "user": "U0USER01", "text": f"<@{BOT_USER}> how do I fix it?", "ts": follow,
         "thread_ts": first},
    ]
    body = mention("how do I fix it?", ts=follow, thread_ts=first, event_id="Ev0002")
    assert post(bolt["url"], body, sign(body)) == 200
    msg = slack_api.posted(1)[0]
    assert msg["thread_ts"] == first
    assert slack_api.called("conversations.replies")[0]["ts"] == first
    text = block_texts(msg["blocks"])
    assert "Pod stuck in Pending" in text and "declined" not in text


def test_followup_falls_back_to_the_thread_cache(bolt, slack_api: FakeSlackAPI):
    slack_api.replies_error = "missing_scope"
    body = mention("why is my pod stuck in Pending?", event_id="Ev0003")
    assert post(bolt["url"], body, sign(body)) == 200
    slack_api.posted(1)
    follow = "1700000010.000300"
    body = mention("how do I fix it?", ts=follow, thread_ts=T0, event_id="Ev0004")
    assert post(bolt["url"], body, sign(body)) == 200
    msg = slack_api.posted(2)[1]
    assert msg["thread_ts"] == T0
    assert "Pod stuck in Pending" in block_texts(msg["blocks"])


def test_direct_message_is_answered_in_a_thread(bolt, slack_api: FakeSlackAPI):
    ts = "1700000100.000100"
    body = event_body({"type": "message", "channel_type": "im", "user": "U0USER01", "channel": "D0DM0001",
                       "text": "what does OOMKilled mean for a worker pod?", "ts": ts, "event_ts": ts}, "Ev0005")
    assert post(bolt["url"], body, sign(body)) == 200
    msg = slack_api.posted(1)[0]
    assert msg["channel"] == "D0DM0001" and msg["thread_ts"] == ts
    assert "OOMKilled" in block_texts(msg["blocks"])


def test_pasted_output_gets_the_triage_summary(bolt, slack_api: FakeSlackAPI):
    paste = ("my task never starts:\nEvents:\n  Type     Reason            Age   From               Message\n"
             "  Warning  FailedScheduling  2m    default-scheduler  0/3 nodes are available: 3 Insufficient memory.")
    body = mention(paste, event_id="Ev0006")
    assert post(bolt["url"], body, sign(body)) == 200
    blocks = slack_api.posted(1)[0]["blocks"]
    assert blocks[0]["type"] == "header" and blocks[0]["text"]["text"] == "Triage"
    text = block_texts(blocks)
    assert "scheduling_insufficient_resources" in text and "Insufficient memory" in text


def test_unsigned_stale_or_forged_requests_are_rejected(bolt, slack_api: FakeSlackAPI):
    body = mention("why is my pod stuck in Pending?", event_id="Ev0007")
    assert post(bolt["url"], body, {}) == 401
    stale = str(int(time.time()) - 10 * 60)
    assert post(bolt["url"], body, sign(body, timestamp=stale)) == 401
    assert post(bolt["url"], body, sign(body, secret="not-the-secret")) == 401
    tampered = body.replace("Pending", "Running")
    assert post(bolt["url"], tampered, sign(body)) == 401
    time.sleep(0.5)
    assert slack_api.called("chat.postMessage") == []


def test_vote_buttons_write_to_the_feedback_store(bolt, slack_api: FakeSlackAPI):
    body = mention("why is my pod stuck in Pending?", event_id="Ev0008")
    assert post(bolt["url"], body, sign(body)) == 200
    msg = slack_api.posted(1)[0]
    ref = next(b for b in msg["blocks"] if b["type"] == "actions")["elements"][1]["value"]
    payload = {
        "type": "block_actions", "team": {"id": "T0001"}, "user": {"id": "U0USER01"}, "api_app_id": "A0001",
        "channel": {"id": "C0CHAN01"}, "container": {"type": "message", "message_ts": "1700000001.000100"},
        "message": {"ts": "1700000001.000100", "thread_ts": T0, "text": msg["text"], "blocks": msg["blocks"]},
        "actions": [{"action_id": "vote_down", "block_id": "feedback", "value": ref, "type": "button",
                     "action_ts": str(time.time())}],
        "trigger_id": "1.2.3", "response_url": slack_api.url + "response",
    }
    form = urllib.parse.urlencode({"payload": json.dumps(payload)})
    assert post(bolt["url"], form, sign(form), "application/x-www-form-urlencoded") == 200
    store = FeedbackStore(bolt["settings"].feedback_db)
    deadline = time.time() + 20
    while time.time() < deadline and store.count() == 0:
        time.sleep(0.05)
    rows = store.rows()
    assert len(rows) == 1 and rows[0].vote == "down"
    assert rows[0].question == "why is my pod stuck in Pending?"
    assert rows[0].session == f"slack:C0CHAN01:{T0}"
    assert rows[0].citations and rows[0].citations[0]["file"] == "guide.md"
    deadline = time.time() + 20
    while time.time() < deadline and not slack_api.called("chat.update"):
        time.sleep(0.05)
    update = slack_api.called("chat.update")[0]
    assert not any(b.get("block_id") == "feedback" for b in update["blocks"])


def test_tokens_and_secret_never_reach_the_logs(slack_api: FakeSlackAPI, session_bot: Bot, tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    settings = session_bot.settings.with_(data_dir=tmp_path / "data")
    client = WebClient(token=BOT_TOKEN, base_url=slack_api.url)
    app = build_app(session_bot, settings, client=client, signing_secret=SIGNING_SECRET)
    server = http_server(app, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/slack/events"
        body = mention("why is my pod stuck in Pending?", event_id="Ev0009")
        assert post(url, body, sign(body)) == 200
        slack_api.posted(1)
        assert post(url, body, {}) == 401
        app.logger.debug("echo test %s %s", BOT_TOKEN, SIGNING_SECRET)  # the filter must catch even this
    finally:
        server.shutdown()
        server.server_close()
    assert any(m == "auth.test" for m, _, _ in slack_api.calls)
    auth = [h for m, _, h in slack_api.calls if m == "chat.postMessage"][0]
    assert auth.get("Authorization") == f"Bearer {BOT_TOKEN}"  # the token was used...
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert len(caplog.records) > 5  # ...and DEBUG logging really ran
    for secret in (BOT_TOKEN, SIGNING_SECRET, "TestTokenNeverLogged"):
        assert secret not in logged  # ...but never reached a log line


def test_markdown_to_mrkdwn():
    text = md_to_mrkdwn("**Bold** and *em*, [docs](https://example.com/a) & <tag>\n# Title\n- item `a<b>`\n"
                        "   ```bash\n   kubectl get pods > out\n   ```")
    assert text.splitlines() == [
        "*Bold* and _em_, <https://example.com/a|docs> &amp; &lt;tag&gt;",
        "*Title*",
        "• item `a&lt;b&gt;`",
        "```",
        "kubectl get pods &gt; out",
        "```",
    ]


def _vote_form(msg: dict, action_ts: str) -> str:
    ref = next(b for b in msg["blocks"] if b["type"] == "actions")["elements"][0]["value"]
    payload = {
        "type": "block_actions", "team": {"id": "T0001"}, "user": {"id": "U0USER01"}, "api_app_id": "A0001",
        "channel": {"id": "C0CHAN01"}, "container": {"type": "message", "message_ts": "1700000001.000100"},
        "message": {"ts": "1700000001.000100", "thread_ts": T0, "text": msg["text"], "blocks": msg["blocks"]},
        "actions": [{"action_id": "vote_up", "block_id": "feedback", "value": ref, "type": "button",
                     "action_ts": action_ts}],
        "trigger_id": "1.2.3", "response_url": slack_api_response_url(),
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def slack_api_response_url() -> str:
    return "http://127.0.0.1:9/response"  # never called: the bot answers votes with chat.update


def test_a_replayed_vote_is_counted_once(bolt, slack_api: FakeSlackAPI):
    body = mention("why is my pod stuck in Pending?", event_id="Ev0010")
    assert post(bolt["url"], body, sign(body)) == 200
    form = _vote_form(slack_api.posted(1)[0], "1700000002.000200")
    headers = sign(form)
    for _ in range(3):  # the same signed request, replayed within Slack's five minutes
        assert post(bolt["url"], form, headers, "application/x-www-form-urlencoded") == 200
    store = FeedbackStore(bolt["settings"].feedback_db)
    deadline = time.time() + 20
    while time.time() < deadline and not slack_api.called("chat.update"):
        time.sleep(0.05)
    second = _vote_form(slack_api.posted(1)[0], "1700000003.000300")  # a new click is a new vote
    assert post(bolt["url"], second, sign(second), "application/x-www-form-urlencoded") == 200
    while time.time() < deadline and len(slack_api.called("chat.update")) < 2:
        time.sleep(0.05)
    time.sleep(0.5)  # let any replay that slipped through land before counting
    assert store.count() == 2
    assert len(slack_api.called("chat.update")) == 2


@pytest.mark.parametrize("headers, body, content_type, status", [
    ({"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=abc"}, '{"type": "event_callback"}',
     "application/json", 401),
    ({"X-Slack-Request-Timestamp": "", "X-Slack-Signature": ""}, "{}", "application/json", 401),
    (None, "this is not json", "application/json", 400),
    (None, "[1, 2, 3]", "application/json", 400),
    (None, "payload=%7Bnot+json", "application/x-www-form-urlencoded", 400),
])
def test_malformed_or_unverifiable_requests_get_400_or_401(bolt, slack_api: FakeSlackAPI, headers, body,
                                                           content_type, status):
    assert post(bolt["url"], body, headers if headers is not None else sign(body), content_type) == status
    assert slack_api.called("chat.postMessage") == []


def test_slack_without_network_is_a_clean_error(kb_copy: Path, tmp_path: Path):
    from conftest import invoke

    import socket

    with socket.socket() as s:  # a loopback port nobody listens on: connection refused, like no network
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_APP_TOKEN": "",
           "LIFECYCLE_BOT_SLACK_API_URL": f"http://127.0.0.1:{closed}/api/"}
    proc = invoke("--kb", str(kb_copy), "--data-dir", str(tmp_path / "data"), "slack", env=env)
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert err.startswith("Error: cannot reach Slack to check SLACK_BOT_TOKEN (") and "Traceback" not in err
    assert BOT_TOKEN not in err and not (tmp_path / "data").exists()  # checked before the index was opened
