"""The embedding model: the packaged all-MiniLM-L6-v2 behind llama-index's HuggingFace wrapper.

Loaded lazily and once per process: importing sentence-transformers costs seconds, and a no-change
re-index or a `--help` should not pay it.
"""

from __future__ import annotations

import contextlib
import threading
from functools import lru_cache

_lock = threading.Lock()


@lru_cache(maxsize=4)
def _load(model_path: str):
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    return HuggingFaceEmbedding(model_name=model_path, device="cpu", embed_batch_size=32, show_progress_bar=False)


def get_embedder(model_path: str):
    with _lock:
        model = _load(model_path)
    return model



# -- the same model through onnxruntime, for fast start-up ----------------------------------------
#
# Importing torch, transformers and sentence-transformers costs ~6 s of a ~13 s cold start on this
# 2-core machine. `lifecycle-bot index` therefore also exports the packaged MiniLM to ONNX (once per
# model, checked against sentence-transformers before it is used), and answering loads that with
# onnxruntime (already installed with chromadb) and the model's own tokenizer.json: the same
# weights, the same tokenisation, mean pooling and L2 normalisation as the sentence-transformers
# pipeline (modules.json: Transformer -> Pooling(mean) -> Normalize), vectors equal to float precision.

ONNX_FILE = "model.onnx"
TOKEN_BUDGET = 4096  # padded tokens per model call while indexing (16 sections of 256 tokens, or 100 sentences)
AGREEMENT = 0.9999  # minimum cosine between the two paths on the check texts
_CHECK_TEXTS = ["why is my pod stuck in Pending?", "OOMKilled exit code 137 after the memory limit",
                "worker_pods_creation_batch_size " * 120]  # the last one is cut at the model's maximum length


def onnx_dir(model_path: str, cache_dir) -> "Path":
    """Where the export of this model lives: keyed by the weights file, so new weights mean a new export."""
    import hashlib
    from pathlib import Path

    weights = Path(model_path) / "model.safetensors"
    stat = weights.stat()
    key = hashlib.sha256(f"{weights.resolve()}|{stat.st_size}|{int(stat.st_mtime)}".encode()).hexdigest()[:12]
    return Path(cache_dir) / "onnx" / key


def _max_length(model_path: str) -> int:
    import json
    from pathlib import Path

    try:
        return int(json.loads((Path(model_path) / "sentence_bert_config.json").read_text())["max_seq_length"])
    except (OSError, ValueError, KeyError):
        return 256


def export_onnx(model_path: str, cache_dir) -> "Path | None":
    """Export the transformer to ONNX (once) and keep it only if it agrees with sentence-transformers."""
    import logging
    import shutil
    import warnings

    import numpy as np
    import torch

    import os

    dest = onnx_dir(model_path, cache_dir)
    if (dest / ONNX_FILE).exists():
        return dest / ONNX_FILE
    st = get_embedder(model_path)._model  # the SentenceTransformer behind llama-index's wrapper
    transformer = st[0].auto_model.eval()

    class Encoder(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    tmp = dest.with_name(f"{dest.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    sample = st.tokenizer(["warm up", "a second sentence"], padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            logging.getLogger("torch.onnx").setLevel(logging.ERROR)
            torch.onnx.export(Encoder(transformer), tuple(sample[n] for n in names), str(tmp / ONNX_FILE),
                              input_names=names, output_names=["last_hidden_state"], opset_version=17,
                              dynamo=False,
                              dynamic_axes={n: {0: "batch", 1: "tokens"} for n in names + ["last_hidden_state"]})
        reference = np.asarray(st.encode(_CHECK_TEXTS, normalize_embeddings=True))
        exported = np.asarray(load_onnx(model_path, tmp / ONNX_FILE).get_text_embedding_batch(_CHECK_TEXTS))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if float((reference * exported).sum(axis=1).min()) < AGREEMENT:
        shutil.rmtree(tmp, ignore_errors=True)
        return None
    try:
        tmp.rename(dest)  # appears complete or not at all
    except OSError:  # another process finished first: keep its export
        shutil.rmtree(tmp, ignore_errors=True)
    return dest / ONNX_FILE


def tokenizers(model_path: str):
    """The model's own fast tokenizer twice: one pads a batch, one only counts tokens (never padded)."""
    from tokenizers import Tokenizer

    padder = Tokenizer.from_file(f"{model_path}/tokenizer.json")
    padder.enable_truncation(max_length=_max_length(model_path))
    padder.enable_padding(pad_id=0, pad_token="[PAD]")
    counter = Tokenizer.from_file(f"{model_path}/tokenizer.json")
    counter.enable_truncation(max_length=_max_length(model_path))
    counter.no_padding()
    return padder, counter


def _feed(padder, texts: list[str]) -> dict:
    import numpy as np

    encoded = padder.encode_batch(texts)
    return {
        "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
    }


def mean_pool(hidden, attention_mask) -> list[list[float]]:
    """sentence-transformers' Pooling(mean) then Normalize, on numpy arrays."""
    import numpy as np

    mask = attention_mask[..., None].astype(np.float32)
    pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
    pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
    return pooled.tolist()


def embed_in_slices(texts: list[str], counter, run) -> list[list[float]]:
    """`run` over consecutive slices of at most TOKEN_BUDGET padded tokens: a batch of long sections would
    otherwise hold attention matrices of over a gigabyte (batch x heads x length^2), for no gain in speed.
    Sorted by token count inside, so each slice pads little; returned in input order."""
    if len(texts) <= 1:
        return run(texts) if texts else []
    lengths = [len(e.ids) for e in counter.encode_batch(texts)]
    order = sorted(range(len(texts)), key=lengths.__getitem__)  # by tokens: characters are a rough guide
    out: list = [None] * len(texts)
    start = 0
    while start < len(order):
        end, longest = start, 0
        while end < len(order) and max(longest, lengths[order[end]]) * (end - start + 1) <= TOKEN_BUDGET:
            longest = max(longest, lengths[order[end]])
            end += 1
        end = max(end, start + 1)
        for i, vector in zip(order[start:end], run([texts[i] for i in order[start:end]])):
            out[i] = vector
        start = end
    return out


# -- bulk embedding for a build: the same model under bfloat16 autocast --------------------------
#
# A full build embeds ~2,500 sections and sentences (~185k tokens). On this machine onnxruntime does
# ~4k tokens/s in float32, so the build took ~45 s of embedding; torch's bfloat16 autocast (oneDNN,
# AVX-512 / AMX) halves that, with vectors at cosine >= 0.99996 to float32 on every kb/ text. It is
# used only where the CPU runs bfloat16 natively and the result agrees with float32 on the check
# texts; elsewhere, and for a handful of new texts (not worth loading torch), the build embeds with
# the answering model.

BULK_MIN_TEXTS = 128  # fewer new texts than this: embed them with the answering model


@lru_cache(maxsize=2)
def _transformer(model_path: str):
    """The bare transformer (no sentence-transformers: its import alone costs ~4 s here)."""
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    return transformers.AutoModel.from_pretrained(model_path).eval()


@lru_cache(maxsize=2)
def bulk_encoder(model_path: str):
    """The bfloat16 encoder for this model, or None where bfloat16 is not native or does not agree."""
    import numpy as np
    import torch

    native = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    if native is None or not native():
        return None
    model = _transformer(model_path)
    padder, counter = tokenizers(model_path)

    def runner(bf16: bool):
        def run(texts: list[str]) -> list[list[float]]:
            feed = _feed(padder, texts)
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                hidden = model(**{k: torch.from_numpy(v) for k, v in feed.items()}).last_hidden_state
            return mean_pool(hidden.float().numpy(), feed["attention_mask"])
        return lambda texts: embed_in_slices(texts, counter, run)

    embed = runner(bf16=True)
    reference = np.asarray(runner(bf16=False)(_CHECK_TEXTS))
    if float((reference * np.asarray(embed(_CHECK_TEXTS))).sum(axis=1).min()) < AGREEMENT:
        return None
    return embed


def load_onnx(model_path: str, onnx_file, query_file=None):
    """A llama-index embedding model running the exported MiniLM with onnxruntime; questions go through
    `query_file` (the int8 copy) when given, everything stored in the index through `onnx_file`."""
    return _onnx_class()(model_path, onnx_file, query_file)


def _session(onnx_file, one_thread: bool = False):
    """`one_thread`: for one question at a time. Under load several answers embed at once; a second thread
    each, spinning while it waits, only takes the cores from the web server (50 users: 27 -> 30 answers/s)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    if one_thread:
        options.intra_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])


@lru_cache(maxsize=1)
def _onnx_class():
    """Defined on first use: llama-index is not imported by a no-change `index` run."""
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from pydantic import PrivateAttr

    class OnnxEmbedding(BaseEmbedding):
        _session: object = PrivateAttr()
        _query_session: object = PrivateAttr()
        _tokenizer: object = PrivateAttr()
        _counter: object = PrivateAttr()

        def __init__(self, model_path: str, onnx_file, query_file=None) -> None:
            super().__init__(model_name=f"{model_path} (onnx)", embed_batch_size=64)
            self._session = _session(onnx_file)
            try:
                self._query_session = _session(query_file or onnx_file, one_thread=True)
            except Exception as exc:  # a damaged int8 copy: questions in float32, and it is made again
                if not query_file:
                    raise
                import logging
                import os

                logging.getLogger(__name__).warning("ignoring %s (%s)", query_file, exc)
                with contextlib.suppress(OSError):
                    os.unlink(query_file)
                self._query_session = _session(onnx_file, one_thread=True)
            self._tokenizer, self._counter = tokenizers(model_path)

        @classmethod
        def class_name(cls) -> str:
            return "OnnxMiniLM"

        def _embed(self, texts: list[str], session=None) -> list[list[float]]:
            return embed_in_slices(texts, self._counter, lambda batch: self._run(batch, session or self._session))

        def _run(self, texts: list[str], session) -> list[list[float]]:
            feed = _feed(self._tokenizer, texts)
            hidden = session.run(None, feed)[0]
            return mean_pool(hidden, feed["attention_mask"])

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._embed([query], self._query_session)[0]

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._embed([text])[0]

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return self._embed(texts)

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

    return OnnxEmbedding


# -- questions through an int8 copy ------------------------------------------------------------------
#
# Embedding the question is most of an answer's time (MiniLM on ~25 word pieces: 7.8 ms of ~16 ms here).
# onnxruntime's dynamic int8 quantisation, per output channel, runs it in 2.4 ms; its vectors agree with
# float32 at cosine >= 0.987 on 200 eval questions (median 0.994). Only questions use it: the index keeps
# float32-grade vectors, so a question is compared with the same documents either way.

QUERY_FILE = "query.int8.onnx"
QUERY_AGREEMENT = 0.98  # minimum cosine of the int8 copy to float32 on the check texts
_QUERY_CHECK = _CHECK_TEXTS + ["Why does my task pod stay in ContainerCreating with FailedMount?",
                               "scheduler log: Event: airflow-task-abc had an event of type DELETED"]


def quantized_for_queries(model_path: str, onnx_file) -> "Path | None":
    """The int8 copy of the export next to it (made once, in about 2 s), or None when it does not agree."""
    import logging
    import os
    from pathlib import Path

    import numpy as np

    onnx_file = Path(onnx_file)
    dest = onnx_file.with_name(QUERY_FILE)
    if dest.exists():
        return dest
    tmp = dest.with_name(f"{dest.name}.tmp{os.getpid()}")
    quiet = logging.root.manager.disable
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        logging.disable(logging.WARNING)  # the quantiser's advice to pre-process the graph first
        try:
            quantize_dynamic(str(onnx_file), str(tmp), per_channel=True, weight_type=QuantType.QInt8)
        finally:
            logging.disable(quiet)
        padder, _ = tokenizers(model_path)
        feed = _feed(padder, _QUERY_CHECK)
        full = np.asarray(mean_pool(_session(onnx_file).run(None, feed)[0], feed["attention_mask"]))
        small = np.asarray(mean_pool(_session(tmp).run(None, feed)[0], feed["attention_mask"]))
        if float((full * small).sum(axis=1).min()) < QUERY_AGREEMENT:
            tmp.unlink(missing_ok=True)
            return None
        os.replace(tmp, dest)  # appears complete or not at all
        return dest
    except Exception as exc:  # no quantiser or a damaged export: questions use float32
        logging.getLogger(__name__).warning("questions embedded in float32 (%s)", exc)
        tmp.unlink(missing_ok=True)
        return None


def query_embedder(model_path: str, cache_dir, int8: bool = True):
    """The embedding model for answering: the checked ONNX export when there is one (questions through its
    checked int8 copy when `int8`), else sentence-transformers."""
    import logging

    path = onnx_dir(model_path, cache_dir) / ONNX_FILE
    if path.exists():
        try:
            return load_onnx(model_path, path, quantized_for_queries(model_path, path) if int8 else None)
        except Exception as exc:  # a damaged file: answer anyway, the slow way
            logging.getLogger(__name__).warning("ignoring %s (%s); using sentence-transformers", path, exc)
    return get_embedder(model_path)
