"""The Bot: ingest -> index -> retrieve -> answer. Every face (CLI, UI, Slack), triage and the eval call this."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from lifecycle_bot.core.answer import confidence as conf
from lifecycle_bot.core.answer.extract import around, asked_part, compose
from lifecycle_bot.core.index.store import (BuildReport, IndexCorrupt, IndexMissing, IndexUnavailable, Reader,
                                            open_index)
from lifecycle_bot.core.ingest import load_kb
from lifecycle_bot.core.types import DECLINE_TEXT, Answer, Citation, Delta, Hit, IngestError, PasteFinding
from lifecycle_bot.core.settings import Settings
from lifecycle_bot.core.signatures import dominant, scan, split_question
from lifecycle_bot.core.scope import beside_the_kb, foreign_subject, foreign_topic, outside_scope
from lifecycle_bot.core.conversation import HistoryError, history_questions, is_followup, resolve_query
from lifecycle_bot.core.text import content_terms, idf_table

log = logging.getLogger(__name__)

if TYPE_CHECKING:  # retrieval pulls in llama-index; a no-change `index` run should not pay for it
    from lifecycle_bot.core.llm import ChatModel
    from lifecycle_bot.core.retrieve import HybridRetriever, SearchResult


@dataclass(eq=False)
class View:
    """One loaded index generation: everything a question reads, so a question never mixes two generations.

    `users` counts the questions answering from it; a view that was replaced gives back its reader (and
    with it the lease that keeps its files) when the last of them is done.
    """

    generation: object
    reader: Reader
    retriever: "HybridRetriever"
    chunks: list
    idf: dict[str, float]
    sections: dict
    unit_vectors: dict
    asked: dict = field(default_factory=dict)  # section key -> its asked chunks (searched, never shown)
    paste_links: dict = field(default_factory=dict)  # signature name -> the chunk its query finds first (saved)
    users: int = 0
    retired: bool = False
    released: bool = False


@dataclass
class Analysis:
    query: str
    result: SearchResult
    matches: list
    features: dict[str, float]
    question: str = ""  # the validated question as asked
    history: tuple[str, ...] = ()  # earlier user questions
    view: View | None = None  # the generation it was answered from


class QuestionError(ValueError):
    """The question cannot be answered as given (empty, too long, not text)."""


class Bot:
    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings()
        self._lock = threading.Lock()  # guards the view pointer and its user counts
        self._load_lock = threading.Lock()  # one thread loads a generation; the others keep answering
        self._search_lock = threading.Lock()  # BM25's stemmer must not run in two threads at once
        self._embedder_lock = threading.Lock()  # one thread loads (or first exports) the embedding model
        self._llm: "ChatModel | None" = None
        self._embedder = None  # the model used for answering, set by the first load
        self._vectors = None  # the machine's vector cache, opened by the first build
        self._bulk = None  # the bfloat16 build encoder: None not tried yet, False not usable here
        self._support = None
        self._view: View | None = None
        self._terms_cache: dict[str, set[str]] = {}
        self._index = None
        self.calibration = conf.load(self.settings.calibration_file)
        self.ingest_errors: list[IngestError] = []
        self.extensions: dict[str, object] = {}  # per-bot state of layers above the core (triage's KB view)

    # -- index ---------------------------------------------------------------------------------
    @property
    def index_store(self):
        """The index on disk (generations) or on a Chroma server."""
        if self._index is None:
            self._index = open_index(self.settings)
        return self._index

    @property
    def generation(self) -> object:
        """The generation this bot answers from now (None before the first load)."""
        view = self._view
        return view.generation if view else None

    def embed_texts(self, texts: list[str]) -> list[list[float]]:
        """Vectors for the index. Texts this machine embedded before come from the vector cache; a bulk of new
        ones goes through the bfloat16 encoder where the CPU runs it natively (half the time, same vectors to
        1e-4), the rest through the model that answers (the checked ONNX export: no torch)."""
        return self._vector_cache().embed(self._embed_new, texts)

    def _embed_new(self, texts: list[str]) -> list[list[float]]:
        bulk = self._bulk_encoder(len(texts))
        if bulk is not None:
            return bulk(texts)
        return self._answering_embedder().get_text_embedding_batch(texts)

    def _bulk_encoder(self, count: int):
        from lifecycle_bot.core.index.embed import BULK_MIN_TEXTS, bulk_encoder

        with self._embedder_lock:
            if self._bulk is None and self.settings.index_bf16 and count >= BULK_MIN_TEXTS:
                try:
                    self._bulk = bulk_encoder(self.settings.resolved_model_path) or False
                except Exception as exc:  # no usable torch build: the answering model embeds everything
                    log.warning("not using the bfloat16 encoder (%s)", exc)
                    self._bulk = False
            return self._bulk or None

    def _vector_cache(self):
        from lifecycle_bot.core.index.embed import onnx_dir
        from lifecycle_bot.core.index.vector_cache import VectorCache

        with self._embedder_lock:
            if self._vectors is None:
                key = onnx_dir(self.settings.resolved_model_path, self.settings.cache_dir).name
                self._vectors = VectorCache(self.settings.cache_dir / "vectors" / f"{key}.sqlite3")
            return self._vectors

    def _answering_embedder(self):
        with self._embedder_lock:
            if self._embedder is None:
                from lifecycle_bot.core.index.embed import query_embedder

                self._export_onnx()
                self._embedder = query_embedder(self.settings.resolved_model_path, self.settings.cache_dir,
                                                int8=self.settings.query_int8)
            return self._embedder

    def embed_sentences(self, texts: list[str]) -> list[list[float]]:
        """Vectors while answering: the loaded model (the ONNX export when there is one; same vectors)."""
        self.load()
        return self._embedder.get_text_embedding_batch(texts)

    def index(self, rebuild: bool = False, progress: Callable[[int, int], None] | None = None,
              notify: Callable[[str], None] | None = None, wait: float | None = None) -> BuildReport:
        """Build or update the index from the KB directory (only changed chunks are embedded).

        Waits for another process's build to finish (`notify` says so); readers, here and elsewhere,
        switch to the new generation before their next question.
        """
        chunks, self.ingest_errors = load_kb(self.settings.kb_dir, self.settings.max_file_bytes)
        report = self.index_store.build(chunks, self.embed_texts, rebuild=rebuild, progress=progress,
                                        notify=notify or (lambda message: log.warning("%s", message)), wait=wait)
        self._export_onnx()
        return report

    def _export_onnx(self) -> None:
        """Export the model for fast start-up, once; answering works without it, only slower to start."""
        from lifecycle_bot.core.index.embed import ONNX_FILE, onnx_dir

        model_path = self.settings.resolved_model_path
        if (onnx_dir(model_path, self.settings.cache_dir) / ONNX_FILE).exists():
            return
        try:
            from lifecycle_bot.core.index.embed import export_onnx

            if export_onnx(model_path, self.settings.cache_dir) is None:
                log.warning("the ONNX export disagreed with sentence-transformers; not used")
        except Exception as exc:  # e.g. the `onnx` package missing: start-up is slower, answers are the same
            log.warning("could not export the embedding model to ONNX (%s); start-up will be slower", exc)

    def ensure_index(self, progress: Callable[[int, int], None] | None = None) -> BuildReport | None:
        """Build the index if there is none yet; a corrupt one is reported, not silently replaced."""
        try:
            if self.index_store.generation() is not None:
                return None
        except IndexMissing:
            pass
        return self.index(progress=progress)

    def open(self, progress: Callable[[int, int], None] | None = None) -> BuildReport | None:
        """Ready to answer: build the index if there is none (reported through `progress`), then load it.

        Every face opens the bot this way; the report says what was built (None: the index was there).
        """
        report = self.ensure_index(progress=progress)
        self.load()
        return report

    def chunks(self) -> list:
        """Every indexed chunk (loads the index on first use); a new list after each re-index."""
        return self._current().chunks

    def section_chunks(self) -> dict:
        """(file, anchor or heading path) -> the chunks of that section, in file order."""
        return self._current().sections

    @property
    def idf(self) -> dict[str, float]:
        return self._current().idf

    def load(self) -> "HybridRetriever":
        """The retriever of the live generation (loaded, or switched to, now if needed)."""
        return self._current().retriever

    # -- generations -----------------------------------------------------------------------------
    def _current(self) -> View:
        view = self._enter()
        self._leave(view)
        return view

    def _enter(self) -> View:
        """The view a question answers from: the live generation, switched to first if it changed.

        The check is one small read (the registry's `current`). While one thread loads a new generation the
        others keep answering from the old one; only the very first load makes everyone wait.
        """
        try:
            live = self.index_store.generation()
        except IndexUnavailable:
            if self._view is None:
                raise
            live = None  # the registry is unreadable right now: keep serving what is loaded
        view = self._view
        if view is not None and (live is None or live == view.generation):
            view.reader.touch()
            return self._pin()
        if not self._load_lock.acquire(blocking=view is None):
            return self._pin()  # another thread is switching: this question uses the loaded generation
        try:
            view = self._view
            if view is None or view.generation != self.index_store.generation():
                try:
                    fresh = self._load_view()
                except IndexUnavailable:
                    if view is None:
                        raise
                    log.exception("could not switch to the new index; still answering from generation %s",
                                  view.generation)
                    return self._pin()
                with self._lock:
                    old, self._view = self._view, fresh
                if old is not None:
                    self._retire(old)
        finally:
            self._load_lock.release()
        return self._pin()

    def _pin(self) -> View:
        with self._lock:
            view = self._view
            view.users += 1
            return view

    def _leave(self, view: View) -> None:
        with self._lock:
            view.users -= 1
            done = view.retired and view.users == 0 and not view.released
            view.released = view.released or done
        if done:
            view.reader.release()

    def _retire(self, view: View) -> None:
        with self._lock:
            view.retired = True
            done = view.users == 0 and not view.released
            view.released = view.released or done
        if done:
            view.reader.release()

    def close(self) -> None:
        """Give back the loaded generation (its lease); the next question loads the live one again."""
        with self._lock:
            view, self._view = self._view, None
        if view is not None:
            self._retire(view)

    def _load_view(self) -> View:
        from llama_index.core import VectorStoreIndex
        from llama_index.vector_stores.chroma import ChromaVectorStore

        from lifecycle_bot.core.index.artifacts import bm25_for
        from lifecycle_bot.core.index.store import bm25_texts
        from lifecycle_bot.core.retrieve import HybridRetriever

        reader = self.index_store.open()
        try:
            manifest, collection, chunks = reader.store.load_chunks()
            unit_vectors = reader.store.load_unit_vectors(manifest)
            embedder = self._answering_embedder()
            embedder.get_query_embedding("warm up")  # the first real question should not pay first-call setup
            vector_index = VectorStoreIndex.from_vector_store(
                ChromaVectorStore(chroma_collection=collection), embed_model=embedder
            )
            vector_retriever = vector_index.as_retriever(similarity_top_k=min(self.settings.dense_top_k, len(chunks)))
            # what answers quote and faces show: the sections' own chunks; asked chunks are only searched
            sections: dict = {}
            asked: dict = {}
            for chunk in sorted(chunks, key=lambda c: (c.file, c.start_line)):
                (asked if chunk.kind == "asked" else sections).setdefault(chunk.section_key, []).append(chunk)
            bm25 = bm25_for(reader.store.artifacts_dir(manifest), bm25_texts(chunks), self.settings.sparse_top_k)
            idf = idf_table(c.embed_text for c in chunks)
            retriever = HybridRetriever(chunks, vector_retriever, embedder.get_query_embedding, self.settings, bm25,
                                        collection, idf, unit_vectors=unit_vectors)
        except IndexUnavailable:
            reader.release()
            raise
        except Exception as exc:  # Chroma's own errors (a damaged store) become the message that fixes them
            reader.release()
            raise IndexCorrupt(f"the index cannot be read ({type(exc).__name__}: {exc}); "
                               "run `lifecycle-bot index --rebuild`") from exc
        except BaseException:
            reader.release()
            raise
        shown = [c for c in chunks if c.kind != "asked"]
        view = View(reader.generation, reader, retriever, shown, idf, sections, unit_vectors, asked)
        view.paste_links = self._paste_links(view, reader.store.artifacts_dir(manifest))
        return view

    def _paste_links(self, view: View, folder) -> dict:
        """Signature -> the section its query finds first in this index: what links a pasted line to a section.
        They depend on the index alone, so they are worked out once per index (58 searches) and saved beside
        it, not searched again in every answer with a paste (at 50k chunks up to four searches an answer)."""
        from lifecycle_bot.core.index import artifacts
        from lifecycle_bot.core.signatures import SIGNATURES

        names = [s.name for s in SIGNATURES]
        chunks = view.retriever.chunks
        links = artifacts.load_links(folder, names, set(chunks))
        if links is None:
            links = {}
            for sig in SIGNATURES:
                hits = self.search(sig.query, boost_terms=list(sig.terms), view=view).hits
                links[sig.name] = hits[0].chunk.content_hash if hits else None
            artifacts.save_links(folder, links)
        return {name: chunks[h] if h else None for name, h in links.items()}

    # -- ask -----------------------------------------------------------------------------------
    def validate(self, question: object) -> str:
        if not isinstance(question, str):
            raise QuestionError("the question must be text")
        if "\x00" in question:
            raise QuestionError("the question contains binary data (NUL bytes)")
        text = question.strip()
        if not text:
            raise QuestionError("the question is empty")
        if len(text) > self.settings.max_question_chars:
            raise QuestionError(
                f"the question is {len(text):,} characters; the limit is {self.settings.max_question_chars:,}. "
                "Paste only the relevant part (for `kubectl describe pod`, the Status and Events)."
            )
        return text

    def check(self, question: object, history: object = ()) -> tuple[str, list[str]]:
        """The question and the earlier turns, validated without the index: a face calls this before
        loading, so a bad question is refused at once instead of after the index loads."""
        try:
            return self.validate(question), history_questions(history)
        except HistoryError as exc:
            raise QuestionError(str(exc)) from None

    def search(self, query: str, boost_terms: list[str] | None = None, view: View | None = None) -> SearchResult:
        retriever = (view or self._current()).retriever
        with self._search_lock:
            return retriever.search(query, boost_terms=boost_terms)

    def _chunk_terms(self, chunk) -> set[str]:
        key = chunk.content_hash
        if key not in self._terms_cache:
            self._terms_cache[key] = set(content_terms(chunk.embed_text))
        return self._terms_cache[key]

    def features(self, result: SearchResult, query: str, view: View | None = None) -> dict[str, float]:
        v = view or self._current()
        hits = result.hits
        top = hits[0].score if hits else 0.0
        second = hits[1].score if len(hits) > 1 else 0.0
        q_terms = set(content_terms(query))
        covered = 0.0
        if hits and q_terms:
            known = {t for t in q_terms if t in v.idf}
            covered = len(known) / len(q_terms)
        hit_cov = 0.0
        if hits and q_terms:
            section_terms: set[str] = set()
            key = hits[0].chunk.section_key
            for chunk in around(hits[0].chunk, v.sections.get(key, [hits[0].chunk])) + v.asked.get(key, []):
                section_terms |= self._chunk_terms(chunk)
            total = sum(v.idf.get(t, 3.0) for t in q_terms)
            hit_cov = sum(v.idf.get(t, 3.0) for t in q_terms if t in section_terms) / total
        unknown_ids = sum(1 for ident in result.identifiers if not v.retriever.doc_freq(ident))
        return {
            "hit_coverage": hit_cov,
            "unknown_identifiers": min(unknown_ids, 3) / 3,
            "top_dense": result.top_dense,
            "margin": (top - second) / top if top else 0.0,
            "sparse": min(result.top_sparse, 20.0) / 20.0,
            "identifier_coverage": result.identifier_coverage,
            "term_coverage": covered,
        }

    def analyse(self, question: str, history: Iterable = (), view: View | None = None) -> "Analysis":
        """Everything up to the decision to answer: the query, what it found, and the features."""
        text, turns = self.check(question, history)
        if view is None:
            view = self._enter()
            try:
                return self.analyse(text, turns, view)
            finally:
                self._leave(view)
        prose, paste = split_question(text)
        matches = dominant(scan(text)) if paste else []
        boost: list[str] = []
        if matches:
            sig_query = " ".join(m.signature.query for m in matches[:3])
            query = f"{resolve_query(prose, turns) if prose else ''} {sig_query}".strip()
            for m in matches[:3]:
                boost.extend(m.signature.terms)
        else:
            query = resolve_query(prose or text, turns)
        query = query[:2000]
        result = self.search(query, boost_terms=boost, view=view)
        feats = self.features(result, query, view)
        feats["signature"] = 1.0 if matches else 0.0
        feats["foreign_subject"] = foreign_subject(" ".join([*turns, text]))
        return Analysis(query, result, matches, feats, text, tuple(turns), view)

    def ask(self, question: str, history: Iterable = ()) -> Answer:
        """The answer: extractive, or generated and checked when a model is configured."""
        answer = None
        for event in self.stream(question, history):
            answer = event
        assert isinstance(answer, Answer)
        return answer

    def stream(self, question: str, history: Iterable = ()) -> Iterator[Delta | Answer]:
        """Checked sentences (`Delta`) as a model writes them, then the final `Answer`.

        Without a model, or when the docs do not cover the question, only the `Answer` comes.
        """
        started = time.perf_counter()
        self.check(question, history)  # a bad question or history is refused before any index is loaded
        view = self._enter()  # the whole answer comes from this one generation
        try:
            a = self.analyse(question, history, view)
            confidence = self.calibration.predict(a.features)
            beside = beside_the_kb(a.result.features)
            if beside or confidence < self.settings.refusal_threshold or not a.result.hits:
                topic = foreign_topic(" ".join([*a.history, a.question]))
                answer = (Answer(outside_scope(topic), confidence=confidence, refused=True) if topic or beside
                          else self._decline(a.result.hits[:3], confidence))
            elif self.settings.llm:
                answer = yield from self._generate(a, confidence)
            else:
                answer = self._answer(a.result, a.query, confidence, view=view, question=a.question)
            if a.matches and not answer.refused:
                answer = self._link_paste(answer, a.matches, view)
        finally:
            self._leave(view)
        yield replace(answer, hits=a.result.hits, query=a.query, latency_ms=(time.perf_counter() - started) * 1000)

    # -- generated answers -----------------------------------------------------------------
    @property
    def llm(self) -> "ChatModel":
        with self._lock:
            if self._llm is None:
                from lifecycle_bot.core.llm import open_model

                self._llm = open_model(self.settings)
            return self._llm

    def _generate(self, a: Analysis, confidence: float):
        """Stream a model's answer through the citation check; any failure gives the extractive answer."""
        from lifecycle_bot.core.answer import generate as gen
        from lifecycle_bot.core.llm import LLMError, with_deadline

        if self._support is None:
            self._support = gen.load_support_model(self.settings.support_file)
        passages = [gen.as_evidence(p) for p in
                    self._passages(a.result, a.query, self.settings.llm_passages, self.settings.llm_budget,
                                   min_ratio=0.5, floor_ratio=0.0, view=a.view)]
        passages = [p for p in passages if p.units]
        prose, paste = split_question(a.question)
        messages = gen.build_messages(prose or a.question, passages, list(a.history), paste)
        checker = gen.CitationChecker([gen.Evidence(p, self.vectors_of(p, a.view)) for p in passages],
                                      self.embed_sentences, a.view.idf, self._support)
        try:
            tokens = with_deadline(self.llm.stream(messages), self.settings.llm_timeout)
            for sentence in gen.checked_stream(tokens, checker):
                yield Delta(sentence)
        except LLMError as exc:
            return self._fallback(a, confidence, f"the model failed ({exc})")
        if checker.declined and not checker.kept:
            return self._fallback(a, confidence, "the model found no answer in the passages")
        if not checker.model_cited:
            return self._fallback(a, confidence, "the model's answer cited no passage")
        if not checker.kept:
            return self._fallback(a, confidence, "no sentence of the model's answer was supported by the docs")
        citations = checker.citations()
        body = gen.join_sentences(checker.kept)
        notes = []
        if checker.removed:
            n = len(checker.removed)
            plural = n > 1
            notes.append(f"{n} sentence{'s' if plural else ''} the docs do not support {'were' if plural else 'was'} removed")
        if checker.invented:
            notes.append(f"{checker.invented} citation{'s' if checker.invented > 1 else ''} to no passage dropped")
        return Answer(body, citations=citations, confidence=confidence, mode="generated", model=self.llm.name, notice="; ".join(notes))

    def _fallback(self, a: Analysis, confidence: float, reason: str) -> Answer:
        return self._answer(a.result, a.query, confidence, notice=f"Showing the extractive answer: {reason}.",
                            view=a.view, question=a.question)

    def vectors_of(self, passage, view: View | None = None):
        """Sentence vectors of a passage's units: from the index, embedded now if the index lacks one."""
        import numpy as np

        from lifecycle_bot.core.ingest.units import units_of

        v = view or self._current()
        key = (passage.citation.file, passage.citation.anchor or passage.citation.heading_path)
        known = {}
        cited = passage.citation
        for chunk in v.sections.get(key, []):
            if chunk.end_line < cited.start_line or chunk.start_line > cited.end_line:
                continue  # not where the passage's units come from
            vectors = v.unit_vectors.get(chunk.content_hash)
            units = units_of(chunk)
            if vectors is not None and len(vectors) == len(units):
                known.update(zip(units, vectors))
        missing = [u.text for u in passage.units if u not in known]
        fresh = iter(self.embed_sentences(missing)) if missing else iter(())
        rows = [known[u] if u in known else next(fresh) for u in passage.units]
        return np.asarray(rows, dtype=np.float32) if rows else None

    # -- extractive answers ----------------------------------------------------------------
    def _passages(self, result: SearchResult, query: str, sections: int, budgets: tuple[int, ...],
                  min_ratio: float = 0.8, floor_ratio: float = 0.3, view: View | None = None, part: str | None = None):
        """The best sections and their most relevant units (the model gets whole sections: floor 0)."""
        import numpy as np

        v = view or self._current()
        qv = np.asarray(result.query_vector, dtype=np.float32) if result.query_vector is not None else None
        return compose(result.hits, query, result.identifiers, v.idf, sections,
                       section_chunks=v.sections, budgets=budgets,
                       query_vector=qv, unit_vectors=v.unit_vectors, min_ratio=min_ratio,
                       floor_ratio=floor_ratio, part=part)

    def _answer(self, result: SearchResult, query: str, confidence: float, notice: str = "",
                view: View | None = None, question: str = "") -> Answer:
        """`question`: as asked (the query may carry the thread's topic); what it asks for picks the part."""
        passages = self._passages(result, query, self.settings.answer_sections, self.settings.answer_budget,
                                  view=view, part=asked_part(question))
        body = "\n\n".join(p.render(i) for i, p in enumerate(passages, start=1))
        return Answer(body, citations=[p.citation for p in passages], confidence=confidence, notice=notice)

    def _decline(self, nearest: list[Hit], confidence: float) -> Answer:
        return Answer(DECLINE_TEXT, citations=[Citation.from_chunk(h.chunk) for h in nearest],
                      confidence=confidence, refused=True)

    def _link_paste(self, answer: Answer, matches, view: View | None = None) -> Answer:
        """Say which line of the paste led to which section (adding a citation when needed)."""
        citations = list(answer.citations)
        findings = list(answer.paste_findings)
        v = view or self._current()
        for m in matches[:4]:
            chunk = v.paste_links.get(m.signature.name)  # every signature's, worked out when the index loaded
            if chunk is None:
                continue
            index = next(
                (i for i, c in enumerate(citations, start=1)
                 if (c.file, c.anchor, c.heading_path) == (chunk.file, chunk.anchor, chunk.heading_path)),
                None,
            )
            if index is None:
                citations.append(Citation.from_chunk(chunk))
                index = len(citations)
            findings.append(
                PasteFinding(m.line_no, m.line, m.signature.name, m.signature.failure_class, m.signature.phase, index)
            )
        return replace(answer, citations=citations, paste_findings=findings)


__all__ = ["Analysis", "Bot", "View", "QuestionError", "history_questions", "is_followup", "resolve_query"]
