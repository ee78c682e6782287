"""The Chroma index: incremental, model-aware, and switched atomically.

Every build writes a *new* collection (copying the vectors of unchanged chunks, embedding only
new or changed ones) and then switches to it. Locally (`LocalIndex`) each build is a new generation
directory and the switch is the registry's `current` (see `generations`): readers keep the generation
they opened until they switch, and an old one is deleted only when nobody reads it. On a Chroma server
(`ServerIndex`) the switch is a one-row manifest and the previous collection is kept for readers that
have not switched yet. A build that dies half way never becomes live, so a half index is never served;
the next build deletes what it left. One build runs at a time (`generations.BuildLock`).
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


class IndexUnavailable(RuntimeError):
    """No usable index; the message says what to run."""


class IndexMissing(IndexUnavailable):
    pass


class IndexCorrupt(IndexUnavailable):
    pass



PAGE = 5000  # records per `get`: a Chroma server answers a get of every record with one SQL statement per
# include, which SQLite refuses past its variable limit ("too many SQL variables" at 42k chunks)


def get_all(collection, include: list[str]) -> dict[str, list]:
    """Every record of a collection, read a page at a time (embedded or server, any size)."""
    out: dict[str, list] = {"ids": [], **{k: [] for k in include}}
    offset = 0
    while True:
        got = collection.get(include=include, limit=PAGE, offset=offset)
        for key in out:
            out[key].extend(got[key] if got.get(key) is not None else [])
        offset += len(got["ids"])
        if len(got["ids"]) < PAGE:
            return out

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


EMBED_GROUP = 256  # texts per call of the model: progress moves every group


def embed_sorted(embed: Callable[[list[str]], list[list[float]]], texts: list[str],
                 progress: Callable[[int, int], None] | None = None) -> list[list[float]]:
    """Vectors of `texts`, embedded shortest first so each batch pads to similar lengths; in input order."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out: list = [None] * len(texts)
    if progress:
        progress(0, len(texts))
    for start in range(0, len(order), EMBED_GROUP):
        idx = order[start : start + EMBED_GROUP]
        for i, vector in zip(idx, embed([texts[i] for i in idx])):
            out[i] = vector
        if progress:
            progress(min(start + EMBED_GROUP, len(texts)), len(texts))
    return out


def bm25_texts(chunks: Iterable[Chunk]) -> dict[str, str]:
    """What BM25 indexes, in the one order both the build and the loader use (by chunk hash)."""
    return {c.content_hash: c.embed_text for c in sorted(chunks, key=lambda c: c.content_hash)}


def group_units(rows: Iterable[tuple[str, int, object]]) -> dict[str, "object"]:
    """(chunk hash, unit number, vector) rows -> chunk hash -> (units x dims) array in unit order."""
    import numpy as np

    grouped: dict[str, dict[int, object]] = {}
    for chunk, i, vec in rows:
        grouped.setdefault(chunk, {})[i] = vec
    return {h: np.asarray([v[i] for i in sorted(v)], dtype=np.float32) for h, v in grouped.items()}


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
        "head": chunk.head,
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
        head=meta.get("head", ""),
    )


def make_client(settings: Settings, path: Path | None = None):
    """A Chroma client: embedded PersistentClient on `path` (one generation's directory), HttpClient when a URL is set."""
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
    if path is None:
        raise ValueError("a local Chroma client needs the generation directory")
    path.mkdir(parents=True, exist_ok=True)
    try:
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    except Exception as exc:
        raise IndexCorrupt(
            f"the index in {path} cannot be opened ({type(exc).__name__}: {exc}). "
            "Run `lifecycle-bot index --rebuild`."
        ) from exc


class Store:
    """Chroma collections plus the manifest row that says which one is live.

    `folder` is the local directory of an embedded store (one generation); a server's store has none, and
    keeps what a build saves beside the vectors (`artifacts`) in a cache under the data dir instead.
    """

    def __init__(self, settings: Settings, client=None, folder: Path | None = None):
        self.settings = settings
        self.client = client or make_client(settings)
        self.folder = folder

    def artifacts_dir(self, manifest: Manifest) -> Path:
        """Where the BM25 index and sentence vectors of this manifest's collection are saved."""
        if self.folder is not None:
            return self.folder
        return self.settings.data_dir / "index" / "server-cache" / manifest.collection

    def save_artifacts(self, manifest: Manifest, texts: dict[str, str], unit_vectors: dict) -> None:
        """BM25 and sentence vectors for the next start; a failure costs that start time, never the build."""
        import logging

        from lifecycle_bot.core.index import artifacts

        folder = self.artifacts_dir(manifest)
        try:
            artifacts.save_units(folder, unit_vectors)
            artifacts.save_bm25(artifacts.make_bm25(texts, self.settings.sparse_top_k), folder / artifacts.BM25_DIR)
        except OSError as exc:
            logging.getLogger(__name__).warning("could not save the start-up files in %s (%s)", folder, exc)
        if self.folder is None:  # drop the caches of collections that are gone
            for other in folder.parent.iterdir():
                if other != folder and other.name not in set(self._collection_names()):
                    import shutil

                    shutil.rmtree(other, ignore_errors=True)

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
    def reusable(self) -> tuple[Manifest | None, object | None]:
        """The live manifest and collection when a build can reuse their vectors, else (None, None)."""
        try:
            current = self.read_manifest()
        except IndexCorrupt:
            return None, None
        if not current or current.model != self.settings.model_name or current.chunking_version != CHUNKING_VERSION:
            return None, None
        try:
            _, old = self.live_collection()
        except IndexUnavailable:
            return None, None
        return current, old

    def build(
        self,
        chunks: list[Chunk],
        embed: Callable[[list[str]], list[list[float]]],
        previous: "Store | None" = None,
        progress: Callable[[int, int], None] | None = None,
        keep: Iterable[str] = (),
    ) -> BuildReport:
        """Write a new collection (vectors of unchanged chunks copied from `previous`), then switch the manifest.

        `previous` is the store holding the live index (this one, for a Chroma server; the previous generation's
        directory, locally), or None for a full build. Collections named in `keep` survive the clean-up.
        """
        started = time.perf_counter()
        wanted = {c.content_hash: c for c in chunks}
        current, old = previous.reusable() if previous is not None else (None, None)
        name = f"{self.settings.collection_prefix}-{uuid.uuid4().hex[:12]}"
        target = self.client.create_collection(name, embedding_function=None, metadata={"hnsw:space": "cosine"})
        reused = 0
        removed = 0
        old_ids: set[str] = set()
        if old is not None:
            old_ids = set(get_all(old, include=[])["ids"])
            keep_ids = sorted(old_ids & wanted.keys())
            removed = len(old_ids - wanted.keys())
            for i in range(0, len(keep_ids), 256):
                got = old.get(ids=keep_ids[i : i + 256], include=["embeddings", "documents", "metadatas"])
                target.add(ids=got["ids"], embeddings=got["embeddings"], documents=got["documents"],
                           metadatas=got["metadatas"])
                reused += len(got["ids"])
        todo = [c for h, c in wanted.items() if h not in old_ids]
        from lifecycle_bot.core.index.generations import _failpoint

        units_target = self.client.create_collection(f"{name}-units", embedding_function=None,
                                                     metadata={"hnsw:space": "cosine"})
        unit_rows, pending = self._copy_units(units_target, wanted, previous if old is not None else None, current)
        # one pass over every new text, chunks and units alike: progress counts all of it
        vectors = embed_sorted(embed, [c.embed_text for c in todo] + [t for _, _, t in pending], progress)
        chunk_vectors, fresh_units = vectors[: len(todo)], vectors[len(todo):]
        from llama_index.core.schema import TextNode
        from llama_index.vector_stores.chroma import ChromaVectorStore

        vector_store = ChromaVectorStore(chroma_collection=target)
        for i in range(0, len(todo), 1024):
            vector_store.add([TextNode(id_=c.content_hash, text=c.text, metadata=_metadata(c), embedding=v)
                              for c, v in zip(todo[i : i + 1024], chunk_vectors[i : i + 1024])])
            _failpoint("mid-embed")
        _failpoint("before-units")
        for i in range(0, len(pending), 2048):
            batch = pending[i : i + 2048]
            units_target.add(ids=[f"{h}:{n}" for h, n, _ in batch], embeddings=fresh_units[i : i + 2048],
                             metadatas=[{"chunk": h, "i": n} for h, n, _ in batch])
        unit_vectors = group_units(unit_rows + [(h, n, v) for (h, n, _), v in zip(pending, fresh_units)])
        files: dict[str, int] = {}
        for c in chunks:
            files[c.file] = files.get(c.file, 0) + 1
        manifest = Manifest(name, self.settings.model_name, CHUNKING_VERSION, kb_hash(chunks), target.count(), files,
                            time.time(), units_target.count())
        self.save_artifacts(manifest, bm25_texts(wanted.values()), unit_vectors)
        _failpoint("before-manifest")
        self._write_manifest(manifest)  # the switch inside this store
        self._drop_others(keep={name, *keep})
        return BuildReport(name, manifest.count, len(todo), reused, removed, False,
                           time.perf_counter() - started, old is None)

    def _copy_units(self, target, wanted: dict[str, Chunk], previous: "Store | None", current: Manifest | None
                    ) -> tuple[list[tuple[str, int, object]], list[tuple[str, int, str]]]:
        """Copy the unit vectors of unchanged chunks from the previous index; the units still to embed.

        Returns the copied (chunk, unit number, vector) rows and the (chunk, unit number, text) to embed.
        """
        from lifecycle_bot.core.ingest.units import units_of

        rows: list[tuple[str, int, object]] = []
        have: set[str] = set()
        if previous is not None and current is not None:
            try:
                old_units = previous.units_collection(current)
                got = get_all(old_units, include=["embeddings", "metadatas"])
                keep = [i for i, m in enumerate(got["metadatas"]) if m["chunk"] in wanted]
                for i in range(0, len(keep), 2048):
                    idx = keep[i : i + 2048]
                    target.add(ids=[got["ids"][j] for j in idx], embeddings=[got["embeddings"][j] for j in idx],
                               metadatas=[got["metadatas"][j] for j in idx])
                rows = [(got["metadatas"][j]["chunk"], int(got["metadatas"][j]["i"]), got["embeddings"][j])
                        for j in keep]
                have = {got["metadatas"][j]["chunk"] for j in keep}
            except IndexUnavailable:
                rows, have = [], set()
        pending = [(h, i, u.text[:500]) for h, c in wanted.items() if h not in have for i, u in enumerate(units_of(c))]
        return rows, pending

    def load_unit_vectors(self, manifest: Manifest) -> dict[str, "object"]:
        """chunk hash -> array of its units' vectors, in unit order: the saved file, else read from Chroma."""
        from lifecycle_bot.core.index import artifacts

        folder = self.artifacts_dir(manifest)
        saved = artifacts.load_units(folder, manifest.units)
        if saved is not None:
            return saved
        got = get_all(self.units_collection(manifest), include=["embeddings", "metadatas"])
        vectors = group_units([(m["chunk"], int(m["i"]), v) for v, m in zip(got["embeddings"], got["metadatas"])])
        try:
            artifacts.save_units(folder, vectors)
        except OSError:
            pass
        return vectors

    def _drop_others(self, keep: set[str]) -> None:
        wanted = keep | {f"{k}-units" for k in keep}
        for other in self._collection_names():
            if other.startswith(self.settings.collection_prefix + "-") and other not in wanted:
                try:
                    self.client.delete_collection(other)
                except Exception:
                    pass

    def load_chunks(self) -> tuple[Manifest, object, list[Chunk]]:
        manifest, collection = self.live_collection()
        got = get_all(collection, include=["documents", "metadatas"])
        chunks = [chunk_from_record(d, m) for d, m in zip(got["documents"], got["metadatas"])]
        if len(chunks) != manifest.count:
            raise IndexCorrupt("the index changed while loading; try again")
        return manifest, collection, chunks


@dataclass
class Reader:
    """One opened generation: its store, and the lease that keeps it on disk until `release`."""

    generation: object
    store: Store
    _release: Callable[[], None] = lambda: None
    _touch: Callable[[], None] = lambda: None

    def release(self) -> None:
        self._release()

    def touch(self) -> None:
        """Refresh the lease's heartbeat (cheap; throttled by the index)."""
        self._touch()


GENERATION_TTL = 1.0  # seconds a server-mode reader trusts the live collection it last saw


class ServerIndex:
    """The index on a Chroma server: the manifest collection says which collection is live."""

    def __init__(self, settings: Settings):
        from lifecycle_bot.core.index.generations import BuildLock

        self.settings = settings
        self.store = Store(settings)
        self.lock = BuildLock(settings.data_dir / "index")  # serialises builds started from this machine
        self._seen: tuple[float, str | None] | None = None  # (when, the live collection then)

    def generation(self) -> str | None:
        """The live collection, asked of the server at most once a `GENERATION_TTL` (two HTTP round trips
        before every question were a third of an answer at 26k chunks); a build from here is seen at once."""
        now = time.monotonic()
        if self._seen is None or now - self._seen[0] >= GENERATION_TTL:
            manifest = self.store.read_manifest()
            self._seen = (now, manifest.collection if manifest else None)
        return self._seen[1]

    def open(self) -> Reader:
        manifest, _ = self.store.live_collection()
        self._seen = (time.monotonic(), manifest.collection)
        return Reader(manifest.collection, self.store)

    def build(self, chunks: list[Chunk], embed, rebuild: bool = False, progress=None,
              notify: Callable[[str], None] | None = None, wait: float | None = None) -> BuildReport:
        from lifecycle_bot.core.index.generations import BuildBusy

        started = time.perf_counter()
        try:
            self.lock.acquire(notify=notify, **({"wait": wait} if wait is not None else {}))
        except BuildBusy as exc:
            raise IndexBusy(str(exc)) from None
        try:
            current, old = (None, None) if rebuild else self.store.reusable()
            if old is not None and current.kb_hash == kb_hash(chunks):
                return BuildReport(current.collection, current.count, 0, current.count, 0, True,
                                   time.perf_counter() - started, False)
            keep = [current.collection] if current else []  # readers that have not switched yet
            return self.store.build(chunks, embed, previous=None if rebuild else self.store, progress=progress,
                                    keep=keep)
        finally:
            self._seen = None  # our own build: the next question reads the new live collection
            self.lock.release()


class IndexBusy(IndexUnavailable):
    """Another build held the lock for longer than we waited."""


LEGACY_DIR = "chroma"  # the single-directory layout before generations


class LocalIndex:
    """Generations of embedded Chroma stores under `<data dir>/index/` (see `generations`)."""

    def __init__(self, settings: Settings):
        from lifecycle_bot.core.index.generations import BuildLock, Registry

        self.settings = settings
        self.root = settings.data_dir / "index"
        self.registry = Registry(self.root)
        self.lock = BuildLock(self.root)

    def _registry_error(self, exc: Exception) -> IndexCorrupt:
        return IndexCorrupt(f"the index registry {exc}; run `lifecycle-bot index --rebuild`")

    def generation(self) -> int | None:
        """The live generation number: one small sqlite read, cheap enough before every question."""
        from lifecycle_bot.core.index.generations import RegistryError

        try:
            return self.registry.current()
        except RegistryError as exc:
            raise self._registry_error(exc) from None

    def _store(self, gen: int) -> Store:
        from lifecycle_bot.core.index.generations import gen_dir

        path = gen_dir(self.root, gen)
        db = path / "chroma.sqlite3"
        if not db.exists():
            raise IndexCorrupt(f"the index generation {path} is missing; run `lifecycle-bot index --rebuild`")
        if db.stat().st_size == 0:
            raise IndexCorrupt(f"the index file {db} is empty (0 bytes); run `lifecycle-bot index --rebuild`")
        return Store(self.settings, client=make_client(self.settings, path), folder=path)

    def open(self) -> Reader:
        """Lease the live generation and open it; the caller releases the reader when it has switched."""
        from lifecycle_bot.core.index.generations import HEARTBEAT_EVERY, RegistryError

        gen = self.generation()
        if gen is None:
            raise IndexMissing("no index has been built yet; run `lifecycle-bot index`")
        try:
            self.registry.lease(gen)
        except RegistryError as exc:
            raise self._registry_error(exc) from None
        if self.generation() != gen:  # switched (and maybe collected) between the read and the lease
            self.registry.release(gen)
            return self.open()
        try:
            store = self._store(gen)
            store.live_collection()
        except IndexMissing:  # the registry names a generation whose own manifest is gone
            self.registry.release(gen)
            raise IndexCorrupt(f"the index generation {gen} has lost its manifest; "
                               "run `lifecycle-bot index --rebuild`") from None
        except Exception:
            self.registry.release(gen)
            raise
        beat = [time.monotonic()]

        def touch() -> None:
            if time.monotonic() - beat[0] > HEARTBEAT_EVERY:
                beat[0] = time.monotonic()
                try:
                    self.registry.heartbeat(gen)
                except RegistryError:
                    pass

        def release() -> None:
            _close(store)
            try:
                self.registry.release(gen)
            except RegistryError:
                return
            self.collect_if_idle()

        return Reader(gen, store, release, touch)

    def collect_if_idle(self) -> list[int]:
        """Delete unleased old generations now, unless a build is running (it collects when it ends)."""
        if not self.lock.try_acquire():
            return []
        try:
            return self._collect(keep=set())
        finally:
            self.lock.release()

    def _collect(self, keep: set[int]) -> list[int]:
        from lifecycle_bot.core.index.generations import collect, remove_tree

        def on_disk() -> list[Path]:
            return sorted(p for p in self.root.glob("gen-*") if p.is_dir())

        return collect(self.registry, keep, on_disk, remove_tree)

    def build(self, chunks: list[Chunk], embed, rebuild: bool = False, progress=None,
              notify: Callable[[str], None] | None = None, wait: float | None = None) -> BuildReport:
        """Build a new generation (reusing the live one's vectors unless `rebuild`) and switch to it.

        Waits for a running build. `rebuild` works from any state of the directory: it never reads the
        old generations, and a damaged registry is moved aside (said through `notify`).
        """
        from lifecycle_bot.core.index.generations import BuildBusy, RegistryError, _failpoint, gen_dir

        started = time.perf_counter()
        say = notify or (lambda message: None)
        try:
            self.lock.acquire(notify=say, **({"wait": wait} if wait is not None else {}))
        except BuildBusy as exc:
            raise IndexBusy(str(exc)) from None
        try:
            _failpoint("locked")
            try:
                current = self.registry.current()
            except RegistryError as exc:
                if not rebuild:
                    raise self._registry_error(exc) from None
                moved = self.registry.move_aside()
                say(f"the index registry {exc}; moved it to {moved} and starting over")
                current = None
            self._collect(keep=set())  # builds that died, generations nobody reads any more
            previous = None
            if current is not None and not rebuild:
                try:
                    previous = self._store(current)
                except IndexUnavailable as exc:
                    say(f"the live index cannot be reused ({exc}); building a new one from scratch")
            try:
                if previous is not None:
                    manifest, old = previous.reusable()
                    if old is not None and manifest.kb_hash == kb_hash(chunks):
                        return BuildReport(manifest.collection, manifest.count, 0, manifest.count, 0, True,
                                           time.perf_counter() - started, False)
                gen = self.registry.begin()
                folder = gen_dir(self.root, gen)
                target = Store(self.settings, client=make_client(self.settings, folder), folder=folder)
                try:
                    report = target.build(chunks, embed, previous=previous, progress=progress)
                finally:
                    _close(target)
            finally:
                if previous is not None:
                    _close(previous)
            _failpoint("before-switch")
            self.registry.publish(gen)  # the switch: readers see the new generation from here on
            _failpoint("after-switch")
            self._collect(keep=set())
            self._drop_legacy(say)
            report.seconds = time.perf_counter() - started
            return report
        finally:
            self.lock.release()

    def _drop_legacy(self, say: Callable[[str], None]) -> None:
        """The index from before generations (`<data dir>/chroma`) is not read any more: remove it once."""
        import shutil

        legacy = self.settings.data_dir / LEGACY_DIR
        if (legacy / "chroma.sqlite3").exists():
            shutil.rmtree(legacy, ignore_errors=True)
            say(f"removed the index in the old layout ({legacy}); the index now lives in {self.root}")


def _close(store: Store) -> None:
    """Let go of an embedded client (Chroma shares one per directory and counts its users)."""
    try:
        store.client.close()
    except Exception:  # closing must never turn a good answer or build into an error
        pass


def open_index(settings: Settings) -> "LocalIndex | ServerIndex":
    return ServerIndex(settings) if settings.chroma_url else LocalIndex(settings)
