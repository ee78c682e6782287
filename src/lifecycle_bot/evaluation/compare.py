"""Baselines side by side, same embedding model, same questions: written to eval/report.md.

(a) llama-index's default pipeline: SimpleDirectoryReader -> SentenceSplitter -> dense top-k,
(b) BM25 only and (c) dense only over our section chunks, (d) ours (hybrid + identifier boost),
(e) llama-index's hybrid: `QueryFusionRetriever` (reciprocal rank) over the same dense and BM25 retrievers.
"""

from __future__ import annotations

import bisect
import time
from collections import defaultdict
from pathlib import Path

from lifecycle_bot.evaluation import metrics as M
from lifecycle_bot.evaluation.evaluate import default_sets, load_items, project_root, resolve

K = 10


def _sections_by_file(chunks) -> dict[str, list]:
    by_file = defaultdict(list)
    for c in chunks:
        by_file[c.file].append(c)
    for cs in by_file.values():
        cs.sort(key=lambda c: c.start_line)
    return by_file


def _dedupe(sections: list[dict]) -> list[dict]:
    seen, out = set(), []
    for s in sections:
        key = (s["file"], s["anchor"] or s["heading_path"])
        if key not in seen:
            seen.add(key)
            out.append(s)
    return out


def _as_section(chunk) -> dict:
    return {"file": chunk.file, "anchor": chunk.anchor, "heading_path": chunk.heading_path}


class DefaultPipeline:
    """What `VectorStoreIndex.from_documents(SimpleDirectoryReader(kb).load_data())` gives you."""

    def __init__(self, kb_dir: Path, embed_model, chunks):
        from llama_index.core import SimpleDirectoryReader, VectorStoreIndex
        from llama_index.core.node_parser import SentenceSplitter

        docs = SimpleDirectoryReader(str(kb_dir), recursive=True, required_exts=[".md", ".excalidraw"]).load_data()
        self.kb_dir = kb_dir
        nodes = SentenceSplitter().get_nodes_from_documents(docs)
        self.index = VectorStoreIndex(nodes, embed_model=embed_model)
        self.retriever = self.index.as_retriever(similarity_top_k=K)
        self.by_file = _sections_by_file(chunks)
        self.texts = {d.metadata["file_path"]: d.text for d in docs}

    def _section_of(self, node) -> dict | None:
        path = Path(node.metadata["file_path"]).resolve()
        rel = path.relative_to(self.kb_dir.resolve()).as_posix()
        text = self.texts.get(node.metadata["file_path"], "")
        start = node.start_char_idx or 0
        line = text.count("\n", 0, start) + 1
        cs = self.by_file.get(rel, [])
        if not cs:
            return None
        if rel.endswith(".excalidraw"):
            return _as_section(cs[0])
        idx = bisect.bisect_right([c.start_line for c in cs], line) - 1
        return _as_section(cs[max(idx, 0)])

    def rank(self, question: str) -> list[dict]:
        found = [self._section_of(n.node) for n in self.retriever.retrieve(question)]
        return _dedupe([s for s in found if s])


class FusionPipeline:
    """llama-index's own hybrid: QueryFusionRetriever with reciprocal-rank fusion over our dense + BM25.

    One query (no LLM rewriting: there is no model here), the same chunks, vectors and BM25 index as ours,
    so the difference is our ranking alone.
    """

    def __init__(self, retriever):
        from llama_index.core.llms.mock import MockLLM
        from llama_index.core.retrievers import QueryFusionRetriever

        self.chunks = retriever.chunks
        # with num_queries=1 the LLM (used only to write extra queries) is never called; without one
        # llama-index would reach for its default, OpenAI
        self.fusion = QueryFusionRetriever([_Dense(retriever), retriever.bm25], similarity_top_k=K, num_queries=1,
                                           mode="reciprocal_rerank", use_async=False, llm=MockLLM())

    def rank(self, query: str) -> list[dict]:
        return _dedupe([_as_section(self.chunks[n.node.node_id]) for n in self.fusion.retrieve(query)
                        if n.node.node_id in self.chunks])


def _dense_class():
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import QueryBundle

    class Dense(BaseRetriever):
        """Our dense retriever, embedding the query the way ours does (the loaded model)."""

        def __init__(self, hybrid):
            super().__init__()
            self.hybrid = hybrid

        def _retrieve(self, query_bundle: QueryBundle):
            q = query_bundle.query_str
            return self.hybrid.vector_retriever.retrieve(QueryBundle(query_str=q, embedding=self.hybrid.embed_query(q)))

    return Dense


def _Dense(hybrid):  # noqa: N802 - a class made on first use (llama-index is imported lazily)
    return _dense_class()(hybrid)


def _metrics(rankings: list[tuple[list[dict], list[dict]]]) -> dict[str, float]:
    n = len(rankings) or 1
    return {
        "hit@1": sum(M.hit_at(r, e, 1) for r, e in rankings) / n,
        "hit@3": sum(M.hit_at(r, e, 3) for r, e in rankings) / n,
        "hit@5": sum(M.hit_at(r, e, 5) for r, e in rankings) / n,
        "mrr": sum(M.reciprocal_rank(r, e) for r, e in rankings) / n,
        "ndcg@5": sum(M.ndcg_at(r, e, 5) for r, e in rankings) / n,
    }


def _pct(seconds: list[float], q: float) -> float:
    ordered = sorted(seconds)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def run(bot, sets: list[Path]) -> dict[str, dict[str, dict[str, float]]]:
    from llama_index.core.schema import QueryBundle

    from lifecycle_bot.core.index.embed import get_embedder

    retriever = bot.load()
    embedder = get_embedder(bot.settings.resolved_model_path)
    default = DefaultPipeline(bot.settings.kb_dir, embedder, list(retriever.chunks.values()))
    fusion = FusionPipeline(retriever)
    results: dict[str, dict[str, dict[str, float]]] = {}
    for path in sets:
        items = [i for i in load_items(path) if i.get("expected")]
        per: dict[str, list] = defaultdict(list)
        per_cat: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
        timing: dict[str, list[float]] = defaultdict(list)
        for item in items:
            expected = item["expected"]
            naive = " ".join((item.get("history") or []) + [item["question"]])
            query = bot.analyse(item["question"], item.get("history") or []).query
            t = time.perf_counter()
            ranked_a = default.rank(naive)
            timing["a"].append(time.perf_counter() - t)
            t = time.perf_counter()
            ranked_b = _dedupe([_as_section(retriever.chunks[n.node.node_id]) for n in retriever.bm25.retrieve(query)])
            timing["b"].append(time.perf_counter() - t)
            t = time.perf_counter()
            dense = retriever.vector_retriever.retrieve(QueryBundle(query_str=query, embedding=retriever.embed_query(query)))
            ranked_c = _dedupe([_as_section(retriever.chunks[n.node.node_id]) for n in dense if n.node.node_id in retriever.chunks])
            timing["c"].append(time.perf_counter() - t)
            t = time.perf_counter()
            ranked_d = [_as_section(h.chunk) for h in bot.analyse(item["question"], item.get("history") or []).result.hits]
            timing["d"].append(time.perf_counter() - t)
            t = time.perf_counter()
            ranked_e = fusion.rank(query)
            timing["e"].append(time.perf_counter() - t)
            for name, ranked in zip("abcde", (ranked_a, ranked_b, ranked_c, ranked_d, ranked_e)):
                per[name].append((ranked, expected))
                per_cat[item.get("category", "")][name].append((ranked, expected))
        table = {name: {**_metrics(r), "ms": _pct(timing[name], 0.5), "p95_ms": _pct(timing[name], 0.95)}
                 for name, r in per.items()}
        table["by_category"] = {cat: {n: _metrics(r)["hit@5"] for n, r in d.items()} for cat, d in per_cat.items()}
        results[path.stem] = table
    return results


NAMES = {
    "a": "(a) llama-index default (SentenceSplitter, dense top-k)",
    "b": "(b) BM25 only (our section chunks)",
    "c": "(c) dense only (our section chunks)",
    "d": "(d) ours: dense + BM25 candidates, fitted section ranker",
    "e": "(e) llama-index hybrid (QueryFusionRetriever, vector + BM25)",
}
OTHERS = "abce"


def write_report(bot, sets: list[Path], out: Path | None = None) -> str:
    sets = [resolve(p) for p in sets] or default_sets()
    out = out or project_root() / "eval" / "report.md"
    results = run(bot, sets)
    lines = ["# Retrieval baselines", "",
             "Generated by `lifecycle-bot eval --compare` (same run, same embedding model all-MiniLM-L6-v2, "
             "answerable questions only). (a) gets the raw question with earlier turns prepended, as a default "
             "pipeline would; (b)-(d) get the same resolved query (follow-ups joined with history, pasted failure "
             "signatures turned into search terms), so their differences are the retriever's alone.", ""]
    for set_name, table in results.items():
        lines += [f"## {set_name}", "", "| pipeline | hit@1 | hit@3 | hit@5 | MRR | nDCG@5 | median ms |",
                  "|---|---|---|---|---|---|---|"]
        for key in "abcde":
            m = table[key]
            lines.append(f"| {NAMES[key]} | {m['hit@1']:.3f} | {m['hit@3']:.3f} | {m['hit@5']:.3f} | {m['mrr']:.3f} | "
                         f"{m['ndcg@5']:.3f} | {m['ms']:.1f} |")
        lines += ["", "hit@5 by category:", "", "| category | (a) | (b) | (c) | (d) | (e) |", "|---|---|---|---|---|---|"]
        for cat, row in sorted(table["by_category"].items()):
            lines.append(f"| {cat} | " + " | ".join(f"{row.get(k, 0):.2f}" for k in "abcde") + " |")
        ours = table["d"]
        wins = [NAMES[k] for k in OTHERS if table[k]["mrr"] > ours["mrr"]]
        lines += ["", f"Ours vs best other on MRR: {ours['mrr']:.3f} vs "
                  f"{max(table[k]['mrr'] for k in OTHERS):.3f}." + (f" Beaten by: {', '.join(wins)}." if wins else "")]
        loses, ties = [], []
        for cat, row in sorted(table["by_category"].items()):
            best_other = max(row.get(k, 0) for k in OTHERS)
            if row.get("d", 0) < best_other - 1e-9:
                winner = max(OTHERS, key=lambda k: row.get(k, 0))
                loses.append(f"{cat} ({row['d']:.2f} vs {winner}: {best_other:.2f})")
            elif abs(row.get("d", 0) - best_other) < 1e-9:
                ties.append(cat)
        lines += [f"Where ours loses on hit@5: {', '.join(loses) or 'nowhere'}.",
                  f"Where it ties the best baseline: {', '.join(ties) or 'nowhere'}; it wins in the other categories.", ""]
    text = "\n".join(lines) + "\n"
    out.write_text(text)
    return text
