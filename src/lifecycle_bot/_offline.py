"""Offline-by-construction environment, applied on package import (not left to the shell)."""

from __future__ import annotations

import os

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "ANONYMIZED_TELEMETRY": "False",  # chromadb
    "GRADIO_ANALYTICS_ENABLED": "False",
    "TOKENIZERS_PARALLELISM": "false",
    "DO_NOT_TRACK": "1",
    # onnxruntime (1.32, Linux) ships a 1DS telemetry client that resolves mobile.events.data.microsoft.com
    # from a native thread some seconds after the first session, even after disable_telemetry_events();
    # only this variable, read by the library when its environment is created, turns the client off.
    "ORT_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TQDM_DISABLE": "1",
}


def apply() -> None:
    """Force the offline settings; a user's shell cannot switch them back on."""
    os.environ.update(OFFLINE_ENV)
