"""The section ranker: its packaged fit, what it is given per candidate, and the fit itself."""

from __future__ import annotations

import json

import pytest
from conftest import invoke

from lifecycle_bot.core import rank
from lifecycle_bot.core.bot import Bot
from lifecycle_bot.evaluation.rank_fit import Question, cross_validate, first_expected, fit


def test_the_packaged_ranker_is_a_fit_over_every_feature():
    ranker = rank.load()
    assert ranker is not rank.DEFAULT and ranker.fitted_on != "defaults"
    assert set(ranker.weights) == set(rank.FEATURES), "a feature was added or dropped without refitting"
    assert set(ranker.mean) == set(ranker.scale) == set(rank.FEATURES)
    assert "holdout" not in ranker.fitted_on
    # the fit's own leave-thread-out figures travel with it
    assert ranker.measured["real_questions"]["cv"]["n"] > 100


def test_a_broken_ranker_file_falls_back_to_the_packaged_one(tmp_path):
    bad = tmp_path / "ranker.json"
    bad.write_text("{not json")
    assert rank.load(bad).weights == rank.load().weights
    bad.write_text(json.dumps({"weights": "nope", "unknown": 1}))
    assert rank.load(bad).weights == rank.load().weights


def test_hits_are_ordered_by_the_ranker_and_every_candidate_has_features(session_bot: Bot):
    result = session_bot.search("pod stuck in Pending with FailedScheduling")
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 < s < 1.0 for s in scores)
    assert {h.chunk.section_key for h in result.hits} <= set(result.features)
    assert result.hits[0].chunk.anchor == "31-pod-stuck-in-pending"
    assert all(set(x) == set(rank.FEATURES) for x in result.features.values())


def test_a_candidate_the_dense_list_missed_gets_its_true_cosine(session_bot: Bot):
    """With a dense list of one, the other candidates come from BM25 alone: their cosine is read from Chroma,
    not guessed, so the ranker sees the same evidence as with a long list."""
    query = "is my pod Pending, OOMKilled, or failing its image pull?"
    wide = session_bot.search(query)
    narrow_bot = Bot(session_bot.settings.with_(dense_top_k=1))
    narrow = narrow_bot.search(query)
    cos = {k: x["cos"] for k, x in wide.features.items()}
    assert len(narrow.features) >= 3
    for key, x in narrow.features.items():
        assert x["cos"] == pytest.approx(cos[key], abs=1e-4)
    dense_ranked = [h for h in narrow.hits if h.dense_rank is not None]
    assert len({h.chunk.section_key for h in dense_ranked}) == 1


def test_a_chunk_holding_a_rare_identifier_is_a_candidate_on_its_own(session_bot: Bot):
    retriever = session_bot.load()
    scores, matched_by, found = retriever.identifier_scores(["ErrImagePull", "no_such_identifier_anywhere"])
    assert found == 1
    assert scores and all(matched_by[h] == ["ErrImagePull"] for h in scores)


def _question(name: str, good: float, n: int = 6) -> Question:
    """One labelled candidate with `bm25` = good, and n - 1 others lower by BM25 but not by cosine."""
    rows = [({**{f: 0.0 for f in rank.FEATURES}, "bm25": good, "cos": 0.3}, 1)]
    rows += [({**{f: 0.0 for f in rank.FEATURES}, "bm25": good * i / (2 * n), "cos": 0.3 + 0.01 * i}, 0)
             for i in range(1, n)]
    return Question("synthetic", name, rows, 99)


def test_the_fit_learns_which_evidence_marks_the_answer():
    qs = [_question(f"thread-{i}", 0.5 + (i % 5) / 10) for i in range(40)]
    model = fit(qs)
    assert model.weights["bm25"] > 0 > model.weights["cos"]
    assert all(first_expected(model, q) == 1 for q in qs)
    folds = cross_validate(qs)
    assert folds["synthetic"]["cv"]["hit@1"] == 1.0
    assert folds["synthetic"]["current"]["hit@1"] == 0.0  # the rank recorded as in use (99) is reported as is


def test_the_ranker_is_never_fitted_on_a_holdout(tmp_path):
    result = invoke("--data-dir", str(tmp_path), "calibrate", "--ranker", "--set", "eval/real_questions_holdout.jsonl")
    assert result.returncode != 0 and b"holdout" in result.stderr
    assert not (tmp_path / "ranker.json").exists()


def test_chunk_vectors_are_read_in_pages_and_all_of_them(session_bot: Bot, monkeypatch):
    from lifecycle_bot.core import retrieve

    retriever = Bot(session_bot.settings).load()
    whole_rows, whole, _ = retriever._vectors()
    monkeypatch.setattr(retrieve, "VECTOR_PAGE", 3)
    retriever._matrix = None
    rows, paged, ids = retriever._vectors()
    assert [ids[i] for i in rows.values()] == list(rows)
    assert set(rows) == set(whole_rows) == set(retriever.chunks)
    for h in rows:
        assert paged[rows[h]] == pytest.approx(whole[whole_rows[h]], abs=1e-6)


def test_dense_scan_matches_chromas_nearest_neighbours(session_bot: Bot):
    """The exact scan of the chunk vectors lists what Chroma's own query lists, with the same cosines."""
    retriever = Bot(session_bot.settings).load()
    embedding = retriever.embed_query("the scheduler deletes a pod after it succeeds")
    ours = retriever.dense("", embedding)
    k = min(retriever.settings.dense_top_k, len(retriever.chunks))
    got = retriever.collection.query(query_embeddings=[embedding], include=["distances"], n_results=k)
    chroma = list(zip(got["ids"][0], (1.0 - d for d in got["distances"][0])))
    assert len(ours) == k > 3
    assert [h for h, _ in ours[:10]] == [h for h, _ in chroma[:10]]
    assert [c for _, c in ours] == sorted((c for _, c in ours), reverse=True)
    for (h, c), (_, d) in zip(ours[:10], chroma[:10]):
        assert c == pytest.approx(d, abs=1e-4)
