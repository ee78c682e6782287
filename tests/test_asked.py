"""Operators' wording of a section (`<name>.asked.toml`): found by search, never quoted, bad sidecars reported."""

from __future__ import annotations

from pathlib import Path

from lifecycle_bot.core.bot import Bot
from lifecycle_bot.core.ingest import load_kb
from lifecycle_bot.core.ingest.units import units_of
from lifecycle_bot.core.settings import Settings

# words the fixture guide does not use anywhere, so only the sidecar can lead a question to its section
PHRASE = "scheduler keeps the marmalade jar sealed"


def _sidecar(kb: Path, text: str) -> None:
    (kb / "guide.asked.toml").write_text(text)


def test_sidecar_entries_become_one_searched_chunk_per_section(kb_copy: Path):
    _sidecar(kb_copy, f'["33-image-pull-errors"]\nasked = ["{PHRASE}", "ErrImagePull", "  {PHRASE}  "]\n')
    chunks, errors = load_kb(kb_copy)
    assert errors == []
    asked = [c for c in chunks if c.kind == "asked"]
    assert len(asked) == 1
    (chunk,) = asked
    assert chunk.anchor == "33-image-pull-errors" and chunk.file == "guide.md"
    assert chunk.text.splitlines() == [PHRASE, "ErrImagePull"]  # whitespace folded, duplicates dropped
    section = next(c for c in chunks if c.anchor == "33-image-pull-errors" and c.kind == "section")
    assert chunk.section_key == section.section_key and chunk.heading_path == section.heading_path
    assert [u.kind for u in units_of(chunk)] == ["asked", "asked"]  # one vector per entry, for search only


def test_a_bad_sidecar_is_reported_and_the_guide_still_indexed(kb_copy: Path):
    plain, _ = load_kb(kb_copy)
    for text, says in [('["33-image-pull-errors"\nasked = 1', "not valid TOML"),
                       ('["no-such-section"]\nasked = ["x"]\n', "no section `no-such-section`"),
                       ('["33-image-pull-errors"]\nasked = "one string"\n', "must be a list of strings"),
                       ('["33-image-pull-errors"]\nasked = ["' + "x" * 400 + '"]\n', "at most")]:
        _sidecar(kb_copy, text)
        chunks, errors = load_kb(kb_copy)
        assert [c for c in chunks if c.kind != "asked"] == plain
        assert not [c for c in chunks if c.kind == "asked"]
        assert len(errors) == 1 and errors[0].file == "guide.asked.toml" and says in errors[0].message, errors
    (kb_copy / "guide.asked.toml").write_bytes(b"\xff\xfe not text")
    chunks, errors = load_kb(kb_copy)
    assert "not UTF-8" in errors[0].message and [c for c in chunks if c.kind != "asked"] == plain


def test_a_question_in_the_operators_words_finds_the_section_but_the_answer_quotes_only_the_guide(kb_copy, tmp_path):
    question = f"why does the {PHRASE}?"
    bot = Bot(Settings(kb_dir=kb_copy, data_dir=tmp_path / "data"))
    bot.index()
    bot.load()
    before = bot.search(question).hits[0].chunk.anchor
    bot.close()

    _sidecar(kb_copy, f'["33-image-pull-errors"]\nasked = ["{PHRASE}"]\n')
    bot = Bot(Settings(kb_dir=kb_copy, data_dir=tmp_path / "data"))
    report = bot.index()
    assert report.embedded == 1  # only the new asked chunk: the guide's own chunks are unchanged
    bot.load()
    try:
        hits = bot.search(question).hits
        assert before != "33-image-pull-errors" and hits[0].chunk.anchor == "33-image-pull-errors"
        assert all(h.chunk.kind != "asked" for h in hits)  # the hit shows the section's own text
        answer = bot.ask(question)
        assert "marmalade" not in answer.text
        assert all(c.kind != "asked" for c in bot.chunks())
        assert all(c.kind != "asked" for chunks in bot.section_chunks().values() for c in chunks)
    finally:
        bot.close()
