#!/usr/bin/env python3
"""Bounded load test of the Gradio app: N concurrent clients asking for T seconds over loopback.

    python bench/load_ui.py --url http://127.0.0.1:7860            # against a running app
    python bench/load_ui.py --start-kb kb                          # start one (fresh index) first

Each client is a user who asks `--per-user` questions (default 5) in one session, then the next user comes:
POST /gradio_api/call/ask with the session hash, then read the event stream until `complete` (the whole
streamed answer), as the page's Ask button does. Reports requests, errors and
latency percentiles (full answer, and first streamed update).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
FALLBACK = [
    "Why is my pod Pending?",
    "What does task_publish_max_retries do?",
    "My task was OOMKilled with exit code 137. How do I fix it?",
]


def load_questions() -> list[str]:
    """Every single-turn question of the eval sets (KB-shaped and real, pastes included), in a fixed order:
    hundreds of different questions, so no cache makes the load lighter than real users would."""
    out = []
    for name in ("qa.jsonl", "real_questions.jsonl"):
        path = ROOT / "eval" / name
        if path.exists():
            out += [row["question"] for row in map(json.loads, filter(str.strip, path.read_text().splitlines()))
                    if not row.get("history")]
    return out or FALLBACK


QUESTIONS = load_questions()


# A user's conversation (chat, state) as the page holds it in the browser's storage and sends with each question.
_CONVERSATIONS: dict[str, tuple[list, dict]] = {}


def one_request(client: httpx.Client, url: str, question: str, session: str | None = None
                ) -> tuple[bool, float, float | None, str]:
    """(ok, seconds to the complete answer, seconds to the first streamed update, error kind).

    `session`: the user's session hash, as the page sends it (None: a new session for this one question)."""
    started = time.perf_counter()
    first: float | None = None
    try:
        chat, state = _CONVERSATIONS.get(session, ([], {})) if session else ([], {})
        body = {"data": [question, "", chat, state], **({"session_hash": session} if session else {})}
        r = client.post(f"{url}/gradio_api/call/ask", json=body)
        r.raise_for_status()
        event_id = r.json()["event_id"]
        event = ""
        with client.stream("GET", f"{url}/gradio_api/call/ask/{event_id}") as stream:
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:"):
                    if event == "generating" and first is None:
                        first = time.perf_counter() - started
                    elif event == "complete":
                        if first is None:  # an answer in one update (no model): the first is the whole
                            first = time.perf_counter() - started
                        data = json.loads(line[5:])
                        ok = bool(data and data[0] and "confidence" in str(data[0][-1]))
                        if ok and session and isinstance(data[1], dict):  # the page keeps the conversation
                            _CONVERSATIONS[session] = (data[0], data[1])
                        return ok, time.perf_counter() - started, first, "" if ok else "no answer in output"
                    elif event == "error":
                        return False, time.perf_counter() - started, first, f"error event: {line[5:80].strip()}"
        return False, time.perf_counter() - started, first, "stream ended without complete"
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        return False, time.perf_counter() - started, first, type(exc).__name__


def wait_ready(url: str, timeout: float = 300.0) -> bool:
    """Warm up: wait until one answer comes back (the index may still be building or loading)."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=httpx.Timeout(120.0), trust_env=False) as client:
        while time.monotonic() < deadline:
            try:
                if one_request(client, url, QUESTIONS[0])[0]:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
    return False


def run(url: str, clients: int, seconds: float, per_user: int = 5) -> dict:
    """`clients` users at once, each asking `per_user` questions in one session before the next user comes."""
    deadline = time.monotonic() + seconds
    lock = threading.Lock()
    latencies: list[float] = []
    firsts: list[float] = []
    errors: Counter = Counter()
    total = 0

    def client_loop(n: int) -> None:
        nonlocal total
        with httpx.Client(timeout=httpx.Timeout(120.0), trust_env=False) as client:
            i = n * 7  # users start at different questions
            asked = 0
            while time.monotonic() < deadline:
                if asked % per_user == 0:  # the next user opens the page: a new session
                    session = uuid.uuid4().hex[:11]
                ok, took, first, kind = one_request(client, url, QUESTIONS[i % len(QUESTIONS)], session)
                i += 1
                asked += 1
                with lock:
                    total += 1
                    if ok:
                        latencies.append(took)
                        if first is not None:
                            firsts.append(first)
                    else:
                        errors[kind] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started

    def pct(values: list[float], q: float) -> float:
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] * 1000

    return {
        "clients": clients, "questions_per_user": per_user, "seconds": round(elapsed, 1), "requests": total, "ok": len(latencies),
        "errors": sum(errors.values()), "error_kinds": dict(errors),
        "throughput_rps": round(len(latencies) / elapsed, 2) if elapsed else 0.0,
        "answer_ms": {"p50": round(pct(latencies, 0.5)), "p95": round(pct(latencies, 0.95)),
                      "max": round(pct(latencies, 1.0)),
                      "mean": round(statistics.fmean(latencies) * 1000) if latencies else None},
        "first_update_ms": {"p50": round(pct(firsts, 0.5)), "p95": round(pct(firsts, 0.95))},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:7860")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--per-user", type=int, default=5, help="questions each user asks in one session")
    parser.add_argument("--start-kb", type=Path, help="start `python app.py` with this KB on a free port first")
    args = parser.parse_args(argv)
    if args.clients < 1 or not 1 <= args.seconds <= 600:
        parser.error("--clients must be >= 1 and --seconds between 1 and 600 (the run is bounded)")

    proc = data_dir = None
    url = args.url.rstrip("/")
    if args.start_kb:
        sys.path.insert(0, str(ROOT / "scripts"))
        import screenshot as helpers

        data_dir = Path(tempfile.mkdtemp(prefix="lifecycle-bench-"))
        proc, url = helpers.start_app(args.start_kb.resolve(), data_dir, log_path=data_dir / "app.log")
    try:
        host = httpx.URL(url).host
        if host not in ("127.0.0.1", "localhost", "::1"):
            parser.error(f"refusing to load-test a non-loopback host: {host}")
        if not wait_ready(url):
            print("the app never answered (index still building, or broken)", file=sys.stderr)
            return 1
        print(f"load: {args.clients} clients x {args.seconds:.0f}s against {url}", flush=True)
        report = run(url, args.clients, args.seconds, args.per_user)
        print(json.dumps(report, indent=2))
        return 0 if report["errors"] == 0 and report["ok"] > 0 else 1
    finally:
        if proc is not None:
            helpers.stop_app(proc)
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
