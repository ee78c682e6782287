"""Shared fixtures: a copy of the fixture KB, and one Bot indexed on it per test session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

# The user cache (the ONNX export of the model) is this test run's own, never ~/.cache/lifecycle-bot:
# a stale or broken export from another checkout cannot leak into the results. Set before Settings exist.
os.environ["LIFECYCLE_BOT_CACHE"] = tempfile.mkdtemp(prefix="lifecycle-bot-test-cache-")

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


@dataclass
class CliResult:
    returncode: int
    stdout: bytes
    stderr: bytes


def invoke(*args: str, input: str | bytes | None = None, env: dict | None = None, timeout: int | None = None) -> CliResult:
    """Run the CLI in this process with click's CliRunner (same exit codes and streams as the script; no timeout)."""
    from click.testing import CliRunner

    from lifecycle_bot.launch import main

    result = CliRunner().invoke(main, list(args), input=input, env=env, catch_exceptions=False)
    return CliResult(result.exit_code, result.stdout_bytes, result.stderr_bytes or b"")


def run_cli(*args: str, input: str | bytes | None = None, env: dict | None = None, cwd: Path | None = None,
            timeout: int = 180) -> subprocess.CompletedProcess:
    """Run the real console script in a fresh process (for what only a new process shows: start-up, imports)."""
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


# -- browser tests (tests/test_browser*.py): Chromium present, and the app on the fixture KB per module ----------

def _screenshot_helpers():
    """scripts/screenshot.py: the shared app/browser helpers."""
    if str(ROOT / "scripts") not in sys.path:
        sys.path.insert(0, str(ROOT / "scripts"))
    import screenshot

    return screenshot


@pytest.fixture(scope="module")
def chromium_ready():
    shot = _screenshot_helpers()
    if not shot.CHROMIUM.exists():
        pytest.fail(shot.INSTALL_HINT, pytrace=False)
    try:
        from playwright.sync_api import sync_playwright  # noqa: F401
    except ImportError:
        pytest.fail("the playwright package is missing: pip install -e '.[dev]'", pytrace=False)


@pytest.fixture(scope="module")
def server(chromium_ready, tmp_path_factory):
    """`python app.py` on the fixture KB with a fresh data dir: (url, data dir)."""
    shot = _screenshot_helpers()
    data = tmp_path_factory.mktemp("data")
    proc, url = shot.start_app(FIXTURE_KB, data, log_path=data / "app.log")
    try:
        yield url, data
    finally:
        shot.stop_app(proc)
