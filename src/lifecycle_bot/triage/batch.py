"""Batches of tickets: JSONL in, JSONL or CSV out, and scoring against labelled tickets."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from lifecycle_bot.core.jsonl import iter_jsonl
from lifecycle_bot.triage.engine import TriageResult, triage

if TYPE_CHECKING:  # pragma: no cover
    from lifecycle_bot.core.bot import Bot


def read_tickets(path: Path) -> list[dict]:
    """JSONL of {id, text, ...}; a ticket without an id is named by its line number."""
    items = []
    for n, item in iter_jsonl(path, required=("text",)):
        item.setdefault("id", str(n))
        items.append(item)
    return items


def _row(item: dict, result: TriageResult) -> dict:
    row = {"id": item["id"], **result.to_dict()}
    for key in ("label_class", "label_phase"):
        if key in item:
            row[key] = item[key]
    return row


CSV_FIELDS = ("id", "failure_class", "phase", "confidence", "secondary", "evidence", "citations", "checklist",
              "missing", "label_class", "label_phase")


def _csv_row(row: dict) -> dict:
    return {
        "id": row["id"], "failure_class": row["failure_class"], "phase": row["phase"] or "",
        "confidence": row["confidence"],
        "secondary": "; ".join(s["failure_class"] for s in row["secondary"]),
        "evidence": "\n".join(f"L{e['line_no']}: {e['line']}" for e in row["evidence"]),
        "citations": "\n".join(c["label"] for c in row["citations"]),
        "checklist": "\n".join(f"{i}. {c['text']}" + (f": {c['command']}" if c["command"] else "")
                               for i, c in enumerate(row["checklist"], start=1)),
        "missing": "\n".join(row["missing"]),
        "label_class": row.get("label_class", ""), "label_phase": row.get("label_phase") or "",
    }


def write_results(rows: list[dict], out: Path) -> None:
    """JSONL, or CSV when the name ends in .csv (one row per ticket, lists joined by newlines)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".csv":
        with out.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
            writer.writeheader()
            writer.writerows(_csv_row(r) for r in rows)
    else:
        out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def triage_batch(items: list[dict], bot: Bot | None = None) -> list[dict]:
    return [_row(item, triage(str(item["text"]), bot)) for item in items]


def triage_batch_csv(path_in: str | Path, path_out: str | Path, bot: Bot | None = None) -> Path:
    """For the UI: triage a JSONL file of tickets and write CSV (or JSONL by extension)."""
    write_results(triage_batch(read_tickets(Path(path_in)), bot), Path(path_out))
    return Path(path_out)
