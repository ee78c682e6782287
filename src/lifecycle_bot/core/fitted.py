"""Fitted models (the section ranker, answer confidence, citation support): read from the data dir where a
fit command wrote them, else from the read-only default the package ships."""

from __future__ import annotations

import json
from pathlib import Path


def load_fitted(make, path: Path | None, packaged: Path, fallback):
    """A fitted model: the data dir's file at `path`, else the package's read-only default, else `fallback`."""
    for candidate in ([path] if path is not None else []) + [packaged]:
        try:
            return make(**json.loads(Path(candidate).read_text()))
        except (OSError, ValueError, TypeError):
            continue
    return fallback


def save_fitted(fields: dict, path: Path) -> None:
    """Write a fitted model's fields as JSON, whole or not at all (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(fields, indent=2) + "\n")
    tmp.replace(path)
