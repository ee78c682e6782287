#!/usr/bin/env python3
"""Save docs/screenshot.png: the app answering a question, with the cited section open.

    python scripts/screenshot.py                 # real kb/ if the guide exists, else the fixture KB
    python scripts/screenshot.py --kb tests/fixtures/kb --question "why is my pod Pending?"

Starts `python app.py` on a free loopback port with a fresh index in a temporary data dir and
drives Debian's Chromium (scripts/install-browser.sh) through Playwright; nothing is downloaded.
The helpers here are shared with tests/test_browser.py.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
INSTALL_HINT = "Chromium is not installed at /usr/bin/chromium: run `bash scripts/install-browser.sh` first."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(kb: Path, data_dir: Path, port: int | None = None, timeout: float = 240.0,
              log_path: Path | None = None, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """`python app.py` on loopback; returns once the page is served (the index may still build).
    `env`: extra environment, e.g. LIFECYCLE_BOT_LLM* to answer through a model."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "--kb", str(kb), "--data-dir", str(data_dir),
         "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the app exited with code {proc.returncode} (log: {log_path})")
        try:
            with urllib.request.urlopen(url + "/", timeout=2) as resp:
                if resp.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.3)
    stop_app(proc)
    raise TimeoutError(f"the app did not come up on {url} within {timeout:.0f}s")


def stop_app(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def launch_browser(playwright):
    if not CHROMIUM.exists():
        raise FileNotFoundError(INSTALL_HINT)
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)


def wait_until_ready(page, timeout_ms: int = 240_000) -> None:
    """The chat shows once the index is built and loaded (a progress bar until then)."""
    page.wait_for_selector("#question textarea, #startup-error .lb-error", timeout=timeout_ms)
    if page.locator("#startup-error .lb-error").count():
        raise RuntimeError("startup failed: " + page.locator("#startup-error").inner_text())


def ask(page, question: str, timeout_ms: int = 60_000) -> None:
    """Type a question, send it, and wait until its answer is complete (the footer appears)."""
    done = page.locator("#chat .meta").count()
    page.fill("#question textarea", question)
    page.click("#ask-btn")
    page.wait_for_function(
        "n => document.querySelectorAll('#chat .meta').length > n", arg=done, timeout=timeout_ms)


def main(argv: list[str] | None = None) -> int:
    guide = ROOT / "kb" / "kubernetes_task_lifecycle.md"
    default_kb = ROOT / "kb" if guide.exists() else ROOT / "tests" / "fixtures" / "kb"
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kb", type=Path, default=default_kb)
    parser.add_argument("--question", default="Why is my pod Pending?")
    parser.add_argument("--citation", type=int, default=1, help="which [n] to open in the viewer")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.png")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    data_dir = Path(tempfile.mkdtemp(prefix="lifecycle-shot-"))
    proc, url = start_app(args.kb.resolve(), data_dir, log_path=data_dir / "app.log")
    try:
        with sync_playwright() as p:
            browser = launch_browser(p)
            page = browser.new_page(viewport={"width": 1440, "height": 1000}, device_scale_factor=1)
            outside: list[str] = []
            page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(url) else None)
            page.goto(url)
            wait_until_ready(page)
            ask(page, args.question)
            page.locator("#chat a.cite").nth(args.citation - 1).click()
            page.wait_for_selector("#viewer .viewer-title", timeout=15_000)
            page.mouse.move(5, 5)  # no hover preview left open over the answer
            page.wait_for_timeout(1200)  # let Mermaid draw
            page.evaluate("""() => {  // show the question: scroll the conversation back to its top
                for (const el of document.querySelectorAll('#chat *')) {
                    if (el.scrollHeight > el.clientHeight + 4 && getComputedStyle(el).overflowY !== 'visible') el.scrollTop = 0;
                }
            }""")
            page.wait_for_timeout(300)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out), full_page=False)
            browser.close()
        if outside:
            print("warning: requests left loopback:", outside, file=sys.stderr)
        print(f"wrote {args.out} (KB: {args.kb}, question: {args.question!r})")
    finally:
        stop_app(proc)
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
