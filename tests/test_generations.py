"""Updates while serving and the data dir's integrity, with real processes where two processes are involved.

A reader (a long-lived Bot here, or a reader process) keeps answering while `lifecycle-bot index` runs in
another process; builds take turns through a cross-process lock; `--rebuild` repairs any state; a `kill -9`
at any point of a build never serves a half index; abandoned generations are collected.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import FIXTURE_KB, invoke, run_cli
from lifecycle_bot.core.bot import Bot
from lifecycle_bot.core.index.store import IndexCorrupt
from lifecycle_bot.core.settings import Settings

PENDING = "why is my pod stuck in Pending?"
EXTRA = "\n## 4. Extra\n\nPgBouncer pools the connections of the metadata database for every worker pod.\n"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A KB and its built index, built once; each test works on its own copy."""
    base = tmp_path_factory.mktemp("generations")
    shutil.copytree(FIXTURE_KB, base / "kb")
    Bot(Settings(kb_dir=base / "kb", data_dir=base / "data")).index()
    return base


@pytest.fixture
def site(template: Path, tmp_path: Path) -> Path:
    shutil.copytree(template, tmp_path / "site")
    return tmp_path / "site"


def cli(site: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The real console script in a new process."""
    return run_cli("--kb", str(site / "kb"), "--data-dir", str(site / "data"), *args, env=env)


def here(site: Path, *args: str):
    """The same command in this process (no start-up cost; for what needs no second process)."""
    return invoke("--kb", str(site / "kb"), "--data-dir", str(site / "data"), *args)


def live_chroma_sqlite(data: Path) -> Path:
    """The Chroma database of the live index, whatever the layout of the data dir."""
    return max(data.rglob("chroma.sqlite3"), key=lambda p: p.stat().st_mtime)


def generations(data: Path) -> list[str]:
    return sorted(p.name for p in (data / "index").glob("gen-*"))


def grow_kb(site: Path) -> None:
    guide = site / "kb" / "guide.md"
    guide.write_text(guide.read_text() + EXTRA)


def permissive(site: Path) -> Bot:
    return Bot(Settings(kb_dir=site / "kb", data_dir=site / "data", refusal_threshold=0.0))


# -- a KB update while a bot is answering ------------------------------------------------------------

def test_reindex_by_another_process_does_not_break_a_running_bot(site: Path):
    """Saw it fail first: the second ask raised chromadb NotFoundError (the collection was deleted)."""
    bot = permissive(site)
    before = bot.ask(PENDING)
    grow_kb(site)
    proc = cli(site, "index")
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    after = bot.ask(PENDING)  # no restart
    assert after.citations[0] == before.citations[0]
    assert bot.ask("What does PgBouncer pool?").citations[0].anchor == "4-extra", "the new index is picked up"


READER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from lifecycle_bot.core.bot import Bot
    from lifecycle_bot.core.settings import Settings
    bot = Bot(Settings(kb_dir=Path(sys.argv[1]), data_dir=Path(sys.argv[2]), refusal_threshold=0.0))
    for line in sys.stdin:  # one question per line; prints the generation and the first citation's anchor
        answer = bot.ask(line.strip())
        print(bot.generation, answer.citations[0].anchor, flush=True)
""")


def test_old_generation_stays_while_a_reader_process_holds_it(site: Path):
    data = site / "data"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(site / "kb"), str(data)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        reader.stdin.write(PENDING + "\n")
        reader.stdin.flush()
        assert reader.stdout.readline().split() == ["1", "31-pod-stuck-in-pending"]

        grow_kb(site)
        assert cli(site, "index").returncode == 0
        assert generations(data) == ["gen-000001", "gen-000002"], "generation 1 is leased by the reader"

        reader.stdin.write("What does PgBouncer pool?\n")
        reader.stdin.flush()
        assert reader.stdout.readline().split() == ["2", "4-extra"], "the reader switched between questions"
        assert generations(data) == ["gen-000002"], "the reader let go of generation 1 and it was collected"

        reader.send_signal(signal.SIGKILL)  # dies holding a lease on generation 2
        reader.wait(timeout=30)
        (site / "kb" / "guide.md").write_text((site / "kb" / "guide.md").read_text().replace("PgBouncer", "pgpool"))
        assert cli(site, "index").returncode == 0
        assert generations(data) == ["gen-000003"], "a dead process's lease does not keep a generation"
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait(timeout=30)


# -- one build at a time ------------------------------------------------------------------------------

def test_two_index_runs_at_once_both_succeed(site: Path):
    """Saw it fail first: one of the two died with a Chroma NotFoundError traceback."""
    args = [str(Path(sys.executable).with_name("lifecycle-bot")), "--kb", str(site / "kb"), "--data-dir",
            str(site / "data"), "index", "--rebuild"]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0 and b"Traceback" not in err, err.decode()[-2000:]
    assert permissive(site).ask(PENDING).citations[0].anchor == "31-pod-stuck-in-pending"
    assert len(generations(site / "data")) == 1


def test_a_second_build_waits_and_names_the_holder(site: Path):
    from lifecycle_bot.core.index.generations import BuildLock

    lock = BuildLock(site / "data" / "index")
    lock.acquire(wait=0)
    try:
        proc = cli(site, "index", "--rebuild", "--wait", "1")
        err = proc.stderr.decode()
        assert proc.returncode == 1 and "Traceback" not in err, err[-2000:]
        assert f"another index build is still running (pid {os.getpid()} on " in err
        assert "gave up after waiting 1 s" in err

        args = [str(Path(sys.executable).with_name("lifecycle-bot")), "--kb", str(site / "kb"), "--data-dir",
                str(site / "data"), "index", "--wait", "300"]
        waiting = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = waiting.stderr.readline()
        assert "waiting up to 300 s" in line and f"pid {os.getpid()}" in line, line
    finally:
        lock.release()
    out, err = waiting.communicate(timeout=300)
    assert waiting.returncode == 0, err[-2000:]
    assert "index up to date" in out


# -- repair from any state ----------------------------------------------------------------------------

def test_rebuild_repairs_a_store_whose_manifest_row_was_deleted(site: Path):
    """Saw it fail first: `ask` and `index --rebuild` both crashed with InternalError: Error in compaction."""
    with sqlite3.connect(live_chroma_sqlite(site / "data")) as con:
        assert con.execute("DELETE FROM embeddings WHERE embedding_id = 'manifest'").rowcount == 1
    proc = cli(site, "ask", PENDING)
    err = proc.stderr.decode()
    assert proc.returncode == 1 and "Traceback" not in err and "--rebuild" in err, err[-2000:]
    proc = here(site, "index", "--rebuild")
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert permissive(site).ask(PENDING).citations[0].anchor == "31-pod-stuck-in-pending"


@pytest.mark.parametrize("which", ["chroma", "registry"])
def test_zero_byte_sqlite_is_reported_not_silently_rebuilt(site: Path, which: str):
    """Saw it fail first (chroma): `ask` rebuilt the whole index without a word."""
    data = site / "data"
    target = live_chroma_sqlite(data) if which == "chroma" else data / "index" / "registry.sqlite3"
    target.write_bytes(b"")
    proc = here(site, "ask", PENDING)
    err = proc.stderr.decode()
    assert proc.returncode == 1 and "Traceback" not in err, err[-2000:]
    assert "0 bytes" in err and "--rebuild" in err and "built the index" not in err
    proc = here(site, "index", "--rebuild")
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert permissive(site).ask(PENDING).citations[0].anchor == "31-pod-stuck-in-pending"


def test_rebuild_moves_a_damaged_registry_aside_and_says_so(site: Path):
    registry = site / "data" / "index" / "registry.sqlite3"
    registry.write_bytes(b"not a database" * 100)
    with pytest.raises(IndexCorrupt, match="--rebuild"):
        Bot(Settings(kb_dir=site / "kb", data_dir=site / "data")).chunks()
    proc = here(site, "index", "--rebuild")
    err = proc.stderr.decode()
    assert proc.returncode == 0, err[-2000:]
    assert "moved it to" in err and "registry.broken-" in err
    assert list(registry.parent.glob("registry.broken-*.sqlite3")), "the damaged file is kept for inspection"
    assert generations(site / "data") == ["gen-000001"]


# -- kill -9 during a build -----------------------------------------------------------------------------

@pytest.mark.parametrize("point", ["mid-embed", "before-switch", "after-switch"])
def test_kill_9_during_a_build_never_serves_a_half_index(site: Path, point: str):
    data = site / "data"
    grow_kb(site)
    proc = cli(site, "index", env={"LIFECYCLE_BOT_FAILPOINT": point})
    assert proc.returncode == -signal.SIGKILL
    bot = permissive(site)
    answer = bot.ask("What does PgBouncer pool?")  # old index: nearest section; new: the new one
    switched = point == "after-switch"
    assert bot.generation == (2 if switched else 1)
    assert (answer.citations[0].anchor == "4-extra") == switched
    assert len(bot.chunks()) == (8 if switched else 7), "a complete index, never a half one"
    bot.close()

    proc = here(site, "index")  # the next build takes the lock the dead one held and cleans up after it
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert len(generations(data)) == 1, "the abandoned generation is collected"
    assert permissive(site).ask("What does PgBouncer pool?").citations[0].anchor == "4-extra"
