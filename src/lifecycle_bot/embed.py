"""The embedding model: the packaged all-MiniLM-L6-v2 behind llama-index's HuggingFace wrapper.

Loaded lazily and once per process: importing sentence-transformers costs seconds, and a no-change
re-index or a `--help` should not pay it.
"""

from __future__ import annotations

import threading
from functools import lru_cache

_lock = threading.Lock()


@lru_cache(maxsize=4)
def _load(model_path: str):
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    return HuggingFaceEmbedding(model_name=model_path, device="cpu", embed_batch_size=32, show_progress_bar=False)


def get_embedder(model_path: str):
    with _lock:
        model = _load(model_path)
    return model


@lru_cache(maxsize=4)
def warm(model_path: str) -> None:
    """Run one tiny query so the first user question does not pay torch's first-call setup."""
    get_embedder(model_path).get_query_embedding("warm up")

