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

    def __init__(self, chunks: list[Chunk], vector_retriever: Any, embed_query, settings, bm25: Any = None) -> None:
        """`bm25`: the saved llama-index BM25 retriever of these chunks (`index.artifacts`); built here when None."""
        from lifecycle_bot.core.index.artifacts import make_bm25
        from lifecycle_bot.core.index.store import bm25_texts

        super().__init__()
        self.settings = settings
        self.chunks = {c.content_hash: c for c in chunks}
        self.chunk_list = list(chunks)
        self._hashes = list(self.chunks)
        self.postings = Postings.build([c.embed_text.lower() for c in self.chunks.values()])
        self.vector_retriever = vector_retriever
        self.embed_query = embed_query
        self.bm25 = bm25 if bm25 is not None else make_bm25(bm25_texts(chunks), settings.sparse_top_k)
        self._defines = {h: defined_identifiers(c.text) for h, c in self.chunks.items()}

    # llama-index entry point
    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        result = self.search(query_bundle.query_str)
        return [NodeWithScore(node=TextNode(id_=h.chunk.content_hash, text=h.chunk.text), score=h.score)
                for h in result.hits]

    def doc_freq(self, identifier: str) -> int:
        """How many chunks contain the identifier (an inverted-index lookup, not a scan)."""
        return len(self.postings.containing(identifier))

    def search(self, query: str, boost_terms: list[str] | None = None, limit: int = 10) -> SearchResult:
        embedding = self.embed_query(dense_text(query))
        dense = self.vector_retriever.retrieve(QueryBundle(query_str=query, embedding=embedding))
        sparse = self.bm25.retrieve(query)
        k = self.settings.rrf_k
        scores: dict[str, float] = {}
        cosine: dict[str, float] = {}
        dense_rank: dict[str, int] = {}
        sparse_rank: dict[str, int] = {}
        for rank, nws in enumerate(dense, start=1):
            h = nws.node.node_id
            if h not in self.chunks:
                continue
            dense_rank[h] = rank
            cosine[h] = 1.0 + math.log(max(nws.score or 1e-9, 1e-9))  # Chroma gives exp(-distance)
            scores[h] = scores.get(h, 0.0) + 1.0 / (k + rank)
        for rank, nws in enumerate(sparse, start=1):
            h = nws.node.node_id
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
        top_sparse = max((nws.score or 0.0 for nws in sparse), default=0.0)
        return SearchResult(
            hits=list(best.values()),
            top_dense=max(cosine.values(), default=0.0),
            top_sparse=float(top_sparse),
            identifiers=identifiers,
            identifier_coverage=(matched_any / len(identifiers)) if identifiers else 0.0,
            query_vector=embedding,
        )
