#!/usr/bin/env python3
"""Soak: many users ask through the real Gradio app while the KB is re-indexed by another process.

    python bench/soak.py                     # 50 users, 3 re-indexes of a copy of kb/, at most 5 minutes
    python bench/soak.py --quick             # 20 users, 60 s, the fixture KB: a quick check

It builds the index and starts `lifecycle-bot serve` on a free loopback port over a copy of the KB and a fresh data dir, then
runs, at the same time and until the window ends:
- N users, each asking in a loop exactly as the page's Ask button does (POST /gradio_api/call/ask and the
  event stream to `complete`; `bench/load_ui.py`'s request);
- a separate `lifecycle-bot index` process, run R times, with a KB file touched before each run so that
  something changes (the app must switch to each new generation without a restart);
- votes written into the app's feedback store from this process (the web app's vote event is not an
  API endpoint), counted back at the end.
It prints requests, errors (must be 0), lost votes (must be 0), answer p50/p95, the re-index runs and the
generations left on disk; exit code 1 if an error or a lost vote happened. Loopback only; the soak itself is cut
off after 5 minutes (the first build and start-up are bounded separately).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "src"))

import load_ui  # noqa: E402  (the one request as the page makes it, and the warm-up)
import screenshot as helpers  # noqa: E402  (start/stop the app on loopback)

HARD_LIMIT = 300.0  # seconds: the soak itself (users, re-indexes, votes) never runs longer
SETUP_LIMIT = 300.0  # seconds: the first index build and the app's start-up, before the soak


def cli(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("lifecycle-bot")), *args]


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] * 1000)


def live_generation(data: Path) -> int | None:
    from lifecycle_bot.core.index.generations import Registry

    return Registry(data / "index").current()


def soak(kb: Path, data: Path, url: str, users: int, seconds: float, reindexes: int, deadline: float) -> dict:
    from lifecycle_bot.feedback.store import Feedback, FeedbackStore

    stop = time.monotonic() + seconds
    lock = threading.Lock()
    latencies: list[float] = []
    errors: Counter = Counter()
    totals = Counter()
    runs: list[dict] = []

    def user(n: int) -> None:
        with httpx.Client(timeout=httpx.Timeout(120.0), trust_env=False) as client:
            i = n
            while time.monotonic() < min(stop, deadline):
                ok, took, _, kind = load_ui.one_request(client, url, load_ui.QUESTIONS[i % len(load_ui.QUESTIONS)])
                i += 1
                with lock:
                    totals["requests"] += 1
                    if ok:
                        latencies.append(took)
                    else:
                        errors[kind] += 1

    def voter() -> None:
        store = FeedbackStore(data / "feedback.sqlite3")
        n = 0
        while time.monotonic() < min(stop, deadline):
            store.add(Feedback(question=f"soak vote {n}", answer="a", vote="up" if n % 2 else "down",
                               session="soak", turn=n, reason="soak"))
            n += 1
            with lock:
                totals["votes_sent"] += 1
            time.sleep(0.05)

    def reindexer() -> None:
        target = kb / "guide.md" if (kb / "guide.md").exists() else sorted(kb.rglob("*.md"))[0]
        gap = seconds / (reindexes + 1)
        for r in range(reindexes):
            time.sleep(max(0.0, min(stop, deadline) - time.monotonic() - gap * (reindexes - r)))
            if time.monotonic() >= deadline - 5:
                break
            with target.open("a", encoding="utf-8") as f:
                f.write(f"\n\nSoak re-index {r + 1} at {time.time():.0f}.\n")
            started = time.monotonic()
            proc = subprocess.run(cli("--kb", str(kb), "--data-dir", str(data), "index"), capture_output=True,
                                  text=True, timeout=max(5.0, deadline - time.monotonic()))
            runs.append({"run": r + 1, "exit": proc.returncode, "seconds": round(time.monotonic() - started, 1),
                         "generation": live_generation(data), "out": (proc.stdout or proc.stderr).strip()[-200:]})

    threads = [threading.Thread(target=user, args=(n,), daemon=True) for n in range(users)]
    threads += [threading.Thread(target=voter, daemon=True), threading.Thread(target=reindexer, daemon=True)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    elapsed = time.monotonic() - started

    # after the last re-index: the app answers from the newest generation without a restart
    with httpx.Client(timeout=httpx.Timeout(120.0), trust_env=False) as client:
        ok, _, _, _ = load_ui.one_request(client, url, load_ui.QUESTIONS[0])
    import sqlite3

    with sqlite3.connect(data / "feedback.sqlite3") as con:  # this soak's votes, apart from the app's declines
        stored = con.execute("SELECT COUNT(*) FROM feedback WHERE session = 'soak'").fetchone()[0]
    return {
        "users": users, "seconds": round(elapsed, 1), "requests": totals["requests"], "ok": len(latencies),
        "errors": sum(errors.values()), "error_kinds": dict(errors),
        "answer_ms": {"p50": pct(latencies, 0.5), "p95": pct(latencies, 0.95), "max": pct(latencies, 1.0)},
        "votes_sent": totals["votes_sent"], "votes_stored": stored,
        "lost_votes": totals["votes_sent"] - stored,
        "reindex_runs": runs, "reindex_failures": sum(1 for r in runs if r["exit"] != 0),
        "live_generation": live_generation(data),
        "generation_dirs_left": sorted(p.name for p in (data / "index").glob("gen-*")),
        "answer_after_last_reindex": ok,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kb", type=Path, default=ROOT / "kb", help="KB to copy [kb/]")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=180.0, help="length of the asking window")
    parser.add_argument("--reindexes", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="20 users, 60 s, the fixture KB")
    args = parser.parse_args(argv)
    if args.quick:
        args.users, args.seconds, args.kb = 20, 60.0, ROOT / "tests" / "fixtures" / "kb"
    if args.users < 1 or not 10 <= args.seconds <= 240 or args.reindexes < 1:
        parser.error("--users >= 1, --seconds between 10 and 240, --reindexes >= 1 (the soak is bounded)")
    setup_deadline = time.monotonic() + SETUP_LIMIT
    base = Path(tempfile.mkdtemp(prefix="lifecycle-soak-"))
    kb, data = base / "kb", base / "data"
    shutil.copytree(args.kb, kb)
    proc = None
    try:
        built = subprocess.run(cli("--kb", str(kb), "--data-dir", str(data), "index"), capture_output=True, text=True,
                               timeout=SETUP_LIMIT)
        if built.returncode != 0:
            print(built.stderr[-2000:], file=sys.stderr)
            return 1
        proc, url = helpers.start_app(kb, data, log_path=base / "app.log",
                                      timeout=max(10.0, setup_deadline - time.monotonic()))
        if httpx.URL(url).host not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit(f"refusing to soak a non-loopback host: {url}")
        if not load_ui.wait_ready(url, timeout=max(10.0, setup_deadline - time.monotonic())):
            print(f"the app never answered (log: {base / 'app.log'})", file=sys.stderr)
            return 1
        deadline = time.monotonic() + HARD_LIMIT
        print(f"soak: {args.users} users x {args.seconds:.0f}s, {args.reindexes} re-indexes, {url}", flush=True)
        report = soak(kb, data, url, args.users, args.seconds, args.reindexes, deadline)
        print(json.dumps(report, indent=2))
        good = (report["errors"] == 0 and report["lost_votes"] == 0 and report["ok"] > 0
                and report["reindex_failures"] == 0 and len(report["reindex_runs"]) == args.reindexes
                and report["answer_after_last_reindex"])
        return 0 if good else 1
    finally:
        if proc is not None:
            helpers.stop_app(proc)
        if os.environ.get("SOAK_KEEP"):
            print(f"kept {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
