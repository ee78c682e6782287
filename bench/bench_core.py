"""Core benchmark: index build, no-change re-index, cold start, warm ask latency, peak RSS.

Run: .venv/bin/python bench/bench_core.py [--kb kb] [--runs 3]
Timings are noisy on 2 cores: each figure is the median of --runs fresh processes.
Targets: index build <= 30 s; warm p50 <= 50 ms, p95 <= 60 ms; no-change re-index <= 3 s; cold start <= 8 s;
RSS <= 1.5 GB. It also runs llama-index's default and hybrid (QueryFusionRetriever) pipelines over the same
chunks and questions, and prints their quality and latency beside ours.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("lifecycle-bot"))


def timed(args: list[str], env: dict | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    proc = subprocess.run([CLI, *args], capture_output=True, env=env)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{proc.stderr.decode()[-2000:]}")
    # ru_maxrss of children is the max over all children so far; run the biggest last
    return elapsed, max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)


def questions(n: int) -> list[tuple[str, list[str]]]:
    """The KB-shaped questions and the real ones (pastes and all), `n` of them (0: every one)."""
    items = []
    for name in ("qa.jsonl", "real_questions.jsonl"):
        path = ROOT / "eval" / name
        if path.exists():
            items += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    out = [(i["question"], i.get("history") or []) for i in items] or [("why is my pod stuck in Pending?", [])]
    return out[:n] if n else out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kb", default=str(ROOT / "kb"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--questions", type=int, default=0, help="how many (0: all of qa and real_questions)")
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="lb-bench-"))
    base = ["--kb", args.kb, "--data-dir", str(data)]
    try:
        # the first build on a machine also exports the model to ONNX (once per model, in the cache dir)
        first_env = {**os.environ, "LIFECYCLE_BOT_CACHE": str(data / "fresh-cache")}
        first, _ = timed(["--kb", args.kb, "--data-dir", str(data / "first"), "index"], first_env)
        # a full build embeds everything: an empty vector cache each time, the ONNX export kept from the first
        builds, cached_builds = [], []
        for i in range(args.runs):
            cache = data / f"cache{i}"
            cache.mkdir()
            (cache / "onnx").symlink_to(data / "fresh-cache" / "onnx")
            env = {**os.environ, "LIFECYCLE_BOT_CACHE": str(cache)}
            builds.append(timed(["--kb", args.kb, "--data-dir", str(data / f"build{i}"), "index"], env)[0])
            cached_builds.append(timed(["--kb", args.kb, "--data-dir", str(data / f"again{i}"), "index"], env)[0])
        build = statistics.median(builds)
        # the same build as before bfloat16 (every text through onnxruntime float32), once, for the ratio
        fp32_env = {**os.environ, "LIFECYCLE_BOT_CACHE": str(data / "cache-fp32"), "LIFECYCLE_BOT_INDEX_BF16": "0"}
        (data / "cache-fp32").mkdir()
        (data / "cache-fp32" / "onnx").symlink_to(data / "fresh-cache" / "onnx")
        fp32_build = timed(["--kb", args.kb, "--data-dir", str(data / "build-fp32"), "index"], fp32_env)[0]
        cached_build = statistics.median(cached_builds)
        timed([*base, "index"])
        noop = statistics.median(timed([*base, "index"])[0] for _ in range(args.runs))
        cold_runs = [timed([*base, "ask", "why is my pod stuck in Pending?"]) for _ in range(args.runs)]
        cold = statistics.median(t for t, _ in cold_runs)
        child_rss = max(r for _, r in cold_runs)

        sys.path.insert(0, str(ROOT / "src"))
        import lifecycle_bot  # noqa: F401
        from lifecycle_bot.core.bot import Bot
        from lifecycle_bot.core.settings import Settings

        bot = Bot(Settings(kb_dir=Path(args.kb), data_dir=data))
        bot.load()
        qs = questions(args.questions)
        for q, h in qs[:5]:
            bot.ask(q, history=h)  # warm-up
        lat = []
        for q, h in qs:
            t = time.perf_counter()
            bot.ask(q, history=h)
            lat.append((time.perf_counter() - t) * 1000)
        lat.sort()
        p50 = lat[len(lat) // 2]
        p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))]
        from lifecycle_bot.evaluation import compare

        baselines = compare.run(bot, [ROOT / "eval" / "qa.jsonl", ROOT / "eval" / "real_questions.jsonl"])
        own_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rss_mb = max(own_rss, child_rss) / 1024
        rows = [
            ("index build, first on the machine (+ONNX)", f"{first:.2f} s", "-"),
            ("index build (kb/, every text embedded)", f"{build:.2f} s", "<= 30 s"),
            ("  the same, float32 only (INDEX_BF16=0)", f"{fp32_build:.2f} s", "-"),
            ("full build again, vectors cached", f"{cached_build:.2f} s", "-"),
            ("no-change re-index", f"{noop:.2f} s", "<= 3 s"),
            ("cold start (process -> first answer)", f"{cold:.2f} s", "<= 8 s"),
            (f"warm ask p50 ({len(lat)} questions)", f"{p50:.1f} ms", "<= 50 ms"),
            (f"warm ask p95 ({len(lat)} questions)", f"{p95:.1f} ms", "<= 60 ms"),
            ("peak RSS", f"{rss_mb:.0f} MB", "<= 1536 MB"),
        ]
        print(f"lifecycle-bot core benchmark  (cpu={os.cpu_count()}, runs={args.runs}, medians)")
        for name, value, target in rows:
            print(f"  {name:<40} {value:>12}   target {target}")
        print("\nretrieval, same run, same chunks and model (median / p95 ms of the retrieval step alone):")
        for set_name, table in baselines.items():
            ours = table["d"]
            print(f"  {set_name}")
            for key in "aed":
                m = table[key]
                print(f"    {compare.NAMES[key]:<62} hit@3 {m['hit@3']:.3f} ({m['hit@3'] - ours['hit@3']:+.3f})"
                      f"  MRR {m['mrr']:.3f}  {m['ms']:6.1f} / {m['p95_ms']:6.1f} ms"
                      f"  ({m['ms'] / ours['ms']:.2f}x ours)")
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
