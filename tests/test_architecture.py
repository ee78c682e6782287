"""The layout is the architecture: who may import whom, no import cycles, every package says what it owns.

Read from the source with `ast` (nothing is imported), so a violation fails here before anything runs:

    core                      imports only core
    triage, feedback          core (and themselves)
    render                    core, triage (the triage renderer), itself
    evaluation                core, triage, itself (never click, never a face)
    faces.cli / web / slack   anything above, never another face
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import ROOT

PKG = ROOT / "src" / "lifecycle_bot"
TOP = "lifecycle_bot"

ALLOWED = {
    "core": {"core"},
    "triage": {"core", "triage"},
    "feedback": {"core", "feedback"},
    "render": {"core", "triage", "render"},
    "evaluation": {"core", "triage", "evaluation"},
}
FACES = ("faces.cli", "faces.web", "faces.slack")
ROOT_MODULES = {TOP, f"{TOP}._offline"}  # the package itself: the offline environment, imported by anyone


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(path: Path, known: set[str], runtime_only: bool = False) -> set[str]:
    """Every lifecycle_bot module `path` imports, at any depth (function-level imports count too)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()

    def resolve(target: str, names: list[str]) -> None:
        if not target.startswith(TOP):
            return
        for n in names:  # `from pkg import mod` imports the submodule
            if f"{target}.{n}" in known:
                found.add(f"{target}.{n}")
            elif target in known:
                found.add(target)

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if runtime_only and isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.startswith(TOP) and alias.name in known:
                        found.add(alias.name)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - child.level + 1]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                resolve(target, [a.name for a in child.names])
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    found.discard(name)
    return found


def layer(module: str) -> str:
    rest = module[len(TOP) + 1:] if module != TOP else ""
    for face in FACES:
        if rest == face or rest.startswith(face + "."):
            return face
    return rest.split(".")[0] if rest else ""


def violations(graph: dict[str, set[str]]) -> list[str]:
    out = []
    for module, targets in sorted(graph.items()):
        source = layer(module)
        for target in sorted(targets):
            if target in ROOT_MODULES:
                continue
            dest = layer(target)
            if source in ALLOWED and dest not in ALLOWED[source]:
                out.append(f"{module} imports {target}: {source} may import only {sorted(ALLOWED[source])}")
            elif source in FACES and dest in FACES and dest != source:
                out.append(f"{module} imports {target}: a face never imports another face")
            elif source == "faces" and dest in FACES:
                out.append(f"{module} imports {target}: the faces package does not pick a face")
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def strongconnect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return found


def graph(runtime_only: bool = False) -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports(path, known, runtime_only) for name, path in mods.items()}


def test_layers_import_only_what_the_architecture_allows():
    assert violations(graph()) == []


def test_no_import_cycles():
    assert cycles(graph(runtime_only=True)) == []


def test_core_and_evaluation_never_import_click_or_a_ui_library():
    banned = ("click", "gradio", "slack_bolt", "slack_sdk")
    bad = []
    for name, path in modules().items():
        if layer(name) not in ("core", "evaluation", "triage", "feedback", "render"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            bad += [f"{name} imports {n}" for n in names if n.split(".")[0] in banned]
    assert bad == []


def test_every_package_opens_with_a_docstring_that_says_what_it_owns():
    missing = [module_name(p) for p in PKG.rglob("__init__.py")
               if len(ast.get_docstring(ast.parse(p.read_text(encoding="utf-8"))) or "") < 40]
    assert missing == []


@pytest.mark.parametrize("edges, expect_violation, expect_cycle", [
    ({"lifecycle_bot.core.bot": {"lifecycle_bot.triage.engine"}}, True, False),
    ({"lifecycle_bot.faces.web.app": {"lifecycle_bot.faces.slack.app"}}, True, False),
    ({"lifecycle_bot.evaluation.evaluate": {"lifecycle_bot.faces.cli.main"}}, True, False),
    ({"lifecycle_bot.faces.cli.main": {"lifecycle_bot.core.bot", "lifecycle_bot.evaluation.evaluate"}}, False, False),
    ({"lifecycle_bot.core.a": {"lifecycle_bot.core.b"}, "lifecycle_bot.core.b": {"lifecycle_bot.core.a"}}, False, True),
])
def test_the_checks_catch_what_they_are_for(edges, expect_violation, expect_cycle):
    assert bool(violations(edges)) is expect_violation
    assert bool(cycles(edges)) is expect_cycle
