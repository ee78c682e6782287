#!/usr/bin/env python3
"""The same pipeline over 1x, 10x and 100x corpora: build time, disk, peak RSS, warm latency, quality.

    .venv/bin/python bench/scale.py                      # 1x, 10x, 100x (the largest on a Chroma server)
    .venv/bin/python bench/scale.py --sizes 1,10         # smaller run

1x is `kb/`. Larger sizes add real documentation (Airflow's providers, then Celery, SQLAlchemy, Django, NumPy, SciPy and more,
from PyPI: `bench/corpus.py`) until the corpus holds N times the chunks of `kb/`. Every size is built by
`lifecycle-bot index` in a fresh process, then asked the KB-shaped questions (`eval/qa.jsonl`) in another
fresh process; the qa set's hit@3 shows whether the added documents crowd out the right section.
Sizes named in `--server` also run against a `chroma run` server on loopback, as a team that outgrows the
embedded store would (the 100x only there). Builds are timed once; answering is timed `--rounds` times per
size, interleaved across sizes, and the medians are printed: compare sizes within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
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
from lifecycle_bot.core.settings import Settings  # noqa: E402

ONNX_CACHE = Settings().cache_dir / "onnx"

# one answering process: load, warm up, time every qa question, then score them
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
    ap.add_argument("--server", default="100", help="sizes also (or, for the largest, only) run on a Chroma server")
    ap.add_argument("--rounds", type=int, default=3, help="answering runs per size, interleaved across sizes")
    ap.add_argument("--reuse", action="store_true",
                    help="keep the indexes (embedded, and a server's store) an earlier run built: no build timed")
    args = ap.parse_args()
    if not Path("/usr/bin/time").exists():
        sys.exit("needs GNU time (/usr/bin/time, Debian package `time`) for peak RSS")
    docs = args.work / "corpus"
    sizes = corpus.build(docs)
    print(f"corpus: {len(sizes)} packages, {sum(sizes.values()) / 1e6:.1f} MB of Markdown", flush=True)
    base = chunk_count(ROOT / "kb")
    qa = ROOT / "eval" / "qa.jsonl"
    factors = [int(x) for x in args.sizes.split(",")]
    on_server = {int(x) for x in args.server.split(",") if x}
    runs = [(f, False) for f in factors if not (f in on_server and f == max(factors) and f >= 100)]
    runs += [(f, True) for f in factors if f in on_server]
    rows, servers = [], {}
    assembled: set[int] = set()  # a corpus folder from an earlier run may predate a bigger corpus
    try:
        for factor, server in runs:  # builds first, each in a fresh process
            name = f"{factor}x" + (" server" if server else "")
            kb = ROOT / "kb" if factor == 1 else args.work / f"kb-{factor}x"
            data = args.work / f"data-{name.replace(' ', '-')}"
            store = args.work / f"chroma-{factor}x"
            reuse = args.reuse and ((store / "chroma.sqlite3").is_file() and data.is_dir() if server
                                    else (data / "index").is_dir())
            if not reuse:
                shutil.rmtree(data, ignore_errors=True)
            if factor == 1:
                chunks, size = base, disk(ROOT / "kb") * 1e6
            elif (args.work / f"kb-{factor}x").exists() and (factor in assembled or reuse):
                chunks, size = chunk_count(kb), disk(kb) * 1e6  # assembled by this run, or kept on purpose
            else:
                chunks, size = assemble(kb, factor, base, docs)
                assembled.add(factor)
            # a full build: its own empty vector cache (the model's ONNX export linked in), so no size reuses
            # vectors an earlier run embedded
            cache = args.work / f"cache-{name.replace(' ', '-')}"
            if not reuse:
                shutil.rmtree(cache, ignore_errors=True)
                cache.mkdir(parents=True)
                (cache / "onnx").symlink_to(ONNX_CACHE, target_is_directory=True)
            env = {**os.environ, "LIFECYCLE_BOT_CACHE": str(cache)}
            url = ""
            if server:
                if not reuse:
                    shutil.rmtree(store, ignore_errors=True)
                servers[name] = start_chroma(store)
                url = servers[name][1]
                env["LIFECYCLE_BOT_CHROMA_URL"] = url
            build_s, build_rss = float("nan"), float("nan")
            if not reuse:
                build_s, build_rss, _ = timed([str(BIN / "lifecycle-bot"), "--kb", str(kb), "--data-dir", str(data),
                                               "index"], env)
            stored = disk(args.work / f"chroma-{factor}x") + disk(data) if url else disk(data / "index")
            rows.append({"size": name, "chunks": chunks, "corpus_mb": size / 1e6, "build_s": build_s,
                         "disk_mb": stored, "build_rss_mb": build_rss, "kb": str(kb), "data": str(data),
                         "url": url, "probes": []})
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "probes"}), flush=True)
        for _ in range(args.rounds):  # interleaved, so a slower minute of the machine hits every size alike
            for row in rows:
                env = {**os.environ, **({"LIFECYCLE_BOT_CHROMA_URL": row["url"]} if row["url"] else {})}
                _, ask_rss, out = timed([sys.executable, "-c", PROBE, row["kb"], row["data"], row["url"], str(qa)], env)
                probe = json.loads(out.strip().splitlines()[-1])
                probe["rss_mb"] = ask_rss
                row["probes"].append(probe)
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(timeout=30)
    print()
    print(f"{'size':>11} {'chunks':>7} {'corpus':>8} {'build':>8} {'disk':>8} {'build RSS':>10} "
          f"{'load':>6} {'ask RSS':>8} {'p50':>7} {'p95':>7} {'qa hit@3':>8}")
    med = lambda row, key: statistics.median(p[key] for p in row["probes"])  # noqa: E731
    for r in rows:
        print(f"{r['size']:>11} {r['chunks']:>7} {r['corpus_mb']:>6.1f}MB {r['build_s']:>7.0f}s "
              f"{r['disk_mb']:>6.0f}MB {r['build_rss_mb']:>8.0f}MB {med(r, 'load_s'):>5.1f}s {med(r, 'rss_mb'):>6.0f}MB "
              f"{med(r, 'p50'):>5.1f}ms {med(r, 'p95'):>5.1f}ms {med(r, 'hit3'):>8.3f}")
    first = rows[0]
    for r in rows[1:]:
        print(f"p95 {r['size']} / {first['size']}: {med(r, 'p95') / med(first, 'p95'):.2f} (target <= 2)")
    print(f"(medians of {args.rounds} answering runs per size, interleaved; builds one run each)")


if __name__ == "__main__":
    main()
