"""JSONL input for every face: batch questions, eval sets, tickets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path


def iter_jsonl(path: str | Path, required: tuple[str, ...] = ()) -> Iterator[tuple[int, dict]]:
    """(line number, object) per non-blank line; a ValueError names the file and the bad line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
        if not isinstance(item, dict) or any(key not in item for key in required):
            need = " and ".join(f'"{key}"' for key in required) or "a JSON object"
            raise ValueError(f"{path}:{n}: each line needs at least {need}")
        yield n, item


def read_jsonl(path: str | Path, required: tuple[str, ...] = ()) -> list[dict]:
    return [item for _, item in iter_jsonl(path, required)]
