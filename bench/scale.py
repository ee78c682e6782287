#!/usr/bin/env python3
"""The same pipeline over 1x, 10x and 100x corpora: build time, disk, peak RSS, warm latency, quality.

    .venv/bin/python bench/scale.py                      # 1x, 10x, 100x (the largest on a Chroma server)
    .venv/bin/python bench/scale.py --sizes 1,10         # smaller run

1x is `kb/`. Larger sizes add real documentation (Airflow's providers, then Celery, SQLAlchemy and Django,
from PyPI: `bench/corpus.py`) until the corpus holds N times the chunks of `kb/`. Every size is built by
`lifecycle-bot index` in a fresh process, then asked the KB-shaped questions (`eval/qa.jsonl`) in another
fresh process; the qa set's hit@3 shows whether the added documents crowd out the right section.
The largest size runs against a `chroma run` server on loopback, as a team that outgrows the embedded
store would. Timings are medians of one run each; compare sizes within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "src"))

import corpus  # noqa: E402

PROBE = r"""
import json, resource, sys, time
from pathlib import Path
from lifecycle_bot.core.bot import Bot
from lifecycle_bot.core.settings import Settings
from lifecycle_bot.evaluation import metrics as M
from lifecycle_bot.evaluation.evaluate import run_item
kb, data, url, qa = sys.argv[1:5]
items = [json.loads(l) for l in Path(qa).read_text().splitlines() if l.strip()]
t = time.perf_counter()
bot = Bot(Settings(kb_dir=Path(kb), data_dir=Path(data), chroma_url=url or None))
bot.load()
load_s = time.perf_counter() - t
for item in items[:5]:
    bot.ask(item["question"], history=item.get("history") or [])
lat, hits, scored = [], 0, 0
for item in items:
    t = time.perf_counter()
    bot.ask(item["question"], history=item.get("history") or [])
    lat.append((time.perf_counter() - t) * 1000)
for item in items:
    if item.get("expected"):
        scored += 1
        hits += M.hit_at(run_item(bot, item).ranked, item["expected"], 3)
lat.sort()
print(json.dumps({"load_s": load_s, "p50": lat[len(lat) // 2], "p95": lat[int(0.95 * (len(lat) - 1))],
                  "hit3": hits / max(scored, 1), "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_chroma(path: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen([str(BIN / "chroma"), "run", "--path", str(path), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1)
            return proc, url
        except OSError:
            if proc.poll() is not None:
                sys.exit("chroma run exited early")
            time.sleep(0.2)
    proc.kill()
    sys.exit("the chroma server did not come up")


def chunk_count(path: Path) -> int:
    from lifecycle_bot.core.ingest import load_kb

    return len(load_kb(path)[0])


def assemble(dest: Path, factor: int, base_chunks: int, docs: Path) -> tuple[int, int]:
    """`kb/` plus whole corpus files, in corpus order, until `factor` x the chunks of `kb/`: (chunks, bytes)."""
    from lifecycle_bot.core.ingest import read_file

    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(ROOT / "kb", dest)
    chunks, target = base_chunks, factor * base_chunks
    files = sorted(p for p in docs.rglob("*.md"))
    order = {name: i for i, name in enumerate(dict.fromkeys(n.removeprefix("apache-airflow-providers-")
                                                             for n, _ in corpus.PACKAGES))}
    files.sort(key=lambda p: (order.get(p.relative_to(docs).parts[0], 1_000), p.as_posix()))
    for path in files:
        if chunks >= target:
            break
        rel = Path("corpus") / path.relative_to(docs)
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest / rel)
        got, error = read_file(dest, dest / rel)
        if error is not None:
            (dest / rel).unlink()
            continue
        chunks += len(got)
    size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    return chunks, size


def timed(cmd: list[str], env: dict) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) and stdout of one fresh process (RSS read with GNU time's format)."""
    t = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    rss_kb = int(proc.stderr.strip().splitlines()[-1])
    return elapsed, rss_kb / 1024, proc.stdout


def disk(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1,10,100")
    ap.add_argument("--work", type=Path, default=ROOT / "data" / "bench-scale")
    ap.add_argument("--server-from", type=int, default=100, help="sizes from this factor up use a Chroma server")
    args = ap.parse_args()
    if not Path("/usr/bin/time").exists():
        sys.exit("needs GNU time (/usr/bin/time, Debian package `time`) for peak RSS")
    docs = args.work / "corpus"
    sizes = corpus.build(docs)
    print(f"corpus: {len(sizes)} packages, {sum(sizes.values()) / 1e6:.1f} MB of Markdown", flush=True)
    base = chunk_count(ROOT / "kb")
    qa = ROOT / "eval" / "qa.jsonl"
    rows = []
    for factor in [int(x) for x in args.sizes.split(",")]:
        kb = args.work / f"kb-{factor}x"
        data = args.work / f"data-{factor}x"
        shutil.rmtree(data, ignore_errors=True)
        chunks, size = assemble(kb, factor, base, docs) if factor > 1 else (base, disk(ROOT / "kb") * 1e6)
        if factor == 1:
            kb = ROOT / "kb"
        env = dict(os.environ)
        server = None
        url = ""
        if factor >= args.server_from:
            server, url = start_chroma(args.work / f"chroma-{factor}x")
            env["LIFECYCLE_BOT_CHROMA_URL"] = url
        try:
            build_s, build_rss, _ = timed([str(BIN / "lifecycle-bot"), "--kb", str(kb), "--data-dir", str(data),
                                           "index"], env)
            _, ask_rss, out = timed([sys.executable, "-c", PROBE, str(kb), str(data), url, str(qa)], env)
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
        probe = json.loads(out.strip().splitlines()[-1])
        stored = disk(args.work / f"chroma-{factor}x") if url else disk(data / "index")
        row = {"size": f"{factor}x", "chunks": chunks, "corpus_mb": size / 1e6, "store": "server" if url else "embedded",
               "build_s": build_s, "disk_mb": stored, "build_rss_mb": build_rss, "load_s": probe["load_s"],
               "ask_rss_mb": ask_rss, "p50_ms": probe["p50"], "p95_ms": probe["p95"], "qa_hit3": probe["hit3"]}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print()
    print(f"{'size':>5} {'chunks':>7} {'corpus':>8} {'store':>8} {'build':>8} {'disk':>8} {'build RSS':>10} "
          f"{'load':>6} {'ask RSS':>8} {'p50':>7} {'p95':>7} {'qa hit@3':>8}")
    for r in rows:
        print(f"{r['size']:>5} {r['chunks']:>7} {r['corpus_mb']:>6.1f}MB {r['store']:>8} {r['build_s']:>7.0f}s "
              f"{r['disk_mb']:>6.0f}MB {r['build_rss_mb']:>8.0f}MB {r['load_s']:>5.1f}s {r['ask_rss_mb']:>6.0f}MB "
              f"{r['p50_ms']:>5.1f}ms {r['p95_ms']:>5.1f}ms {r['qa_hit3']:>8.3f}")
    if len(rows) > 1:
        print(f"p95 {rows[-1]['size']} / {rows[0]['size']}: {rows[-1]['p95_ms'] / rows[0]['p95_ms']:.2f} (target <= 2)")


if __name__ == "__main__":
    main()
