"""Hybrid retrieval: dense (Chroma) and BM25 candidates, ranked per section by the fitted ranker (`core.rank`).

Operators paste identifiers (`task_publish_max_retries`, `ErrImagePull`, `410`, `_change_state`); an
embedding blurs those, so how rare the identifiers a chunk holds verbatim are is one of the ranker's inputs,
and a chunk holding a rare one is a candidate even when neither list reached it.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

import numpy as np

from lifecycle_bot.core import rank
from lifecycle_bot.core.index.postings import Postings
from lifecycle_bot.core.rank import features
from lifecycle_bot.core.text import content_terms, idf_table
from lifecycle_bot.core.text import identifiers as extract_identifiers
from lifecycle_bot.core.types import Chunk, Hit

_DEFINES = re.compile(r"^\s*(?:\|\s*(?:\d+\s*\|\s*)?|#{1,6}\s.*?|[-*]\s+)`([^`]+)`", re.M)


def defined_identifiers(text: str) -> set[str]:
    """Identifiers a chunk *defines*: first cell of a table row, a heading, or the head of a list item."""
    return {m.group(1).strip().lower() for m in _DEFINES.finditer(text)}


RARE_IDENTIFIER = 0.6  # identifier score that makes a chunk a candidate on its own (held by < ~5% of chunks)
RARE_CANDIDATES = 40  # at most this many such chunks, the rarest first (as many as the dense or BM25 list)
VECTOR_PAGE = 4096  # chunk vectors read per request when a loaded index first needs them
DENSE_CHARS = 400  # MiniLM reads 256 word pieces at most; longer text only costs time


def dense_text(query: str) -> str:
    """The part of a long query worth embedding: its start and its end (where the question is)."""
    if len(query) <= DENSE_CHARS:
        return query
    return query[:120] + " \u2026 " + query[-(DENSE_CHARS - 120):]


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the `k` highest scores, best first (ties in index order)."""
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    return top[np.argsort(-scores[top], kind="stable")]


class ChunkVectors(NamedTuple):
    """Every chunk's unit-length vector, with its chunk hash (`ids`) and the row of each hash (`rows`)."""

    rows: dict[str, int]
    unit: np.ndarray
    ids: list[str]


def _unit(vector) -> np.ndarray:
    v = np.asarray(vector, dtype=np.float32)
    return v / (np.linalg.norm(v) or 1.0)


def _cached(embed_query, size: int = 4096):
    """The query embedder with a small memory of recent texts: a paste's signature queries, a retried
    question and a follow-up's resolved query are embedded once."""
    from functools import lru_cache

    @lru_cache(maxsize=size)
    def vector(text: str) -> tuple[float, ...]:
        return tuple(embed_query(text))

    return lambda text: list(vector(text))


@dataclass
class SearchResult:
    hits: list[Hit]  # one per section, best first
    top_dense: float  # best cosine similarity
    top_sparse: float  # best raw BM25 score
    identifiers: list[str] = field(default_factory=list)
    identifier_coverage: float = 0.0  # share of identifiers found anywhere in the KB
    query_vector: list[float] | None = None
    # the ranker's inputs for every candidate section (what `calibrate --ranker` fits on)
    features: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)


class HybridRetriever(BaseRetriever):
    """Dense and BM25 candidates, one hit per section, in the order of the fitted ranker's scores."""

    def __init__(self, chunks: list[Chunk], vector_retriever: Any, embed_query, settings, bm25: Any = None,
                 collection: Any = None, idf: dict[str, float] | None = None, ranker: rank.Ranker | None = None,
                 unit_vectors: dict | None = None) -> None:
        """`bm25`: the saved llama-index BM25 retriever of these chunks (`index.artifacts`); built here when None.
        `collection`: the Chroma collection behind `vector_retriever`, asked directly for ids and distances.
        `idf`: the chunks' term weights, when the caller has them; `ranker`: else the one the settings name.
        `unit_vectors`: chunk hash -> its sentences' vectors (the index's), for the best-sentence evidence."""
        from lifecycle_bot.core.index.artifacts import make_bm25
        from lifecycle_bot.core.index.store import bm25_texts

        super().__init__()
        self.settings = settings
        self.chunks = {c.content_hash: c for c in chunks}
        self.chunk_list = list(chunks)
        self._hashes = list(self.chunks)
        self.postings = Postings.build([c.embed_text.lower() for c in self.chunks.values()])
        self.vector_retriever = vector_retriever
        self.collection = collection
        self._matrix: ChunkVectors | None = None
        self.unit_vectors = unit_vectors or {}
        self.embed_query = _cached(embed_query)
        self.bm25 = bm25 if bm25 is not None else make_bm25(bm25_texts(chunks), settings.sparse_top_k)
        self._defines = {h: defined_identifiers(c.text) for h, c in self.chunks.items()}
        self._bm25_ids = [row["node_id"] for row in self.bm25.corpus]
        self._bm25_row = {h: i for i, h in enumerate(self._bm25_ids)}
        self.idf = idf if idf is not None else idf_table(c.embed_text for c in chunks)
        self.profiles = rank.profiles(chunks)
        # a section and its asked chunk (operators' wording, `ingest.asked`) are scored together: either found
        # brings the other along, so the ranker weighs the section's own text and its wording side by side
        self._partner: dict[str, str] = {}
        first: dict[tuple[str, str], str] = {}
        for h, c in sorted(self.chunks.items(), key=lambda hc: hc[1].start_line, reverse=True):
            if c.kind != "asked":
                first[c.section_key] = h
        asked = {c.section_key: h for h, c in self.chunks.items() if c.kind == "asked"}
        for h, c in self.chunks.items():
            other = first.get(c.section_key) if c.kind == "asked" else asked.get(c.section_key)
            if other:
                self._partner[h] = other
        self.ranker = ranker or rank.load(settings.ranker_file)

    # llama-index entry point
    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        result = self.search(query_bundle.query_str)
        return [NodeWithScore(node=TextNode(id_=h.chunk.content_hash, text=h.chunk.text), score=h.score)
                for h in result.hits]

    def dense(self, query: str, embedding: list[float]) -> list[tuple[str, float]]:
        """(chunk hash, cosine similarity), best first, the first `dense_top_k`.

        With the collection, an exact scan of the chunk vectors read from it once (`_vectors`): one matrix
        product, 0.1 ms at 400 chunks and ~2 ms at 26k, where a Chroma query cost 2-3 ms of Python and Rust
        for each question. Without it, llama-index's vector retriever gives the same list.
        """
        matrix = self._vectors() if self.collection is not None else None
        if matrix is None:
            found = self.vector_retriever.retrieve(QueryBundle(query_str=query, embedding=embedding))
            return [(n.node.node_id, 1.0 + math.log(max(n.score or 1e-9, 1e-9))) for n in found]  # exp(-distance)
        sims = matrix.unit @ _unit(embedding)
        return [(matrix.ids[i], float(sims[i])) for i in _top(sims, self.settings.dense_top_k)]

    def _bm25_array(self, query: str) -> np.ndarray:
        """BM25 scores of every chunk as one array, in `_bm25_ids` order (zeros where nothing matches): at
        26k chunks a dict of every matching chunk was a tenth of an answer."""
        import bm25s

        r = self.bm25
        tokens = bm25s.tokenize(query, stemmer=None if r.skip_stemming else r.stemmer, token_pattern=r.token_pattern,
                                show_progress=False, return_ids=False)[0]
        if not tokens:
            return np.zeros(len(self._bm25_ids), dtype=np.float32)
        return np.asarray(r.bm25.get_scores(list(tokens)), dtype=np.float32)

    def doc_freq(self, identifier: str) -> int:
        """How many chunks contain the identifier (an inverted-index lookup, not a scan)."""
        return len(self.postings.containing(identifier))

    def _vectors(self) -> ChunkVectors | None:
        """Every chunk's unit-length vector, read from Chroma once per loaded index (400 chunks: 0.6 MB, 26k:
        40 MB): a candidate that only BM25 or an identifier found gets its true cosine without a store call."""
        if self._matrix is None and self.collection is not None:
            ids: list[str] = []
            parts: list[np.ndarray] = []
            while True:  # in pages: one request for 26k vectors is a 40 MB body to a Chroma server
                got = self.collection.get(include=["embeddings"], limit=VECTOR_PAGE, offset=len(ids))
                if not got["ids"]:
                    break
                ids.extend(got["ids"])
                parts.append(np.asarray(got["embeddings"], dtype=np.float32).reshape(len(got["ids"]), -1))
            vectors = np.concatenate(parts) if parts else np.zeros((0, 1), dtype=np.float32)
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            self._matrix = ChunkVectors({h: i for i, h in enumerate(ids)}, vectors / np.where(norms > 0, norms, 1.0), ids)
        return self._matrix

    def _cosines(self, hashes: list[str], embedding: list[float]) -> dict[str, float]:
        """Cosine similarity to the query of chunks the dense list did not reach; empty without the
        collection, and then such a chunk counts as the list's last."""
        matrix = self._vectors() if hashes else None
        if matrix is None:
            return {}
        known = [h for h in hashes if h in matrix.rows]
        return dict(zip(known, (matrix.unit[[matrix.rows[h] for h in known]] @ _unit(embedding)).tolist()))

    def identifier_scores(self, identifiers: list[str]) -> tuple[dict[str, float], dict[str, list[str]], int]:
        """Per chunk: how rare the identifiers it holds are (a chunk that defines one, in a table's first cell
        or a heading, counts twice) and which ones; and how many of the identifiers the KB has at all."""
        n = max(len(self.chunks), 2)
        found = 0
        scores: dict[str, float] = {}
        matched_by: dict[str, list[str]] = {}
        for ident in dict.fromkeys(identifiers):
            holders = self.postings.containing(ident)
            if not holders:
                continue
            found += 1
            weight = math.log(n / len(holders)) / math.log(n) + 0.15
            key = ident.lower()
            for i in holders:
                h = self._hashes[i]
                scores[h] = scores.get(h, 0.0) + weight * (2.0 if key in self._defines[h] else 1.0)
                matched_by.setdefault(h, []).append(ident)
        return scores, matched_by, found

    def search(self, query: str, boost_terms: list[str] | None = None, limit: int = 10) -> SearchResult:
        """The best sections for a query: the dense and BM25 candidates (and chunks holding one of its rarer
        identifiers), each section scored by the fitted ranker from the evidence of all its candidate parts."""
        embedding = self.embed_query(dense_text(query))
        dense = [(h, cos) for h, cos in self.dense(query, embedding) if h in self.chunks]
        scores = self._bm25_array(query)
        sparse = [(self._bm25_ids[i], float(scores[i])) for i in _top(scores, self.settings.sparse_top_k) if scores[i] > 0]
        identifiers = extract_identifiers(query) + list(boost_terms or [])
        ident, matched_by, found = self.identifier_scores(identifiers)

        cosine = dict(dense)
        # the chunks holding the question's rarest identifiers, at most RARE_CANDIDATES of them: "rare" is relative
        # to the corpus (under ~n^0.55 holders), so at 42k chunks one identifier could add hundreds
        rare = [h for h, score in sorted(ident.items(), key=lambda hs: -hs[1]) if score >= RARE_IDENTIFIER]
        rare = rare[:RARE_CANDIDATES]
        candidates = list(dict.fromkeys([h for h, _ in dense] + [h for h, _ in sparse] + rare))
        candidates = list(dict.fromkeys(candidates + [p for h in candidates if (p := self._partner.get(h))]))
        bm25 = {h: s for h in candidates if (i := self._bm25_row.get(h)) is not None and (s := float(scores[i])) > 0}
        cosine.update(self._cosines([h for h in candidates if h not in cosine], embedding))
        floor = min(cosine.values(), default=0.0)

        q_unit = _unit(embedding)
        best: dict[tuple[str, str], dict] = {}  # per section: its best evidence over its candidate parts
        for h in candidates:
            row = best.setdefault(self.chunks[h].section_key, {"cos": -1.0, "bm25": 0.0, "ident": 0.0, "parts": []})
            if self.chunks[h].kind == "asked":  # evidence of its own, never shown: the best entry, and BM25 of all
                units = self.unit_vectors.get(h)
                entry = float(np.max(np.asarray(units) @ q_unit)) if units is not None and len(units) else -1.0
                row["asked_cos"], row["asked_bm25"] = max(entry, cosine.get(h, floor)), bm25.get(h, 0.0)
                continue
            row["cos"] = max(row["cos"], cosine.get(h, floor))
            row["bm25"] = max(row["bm25"], bm25.get(h, 0.0))
            row["ident"] = max(row["ident"], ident.get(h, 0.0))
            units = self.unit_vectors.get(h)
            if units is not None and len(units):
                row["unit"] = max(row.get("unit", -1.0), float(np.max(np.asarray(units) @ q_unit)))
            row["parts"].append(h)
        best = {key: row for key, row in best.items() if row["parts"]}  # wording without its section: nothing to show
        if not best:
            return SearchResult([], 0.0, 0.0, identifiers, 0.0, embedding)
        by_cos = sorted(best, key=lambda k: best[k]["cos"], reverse=True)
        by_bm25 = sorted(best, key=lambda k: best[k]["bm25"], reverse=True)
        cos_rank = {k: r for r, k in enumerate(by_cos, start=1)}
        bm25_rank = {k: r for r, k in enumerate(by_bm25, start=1)}
        top_cos, top_bm25 = best[by_cos[0]]["cos"], best[by_bm25[0]]["bm25"]
        # the best single piece of evidence: a sentence, or the section itself where its sentences are not all
        # of it (a Mermaid diagram is read into the section's text, not into quotable sentences)
        top_unit = max((max(row.get("unit", row["cos"]), row["cos"]) for row in best.values()), default=0.0)
        for row in best.values():  # a section without asked wording is judged on its own text
            row.setdefault("asked_cos", row["cos"])
        top_asked = max(row["asked_cos"] for row in best.values())
        top_asked_bm25 = max((row.get("asked_bm25", 0.0) for row in best.values()), default=0.0)
        query_terms = {t: self.idf.get(t, 3.0) for t in set(content_terms(query))}
        dense_sections = {self.chunks[h].section_key for h, _ in dense}

        rows: dict[tuple[str, str], dict[str, float]] = {}
        matched: dict[tuple[str, str], tuple[str, ...]] = {}
        for key, row in best.items():
            matched[key] = tuple(dict.fromkeys(i for c in row["parts"] for i in matched_by.get(c, ())))
            rows[key] = features(row["cos"], top_cos, cos_rank[key], row["bm25"], top_bm25, bm25_rank[key],
                                 row["ident"], len(matched[key]), query_terms, self.profiles[key],
                                 max(row.get("unit", row["cos"]), row["cos"]), top_unit,
                                 row["asked_cos"], top_asked, row.get("asked_bm25", 0.0) / (top_asked_bm25 or 1.0))
        hits: list[Hit] = []
        for (key, row), score in zip(best.items(), self.ranker.score_all(list(rows.values()))):
            # the part shown and cited: the one with the most evidence of its own
            h = max(row["parts"], key=lambda c: cosine.get(c, floor) / (top_cos or 1.0)
                    + bm25.get(c, 0.0) / (top_bm25 or 1.0))
            hits.append(Hit(self.chunks[h], score, cosine.get(h, floor), bm25_rank[key] if row["bm25"] > 0 else None,
                            cos_rank[key] if key in dense_sections else None, matched[key]))
        hits.sort(key=lambda hit: hit.score, reverse=True)
        return SearchResult(
            hits=hits[:limit],
            top_dense=max((c for _, c in dense), default=0.0),
            top_sparse=float(top_bm25),
            identifiers=identifiers,
            identifier_coverage=(found / len(identifiers)) if identifiers else 0.0,
            query_vector=embedding,
            features=rows,
        )
