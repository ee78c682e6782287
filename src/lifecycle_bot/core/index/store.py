"""The Chroma index: incremental, model-aware, and switched atomically.

Every build writes a *new* collection (copying the vectors of unchanged chunks, embedding only
new or changed ones) and then flips a one-row manifest to point at it. A build that dies half way
leaves the manifest on the old, complete collection, so a half index is never served; the next
build deletes the orphan.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from lifecycle_bot.core.types import Chunk
from lifecycle_bot.core.settings import CHUNKING_VERSION, Settings

MANIFEST_COLLECTION = "lifecycle-manifest"
MANIFEST_ID = "manifest"
BATCH = 64


class IndexUnavailable(RuntimeError):
    """No usable index; the message says what to run."""


class IndexMissing(IndexUnavailable):
    pass


class IndexCorrupt(IndexUnavailable):
    pass


@dataclass
class Manifest:
    collection: str
    model: str
    chunking_version: str
    kb_hash: str
    count: int
    files: dict[str, int] = field(default_factory=dict)
    built_at: float = 0.0
    units: int = 0  # quotable-unit vectors in "<collection>-units" (for answer sentence choice)


@dataclass
class BuildReport:
    collection: str
    total: int
    embedded: int
    reused: int
    removed: int
    unchanged: bool
    seconds: float
    full_rebuild: bool


def kb_hash(chunks: Iterable[Chunk]) -> str:
    h = hashlib.sha256(CHUNKING_VERSION.encode())
    for key in sorted(c.content_hash for c in chunks):
        h.update(key.encode())
    return h.hexdigest()


def _metadata(chunk: Chunk) -> dict:
    return {
        "file": chunk.file,
        "heading_path": chunk.heading_path,
        "anchor": chunk.anchor,
        "start_line": chunk.start_line,
        "end_line": chunk.end_line,
        "kind": chunk.kind,
        "element_ids": ",".join(chunk.element_ids),
        "reading": chunk.reading,
        "content_hash": chunk.content_hash,
        "spans": chunk.spans,
    }


def chunk_from_record(document: str, meta: dict) -> Chunk:
    return Chunk(
        file=meta["file"],
        heading_path=meta["heading_path"],
        anchor=meta.get("anchor", ""),
        start_line=int(meta["start_line"]),
        end_line=int(meta["end_line"]),
        text=document,
        reading=meta.get("reading", ""),
        kind=meta.get("kind", "section"),
        element_ids=tuple(x for x in meta.get("element_ids", "").split(",") if x),
        spans=meta.get("spans", ""),
    )


def make_client(settings: Settings):
    """A Chroma client: embedded PersistentClient by default, HttpClient when a URL is set."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_url:
        from urllib.parse import urlparse

        url = urlparse(settings.chroma_url)
        try:
            return chromadb.HttpClient(
                host=url.hostname or "127.0.0.1",
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
        except Exception as exc:  # connection refused, bad URL...
            raise IndexUnavailable(f"cannot reach the Chroma server at {settings.chroma_url}: {exc}") from exc
    path = settings.data_dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    try:
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    except Exception as exc:
        raise IndexCorrupt(
            f"the index in {path} cannot be opened ({type(exc).__name__}: {exc}). "
            "Run `lifecycle-bot index --rebuild` (delete that directory first if this repeats)."
        ) from exc


class Store:
    """Chroma collections plus the manifest row that says which one is live."""

    def __init__(self, settings: Settings, client=None):
        self.settings = settings
        self.client = client or make_client(settings)

    # -- manifest ---------------------------------------------------------------------------
    def _manifest_collection(self):
        return self.client.get_or_create_collection(MANIFEST_COLLECTION, embedding_function=None)

    def read_manifest(self) -> Manifest | None:
        try:
            got = self._manifest_collection().get(ids=[MANIFEST_ID], include=["documents"])
        except Exception as exc:
            raise IndexCorrupt(f"the index manifest cannot be read ({exc}); run `lifecycle-bot index --rebuild`") from exc
        docs = got.get("documents") or []
        if not docs:
            return None
        try:
            return Manifest(**json.loads(docs[0]))
        except (TypeError, ValueError) as exc:
            raise IndexCorrupt(f"the index manifest is damaged ({exc}); run `lifecycle-bot index --rebuild`") from exc

    def _write_manifest(self, manifest: Manifest) -> None:
        self._manifest_collection().upsert(
            ids=[MANIFEST_ID], embeddings=[[0.0]], documents=[json.dumps(asdict(manifest))]
        )

    def _collection_names(self) -> list[str]:
        names = []
        for c in self.client.list_collections():
            names.append(c if isinstance(c, str) else c.name)
        return names

    def live_collection(self):
        """The collection the manifest points at, checked for completeness."""
        manifest = self.read_manifest()
        if manifest is None:
            raise IndexMissing("no index has been built yet; run `lifecycle-bot index`")
        try:
            collection = self.client.get_collection(manifest.collection, embedding_function=None)
            count = collection.count()
        except Exception as exc:
            raise IndexCorrupt(
                f"the index collection {manifest.collection} is missing or unreadable ({exc}); "
                "run `lifecycle-bot index --rebuild`"
            ) from exc
        if count != manifest.count:
            raise IndexCorrupt(
                f"the index holds {count} chunks but its manifest expects {manifest.count}; "
                "run `lifecycle-bot index --rebuild`"
            )
        return manifest, collection

    def units_collection(self, manifest: Manifest):
        try:
            units = self.client.get_collection(f"{manifest.collection}-units", embedding_function=None)
            ok = units.count() == manifest.units
        except Exception:
            ok = False
        if not ok:
            raise IndexCorrupt("the index's sentence vectors are missing or incomplete; run `lifecycle-bot index --rebuild`")
        return units

    # -- build ------------------------------------------------------------------------------
    def build(
        self,
        chunks: list[Chunk],
        embed: Callable[[list[str]], list[list[float]]],
        rebuild: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> BuildReport:
        started = time.perf_counter()
        model = self.settings.model_name
        wanted = {c.content_hash: c for c in chunks}
        new_hash = kb_hash(chunks)
        try:
            current = None if rebuild else self.read_manifest()
        except IndexCorrupt:
            current = None
        old = None
        if current and current.model == model and current.chunking_version == CHUNKING_VERSION:
            try:
                _, old = self.live_collection()
            except IndexUnavailable:
                old, current = None, None
            if old is not None and current.kb_hash == new_hash:
                return BuildReport(current.collection, current.count, 0, current.count, 0, True,
                                   time.perf_counter() - started, False)
        else:
            current = None

        name = f"{self.settings.collection_prefix}-{uuid.uuid4().hex[:12]}"
        target = self.client.create_collection(name, embedding_function=None, metadata={"hnsw:space": "cosine"})
        reused = 0
        removed = 0
        if old is not None:
            old_ids = set(old.get(include=[])["ids"])
            keep = sorted(old_ids & wanted.keys())
            removed = len(old_ids - wanted.keys())
            for i in range(0, len(keep), 256):
                got = old.get(ids=keep[i : i + 256], include=["embeddings", "documents", "metadatas"])
                target.add(ids=got["ids"], embeddings=got["embeddings"], documents=got["documents"],
                           metadatas=got["metadatas"])
                reused += len(got["ids"])
        todo = [c for h, c in wanted.items() if old is None or h not in old_ids]
        from llama_index.core.schema import TextNode
        from llama_index.vector_stores.chroma import ChromaVectorStore

        vector_store = ChromaVectorStore(chroma_collection=target)
        for i in range(0, len(todo), BATCH):
            batch = todo[i : i + BATCH]
            vectors = embed([c.embed_text for c in batch])
            vector_store.add(
                [
                    TextNode(id_=c.content_hash, text=c.text, metadata=_metadata(c), embedding=v)
                    for c, v in zip(batch, vectors)
                ]
            )
            if progress:
                progress(min(i + BATCH, len(todo)), len(todo))
        units_target = self.client.create_collection(f"{name}-units", embedding_function=None,
                                                     metadata={"hnsw:space": "cosine"})
        self._build_units(units_target, wanted, old, current, embed)
        files: dict[str, int] = {}
        for c in chunks:
            files[c.file] = files.get(c.file, 0) + 1
        manifest = Manifest(name, model, CHUNKING_VERSION, new_hash, target.count(), files, time.time(),
                            units_target.count())
        self._write_manifest(manifest)  # the switch: readers see the new collection from here on
        self._drop_others(keep=name)
        return BuildReport(name, manifest.count, len(todo), reused, removed, False,
                           time.perf_counter() - started, old is None)

    def _build_units(self, target, wanted: dict[str, Chunk], old, current: Manifest | None, embed) -> None:
        """Vectors of each chunk's quotable units; unchanged chunks' vectors are copied, not recomputed."""
        from lifecycle_bot.core.ingest.units import units_of

        have: set[str] = set()
        if old is not None and current is not None:
            try:
                old_units = self.units_collection(current)
                got = old_units.get(include=["embeddings", "metadatas"])
                keep = [i for i, m in enumerate(got["metadatas"]) if m["chunk"] in wanted]
                for i in range(0, len(keep), 512):
                    idx = keep[i : i + 512]
                    target.add(ids=[got["ids"][j] for j in idx], embeddings=[got["embeddings"][j] for j in idx],
                               metadatas=[got["metadatas"][j] for j in idx])
                have = {got["metadatas"][j]["chunk"] for j in keep}
            except IndexUnavailable:
                have = set()
        pending = [(h, i, u.text[:500]) for h, c in wanted.items() if h not in have for i, u in enumerate(units_of(c))]
        for i in range(0, len(pending), 128):
            batch = pending[i : i + 128]
            vectors = embed([t for _, _, t in batch])
            target.add(ids=[f"{h}:{n}" for h, n, _ in batch], embeddings=vectors,
                       metadatas=[{"chunk": h, "i": n} for h, n, _ in batch])

    def load_unit_vectors(self, manifest: Manifest) -> dict[str, "object"]:
        """chunk hash -> array of its units' vectors, in unit order."""
        import numpy as np

        got = self.units_collection(manifest).get(include=["embeddings", "metadatas"])
        grouped: dict[str, dict[int, object]] = {}
        for vec, meta in zip(got["embeddings"], got["metadatas"]):
            grouped.setdefault(meta["chunk"], {})[int(meta["i"])] = vec
        return {h: np.asarray([v[i] for i in sorted(v)], dtype=np.float32) for h, v in grouped.items()}

    def _drop_others(self, keep: str) -> None:
        for other in self._collection_names():
            if other.startswith(self.settings.collection_prefix + "-") and other not in (keep, f"{keep}-units"):
                try:
                    self.client.delete_collection(other)
                except Exception:
                    pass

    def load_chunks(self) -> tuple[Manifest, object, list[Chunk]]:
        manifest, collection = self.live_collection()
        got = collection.get(include=["documents", "metadatas"])
        chunks = [chunk_from_record(d, m) for d, m in zip(got["documents"], got["metadatas"])]
        if len(chunks) != manifest.count:
            raise IndexCorrupt("the index changed while loading; try again")
        return manifest, collection, chunks


def wipe_local(settings: Settings) -> None:
    """Remove a local index directory that cannot even be opened (used by --rebuild)."""
    import shutil

    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()  # drop the half-initialised client for that path
    path: Path = settings.data_dir / "chroma"
    if path.exists():
        shutil.rmtree(path)
