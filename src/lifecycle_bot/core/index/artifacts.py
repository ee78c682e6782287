"""What a build saves beside the vectors, so that a start loads it instead of computing it again.

Two things cost a start time that grows with the corpus: the BM25 index (tokenising and stemming every
chunk) and the sentence vectors of every chunk's quotable units (read one by one out of Chroma). The build
writes both into a directory of its own (the generation's directory locally; a cache directory keyed by
the collection for a Chroma server), and the loader checks them against the index before use: a
missing, damaged or stale file is rebuilt from the index and saved again, never trusted.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

BM25_DIR = "bm25"
UNITS_FILE = "units.npz"


def make_bm25(texts: dict[str, str], top_k: int):
    """A llama-index BM25 retriever over `texts` (chunk hash -> text), in that order."""
    from llama_index.core.schema import TextNode
    from llama_index.retrievers.bm25 import BM25Retriever

    nodes = [TextNode(id_=h, text=t) for h, t in texts.items()]
    return BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=min(top_k, len(nodes)))


def save_bm25(retriever, folder: Path) -> None:
    """Write atomically: a reader sees the old directory or the complete new one."""
    tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    retriever.persist(str(tmp), show_progress=False)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def load_bm25(folder: Path, ids: list[str], top_k: int):
    """The saved retriever when it indexes exactly `ids` in that order, else None."""
    from llama_index.retrievers.bm25 import BM25Retriever

    if not folder.is_dir():
        return None
    try:
        retriever = BM25Retriever.from_persist_dir(str(folder))
    except Exception as exc:  # damaged or from another version of bm25s: rebuild
        log.warning("rebuilding the BM25 index: %s cannot be read (%s)", folder, exc)
        return None
    if [row.get("node_id") for row in retriever.corpus] != ids:
        return None
    retriever.similarity_top_k = min(top_k, len(ids))
    return retriever


def bm25_for(folder: Path | None, texts: dict[str, str], top_k: int):
    """Load the saved BM25 index, or build it (and save it for the next start when `folder` is set)."""
    ids = list(texts)
    if folder is not None:
        found = load_bm25(folder / BM25_DIR, ids, top_k)
        if found is not None:
            return found
    retriever = make_bm25(texts, top_k)
    if folder is not None:
        try:
            save_bm25(retriever, folder / BM25_DIR)
        except OSError as exc:  # a read-only data dir: answer anyway, build again next start
            log.warning("could not save the BM25 index in %s (%s)", folder, exc)
    return retriever


def save_units(folder: Path, vectors: dict[str, "object"]) -> None:
    """chunk hash -> (units x dims) float32 array, as one matrix plus the row ranges of each chunk."""
    import numpy as np

    keys = sorted(vectors)
    arrays = [np.asarray(vectors[k], dtype=np.float32) for k in keys]
    counts = [len(a) for a in arrays]
    dims = arrays[0].shape[1] if arrays else 0
    matrix = np.concatenate(arrays) if arrays else np.zeros((0, dims), dtype=np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{UNITS_FILE}.tmp{os.getpid()}.npz"
    np.savez(tmp, matrix=matrix, counts=np.asarray(counts, dtype=np.int64),
             keys=np.asarray(json.dumps(keys)))
    tmp.replace(folder / UNITS_FILE)


def load_units(folder: Path, expected_rows: int) -> dict[str, "object"] | None:
    """The saved sentence vectors when the file holds exactly `expected_rows` units, else None."""
    import numpy as np

    path = folder / UNITS_FILE
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            matrix, counts = data["matrix"], data["counts"]
            keys = json.loads(str(data["keys"]))
    except Exception as exc:
        log.warning("reading the sentence vectors from the index instead: %s is damaged (%s)", path, exc)
        return None
    if len(matrix) != expected_rows or len(keys) != len(counts) or int(counts.sum()) != len(matrix):
        return None
    out, start = {}, 0
    for key, n in zip(keys, counts.tolist()):
        out[key] = matrix[start : start + n]
        start += n
    return out


LINKS_FILE = "paste_links.json"


def load_links(folder: Path, signatures: list[str], known: set[str]) -> dict[str, str | None] | None:
    """Saved signature -> chunk hash links, when they name exactly these signatures and chunks of this index."""
    try:
        links = json.loads((folder / LINKS_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(links, dict) or sorted(links) != sorted(signatures):
        return None
    if any(h is not None and h not in known for h in links.values()):
        return None
    return links


def save_links(folder: Path, links: dict[str, str | None]) -> None:
    """Best effort, atomically: a start that cannot save them computes them again next time."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"{LINKS_FILE}.tmp{os.getpid()}"
        tmp.write_text(json.dumps(links, sort_keys=True))
        os.replace(tmp, folder / LINKS_FILE)
    except OSError as exc:
        log.warning("could not save the paste links in %s (%s)", folder, exc)
