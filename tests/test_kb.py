"""Structural checks for the KubernetesExecutor knowledge base under kb/.

Standard library plus pytest only. The repository root is the parent of this tests/ folder.

What is checked:
* kb/kubernetes_task_lifecycle.md (the assembled guide): the fixed numbered `##` outline,
  length, Mermaid blocks introduced by prose, and that every `[kubernetes_executor]` option
  from the fact sheet is named in backticks in `## 13. Configuration Reference`.
  These tests are skipped only while the guide file does not exist yet.
* `[kubernetes_executor]` options against the pinned provider (10.25.0): every option the KB names
  as belonging to that section (backticked `[kubernetes_executor] name`, env vars, ini blocks,
  `config get-value`) must exist in tests/data/kubernetes_executor_defaults.txt or be listed under
  Removed options, section 13 must give every option a default, and every default the KB states
  anywhere (Default columns of tables, "`name` (default X)", "defaults to X", "`name = X` (the
  default)") must equal the provider's. A self-test feeds wrong defaults to the checker.
* kb/excalidraw/*.excalidraw: valid Excalidraw JSON with consistent text and arrow bindings.
* Every Markdown file directly in kb/: internal links resolve to GitHub-style heading anchors
  and relative file links point at files that exist.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
KB = REPO / "kb"
GUIDE = KB / "kubernetes_task_lifecycle.md"
README = KB / "README.md"
EXCALIDRAW_FILES = [
    KB / "excalidraw" / "01_complete_flow.excalidraw",
    KB / "excalidraw" / "02_pod_lifecycle.excalidraw",
]
FACT_SHEET = REPO.parent / "shared" / "reference" / "kubernetes_executor_facts.md"
OPTIONS_FALLBACK = Path(__file__).resolve().parent / "data" / "kubernetes_executor_options.txt"

GUIDE_TITLE = "# Airflow KubernetesExecutor: The Life of a Task"
EXPECTED_SECTIONS = [
    "Overview",
    "Architecture Components",
    "Complete Execution Flow",
    "Pod Creation and Lifecycle",
    "Pod Specification",
    "XCom",
    "Variables",
    "Database Connections",
    "Logging and Monitoring",
    "Pod Watching and State Sync",
    "Resource Management",
    "Debugging Guide",
    "Configuration Reference",
    "Version Notes",
]
FIXED_SUBSECTION_ANCHORS = [
    "121-task-stuck-in-queued",
    "122-pod-stuck-in-pending",
    "123-oomkilled",
    "124-logs-not-available",
    "125-image-pull-errors",
    "126-watcher-410-errors",
    "127-quota-403-at-pod-creation",
    "131-kubernetes_executor-options",
    "132-related-core-and-scheduler-options",
]
MIN_GUIDE_LINES = 1800
MIN_MERMAID_BLOCKS = 15

GUIDE_MISSING_REASON = (
    f"{GUIDE.relative_to(REPO)} does not exist yet (the lead assembles it from kb/_parts/); "
    "guide checks are skipped until it does"
)

REQUIRED_ELEMENT_KEYS = {
    "id", "type", "x", "y", "width", "height", "angle", "strokeColor", "backgroundColor",
    "fillStyle", "strokeWidth", "strokeStyle", "roughness", "opacity", "groupIds", "frameId",
    "roundness", "seed", "version", "versionNonce", "isDeleted", "boundElements", "updated",
    "link", "locked",
}
REQUIRED_TEXT_KEYS = {
    "text", "originalText", "fontSize", "fontFamily", "textAlign", "verticalAlign",
    "containerId", "lineHeight", "autoResize",
}
REQUIRED_ARROW_KEYS = {"points", "startBinding", "endBinding", "startArrowhead", "endArrowhead"}


# --------------------------------------------------------------------------------------------
# Markdown helpers
# --------------------------------------------------------------------------------------------

FENCE_RE = re.compile(r"^\s{0,3}(`{3,}|~{3,})(.*)$")
HEADING_RE = re.compile(r"^\s{0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
LINK_RE = re.compile(r"(!?)\[((?:[^\[\]]|\[[^\]]*\])*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
INLINE_CODE_RE = re.compile(r"(`+)(.+?)\1")


def iter_lines_outside_fences(text: str):
    """Yield (line_number, line) for lines that are not inside fenced code blocks."""
    fence = None
    for number, line in enumerate(text.splitlines(), start=1):
        match = FENCE_RE.match(line)
        if fence is None:
            if match:
                fence = match.group(1)
                continue
            yield number, line
        elif match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence) \
                and not match.group(2).strip():
            fence = None


def fenced_blocks(text: str):
    """Return (info_string, opening_line_index, closing_line_index) for every fenced block."""
    lines = text.splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        match = FENCE_RE.match(lines[i])
        if match:
            fence, info = match.group(1), match.group(2).strip()
            j = i + 1
            while j < len(lines):
                close = FENCE_RE.match(lines[j])
                if close and close.group(1)[0] == fence[0] and len(close.group(1)) >= len(fence) \
                        and not close.group(2).strip():
                    break
                j += 1
            blocks.append((info, i, j))
            i = j + 1
        else:
            i += 1
    return blocks


def heading_text_for_slug(raw: str) -> str:
    """Reduce a Markdown heading to the text GitHub renders (links -> text, code/emphasis marks out)."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", raw)
    text = re.sub(r"<[^>]+>", "", text)
    text = text.replace("`", "")
    text = re.sub(r"(\*\*|\*)(?=\S)(.+?)(?<=\S)\1", r"\2", text)
    return text


def github_slug(heading: str) -> str:
    """GitHub's anchor algorithm: lowercase, drop punctuation except '-' and '_', spaces -> '-'."""
    text = heading_text_for_slug(heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def heading_anchors(text: str) -> list[str]:
    """All anchors of a Markdown document, with GitHub's -1, -2 suffixes for duplicates."""
    occurrences: dict[str, int] = {}
    anchors = []
    for _, line in iter_lines_outside_fences(text):
        match = HEADING_RE.match(line)
        if not match:
            continue
        base = github_slug(match.group(2))
        slug = base
        while slug in occurrences:  # same loop as github-slugger
            occurrences[base] += 1
            slug = f"{base}-{occurrences[base]}"
        occurrences[slug] = 0
        anchors.append(slug)
    return anchors


def strip_inline_code(line: str) -> str:
    return INLINE_CODE_RE.sub("", line)


def markdown_links(text: str):
    """Yield (line_number, target) for links outside code blocks and inline code."""
    for number, line in iter_lines_outside_fences(text):
        for match in LINK_RE.finditer(strip_inline_code(line)):
            yield number, match.group(3)


def numbered_h2(text: str) -> list[tuple[int, str]]:
    result = []
    for _, line in iter_lines_outside_fences(text):
        match = re.match(r"^## (\d+)\. (.+?)\s*$", line)
        if match:
            result.append((int(match.group(1)), match.group(2)))
    return result


def section_body(text: str, heading_line: str) -> str:
    """Text from the exact `## ...` heading line up to the next `## ` heading (fence-aware)."""
    collected = []
    inside = False
    fence = None
    for line in text.splitlines():
        match = FENCE_RE.match(line)
        if fence is None and match:
            fence = match.group(1)
        elif fence is not None and match and match.group(1)[0] == fence[0] \
                and not match.group(2).strip():
            fence = None
        elif fence is None and line.startswith("## "):
            if inside:
                break
            inside = line.strip() == heading_line
            continue
        if inside:
            collected.append(line)
    return "\n".join(collected)


# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def guide_text() -> str:
    if not GUIDE.exists():
        pytest.skip(GUIDE_MISSING_REASON)
    return GUIDE.read_text(encoding="utf-8")


def load_option_names() -> tuple[list[str], str]:
    """Option names from the fact sheet's section 3.1 table, or from the shipped fallback list."""
    if FACT_SHEET.exists():
        return parse_fact_sheet_options(FACT_SHEET.read_text(encoding="utf-8")), str(FACT_SHEET)
    names = [
        line.strip()
        for line in OPTIONS_FALLBACK.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    return names, str(OPTIONS_FALLBACK)


def parse_fact_sheet_options(text: str) -> list[str]:
    names = []
    in_section = False
    for line in text.splitlines():
        if line.startswith("#"):
            if in_section:
                break
            in_section = bool(re.match(r"^#+\s+3\.1\b", line))
            continue
        if in_section and line.lstrip().startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if len(cells) >= 2:
                match = re.search(r"`([^`]+)`", cells[1])
                if match:
                    names.append(match.group(1))
    return names


# --------------------------------------------------------------------------------------------
# guide structure
# --------------------------------------------------------------------------------------------


def test_guide_title(guide_text):
    first = next((line for line in guide_text.splitlines() if line.strip()), "")
    assert first.strip() == GUIDE_TITLE


def test_guide_numbered_sections_in_order(guide_text):
    found = numbered_h2(guide_text)
    expected = list(enumerate(EXPECTED_SECTIONS, start=1))
    assert found == expected, (
        "numbered `## N. Title` headings must be exactly sections 1-12, then "
        "13 Configuration Reference and 14 Version Notes, in order"
    )


def test_guide_minimum_length(guide_text):
    count = len(guide_text.splitlines())
    assert count >= MIN_GUIDE_LINES, f"guide has {count} lines, need at least {MIN_GUIDE_LINES}"


def _is_prose_sentence(line: str) -> bool:
    stripped = line.strip()
    if not stripped or stripped.startswith(("#", "|", "```", "~~~", "<")):
        return False
    stripped = re.sub(r"^(?:[-*+]|\d+[.)])\s+", "", stripped)  # allow a list item holding a sentence
    stripped = re.sub(r"^>\s*", "", stripped)
    words = re.findall(r"[A-Za-z][A-Za-z'-]*", stripped)
    return len(words) >= 4 and bool(re.search(r"[.:!?][*_)`\"']*$", stripped))


def test_guide_mermaid_blocks_are_introduced(guide_text):
    lines = guide_text.splitlines()
    mermaid = [(start, end) for info, start, end in fenced_blocks(guide_text)
               if info.split()[:1] == ["mermaid"]]
    assert len(mermaid) >= MIN_MERMAID_BLOCKS, (
        f"found {len(mermaid)} ```mermaid blocks, need at least {MIN_MERMAID_BLOCKS}"
    )
    problems = []
    for start, end in mermaid:
        if end >= len(lines):
            problems.append(f"line {start + 1}: mermaid block is never closed")
            continue
        if not any(line.strip() for line in lines[start + 1:end]):
            problems.append(f"line {start + 1}: mermaid block is empty")
        previous = [line for line in lines[:start] if line.strip()][-3:]
        if not any(_is_prose_sentence(line) for line in previous):
            problems.append(f"line {start + 1}: no prose sentence in the 3 non-blank lines before it")
    assert not problems, "\n".join(problems)


def test_configuration_reference_names_every_option(guide_text):
    names, source = load_option_names()
    assert names, f"no option names found in {source}"
    body = section_body(guide_text, "## 13. Configuration Reference")
    assert body.strip(), "section `## 13. Configuration Reference` is missing or empty"
    code_spans = [m.group(2) for m in INLINE_CODE_RE.finditer(body)]
    missing = [
        name for name in names
        if not any(re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", span) for span in code_spans)
    ]
    assert not missing, f"options from {source} not named in backticks in section 13: {missing}"


# --------------------------------------------------------------------------------------------
# documented defaults of [kubernetes_executor] options versus the pinned provider
# --------------------------------------------------------------------------------------------

PROVIDER_DEFAULTS = Path(__file__).resolve().parent / "data" / "kubernetes_executor_defaults.txt"
EMPTY_DEFAULT_WORDS = {"", '""', "''", "empty", "(empty)", "unset", "none", "not set", "<unset>"}
# A documented value: `code`, **bold**, or one bare token.
_VALUE = r"(`[^`]*`|\*\*[^*]+\*\*|[^\s,;)|]+)"
_AFTER_SPAN_PATTERNS = [
    # `name` (default X)   `name` lines (default X)   `name` (the default: X)
    re.compile(rf"^\s*(?:[A-Za-z]+\s+){{0,2}}\((?:the\s+)?default:?\s+{_VALUE}", re.I),
    # `name` defaults to X   `name`, which defaults to X
    re.compile(rf"^(?:\*\*)?,?\s*(?:which\s+)?defaults?\s+to\s+{_VALUE}", re.I),
    # (`name`, default X)
    re.compile(rf"^,\s*default\s+{_VALUE}", re.I),
]
# `name = X` (the default)   `name = X` (default)
_ASSIGNED_DEFAULT = re.compile(r"^\s*\((?:the\s+)?default\b", re.I)
_SECTION_PREFIX = re.compile(r"^\[([a-z_]+)\]\s*")


def load_provider_defaults(path: Path = PROVIDER_DEFAULTS) -> dict[str, str | None]:
    """Option -> default from the shipped provider list; None where the provider declares none."""
    defaults: dict[str, str | None] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, value = line.partition("\t")
        value = value.strip()
        defaults[name.strip()] = None if value == "<unset>" else ("" if value == '""' else value)
    return defaults


def normalise_default(value: str | None) -> str:
    """Compare defaults loosely on form (quotes, bold, case, empty spellings), strictly on content."""
    if value is None:
        return ""
    text = value.strip()
    text = re.sub(r"^\*\*(.*)\*\*$", r"\1", text).strip()
    text = text.strip("`").strip()
    if text.lower() in EMPTY_DEFAULT_WORDS:
        return ""
    text = text.strip("\"'")
    return text.lower()


def _option_name_in_span(span: str, options) -> tuple[str, str | None] | None:
    """`[kubernetes_executor] name`, `name` or `name = value` -> (name, value); None otherwise."""
    text = span.strip()
    section = _SECTION_PREFIX.match(text)
    if section:
        if section.group(1) != "kubernetes_executor":
            return None
        text = text[section.end():]
    name, eq, value = text.partition("=")
    name = name.strip()
    if name not in options:
        return None
    return name, (value.strip() if eq else None)


def _markdown_tables(text: str):
    """Yield (header_cells, [(line_number, cells), ...]) for each pipe table outside fences."""
    rows = [(n, line) for n, line in iter_lines_outside_fences(text)]
    i = 0
    while i < len(rows) - 1:
        n, line = rows[i]
        nxt = rows[i + 1][1]
        if line.lstrip().startswith("|") and re.match(r"^\s*\|?\s*:?-{3,}", nxt):
            header = [c.strip() for c in line.strip().strip("|").split("|")]
            body = []
            j = i + 2
            while j < len(rows) and rows[j][1].lstrip().startswith("|"):
                cells = [c.strip() for c in rows[j][1].strip().strip("|").split("|")]
                body.append((rows[j][0], cells))
                j += 1
            yield header, body
            i = j
        else:
            i += 1


def documented_option_defaults(text: str, options) -> list[tuple[int, str, str]]:
    """Every (line, option, documented default) the text states for a provider option.

    Two forms are recognised: a table whose header has a `Default` column and whose first cell
    names the option in backticks, and prose such as "`name` (default `X`)", "`name` defaults to
    X" or "`name = X` (the default)".
    """
    found: list[tuple[int, str, str]] = []
    for header, body in _markdown_tables(text):
        lowered = [cell.lower() for cell in header]
        if "default" not in lowered:
            continue
        column = lowered.index("default")
        for line_no, cells in body:
            if len(cells) <= column:
                continue
            for match in INLINE_CODE_RE.finditer(cells[0]):
                hit = _option_name_in_span(match.group(2), options)
                if hit:
                    found.append((line_no, hit[0], cells[column]))
    for line_no, line in iter_lines_outside_fences(text):  # prose, table cells included
        for match in INLINE_CODE_RE.finditer(line):
            hit = _option_name_in_span(match.group(2), options)
            if not hit:
                continue
            name, assigned = hit
            rest = line[match.end():match.end() + 400]
            if assigned is not None:
                if _ASSIGNED_DEFAULT.match(rest):
                    found.append((line_no, name, assigned))
                continue
            for pattern in _AFTER_SPAN_PATTERNS:
                value = pattern.match(rest)
                if value:
                    found.append((line_no, name, value.group(1)))
                    break
    return found


def default_mismatches(text: str, defaults: dict[str, str | None]) -> list[str]:
    problems = []
    for line_no, name, documented in documented_option_defaults(text, defaults):
        if normalise_default(documented) != normalise_default(defaults[name]):
            problems.append(
                f"line {line_no}: `{name}` documented default {documented!r}, "
                f"provider 10.25.0 says {defaults[name]!r}"
            )
    return problems


_SECTION_OPTION_REFERENCES = [
    re.compile(r"`\[kubernetes_executor\]\s+([a-z][a-z0-9_]*)"),         # `[kubernetes_executor] name`
    re.compile(r"\[kubernetes_executor\]`\s+`([a-z][a-z0-9_]*)`"),      # `[kubernetes_executor]` `name`
    re.compile(r"get-value\s+kubernetes_executor\s+([a-z][a-z0-9_]*)"),  # airflow config get-value
]


def kubernetes_executor_option_references(text: str) -> list[tuple[int, str]]:
    """Every place that names an option as belonging to [kubernetes_executor], fences included."""
    refs: list[tuple[int, str]] = []
    in_section = False
    for number, line in enumerate(text.splitlines(), start=1):
        for pattern in _SECTION_OPTION_REFERENCES:
            refs += [(number, match.group(1)) for match in pattern.finditer(line)]
        for match in re.finditer(r"AIRFLOW__KUBERNETES_EXECUTOR__([A-Z0-9_]+)", line):
            refs.append((number, match.group(1).lower()))
        stripped = line.strip()
        if re.fullmatch(r"\[[a-z_]+\]", stripped):  # ini section header inside a code block
            in_section = stripped == "[kubernetes_executor]"
            continue
        if in_section:
            assignment = re.match(r"^([a-z][a-z0-9_]*)\s*=", stripped)
            if assignment:
                refs.append((number, assignment.group(1)))
            elif not stripped or stripped.startswith(("```", "~~~")):
                in_section = False
    return refs


def _removed_option_names(guide: str) -> set[str]:
    body = section_body(guide, "## 13. Configuration Reference")
    removed = body.split("#### Removed options", 1)[1] if "#### Removed options" in body else ""
    removed = removed.split("\n### ", 1)[0]
    return {m.group(1) for m in re.finditer(r"^\|\s*`([a-z_]+)`", removed, re.M)}


def test_provider_defaults_list_matches_option_list():
    defaults = load_provider_defaults()
    names, source = load_option_names()
    assert len(defaults) >= 25
    assert sorted(defaults) == sorted(names), (
        f"tests/data/kubernetes_executor_defaults.txt and {source} list different options"
    )


def test_every_option_the_kb_names_is_a_provider_option(guide_text):
    defaults = load_provider_defaults()
    removed = _removed_option_names(guide_text)
    assert removed, "could not read the Removed options table of section 13"
    problems = []
    for md_file in _kb_markdown_files():
        for line_no, name in kubernetes_executor_option_references(md_file.read_text(encoding="utf-8")):
            if name not in defaults and name not in removed:
                problems.append(f"{md_file.name}:{line_no}: [kubernetes_executor] {name} is not an option "
                                "of provider 10.25.0 nor listed under Removed options")
    assert not problems, "\n".join(problems)


def test_configuration_reference_gives_every_option_a_default(guide_text):
    defaults = load_provider_defaults()
    body = section_body(guide_text, "## 13. Configuration Reference")
    documented = {name for _, name, _ in documented_option_defaults(body, defaults)}
    missing = sorted(set(defaults) - documented)
    assert not missing, f"section 13 has no Default-column row for: {missing}"


def test_documented_defaults_match_provider(guide_text):
    defaults = load_provider_defaults()
    problems = []
    checked = 0
    for md_file in _kb_markdown_files():
        text = md_file.read_text(encoding="utf-8")
        checked += len(documented_option_defaults(text, defaults))
        problems += [f"{md_file.name}: {p}" for p in default_mismatches(text, defaults)]
    assert checked >= len(defaults), f"only {checked} documented defaults found; the parser is broken"
    assert not problems, "\n".join(problems)


def test_default_check_catches_wrong_defaults():
    defaults = {"worker_pods_creation_batch_size": "1", "delete_worker_pods": "True",
                "cluster_context": None, "pod_template_file": ""}
    good = (
        "| Option | Default | Note |\n|---|---|---|\n"
        "| `[kubernetes_executor] worker_pods_creation_batch_size` | `1` | x |\n"
        "| `cluster_context` | unset | x |\n"
        "Set `pod_template_file` (default: empty) and `delete_worker_pods = True` (the default).\n"
    )
    assert len(documented_option_defaults(good, defaults)) == 4
    assert default_mismatches(good, defaults) == []
    bad = (
        "| Option | Default | Note |\n|---|---|---|\n"
        "| `worker_pods_creation_batch_size` | `16` | x |\n"
        "The option `delete_worker_pods` defaults to **False** here.\n"
        "`delete_worker_pods = False` (the default) and `cluster_context` (default `kind`).\n"
    )
    problems = default_mismatches(bad, defaults)
    assert len(problems) == 4, problems
    refs = kubernetes_executor_option_references(
        "```ini\n[kubernetes_executor]\nnamespace = airflow\nworker_pods_pending_timeout = 300\n```\n"
        "Set `[kubernetes_executor] delete_worker_pods` or AIRFLOW__KUBERNETES_EXECUTOR__NAMESPACE.\n"
        "The [kubernetes_executor] options below are in the `[kubernetes_executor]` section.\n"
    )
    assert [name for _, name in refs] == [
        "namespace", "worker_pods_pending_timeout", "delete_worker_pods", "namespace"]


# --------------------------------------------------------------------------------------------
# option list data
# --------------------------------------------------------------------------------------------


def test_option_fallback_list_is_usable():
    names = [
        line.strip()
        for line in OPTIONS_FALLBACK.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert len(names) >= 25
    assert len(names) == len(set(names)), "duplicate names in the fallback option list"
    assert all(re.fullmatch(r"[a-z_]+", name) for name in names)
    assert "worker_pods_pending_timeout" not in names, "removed option listed as current"


def test_option_fallback_list_matches_fact_sheet():
    if not FACT_SHEET.exists():
        pytest.skip(f"fact sheet not found at {FACT_SHEET}; only the shipped list is available")
    from_sheet = parse_fact_sheet_options(FACT_SHEET.read_text(encoding="utf-8"))
    assert from_sheet, "could not parse the section 3.1 table of the fact sheet"
    shipped = [
        line.strip()
        for line in OPTIONS_FALLBACK.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert sorted(shipped) == sorted(from_sheet), (
        "tests/data/kubernetes_executor_options.txt is out of date with the fact sheet"
    )


# --------------------------------------------------------------------------------------------
# Excalidraw files
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=EXCALIDRAW_FILES, ids=lambda p: p.name)
def excalidraw_doc(request):
    path = request.param
    assert path.exists(), f"{path.relative_to(REPO)} is missing"
    return json.loads(path.read_text(encoding="utf-8"))


def test_excalidraw_top_level(excalidraw_doc):
    assert excalidraw_doc.get("type") == "excalidraw"
    assert excalidraw_doc.get("version") == 2
    assert isinstance(excalidraw_doc.get("elements"), list) and excalidraw_doc["elements"]
    assert isinstance(excalidraw_doc.get("appState"), dict)
    assert isinstance(excalidraw_doc.get("files"), dict)


def test_excalidraw_unique_ids_and_full_properties(excalidraw_doc):
    elements = excalidraw_doc["elements"]
    ids = [el.get("id") for el in elements]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"duplicate element ids: {duplicates}"
    problems = []
    for el in elements:
        missing = REQUIRED_ELEMENT_KEYS - el.keys()
        if el.get("type") == "text":
            missing |= REQUIRED_TEXT_KEYS - el.keys()
        if el.get("type") == "arrow":
            missing |= REQUIRED_ARROW_KEYS - el.keys()
        if missing:
            problems.append(f"{el.get('id')}: missing {sorted(missing)}")
    assert not problems, "\n".join(problems)


def test_excalidraw_text_containers_resolve(excalidraw_doc):
    by_id = {el["id"]: el for el in excalidraw_doc["elements"]}
    problems = []
    for el in excalidraw_doc["elements"]:
        if el["type"] != "text" or el.get("containerId") is None:
            continue
        container = by_id.get(el["containerId"])
        if container is None:
            problems.append(f"{el['id']}: containerId {el['containerId']} does not exist")
            continue
        listed = {(b.get("type"), b.get("id")) for b in container.get("boundElements") or []}
        if ("text", el["id"]) not in listed:
            problems.append(f"{el['id']}: container {container['id']} does not list it in boundElements")
    assert not problems, "\n".join(problems)


def test_excalidraw_bound_elements_point_back(excalidraw_doc):
    by_id = {el["id"]: el for el in excalidraw_doc["elements"]}
    problems = []
    for el in excalidraw_doc["elements"]:
        for bound in el.get("boundElements") or []:
            other = by_id.get(bound.get("id"))
            if other is None:
                problems.append(f"{el['id']}: bound element {bound.get('id')} does not exist")
            elif bound.get("type") == "text" and other.get("containerId") != el["id"]:
                problems.append(f"{el['id']}: text {other['id']} has another containerId")
            elif bound.get("type") == "arrow":
                ends = {(other.get("startBinding") or {}).get("elementId"),
                        (other.get("endBinding") or {}).get("elementId")}
                if el["id"] not in ends:
                    problems.append(f"{el['id']}: arrow {other['id']} is not bound to it")
    assert not problems, "\n".join(problems)


def test_excalidraw_arrow_bindings_resolve(excalidraw_doc):
    by_id = {el["id"]: el for el in excalidraw_doc["elements"]}
    arrows = [el for el in excalidraw_doc["elements"] if el["type"] == "arrow"]
    assert arrows, "diagram has no arrows"
    problems = []
    for arrow in arrows:
        if len(arrow.get("points") or []) < 2:
            problems.append(f"{arrow['id']}: fewer than 2 points")
        if arrow.get("endArrowhead") != "arrow" or arrow.get("startArrowhead") is not None:
            problems.append(f"{arrow['id']}: expected startArrowhead null and endArrowhead 'arrow'")
        for side in ("startBinding", "endBinding"):
            binding = arrow.get(side)
            if not binding:
                problems.append(f"{arrow['id']}: no {side}")
                continue
            if not {"elementId", "focus", "gap"} <= binding.keys():
                problems.append(f"{arrow['id']}: {side} lacks elementId/focus/gap")
            target = by_id.get(binding.get("elementId"))
            if target is None:
                problems.append(f"{arrow['id']}: {side} -> missing element {binding.get('elementId')}")
            elif target["type"] == "arrow":
                problems.append(f"{arrow['id']}: {side} -> {target['id']} is an arrow")
            elif {"type": "arrow", "id": arrow["id"]} not in (target.get("boundElements") or []):
                problems.append(f"{arrow['id']}: {target['id']} does not list the arrow")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------------------------
# links in kb/*.md
# --------------------------------------------------------------------------------------------


def _kb_markdown_files():
    return sorted(KB.glob("*.md"))


@pytest.mark.parametrize("md_file", _kb_markdown_files(), ids=lambda p: p.name)
def test_internal_links_resolve(md_file):
    text = md_file.read_text(encoding="utf-8")
    anchors_cache: dict[Path, set[str]] = {}
    problems = []
    deferred = []
    for line_no, target in markdown_links(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto: ...
            continue
        path_part, _, anchor = target.partition("#")
        target_file = (md_file.parent / path_part).resolve() if path_part else md_file
        if not target_file.exists():
            if target_file == GUIDE.resolve():
                deferred.append(target)
                continue
            problems.append(f"line {line_no}: {target}: file {path_part} does not exist")
            continue
        if anchor:
            if target_file.suffix.lower() != ".md":
                problems.append(f"line {line_no}: {target}: anchor on a non-Markdown file")
                continue
            if target_file not in anchors_cache:
                anchors_cache[target_file] = set(heading_anchors(target_file.read_text(encoding="utf-8")))
            if anchor not in anchors_cache[target_file]:
                problems.append(f"line {line_no}: {target}: no heading with anchor #{anchor}")
    assert not problems, f"{md_file.name}:\n" + "\n".join(problems)
    if deferred:
        pytest.skip(f"{len(deferred)} links into the guide not checked: {GUIDE_MISSING_REASON}")


# --------------------------------------------------------------------------------------------
# README
# --------------------------------------------------------------------------------------------


def test_readme_links_every_section_subsection_and_diagram():
    assert README.exists(), "kb/README.md is missing"
    text = README.read_text(encoding="utf-8")
    targets = {target for _, target in markdown_links(text)}
    guide_name = GUIDE.name
    expected = [f"{guide_name}#{github_slug(f'{n}. {title}')}" for n, title in
                enumerate(EXPECTED_SECTIONS, start=1)]
    expected += [f"{guide_name}#{anchor}" for anchor in FIXED_SUBSECTION_ANCHORS]
    expected += [f"excalidraw/{path.name}" for path in EXCALIDRAW_FILES]
    missing = [target for target in expected if target not in targets]
    assert not missing, f"README lacks links to: {missing}"


def test_slug_algorithm_examples():
    assert github_slug("12. Debugging Guide") == "12-debugging-guide"
    assert github_slug("12.2 Pod stuck in Pending") == "122-pod-stuck-in-pending"
    assert github_slug("13.1 `[kubernetes_executor]` options") == "131-kubernetes_executor-options"
    assert github_slug("12.7 Quota 403 at pod creation") == "127-quota-403-at-pod-creation"
    assert heading_anchors("# A\n## A\n```\n# A\n```\n### A\n") == ["a", "a-1", "a-2"]
