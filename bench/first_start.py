#!/usr/bin/env python3
"""Time the first start of a fresh clone: from `scripts/serve` to a page that answers, install already done.

    python bench/first_start.py            # cold (an empty vector cache) and warm (this machine's cache)

Clones this repository into a temporary directory, links the installed `.venv` into it (the install is
not what is timed), runs `scripts/serve` on a free port with a new data dir, and polls the page in headless
Chromium until the question box shows, then asks one question. "cold" points the machine-wide vector cache
at an empty directory, as on a new machine; "warm" uses this machine's cache, as a second clone would.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import screenshot as shot  # noqa: E402


def one_start(cache: Path | None) -> dict:
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="lifecycle-first-start-"))
    clone = work / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    (clone / ".venv").symlink_to(ROOT / ".venv")
    port = shot.free_port()
    env = {**os.environ, "PORT": str(port), "LIFECYCLE_BOT_DATA": str(work / "data")}
    if cache is not None:
        env["LIFECYCLE_BOT_CACHE"] = str(cache)
    started = time.monotonic()
    proc = subprocess.Popen([str(clone / "scripts" / "serve")], cwd=clone, env=env,
                            stdout=open(work / "serve.log", "wb"), stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        with sync_playwright() as p:
            browser = shot.launch_browser(p)
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            while True:
                try:
                    page.goto(url, timeout=2_000)
                    break
                except Exception:
                    if proc.poll() is not None or time.monotonic() - started > 600:
                        raise RuntimeError(f"serve did not come up: {(work / 'serve.log').read_text()[-2000:]}")
                    time.sleep(0.25)
            served = time.monotonic() - started
            shot.wait_until_ready(page, timeout_ms=600_000)
            ready = time.monotonic() - started
            shot.ask(page, "Why is my pod Pending?")
            answered = time.monotonic() - started
            browser.close()
    finally:
        shot.stop_app(proc)
        shutil.rmtree(work, ignore_errors=True)
    return {"page served": served, "chat usable": ready, "first answer": answered}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--only", choices=["cold", "warm"])
    args = parser.parse_args(argv)
    print("first start of a fresh clone, install done (seconds from scripts/serve)")
    for kind in ("cold", "warm"):
        if args.only and kind != args.only:
            continue
        rows = []
        for _ in range(args.runs):
            cache = Path(tempfile.mkdtemp(prefix="lifecycle-empty-cache-")) if kind == "cold" else None
            try:
                rows.append(one_start(cache))
            finally:
                if cache:
                    shutil.rmtree(cache, ignore_errors=True)
        for key in rows[0]:
            values = sorted(r[key] for r in rows)
            print(f"  {kind:4}  {key:13} median {values[len(values) // 2]:6.1f}  (runs: {', '.join(f'{v:.1f}' for v in values)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
