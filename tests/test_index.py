"""Index: incremental updates, model/chunking changes, interrupted builds, corrupt and missing indexes."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifecycle_bot.core.index import store as index_mod
from lifecycle_bot.core.bot import Bot
from lifecycle_bot.core.index.store import IndexCorrupt, IndexMissing
from lifecycle_bot.core.settings import Settings


class CountingBot(Bot):
    """A real Bot that records how many texts it embedded."""

    embedded: list[str]

    def embed_texts(self, texts):
        self.embedded.extend(texts)
        return super().embed_texts(texts)


def make_bot(kb: Path, data: Path, **kw) -> CountingBot:
    bot = CountingBot(Settings(kb_dir=kb, data_dir=data, **kw))
    bot.embedded = []
    return bot


def test_incremental_reindex(kb_copy: Path, tmp_path: Path):
    data = tmp_path / "data"
    bot = make_bot(kb_copy, data)
    first = bot.index()
    assert first.full_rebuild and first.embedded == first.total > 5

    bot.embedded = []
    again = bot.index()
    assert again.unchanged and bot.embedded == []

    guide = kb_copy / "guide.md"
    guide.write_text(guide.read_text().replace("is killed by the kernel", "is stopped by the kernel's OOM killer"))
    bot.embedded = []
    changed = bot.index()
    assert not changed.full_rebuild
    assert changed.embedded == 1  # only the OOMKilled section (and its sentences) is embedded again
    assert changed.reused == first.total - 1
    assert any("OOM killer" in t for t in bot.embedded)
    assert not any("Check the events with kubectl" in t or "execute_async" in t for t in bot.embedded)

    (kb_copy / "excalidraw" / "flow.excalidraw").unlink()
    bot.embedded = []
    deleted = bot.index()
    assert bot.embedded == [] and deleted.removed >= 1
    assert not any(c.kind == "diagram" for c in Bot(bot.settings).chunks())


def test_model_or_chunking_change_rebuilds_everything(kb_copy: Path, tmp_path: Path, monkeypatch):
    data = tmp_path / "data"
    make_bot(kb_copy, data).index()
    other_model = make_bot(kb_copy, data, model_name="another-model")
    report = other_model.index()
    assert report.full_rebuild and report.embedded == report.total

    monkeypatch.setattr(index_mod, "CHUNKING_VERSION", "999")
    bot = make_bot(kb_copy, data, model_name="another-model")
    report = bot.index()
    assert report.full_rebuild and report.embedded == report.total
    assert len(bot.embedded) > report.total  # every chunk and every quotable sentence again


def test_interrupted_build_keeps_serving_the_old_index(kb_copy: Path, tmp_path: Path):
    data = tmp_path / "data"
    good = make_bot(kb_copy, data)
    good.index()
    before = good.ask("why is my pod stuck in Pending?")

    (kb_copy / "new.md").write_text("## 9. New\n\n" + "\n\n".join(f"Paragraph {i}." for i in range(200)))

    class Dies(CountingBot):
        def embed_texts(self, texts):
            raise KeyboardInterrupt("power cut")

    dying = Dies(Settings(kb_dir=kb_copy, data_dir=data))
    dying.embedded = []
    with pytest.raises(KeyboardInterrupt):
        dying.index()

    reader = Bot(Settings(kb_dir=kb_copy, data_dir=data))
    assert not any(c.file == "new.md" for c in reader.chunks())
    after = reader.ask("why is my pod stuck in Pending?")
    assert after.citations[0] == before.citations[0]
    generations = sorted(p.name for p in (data / "index").glob("gen-*"))
    assert len(generations) == 2, "the interrupted build should have left its half generation aside"

    reader.index()
    reader.ask("why is my pod stuck in Pending?")  # switches to the new generation and lets go of the old one
    assert len(list((data / "index").glob("gen-*"))) == 1, "the half generation and the old one are collected"


def test_missing_index_is_reported(tmp_path: Path, kb_copy: Path):
    bot = Bot(Settings(kb_dir=kb_copy, data_dir=tmp_path / "empty"))
    with pytest.raises(IndexMissing, match="lifecycle-bot index"):
        bot.load()


def test_manifest_pointing_at_a_lost_collection_is_corrupt(kb_copy: Path, tmp_path: Path):
    data = tmp_path / "data"
    bot = make_bot(kb_copy, data)
    bot.index()
    reader = bot.index_store.open()
    manifest, _ = reader.store.live_collection()
    reader.store.client.delete_collection(manifest.collection)
    reader.release()
    fresh = Bot(Settings(kb_dir=kb_copy, data_dir=data))
    with pytest.raises(IndexCorrupt, match="--rebuild"):
        fresh.load()
    fresh.index(rebuild=True)
    assert fresh.ask("what does OOMKilled mean?").citations


def test_garbage_index_files_get_a_clear_error_and_rebuild_repairs(kb_copy: Path, tmp_path: Path):
    data = tmp_path / "data"
    (data / "index").mkdir(parents=True)
    (data / "index" / "registry.sqlite3").write_bytes(b"this is not a database" * 100)
    bot = Bot(Settings(kb_dir=kb_copy, data_dir=data))
    with pytest.raises(IndexCorrupt, match="--rebuild"):
        bot.load()
    repaired = Bot(Settings(kb_dir=kb_copy, data_dir=data))
    repaired.index(rebuild=True)
    assert repaired.ask("what does OOMKilled mean?").citations


# -- what a build saves beside the vectors (BM25, sentence vectors) and the identifier postings ------------


def test_postings_agree_with_a_scan_of_every_chunk(session_bot: Bot):
    """The inverted index must find exactly the chunks a whole-token regex scan finds, for every identifier."""
    from lifecycle_bot.core.index.postings import Postings, identifier_pattern
    from lifecycle_bot.core.text import identifiers

    texts = [c.embed_text.lower() for c in session_bot.chunks()]
    postings = Postings.build(texts)
    asked = {i for t in texts for i in identifiers(t)} | {w for t in texts for w in t.split()[:30]} | {
        "pod", "410", "sidecar.istio.io/inject", "--logical-date", "exit code", "(", "ÉTÉ", "no_such_identifier_x"}
    assert len(asked) > 100
    for ident in sorted(asked):
        pattern = identifier_pattern(ident)
        scan = tuple(i for i, t in enumerate(texts) if pattern.search(t))
        assert postings.containing(ident) == scan, ident
    assert postings.containing("no_such_identifier_x") == ()


def test_a_build_saves_bm25_and_sentence_vectors_and_a_start_uses_them(kb_copy: Path, tmp_path: Path, monkeypatch):
    from lifecycle_bot.core.index import artifacts

    bot = Bot(Settings(kb_dir=kb_copy, data_dir=tmp_path / "data"))
    bot.index()
    gen = next((tmp_path / "data" / "index").glob("gen-*"))
    assert (gen / artifacts.BM25_DIR).is_dir() and (gen / artifacts.UNITS_FILE).exists()
    expected = [h.chunk.content_hash for h in bot.search("why is my pod stuck in Pending?").hits]

    built = []
    real_make = artifacts.make_bm25
    monkeypatch.setattr(artifacts, "make_bm25", lambda *a, **k: built.append(1) or real_make(*a, **k))
    fresh = Bot(bot.settings)
    assert [h.chunk.content_hash for h in fresh.search("why is my pod stuck in Pending?").hits] == expected
    assert built == [], "a start must load the saved BM25 index, not build it again"
    assert {k: v.tolist() for k, v in fresh._current().unit_vectors.items()} == \
        {k: v.tolist() for k, v in bot._current().unit_vectors.items()}


def test_damaged_start_up_files_are_rebuilt_from_the_index(kb_copy: Path, tmp_path: Path):
    from lifecycle_bot.core.index import artifacts

    bot = Bot(Settings(kb_dir=kb_copy, data_dir=tmp_path / "data"))
    bot.index()
    question = "what does task_publish_max_retries do?"
    before = bot.ask(question)
    gen = next((tmp_path / "data" / "index").glob("gen-*"))
    (gen / artifacts.UNITS_FILE).write_bytes(b"not a numpy file")
    for f in (gen / artifacts.BM25_DIR).iterdir():
        f.write_bytes(b"\x00garbage")
    after = Bot(bot.settings).ask(question)
    assert after.text == before.text and after.citations == before.citations
    # and they were saved again, readable this time
    assert artifacts.load_units(gen, sum(len(v) for v in bot._current().unit_vectors.values())) is not None
    assert artifacts.load_bm25(gen / artifacts.BM25_DIR, list(artifacts_ids(bot)), 20) is not None


def artifacts_ids(bot: Bot) -> list[str]:
    from lifecycle_bot.core.index.store import bm25_texts

    return list(bm25_texts(bot.chunks()))


def test_build_progress_counts_chunks_and_sentences(kb_copy: Path, tmp_path: Path):
    seen: list[tuple[int, int]] = []
    report = Bot(Settings(kb_dir=kb_copy, data_dir=tmp_path / "data")).index(progress=lambda d, t: seen.append((d, t)))
    totals = {t for _, t in seen}
    assert len(totals) == 1 and totals.pop() > report.total, "one total: every chunk and every sentence to embed"
    assert seen[0][0] == 0 and seen[-1][0] == seen[-1][1]
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_a_second_data_dir_takes_every_vector_from_the_machines_cache(kb_copy: Path, tmp_path: Path, monkeypatch):
    """Nothing is embedded twice on one machine: a fresh data dir (or --rebuild) reads the vectors it needs
    from the cache; a damaged cache file only costs the time of embedding again."""
    from lifecycle_bot.core.index.vector_cache import VectorCache

    cache = tmp_path / "cache"
    first = Bot(Settings(kb_dir=kb_copy, data_dir=tmp_path / "a", cache_dir=cache))
    first.index()
    expected = [h.chunk.content_hash for h in first.search("why is my pod stuck in Pending?").hits]

    computed: list[str] = []  # texts the model itself was asked to embed
    real = VectorCache.embed

    def counting(self, embed, texts):
        return real(self, lambda todo: computed.extend(todo) or embed(todo), texts)

    monkeypatch.setattr(VectorCache, "embed", counting)
    second = Bot(Settings(kb_dir=kb_copy, data_dir=tmp_path / "b", cache_dir=cache))
    report = second.index()
    assert report.embedded == report.total and computed == []
    assert [h.chunk.content_hash for h in second.search("why is my pod stuck in Pending?").hits] == expected

    db = next((cache / "vectors").glob("*.sqlite3"))
    for extra in db.parent.glob(db.name + "-*"):
        extra.unlink()
    db.write_bytes(b"this is not a database" * 100)
    third = Bot(Settings(kb_dir=kb_copy, data_dir=tmp_path / "c", cache_dir=cache))
    third.index(rebuild=True)
    assert len(computed) > report.total, "with the cache unreadable, everything is embedded"
    assert [h.chunk.content_hash for h in third.search("why is my pod stuck in Pending?").hits] == expected
    assert VectorCache(tmp_path / "nowhere" / "x.sqlite3").get_many(["a"]) == {}


def test_every_record_is_read_a_page_at_a_time(tmp_path, monkeypatch):
    """A Chroma server refuses one `get` of 42k records (SQLite's variable limit): reads go by pages."""
    import chromadb

    from lifecycle_bot.core.index import store

    client = chromadb.PersistentClient(path=str(tmp_path / "c"), settings=chromadb.config.Settings(anonymized_telemetry=False))
    col = client.create_collection("paged", embedding_function=None)
    col.add(ids=[f"id{i:02d}" for i in range(11)], embeddings=[[float(i), 1.0] for i in range(11)],
            documents=[f"doc {i}" for i in range(11)], metadatas=[{"i": i} for i in range(11)])
    calls = []

    class Counted:  # the collection, counting its reads
        def get(self, **kw):
            calls.append(kw)
            return col.get(**kw)

    monkeypatch.setattr(store, "PAGE", 4)
    got = store.get_all(Counted(), include=["documents", "metadatas", "embeddings"])
    assert sorted(got["ids"]) == [f"id{i:02d}" for i in range(11)] and len(set(got["ids"])) == 11
    assert {m["i"] for m in got["metadatas"]} == set(range(11)) and len(got["embeddings"]) == 11
    assert all(d == f"doc {m['i']}" for d, m in zip(got["documents"], got["metadatas"]))
    assert [c["limit"] for c in calls] == [4, 4, 4] and all(c["limit"] <= 4 for c in calls)


def test_paste_links_are_worked_out_once_per_index_and_a_damaged_file_again(kb_copy, tmp_path):
    import json

    from lifecycle_bot.core.index.artifacts import LINKS_FILE
    from lifecycle_bot.core.signatures import SIGNATURES

    settings = Settings(kb_dir=kb_copy, data_dir=tmp_path / "data")
    bot = Bot(settings)
    bot.index()
    bot.load()
    try:
        (saved,) = list((tmp_path / "data" / "index").rglob(LINKS_FILE))
        links = json.loads(saved.read_text())
        assert sorted(links) == sorted(s.name for s in SIGNATURES)
        pending = next(s for s in SIGNATURES if s.name == "insufficient")
        top = bot.search(pending.query, boost_terms=list(pending.terms)).hits[0].chunk
        assert links[pending.name] == top.content_hash  # what a search gives, saved
    finally:
        bot.close()
    saved.write_text('{"insufficient": "no-such-chunk"')  # cut short
    again = Bot(settings)
    again.load()
    try:
        assert json.loads(saved.read_text()) == links  # not trusted: worked out again and saved
    finally:
        again.close()
