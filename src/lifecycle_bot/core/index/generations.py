"""Index generations on disk: which one is live, who still reads which, and one builder at a time.

Layout under `<data dir>/index/`:

    registry.sqlite3   the live generation, every generation's state, and reader leases
    gen-000042/        one complete Chroma store per generation: written by one build, then only read
    build.lock         held by the one process that builds; `build.holder` says who and since when

A build writes a new generation directory and then flips `current` in one sqlite transaction, so a
reader sees either the old complete index or the new complete one. Readers take a lease (pid, process
start time, heartbeat) on the generation they opened and keep it until they have switched; a generation
is deleted only when it is not current and no live process holds a lease on it. A lease of a dead pid
does not count. No two processes ever write the same Chroma directory, which Chroma does not support.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE generations (
    gen INTEGER PRIMARY KEY AUTOINCREMENT,
    state TEXT NOT NULL,            -- building | live | retired
    created_at REAL NOT NULL,
    builder_pid INTEGER NOT NULL
);
CREATE TABLE leases (
    host TEXT NOT NULL, pid INTEGER NOT NULL, started TEXT NOT NULL, gen INTEGER NOT NULL,
    heartbeat REAL NOT NULL, PRIMARY KEY (host, pid, gen)
);
INSERT INTO meta VALUES ('schema', '1');
"""
REMOTE_LEASE_TTL = 900.0  # a lease from another host counts while its heartbeat is this fresh
HEARTBEAT_EVERY = 60.0
DEFAULT_LOCK_WAIT = 600.0


class RegistryError(RuntimeError):
    """The registry file is missing its content or cannot be read; the message names the file."""


class BuildBusy(RuntimeError):
    """Another process held the build lock for longer than we were willing to wait."""


def _failpoint(name: str) -> None:
    """Die here with SIGKILL when LIFECYCLE_BOT_FAILPOINT names this point (crash tests, never set in use)."""
    if os.environ.get("LIFECYCLE_BOT_FAILPOINT") == name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def process_start(pid: int) -> str:
    """The process's start time in clock ticks since boot (tells a recycled pid apart); '' when unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def pid_alive(pid: int, started: str) -> bool:
    """True while that very process (same pid and, when known, same start time) is running."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, another user's
    now = process_start(pid)
    return not (started and now and now != started)


@dataclass(frozen=True)
class Lease:
    host: str
    pid: int
    started: str
    gen: int
    heartbeat: float

    def live(self, now: float) -> bool:
        if self.host != socket.gethostname():
            return now - self.heartbeat < REMOTE_LEASE_TTL
        return pid_alive(self.pid, self.started)


class Registry:
    """The small sqlite file that says which generation is live and who reads which."""

    def __init__(self, root: Path):
        self.root = root
        self.path = root / "registry.sqlite3"
        self.me = (socket.gethostname(), os.getpid(), process_start(os.getpid()))

    # -- the file ---------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.path.exists()

    def _create(self) -> None:
        """Create the file with its schema in one step (link of a finished temp file), so a reader never
        sees a half-made registry and an empty file always means damage."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".registry-{os.getpid()}-{time.monotonic_ns()}.tmp"
        con = sqlite3.connect(tmp)
        con.executescript(SCHEMA)
        con.commit()
        con.close()
        try:
            os.link(tmp, self.path)
        except FileExistsError:
            pass  # another process made it first
        finally:
            tmp.unlink(missing_ok=True)

    @contextmanager
    def _db(self, create: bool = False) -> Iterator[sqlite3.Connection]:
        if not self.path.exists():
            if not create:
                raise FileNotFoundError(self.path)
            self._create()
        if self.path.stat().st_size == 0:
            raise RegistryError(f"{self.path} is empty (0 bytes)")
        try:
            con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise RegistryError(f"{self.path} cannot be opened ({exc})") from exc
        try:
            yield con
        except sqlite3.DatabaseError as exc:
            raise RegistryError(f"{self.path} is damaged ({type(exc).__name__}: {exc})") from exc
        finally:
            con.close()

    def move_aside(self) -> Path:
        """Rename a damaged registry out of the way (kept for inspection) and return its new name."""
        target = self.path.with_name(f"registry.broken-{time.strftime('%Y%m%d-%H%M%S')}.sqlite3")
        os.replace(self.path, target)
        return target

    # -- generations ------------------------------------------------------------------------
    def current(self) -> int | None:
        """The live generation, or None when nothing was ever published (no registry yet: None too)."""
        try:
            with self._db() as con:
                row = con.execute("SELECT value FROM meta WHERE key = 'current'").fetchone()
        except FileNotFoundError:
            return None
        return int(row[0]) if row else None

    def begin(self) -> int:
        with self._db(create=True) as con:
            cur = con.execute("INSERT INTO generations (state, created_at, builder_pid) VALUES ('building', ?, ?)",
                              (time.time(), os.getpid()))
            return int(cur.lastrowid)

    def publish(self, gen: int) -> None:
        """The switch: from this commit on, every reader that checks sees `gen`."""
        with self._db() as con:
            con.execute("BEGIN IMMEDIATE")
            con.execute("UPDATE generations SET state = 'retired' WHERE state = 'live'")
            con.execute("UPDATE generations SET state = 'live' WHERE gen = ?", (gen,))
            con.execute("INSERT OR REPLACE INTO meta VALUES ('current', ?)", (str(gen),))
            con.execute("COMMIT")

    def known(self) -> dict[int, str]:
        with self._db(create=True) as con:
            return dict(con.execute("SELECT gen, state FROM generations").fetchall())

    def forget(self, gen: int) -> None:
        with self._db() as con:
            con.execute("DELETE FROM generations WHERE gen = ?", (gen,))
            con.execute("DELETE FROM leases WHERE gen = ?", (gen,))

    # -- leases -----------------------------------------------------------------------------
    def lease(self, gen: int) -> None:
        host, pid, started = self.me
        with self._db() as con:
            con.execute("INSERT OR REPLACE INTO leases VALUES (?, ?, ?, ?, ?)", (host, pid, started, gen, time.time()))

    def release(self, gen: int) -> None:
        host, pid, _ = self.me
        with self._db() as con:
            con.execute("DELETE FROM leases WHERE host = ? AND pid = ? AND gen = ?", (host, pid, gen))

    def heartbeat(self, gen: int) -> None:
        host, pid, _ = self.me
        with self._db() as con:
            con.execute("UPDATE leases SET heartbeat = ? WHERE host = ? AND pid = ? AND gen = ?",
                        (time.time(), host, pid, gen))

    def leases(self) -> list[Lease]:
        with self._db(create=True) as con:
            return [Lease(*row) for row in con.execute("SELECT host, pid, started, gen, heartbeat FROM leases")]

    def live_leases(self) -> dict[int, list[Lease]]:
        """Generation -> leases of processes that can still be reading it (dead pids' rows are removed)."""
        now = time.time()
        held: dict[int, list[Lease]] = {}
        dead = []
        for lease in self.leases():
            if lease.live(now):
                held.setdefault(lease.gen, []).append(lease)
            else:
                dead.append(lease)
        if dead:
            with self._db() as con:
                con.executemany("DELETE FROM leases WHERE host = ? AND pid = ? AND gen = ?",
                                [(d.host, d.pid, d.gen) for d in dead])
        return held


def gen_dir(root: Path, gen: int) -> Path:
    return root / f"gen-{gen:06d}"


def gen_of(path: Path) -> int | None:
    name = path.name
    if name.startswith("gen-") and name[4:].isdigit():
        return int(name[4:])
    return None


def collect(registry: Registry, keep: set[int], on_disk: Callable[[], list[Path]],
            remove: Callable[[Path], None]) -> list[int]:
    """Delete every generation that is not current, not in `keep` and not leased by a live process.

    Call only while holding the build lock: a `building` generation that is not ours is then an
    abandoned build (its process died). Directories the registry does not know are abandoned too.
    Returns the generations removed.
    """
    current = registry.current()
    known = registry.known()
    leased = registry.live_leases()
    removed = []
    for path in on_disk():
        gen = gen_of(path)
        if gen is None or gen == current or gen in keep or gen in leased:
            continue
        remove(path)
        removed.append(gen)
    for gen in known:
        if gen != current and gen not in keep and gen not in leased:
            registry.forget(gen)
    return removed


class BuildLock:
    """One index build at a time across processes (an OS file lock: a dead holder releases it)."""

    def __init__(self, root: Path):
        self.root = root
        self.path = root / "build.lock"
        self.holder_path = root / "build.holder"
        self._lock = None

    def holder(self) -> str:
        """Who holds the lock, as a phrase: 'pid 123 on host, since 12:03:04' (or 'another process')."""
        try:
            info = json.loads(self.holder_path.read_text())
            since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(info["since"])))
            return f"pid {int(info['pid'])} on {info.get('host', '?')}, since {since}"
        except (OSError, ValueError, KeyError, TypeError):
            return "another process"

    def try_acquire(self) -> bool:
        from filelock import FileLock, Timeout

        self.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.path), is_singleton=False)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return False
        self._lock = lock
        self.holder_path.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}))
        return True

    def acquire(self, wait: float = DEFAULT_LOCK_WAIT, notify: Callable[[str], None] | None = None) -> None:
        """Take the lock, waiting up to `wait` seconds for a running build; say once whom we wait for."""
        deadline = time.monotonic() + wait
        told = False
        while not self.try_acquire():
            who = self.holder()
            if time.monotonic() >= deadline:
                raise BuildBusy(
                    f"another index build is still running ({who}); gave up after waiting {wait:.0f} s. "
                    f"Try again when it has finished (the lock is {self.path})."
                )
            if not told and notify:
                notify(f"another index build is running ({who}); waiting up to {wait:.0f} s for it to finish")
                told = True
            time.sleep(0.2)

    def release(self) -> None:
        if self._lock is not None:
            self.holder_path.unlink(missing_ok=True)
            self._lock.release()
            self._lock = None

    def __enter__(self) -> "BuildLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def remove_tree(path: Path) -> None:
    """Delete a generation directory; a failure is logged, never raised (the next collection retries)."""
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not remove the old index generation %s (%s)", path, exc)
