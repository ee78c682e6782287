"""Vectors already computed on this machine, by text, so no text is embedded twice.

A full build (`index --rebuild`, a chunking change, a new data dir, moving to a Chroma server) would
otherwise embed every section and sentence again, though nearly all of them are the same texts with the
same model. The cache is one SQLite file per model (keyed like the ONNX export: by the weights file) in
the user cache dir; a text's key is its SHA-256. A damaged or unwritable cache is ignored: the build then
embeds everything, as it would without one.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from pathlib import Path
from typing import Callable

import numpy as np

log = logging.getLogger(__name__)


def _key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:16]


class VectorCache:
    def __init__(self, path: Path):
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._broken = False

    def _conn(self) -> sqlite3.Connection | None:
        if self._db is None and not self._broken:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vector BLOB NOT NULL)")
                self._db = db
            except sqlite3.Error as exc:
                log.warning("not using the vector cache %s (%s)", self.path, exc)
                self._broken = True
        return self._db

    def get_many(self, texts: list[str]) -> dict[int, list[float]]:
        """Index in `texts` -> cached vector, for the texts the cache holds."""
        db = self._conn()
        if db is None or not texts:
            return {}
        keys = [_key(t) for t in texts]
        found: dict[bytes, bytes] = {}
        try:
            for i in range(0, len(keys), 500):
                part = keys[i : i + 500]
                rows = db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({','.join('?' * len(part))})", part)
                found.update(rows.fetchall())
        except sqlite3.Error as exc:
            log.warning("the vector cache %s cannot be read (%s); embedding everything", self.path, exc)
            self._broken = True
            return {}
        return {i: np.frombuffer(found[k], dtype=np.float32).tolist() for i, k in enumerate(keys) if k in found}

    def put_many(self, texts: list[str], vectors: list[list[float]]) -> None:
        db = self._conn()
        if db is None or not texts:
            return
        rows = [(_key(t), np.asarray(v, dtype=np.float32).tobytes()) for t, v in zip(texts, vectors)]
        try:
            with db:
                db.executemany("INSERT OR REPLACE INTO vectors (key, vector) VALUES (?, ?)", rows)
        except sqlite3.Error as exc:
            log.warning("could not write the vector cache %s (%s)", self.path, exc)
            self._broken = True

    def embed(self, embed: Callable[[list[str]], list[list[float]]], texts: list[str]) -> list[list[float]]:
        """Vectors of `texts`: cached ones read, the others embedded and remembered."""
        have = self.get_many(texts)
        missing = [i for i in range(len(texts)) if i not in have]
        if missing:
            fresh = embed([texts[i] for i in missing])
            self.put_many([texts[i] for i in missing], fresh)
            have.update(zip(missing, fresh))
        return [have[i] for i in range(len(texts))]
