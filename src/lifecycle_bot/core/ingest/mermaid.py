"""A plain-text reading of Mermaid diagrams, so a question in words can find a diagram.

"what happens after the pod is Running" should match `Running --> Succeeded`; the reading spells out
participants, messages, states, transitions and edge labels as short sentences.
"""

from __future__ import annotations

import re

_ARROW_SEQ = re.compile(
    r"^\s*(?P<a>[^\s:>+-][^:>]*?)\s*(?P<arrow><<-->>|<<->>|-{1,2}>>|-{1,2}>|-{1,2}x|-{1,2}\))[+-]?\s*"
    r"(?P<b>[^:]+?)\s*:\s*(?P<msg>.*)$"
)
_PARTICIPANT = re.compile(r"^\s*(participant|actor)\s+(?P<id>[^\s]+)(?:\s+as\s+(?P<label>.+))?$")
_NOTE = re.compile(r"^\s*[Nn]ote\s+(?:over|left of|right of)\s+(?P<who>[^:]+):\s*(?P<text>.*)$")
_BLOCK = re.compile(r"^\s*(alt|else|opt|loop|par|and|critical|break|rect)\b\s*(?P<text>.*)$")

_STATE_ALIAS = re.compile(r'^\s*state\s+"(?P<label>[^"]+)"\s+as\s+(?P<id>\w+)')
_STATE_DESC = re.compile(r"^\s*(?P<id>[\w.]+)\s*:\s*(?P<text>.+)$")
_STATE_EDGE = re.compile(r"^\s*(?P<a>\[\*\]|[\w.]+)\s*-->\s*(?P<b>\[\*\]|[\w.]+)\s*(?::\s*(?P<label>.*))?$")

# flowchart node shapes: A[..], A(..), A{..}, A((..)), A([..]), A[[..]], A>..], A{{..}}, A[/../]
_NODE = re.compile(
    r"(?P<id>[A-Za-z_][\w-]*)\s*(?P<open>\(\(|\(\[|\[\[|\[\(|\{\{|\[/|\[\\|\[|\(|\{|>)"
    r"(?P<label>\"[^\"]*\"|[^\]\)\}]*?)"
    r"(?P<close>\)\)|\]\)|\]\]|\)\]|\}\}|/\]|\\\]|\]|\)|\})"
)
_EDGE = re.compile(
    r"\s*(?:--\s*(?P<l1>[^->|][^-]*?)\s*-->|==\s*(?P<l2>[^=]+?)\s*==>|-\.\s*(?P<l3>[^.]+?)\s*\.->"
    r"|(?:-->|---|==>|-\.->|-\.-|--x|--o|<-->)\s*(?:\|(?P<l4>[^|]*)\|)?)\s*"
)


def _clean(label: str) -> str:
    label = label.strip().strip('"').strip()
    label = re.sub(r"<br\s*/?>", " ", label)
    return re.sub(r"\s+", " ", label)


def _read_sequence(lines: list[str]) -> list[str]:
    alias: dict[str, str] = {}
    out: list[str] = []
    for line in lines:
        if m := _PARTICIPANT.match(line):
            name = _clean(m["label"] or m["id"])
            alias[m["id"]] = name
            out.append(f"Participant: {name}.")
        elif m := _NOTE.match(line):
            who = ", ".join(alias.get(w.strip(), w.strip()) for w in m["who"].split(","))
            out.append(f"Note over {who}: {_clean(m['text'])}.")
        elif m := _ARROW_SEQ.match(line):
            a, b = alias.get(m["a"].strip(), m["a"].strip()), alias.get(m["b"].strip(), m["b"].strip())
            verb = "replies to" if m["arrow"].startswith("--") else "to"
            out.append(f"{a} {verb} {b}: {_clean(m['msg'])}.")
        elif m := _BLOCK.match(line):
            if m["text"].strip():
                out.append(f"{m.group(1)} {_clean(m['text'])}:")
    return out


def _read_state(lines: list[str]) -> list[str]:
    alias: dict[str, str] = {}
    out: list[str] = []
    for line in lines:
        if m := _STATE_ALIAS.match(line):
            alias[m["id"]] = _clean(m["label"])
    for line in lines:
        if m := _STATE_EDGE.match(line):
            a = "start" if m["a"] == "[*]" else alias.get(m["a"], m["a"])
            b = "end" if m["b"] == "[*]" else alias.get(m["b"], m["b"])
            label = f" when {_clean(m['label'])}" if m["label"] else ""
            out.append(f"State {a} goes to {b}{label}.")
        elif (m := _STATE_DESC.match(line)) and not line.strip().startswith(("state ", "note")):
            out.append(f"State {alias.get(m['id'], m['id'])}: {_clean(m['text'])}.")
        elif line.strip().lower().startswith("note") and ":" in line:
            out.append(f"Note: {_clean(line.split(':', 1)[1])}.")
    return out


def _read_flowchart(lines: list[str]) -> list[str]:
    labels: dict[str, str] = {}
    out: list[str] = []
    for line in lines:
        for m in _NODE.finditer(line):
            labels.setdefault(m["id"], _clean(m["label"]) or m["id"])
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith(("classDef", "class ", "style ", "linkStyle", "%%", "end")):
            continue
        if stripped.startswith("subgraph"):
            out.append(f"Group: {_clean(stripped[len('subgraph'):].split('[', 1)[-1].rstrip(']'))}.")
            continue
        plain = _NODE.sub(lambda m: m["id"], line)
        parts = _EDGE.split(plain)
        # split() with 4 groups yields: node, l1, l2, l3, l4, node, ...
        nodes = parts[0::5]
        edge_labels = [next((g for g in parts[i + 1 : i + 5] if g), "") for i in range(0, len(parts) - 1, 5)]
        for i in range(len(nodes) - 1):
            srcs = [s.strip() for s in nodes[i].split("&") if s.strip()]
            dsts = [d.strip() for d in nodes[i + 1].split("&") if d.strip()]
            for s in srcs:
                for d in dsts:
                    label = _clean(edge_labels[i]) if i < len(edge_labels) and edge_labels[i] else ""
                    text = f"{labels.get(s, s)} leads to {labels.get(d, d)}"
                    out.append(f"{text} ({label})." if label else f"{text}.")
    if not out:
        out = [f"Step: {label}." for label in labels.values()]
    return out


def read_mermaid(source: str) -> str:
    """Return sentences describing a Mermaid diagram; unknown diagram types give their text."""
    lines = [ln for ln in source.splitlines() if ln.strip() and not ln.strip().startswith("%%")]
    if not lines:
        return ""
    kind = lines[0].strip().split()[0]
    body = lines[1:]
    if kind == "sequenceDiagram":
        sentences = ["Sequence diagram."] + _read_sequence(body)
    elif kind.startswith("stateDiagram"):
        sentences = ["State diagram."] + _read_state(body)
    elif kind in ("flowchart", "graph"):
        sentences = ["Flowchart."] + _read_flowchart(body)
    else:
        sentences = [f"{kind} diagram."] + [_clean(b) for b in body]
    return " ".join(sentences)
