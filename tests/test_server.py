"""The same index + ask against a real `chroma run` server on loopback (how a team scales out)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from lifecycle_bot.core.bot import Bot
from lifecycle_bot.core.index.store import IndexUnavailable
from lifecycle_bot.core.settings import Settings

pytestmark = pytest.mark.server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def chroma_server(tmp_path: Path):
    exe = Path(sys.executable).with_name("chroma")
    assert exe.exists(), "the chroma CLI ships with the chromadb package"
    port = _free_port()
    proc = subprocess.Popen(
        [str(exe), "run", "--path", str(tmp_path / "server"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1)
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail("chroma run exited early")
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("chroma server did not come up in 60 s")
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def test_index_and_ask_against_a_chroma_server(chroma_server: str, kb_copy: Path, tmp_path: Path):
    settings = Settings(kb_dir=kb_copy, data_dir=tmp_path / "local", chroma_url=chroma_server)
    bot = Bot(settings)
    report = bot.index()
    assert report.embedded == report.total > 0
    assert not (tmp_path / "local" / "chroma").exists(), "server mode must not create a local index"

    # a second process-like client (a teammate) sees the same index without building anything
    teammate = Bot(Settings(kb_dir=kb_copy, data_dir=tmp_path / "other", chroma_url=chroma_server))
    assert teammate.index().unchanged
    answer = teammate.ask("why is my pod stuck in Pending?")
    assert answer.citations[0].anchor == "31-pod-stuck-in-pending"

    (kb_copy / "guide.md").write_text((kb_copy / "guide.md").read_text() + "\n## 4. Extra\n\nA new section about PgBouncer.\n")
    update = bot.index()
    assert update.embedded >= 1 and update.reused >= 1
    # our own build is read at once; a teammate trusts the live collection it saw for GENERATION_TTL, then switches
    assert bot.ask("PgBouncer new section").citations[0].heading_path.startswith("4. Extra")
    import time

    from lifecycle_bot.core.index.store import GENERATION_TTL

    time.sleep(GENERATION_TTL + 0.1)
    assert teammate.ask("PgBouncer new section").citations[0].heading_path.startswith("4. Extra")


def test_unreachable_server_is_a_clear_error(kb_copy: Path, tmp_path: Path):
    settings = Settings(kb_dir=kb_copy, data_dir=tmp_path, chroma_url=f"http://127.0.0.1:{_free_port()}")
    with pytest.raises(IndexUnavailable, match="Chroma server"):
        Bot(settings).load()
