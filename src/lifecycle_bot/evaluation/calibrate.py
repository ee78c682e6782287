"""Fit the answer-confidence model on the dev eval set (answerable = 1, must-decline = 0), and the
citation-support check of generated answers on its labelled set. Both are written to the data dir
(`Settings.calibration_file`, `Settings.support_file`); the package keeps its read-only defaults.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

from lifecycle_bot.core.answer import confidence as conf
from lifecycle_bot.evaluation import metrics as M
from lifecycle_bot.evaluation.evaluate import EvalError, load_items, resolve


def feature_rows(bot, items: list[dict]) -> list[tuple[dict[str, float], int]]:
    rows = []
    for item in items:
        analysis = bot.analyse(item["question"], history=item.get("history") or [])
        rows.append((analysis.features, 1 if item.get("expected") else 0))
    return rows


def check_dev_set(eval_set: Path) -> None:
    if "holdout" in Path(eval_set).name:
        raise EvalError("the holdout set is never used for fitting")


def dev_items(eval_set: Path) -> list[dict]:
    """The rows one may fit on: a split set gives only its dev part; a kb_gap row with no section is left out
    (in scope, yet nothing in the KB answers it: neither label is right)."""
    check_dev_set(eval_set)
    items = load_items(eval_set)
    if any("split" in i for i in items):
        items = [i for i in items if i.get("split") == "dev"]
    return [i for i in items if i.get("expected") or not i.get("kb_gap")]


FOLDS = 5
BINS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def out_of_fold(rows: list[tuple[dict[str, float], int]], groups: list[str], folds: int = FOLDS) -> list[float]:
    """Each row's confidence from a model fitted without its thread (folds by thread, as `calibrate --ranker`)."""
    fold_of = [zlib.crc32(g.encode()) % folds for g in groups]
    preds = [0.0] * len(rows)
    for fold in range(folds):
        train = [r for r, f in zip(rows, fold_of) if f != fold]
        if not train or not any(f == fold for f in fold_of):
            continue
        model = conf.fit(train)
        for i, f in enumerate(fold_of):
            if f == fold:
                preds[i] = model.predict(rows[i][0])
    return preds


def reliability(preds: list[float], labels: list[int], edges: tuple[float, ...] = BINS) -> list[dict]:
    """Per confidence bin: how many questions, their mean confidence, and the share that was answerable."""
    table = []
    for lo, hi in zip(edges, edges[1:]):
        inside = [(p, y) for p, y in zip(preds, labels) if lo <= p < hi or (hi == edges[-1] and p == hi)]
        table.append({"bin": f"{lo:.1f}-{hi:.1f}", "n": len(inside),
                      "confidence": round(sum(p for p, _ in inside) / len(inside), 3) if inside else None,
                      "answerable": round(sum(y for _, y in inside) / len(inside), 3) if inside else None})
    return table


def calibrate(bot, eval_set: Path | list[Path]) -> tuple[conf.Calibration, float, Path, list[dict]]:
    """Fit on the dev set(s) and write it to the data dir: (model, training accuracy, file written, the
    reliability table of out-of-fold confidences)."""
    from lifecycle_bot.evaluation.evaluate import thread_key

    sets = [eval_set] if isinstance(eval_set, Path) else list(eval_set)
    items = [item for path in sets for item in dev_items(path)]
    rows = feature_rows(bot, items)
    cal = conf.fit(rows)
    cal.fitted_on = " + ".join(Path(p).as_posix() for p in sets)
    out = bot.settings.calibration_file
    conf.save(cal, out)
    correct = sum((cal.predict(x) >= bot.settings.refusal_threshold) == bool(y) for x, y in rows)
    groups = [thread_key(i["source"]) if i.get("source") else i["id"] for i in items]
    table = reliability(out_of_fold(rows, groups), [y for _, y in rows])
    return cal, correct / len(rows), out, table


# -- the citation-support check of generated answers ---------------------------------------------
def support_rows(bot, items: list[dict]) -> list[dict]:
    """(lexical, cosine, exact_ok, label, kind) for each labelled sentence against its passage.

    Besides the labelled pairs, each paraphrase is also paired with the passage of a different
    section: a sentence that cites the wrong passage must not pass either.
    """
    import numpy as np

    from lifecycle_bot.core.answer import generate as gen
    from lifecycle_bot.core.answer.extract import Passage
    from lifecycle_bot.core.ingest.units import units_of
    from lifecycle_bot.core.types import Citation

    bot.load()
    unweighted = gen.SupportModel(weight=0.5, threshold=0.0)
    passages = []
    for item in items:
        units, heading, anchor = [], "", ""
        for (file, _), chunks in bot.section_chunks().items():
            if file != item["file"]:
                continue
            for chunk in chunks:
                inside = [u for u in units_of(chunk)
                          if u.start_line >= item["start_line"] and u.end_line <= item["end_line"]]
                if inside:
                    units += inside
                    heading, anchor = chunk.heading_path, chunk.anchor
        if not units:
            raise EvalError(f"{item['id']}: no indexed text in {item['file']} "
                                       f"lines {item['start_line']}-{item['end_line']}")
        passage = Passage(Citation(item["file"], heading, anchor, item["start_line"], item["end_line"]), units)
        passages.append((passage, gen.Evidence(passage, bot.vectors_of(passage))))
    vectors = np.asarray(bot.embed_sentences([i["sentence"] for i in items]), dtype=np.float32)
    order = list(dict.fromkeys((i["file"], i["start_line"], i["end_line"]) for i in items))
    rows = []
    for k, (item, (passage, evidence)) in enumerate(zip(items, passages)):
        group = order.index((item["file"], item["start_line"], item["end_line"])) % 2  # split by passage
        s = gen.measure(item["sentence"], vectors[k], evidence, bot.idf, unweighted)
        label = item["label"] == "supported"
        rows.append({"lexical": s.lexical, "cosine": s.cosine, "exact_ok": s.exact_ok, "label": label,
                     "kind": item.get("alteration") or item.get("kind"), "group": group})
        if label:  # the same sentence against a passage from another section
            other = next(j % len(items) for j in range(k + 7, k + 7 + len(items))
                         if passages[j % len(items)][0].citation.heading_path != passage.citation.heading_path)
            s = gen.measure(item["sentence"], vectors[k], passages[other][1], bot.idf, unweighted)
            rows.append({"lexical": s.lexical, "cosine": s.cosine, "exact_ok": s.exact_ok, "label": False,
                         "kind": "other passage", "group": group})
    return rows


def _rates(rows: list[dict], weight: float, threshold: float) -> dict:
    pairs = [(r["label"], bool(r["exact_ok"] and weight * r["lexical"] + (1 - weight) * r["cosine"] >= threshold))
             for r in rows]
    _, fp, fn = M.confusion(pairs)
    precision, recall = M.precision_recall(pairs, empty=(1.0, 0.0))
    return {"precision": round(precision, 3), "recall": round(recall, 3), "n": len(rows),
            "unsupported_kept": fp, "supported_removed": fn}


def fit_support(rows: list[dict], min_precision: float = 0.9,
                weights: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)) -> tuple[float, float]:
    """The (weight, threshold) with the best recall at `min_precision` on these rows."""
    best = None
    for weight in weights:
        for t in range(20, 96):
            r = _rates(rows, weight, t / 100)
            ok = r["precision"] >= min_precision
            key = (ok, r["recall"] if ok else r["precision"])
            if best is None or key > best[0]:
                best = (key, weight, t / 100)
    return best[1], best[2]


def calibrate_support(bot, path: Path) -> tuple[object, Path]:
    """Fit on half the passages (even rows), measure on the other half, write support.json to the data dir."""
    from lifecycle_bot.core.answer import generate as gen
    from lifecycle_bot.core.jsonl import read_jsonl

    path = resolve(path)
    rows = support_rows(bot, read_jsonl(path, required=("file", "start_line", "end_line", "sentence", "label")))
    train = [r for r in rows if r["group"] == 0]
    test = [r for r in rows if r["group"] == 1]
    weight, threshold = fit_support(train)
    measured = {
        "train": _rates(train, weight, threshold),
        "test": _rates(test, weight, threshold),
        "test_by_kind": {k: _rates([r for r in test if r["kind"] == k], weight, threshold)
                         for k in sorted({r["kind"] for r in test})},
    }
    for name, only in (("lexical only", 1.0), ("cosine only", 0.0)):  # what each signal alone would give
        t = fit_support(train, weights=(only,))[1]
        measured[f"test, {name} (threshold {t})"] = _rates(test, only, t)
    model = gen.SupportModel(weight=weight, threshold=threshold, fitted_on=path.as_posix(), measured=measured)
    out = bot.settings.support_file
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(model.__dict__, indent=1) + "\n")
    return model, out
