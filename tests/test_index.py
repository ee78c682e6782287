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
