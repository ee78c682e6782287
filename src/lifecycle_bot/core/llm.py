"""Optional language models: any OpenAI-compatible server, or a local GGUF file through llama-cpp-python.

Both are reached through one tiny interface, `stream(messages) -> Iterator[str]`, so the rest of the bot
never knows which one it talks to. Nothing here is imported unless `--llm` is set.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Protocol

from lifecycle_bot.core.settings import Settings

KINDS = ("openai-compatible", "gguf")


class LLMError(RuntimeError):
    """The model could not give an answer (unreachable, failed, misconfigured)."""


class LLMTimeout(LLMError):
    """The model did not finish within the configured time."""


class ChatModel(Protocol):
    name: str

    def stream(self, messages: list[dict[str, str]]) -> Iterator[str]:
        """Yield the reply's text as it is generated."""
        ...


class OpenAICompatible:
    """Ollama, vLLM, llama.cpp's server or a hosted API, through llama-index's OpenAI-like client."""

    def __init__(self, url: str, model: str, api_key: str | None, timeout: float, max_tokens: int):
        try:
            from llama_index.llms.openai_like import OpenAILike
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise LLMError("the `llm` extra is not installed: pip install 'lifecycle-bot[llm]'") from exc
        self.name = model
        self._llm = OpenAILike(
            model=model, api_base=url.rstrip("/"), api_key=api_key or "not-needed", is_chat_model=True,
            max_tokens=max_tokens, temperature=0.0, timeout=timeout, max_retries=0,
        )

    def stream(self, messages: list[dict[str, str]]) -> Iterator[str]:
        from llama_index.core.llms import ChatMessage

        chat = [ChatMessage(role=m["role"], content=m["content"]) for m in messages]
        try:
            for response in self._llm.stream_chat(chat):
                if response.delta:
                    yield response.delta
        except Exception as exc:  # openai/httpx errors: connection refused, 5xx, bad model name
            raise LLMError(f"{type(exc).__name__}: {exc}") from exc


class LocalGGUF:
    """A GGUF file run in-process; one generation at a time (llama.cpp contexts are not shareable)."""

    def __init__(self, path: str, max_tokens: int, n_ctx: int = 4096):
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise LLMError("llama-cpp-python is not installed: see README, 'Generated answers'") from exc
        if not os.path.isfile(path):
            raise LLMError(f"GGUF file not found: {path}")
        self.name = os.path.basename(path)
        self.max_tokens = max_tokens
        self._lock = threading.Lock()
        try:
            self._llm = Llama(model_path=path, n_ctx=n_ctx, n_threads=os.cpu_count() or 1, verbose=False)
        except Exception as exc:  # a corrupt or unsupported file
            raise LLMError(f"cannot load {path}: {exc}") from exc

    def stream(self, messages: list[dict[str, str]]) -> Iterator[str]:
        with self._lock:
            try:
                chunks = self._llm.create_chat_completion(
                    messages=messages, stream=True, temperature=0.0, max_tokens=self.max_tokens)
                for chunk in chunks:
                    delta = chunk["choices"][0].get("delta", {}).get("content")
                    if delta:
                        yield delta
            except Exception as exc:
                raise LLMError(f"{type(exc).__name__}: {exc}") from exc


def open_model(settings: Settings) -> ChatModel | None:
    """The configured model, or None for extractive answers."""
    if not settings.llm:
        return None
    if settings.llm == "openai-compatible":
        if not settings.llm_url or not settings.llm_model:
            raise LLMError("--llm openai-compatible needs --llm-url and --llm-model")
        return OpenAICompatible(settings.llm_url, settings.llm_model, os.environ.get(settings.llm_api_key_env),
                                settings.llm_timeout, settings.llm_max_tokens)
    if settings.llm == "gguf":
        if not settings.llm_path:
            raise LLMError("--llm gguf needs --llm-path FILE.gguf")
        return LocalGGUF(str(settings.llm_path), settings.llm_max_tokens)
    raise LLMError(f"unknown --llm {settings.llm!r}; choose one of {', '.join(KINDS)}")


def with_deadline(tokens: Iterable[str], seconds: float) -> Iterator[str]:
    """Pass tokens through, but give up (LLMTimeout) when the whole reply takes longer than `seconds`.

    The model is read in a worker thread, so a server that accepts the request and then says nothing
    cannot hold the answer: the caller falls back to the extractive answer on time.
    """
    box: queue.Queue = queue.Queue()
    stop = threading.Event()

    def pump() -> None:
        try:
            for token in tokens:
                if stop.is_set():
                    break
                box.put(("token", token))
            box.put(("end", None))
        except BaseException as exc:  # handed to the caller's thread
            box.put(("error", exc))

    threading.Thread(target=pump, name="llm-stream", daemon=True).start()
    deadline = time.monotonic() + seconds
    try:
        while True:
            left = deadline - time.monotonic()
            try:
                kind, value = box.get(timeout=max(left, 0.0))
            except queue.Empty:
                raise LLMTimeout(f"the model did not finish within {seconds:g} s") from None
            if kind == "end":
                return
            if kind == "error":
                raise value if isinstance(value, LLMError) else LLMError(f"{type(value).__name__}: {value}")
            yield value
    finally:
        stop.set()
