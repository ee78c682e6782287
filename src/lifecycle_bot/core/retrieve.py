"""Hybrid retrieval: dense (Chroma) + BM25, fused by reciprocal rank, exact identifiers boosted.

Operators paste identifiers (`task_publish_max_retries`, `ErrImagePull`, `410`, `_change_state`);
an embedding blurs those, so every chunk that contains one verbatim gets a boost weighted by how
rare the identifier is in the KB.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from lifecycle_bot.core.index.postings import Postings
from lifecycle_bot.core.text import identifiers as extract_identifiers
from lifecycle_bot.core.types import Chunk, Hit

_DEFINES = re.compile(r"^\s*(?:\|\s*(?:\d+\s*\|\s*)?|#{1,6}\s.*?|[-*]\s+)`([^`]+)`", re.M)


def defined_identifiers(text: str) -> set[str]:
    """Identifiers a chunk *defines*: first cell of a table row, a heading, or the head of a list item."""
    return {m.group(1).strip().lower() for m in _DEFINES.finditer(text)}


DENSE_CHARS = 400  # MiniLM reads 256 word pieces at most; longer text only costs time


def dense_text(query: str) -> str:
    """The part of a long query worth embedding: its start and its end (where the question is)."""
    if len(query) <= DENSE_CHARS:
        return query
    return query[:120] + " \u2026 " + query[-(DENSE_CHARS - 120):]


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


class HybridRetriever(BaseRetriever):
    """Dense + BM25 with reciprocal-rank fusion and an exact-identifier boost."""

    def __init__(self, chunks: list[Chunk], vector_retriever: Any, embed_query, settings, bm25: Any = None,
                 collection: Any = None) -> None:
        """`bm25`: the saved llama-index BM25 retriever of these chunks (`index.artifacts`); built here when None.
        `collection`: the Chroma collection behind `vector_retriever`, asked directly for ids and distances."""
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
        self.embed_query = _cached(embed_query)
        self.bm25 = bm25 if bm25 is not None else make_bm25(bm25_texts(chunks), settings.sparse_top_k)
        self._defines = {h: defined_identifiers(c.text) for h, c in self.chunks.items()}

    # llama-index entry point
    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        result = self.search(query_bundle.query_str)
        return [NodeWithScore(node=TextNode(id_=h.chunk.content_hash, text=h.chunk.text), score=h.score)
                for h in result.hits]

    def dense(self, query: str, embedding: list[float]) -> list[tuple[str, float]]:
        """(chunk hash, cosine similarity), best first.

        The chunks are in memory, so Chroma is asked for ids and distances only: no documents or metadata
        read and parsed back into nodes (most of the dense step's time). Without the collection, llama-index's
        vector retriever gives the same list.
        """
        if self.collection is None:
            found = self.vector_retriever.retrieve(QueryBundle(query_str=query, embedding=embedding))
            return [(n.node.node_id, 1.0 + math.log(max(n.score or 1e-9, 1e-9))) for n in found]  # exp(-distance)
        got = self.collection.query(query_embeddings=[embedding], include=["distances"],
                                    n_results=min(self.settings.dense_top_k, len(self.chunks)))
        return [(h, 1.0 - d) for h, d in zip(got["ids"][0], got["distances"][0])]

    def sparse(self, query: str) -> list[tuple[str, float]]:
        """(chunk hash, BM25 score), best first: llama-index's BM25 retriever's own tokeniser and bm25s index,
        read as ids and scores (not rebuilt into nodes)."""
        import bm25s

        r = self.bm25
        tokens = bm25s.tokenize(query, stemmer=None if r.skip_stemming else r.stemmer, token_pattern=r.token_pattern,
                                show_progress=False)
        if not tokens.vocab:  # nothing BM25 can match (punctuation only)
            return []
        docs, scores = r.bm25.retrieve(tokens, k=r.similarity_top_k, show_progress=False)
        out = []
        for doc, score in zip(docs[0], scores[0]):
            row = doc if isinstance(doc, dict) else r.corpus[int(doc)]
            out.append((row["node_id"], float(score)))
        return out

    def doc_freq(self, identifier: str) -> int:
        """How many chunks contain the identifier (an inverted-index lookup, not a scan)."""
        return len(self.postings.containing(identifier))

    def search(self, query: str, boost_terms: list[str] | None = None, limit: int = 10) -> SearchResult:
        embedding = self.embed_query(dense_text(query))
        dense = self.dense(query, embedding)
        sparse = self.sparse(query)
        k = self.settings.rrf_k
        scores: dict[str, float] = {}
        cosine: dict[str, float] = {}
        dense_rank: dict[str, int] = {}
        sparse_rank: dict[str, int] = {}
        for rank, (h, cos) in enumerate(dense, start=1):
            if h not in self.chunks:
                continue
            dense_rank[h] = rank
            cosine[h] = cos
            scores[h] = scores.get(h, 0.0) + 1.0 / (k + rank)
        for rank, (h, _) in enumerate(sparse, start=1):
            sparse_rank[h] = rank
            scores[h] = scores.get(h, 0.0) + 1.0 / (k + rank)

        identifiers = extract_identifiers(query) + list(boost_terms or [])
        n = max(len(self.chunks), 2)
        matched_any = 0
        matched_by: dict[str, list[str]] = {}
        for ident in identifiers:
            holders = self.postings.containing(ident)
            if not holders:
                continue
            matched_any += 1
            weight = math.log(n / len(holders)) / math.log(n) + 0.15
            key = ident.lower()
            for i in holders:
                h = self._hashes[i]
                # a chunk that defines the identifier (table row, heading) outranks one that mentions it
                factor = 2.0 if key in self._defines[h] else 1.0
                scores[h] = scores.get(h, 0.0) + self.settings.identifier_boost * weight * factor
                matched_by.setdefault(h, []).append(ident)

        ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
        best: dict[tuple[str, str], Hit] = {}
        for h, score in ranked:
            chunk = self.chunks[h]
            key = chunk.section_key
            if key in best:
                continue
            best[key] = Hit(chunk, score, cosine.get(h, 0.0), sparse_rank.get(h), dense_rank.get(h),
                            tuple(matched_by.get(h, ())))
            if len(best) >= limit:
                break
        top_sparse = max((score for _, score in sparse), default=0.0)
        return SearchResult(
            hits=list(best.values()),
            top_dense=max(cosine.values(), default=0.0),
            top_sparse=float(top_sparse),
            identifiers=identifiers,
            identifier_coverage=(matched_any / len(identifiers)) if identifiers else 0.0,
            query_vector=embedding,
        )
