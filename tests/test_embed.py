"""The ONNX export of the embedding model: same vectors as sentence-transformers, no torch when answering."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from lifecycle_bot.core.bot import Bot
from lifecycle_bot.core.index.embed import (BULK_MIN_TEXTS, ONNX_FILE, QUERY_AGREEMENT, QUERY_FILE, bulk_encoder,
                                            get_embedder, load_onnx, onnx_dir, query_embedder)

TEXTS = ["why is my pod stuck in Pending?", "OOMKilled, exit code 137",
         "Événements: Warning FailedScheduling 0/3 nodes are available",  # non-ASCII
         "long " * 400]  # past the model's 256-token limit: both must cut at the same place


def test_export_gives_the_same_vectors_as_sentence_transformers(session_bot):
    settings = session_bot.settings
    path = onnx_dir(settings.resolved_model_path, settings.cache_dir) / ONNX_FILE
    assert path.exists(), "indexing exports the model"
    onnx = np.asarray(load_onnx(settings.resolved_model_path, path).get_text_embedding_batch(TEXTS))
    st = np.asarray(get_embedder(settings.resolved_model_path).get_text_embedding_batch(TEXTS))
    assert (onnx * st).sum(axis=1).min() > 0.9999
    assert np.allclose(np.linalg.norm(onnx, axis=1), 1.0, atol=1e-5)


def test_answering_in_a_new_process_does_not_import_torch(session_bot):
    settings = session_bot.settings
    code = (
        "import sys, json\nfrom pathlib import Path\n"
        "from lifecycle_bot.core.bot import Bot\n"
        "from lifecycle_bot.core.settings import Settings\n"
        f"bot = Bot(Settings(kb_dir=Path({str(settings.kb_dir)!r}), data_dir=Path({str(settings.data_dir)!r})))\n"
        "answer = bot.ask('why is my pod stuck in Pending?')\n"
        "print(json.dumps({'cited': [c.heading_path for c in answer.citations],"
        " 'heavy': sorted(m for m in ('torch', 'sentence_transformers', 'transformers', 'sklearn') if m in sys.modules)}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["heavy"] == []
    expected = session_bot.ask("why is my pod stuck in Pending?")
    assert result["cited"] == [c.heading_path for c in expected.citations], "same answer as the torch path"


def test_questions_go_through_the_int8_copy_and_agree_with_float32(session_bot):
    settings = session_bot.settings
    model_path = settings.resolved_model_path
    fast = query_embedder(model_path, settings.cache_dir)
    exact = query_embedder(model_path, settings.cache_dir, int8=False)
    assert (onnx_dir(model_path, settings.cache_dir) / QUERY_FILE).exists(), "made once, next to the export"
    questions = TEXTS + ["how do I give only one task 4 CPUs and 16Gi?", "pod airflow-x-1 Evicted: low ephemeral-storage"]
    q8 = np.asarray([fast.get_query_embedding(q) for q in questions])
    q32 = np.asarray([exact.get_query_embedding(q) for q in questions])
    assert not np.allclose(q8, q32), "a different model really answers"
    assert (q8 * q32).sum(axis=1).min() >= QUERY_AGREEMENT
    # what goes into the index is never the int8 copy's
    assert np.allclose(fast.get_text_embedding_batch(TEXTS), exact.get_text_embedding_batch(TEXTS), atol=1e-6)


def test_a_damaged_int8_copy_is_set_aside(session_bot, tmp_path, caplog):
    import shutil

    model_path = session_bot.settings.resolved_model_path
    source = onnx_dir(model_path, session_bot.settings.cache_dir)
    copy = onnx_dir(model_path, tmp_path)
    copy.parent.mkdir(parents=True)
    shutil.copytree(source, copy)
    (copy / QUERY_FILE).write_bytes(b"\x00not an onnx model")
    embedder = query_embedder(model_path, tmp_path)
    exact = query_embedder(model_path, tmp_path, int8=False)
    assert "ignoring" in caplog.text and not (copy / QUERY_FILE).exists()
    assert embedder.get_query_embedding("why Pending?") == pytest.approx(exact.get_query_embedding("why Pending?"))
    assert query_embedder(model_path, tmp_path) and (copy / QUERY_FILE).exists(), "made again next time"


def test_damaged_export_falls_back_to_sentence_transformers(session_bot, tmp_path, caplog):
    model_path = session_bot.settings.resolved_model_path
    broken = onnx_dir(model_path, tmp_path) / ONNX_FILE
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"\x00not an onnx model")
    embedder = query_embedder(model_path, tmp_path)
    assert type(embedder).__name__ == "HuggingFaceEmbedding"
    assert "ignoring" in caplog.text
    bot = Bot(session_bot.settings.with_(cache_dir=tmp_path))
    assert bot.ask("why is my pod stuck in Pending?").citations


def test_a_full_build_with_the_export_in_place_does_not_import_torch(session_bot, tmp_path):
    """Once the model is exported, a build with few new texts (here: the fixture KB in a fresh data dir) runs
    on onnxruntime alone, and gives the same vectors as the sentence-transformers build did."""
    settings = session_bot.settings
    code = (
        "import sys, json\nfrom pathlib import Path\n"
        "from lifecycle_bot.core.bot import Bot\n"
        "from lifecycle_bot.core.settings import Settings\n"
        f"bot = Bot(Settings(kb_dir=Path({str(settings.kb_dir)!r}), data_dir=Path({str(tmp_path / 'data')!r})))\n"
        "report = bot.index()\n"
        "hits = bot.search('why is my pod stuck in Pending?').hits\n"
        "print(json.dumps({'embedded': report.embedded, 'top': [h.chunk.heading_path for h in hits[:3]],"
        " 'heavy': sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules)}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["embedded"] == len(session_bot.chunks())
    assert result["heavy"] == []
    assert result["top"] == [h.chunk.heading_path for h in session_bot.search("why is my pod stuck in Pending?").hits[:3]]


def test_the_bulk_encoder_gives_the_same_vectors_as_sentence_transformers(session_bot):
    model_path = session_bot.settings.resolved_model_path
    bulk = bulk_encoder(model_path)
    if bulk is None:
        pytest.skip("this CPU has no native bfloat16: builds embed in float32")
    texts = TEXTS + [f"pod {i} OOMKilled" for i in range(40)]  # more than one token-budget slice
    ours = np.asarray(bulk(texts))
    st = np.asarray(get_embedder(model_path).get_text_embedding_batch(texts))
    assert (ours * st).sum(axis=1).min() > 0.9999
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_only_a_bulk_of_new_texts_loads_the_bulk_encoder(session_bot, tmp_path):
    settings = session_bot.settings.with_(cache_dir=tmp_path)
    assert Bot(settings)._bulk_encoder(BULK_MIN_TEXTS - 1) is None, "a few texts: no torch"
    off = Bot(settings.with_(index_bf16=False))
    assert off._bulk_encoder(10_000) is None, "LIFECYCLE_BOT_INDEX_BF16=0 keeps float32"
    bot = Bot(settings)
    expected = bulk_encoder(settings.resolved_model_path)
    assert bot._bulk_encoder(BULK_MIN_TEXTS) is expected
    texts = [f"section {i}: the watcher saw pod {i} Pending" for i in range(BULK_MIN_TEXTS)]
    vectors = np.asarray(bot.embed_texts(texts))
    reference = np.asarray(get_embedder(settings.resolved_model_path).get_text_embedding_batch(texts))
    assert vectors.shape == (BULK_MIN_TEXTS, 384) and (vectors * reference).sum(axis=1).min() > 0.9999
