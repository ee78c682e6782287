"""Shared fixtures: a copy of the fixture KB, and one Bot indexed on it per test session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import lifecycle_bot  # noqa: F401  (applies the offline environment first)
from lifecycle_bot.core.bot import Bot
from lifecycle_bot.core.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_KB = ROOT / "tests" / "fixtures" / "kb"


@pytest.fixture
def kb_copy(tmp_path: Path) -> Path:
    dest = tmp_path / "kb"
    shutil.copytree(FIXTURE_KB, dest)
    return dest


@pytest.fixture(scope="session")
def session_bot(tmp_path_factory) -> Bot:
    base = tmp_path_factory.mktemp("session")
    kb = base / "kb"
    shutil.copytree(FIXTURE_KB, kb)
    bot = Bot(Settings(kb_dir=kb, data_dir=base / "data"))
    bot.index()
    bot.load()
    return bot


def run_cli(*args: str, input: str | bytes | None = None, env: dict | None = None, cwd: Path | None = None,
            timeout: int = 180) -> subprocess.CompletedProcess:
    """Run the real console script in a fresh process."""
    exe = Path(sys.executable).with_name("lifecycle-bot")
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [str(exe), *args],
        input=input.encode() if isinstance(input, str) else input,
        capture_output=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def permissive_bot(session_bot: Bot) -> Bot:
    """The same index, never declining: for tests about grounding and ranking, not refusal.

    The confidence model is fitted on the real KB; the four-section fixture KB gives it little to go on.
    """
    bot = Bot(session_bot.settings.with_(refusal_threshold=0.0))
    bot.load()
    return bot
