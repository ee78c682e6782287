"""The real app in a real headless Chromium: answer, citation viewer, vote, XSS, no outside requests.

Needs Debian's Chromium (`bash scripts/install-browser.sh`); the test fails, never skips, without it:
    bash scripts/install-browser.sh && pytest -m browser
"""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import screenshot as shot  # noqa: E402  (scripts/screenshot.py: the shared app/browser helpers)

FIXTURE_KB = ROOT / "tests" / "fixtures" / "kb"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}

pytestmark = [pytest.mark.browser, pytest.mark.server]


@pytest.fixture()
def page(server):
    from playwright.sync_api import sync_playwright

    url, _ = server
    with sync_playwright() as p:
        browser = shot.launch_browser(p)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.requests = []
        page.dialogs = []
        page.on("request", lambda r: page.requests.append(r.url))
        page.on("websocket", lambda ws: page.requests.append(ws.url))

        def on_dialog(dialog):
            page.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.goto(url)
        shot.wait_until_ready(page)
        yield page
        browser.close()


def non_loopback(urls: list[str]) -> list[str]:
    out = []
    for u in urls:
        parsed = urlparse(u)
        if parsed.scheme in ("data", "blob", "about"):
            continue
        if parsed.hostname not in LOOPBACK:
            out.append(u)
    return out


def test_answer_cite_vote_and_stay_offline(page, server):
    url, data = server
    shot.ask(page, "why is my pod Pending?")
    answer = page.locator("#chat .message-content").last
    assert "Pending" in answer.inner_text()
    assert page.locator("#chat a.cite").count() >= 1

    page.locator("#chat a.cite").first.click()
    page.wait_for_selector("#viewer .viewer-title", timeout=15_000)
    assert "Pod stuck in Pending" in page.locator("#viewer .viewer-title").inner_text()
    assert page.locator("#viewer .cited").count() >= 1
    assert "kubectl describe pod" in page.locator("#viewer").inner_text()

    page.locator("#chat button[aria-label='Dislike']").last.click()
    row = None
    for _ in range(60):
        with sqlite3.connect(data / "feedback.sqlite3") as conn:
            row = conn.execute("SELECT question, vote, reason FROM feedback WHERE vote = 'down'").fetchone()
        if row:
            break
        time.sleep(0.25)
    assert row == ("why is my pod Pending?", "down", "")

    assert page.locator("#chat img").count() == 0
    assert non_loopback(page.requests) == [], "a request left the machine"
    assert any("mermaid.min.js" in u for u in page.requests) and url in page.requests[0]


def test_only_the_vendored_static_files_are_served(server):
    import urllib.error
    import urllib.request

    url, data = server

    def status(path: str) -> int:
        try:
            with urllib.request.urlopen(f"{url}/gradio_api/file={path}", timeout=10) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            return exc.code

    static = ROOT / "src" / "lifecycle_bot" / "faces" / "web" / "static"
    assert status(str(static / "mermaid.min.js")) == 200
    for path in (FIXTURE_KB / "guide.md", static / ".." / "ui.py", data / "feedback.sqlite3", Path("/etc/passwd")):
        assert status(str(path)) in (403, 404), path


def test_question_html_runs_no_script(page):
    page.evaluate("() => { window.__xss = 0; }")
    evil = '<img src=x onerror="window.__xss = 1; alert(1)"> why is my pod Pending?'
    shot.ask(page, evil)
    page.wait_for_timeout(500)
    assert page.evaluate("() => window.__xss") == 0
    assert page.dialogs == []
    assert page.locator("#chat img").count() == 0
    assert '<img src=x onerror="window.__xss = 1; alert(1)">' in page.locator("#chat .message-content").first.inner_text()
    assert non_loopback(page.requests) == []


def test_mermaid_is_drawn_from_the_vendored_script(page):
    shot.ask(page, "what phases does a worker pod move through?")
    page.locator("#chat a.cite").first.click()
    page.wait_for_selector("#viewer pre.mermaid svg", timeout=15_000)
    assert "Running" in page.locator("#viewer pre.mermaid svg").text_content()
    assert non_loopback(page.requests) == []


def test_corrupt_index_shows_a_page_with_the_fix(chromium_ready, tmp_path):
    from playwright.sync_api import sync_playwright

    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "registry.sqlite3").write_bytes(b"not a database" * 500)
    proc, url = shot.start_app(FIXTURE_KB, tmp_path, log_path=tmp_path / "app.log")
    try:
        with sync_playwright() as p:
            browser = shot.launch_browser(p)
            page = browser.new_page()
            page.goto(url)
            page.wait_for_selector("#startup-error .lb-error", timeout=60_000)
            text = page.locator("#startup-error").inner_text()
            browser.close()
    finally:
        shot.stop_app(proc)
    assert "index is not available" in text and "index --rebuild" in text and str(tmp_path) in text
    assert "Traceback" not in text
