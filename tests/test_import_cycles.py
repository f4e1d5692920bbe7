"""The digest package's modules import each other without cycles (module-level imports, read with ast).

A cycle works only while every module in it happens to be imported in one order; this finds
them before a new import makes one fail. Imports inside functions and under `if TYPE_CHECKING:`
run later or never, so they are not edges.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "digest"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _module_level(body: list[ast.stmt]):
    """Statements run at import: the module's own, and those in its if/try/with blocks."""
    for node in body:
        if isinstance(node, ast.If):
            test = node.test
            if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
                    isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"):
                yield from _module_level(node.orelse)
                continue
            yield from _module_level(node.body)
            yield from _module_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody):
                yield from _module_level(block)
        elif isinstance(node, ast.With):
            yield from _module_level(node.body)
        else:
            yield node


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The package's modules that `path` imports when it is imported."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _module_level(ast.parse(path.read_text(encoding="utf-8"), str(path)).body):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from digest import render` imports the submodule digest.render, if there is one.
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        for target in targets:
            # `import digest.a.b` runs digest/__init__, digest.a and digest.a.b, except the packages
            # the importer is in: Python has started them before it. Naming one itself
            # (`from digest.a import x` inside digest.a.b) reads it, so that stays an edge.
            parts = target.split(".")
            prefixes = (".".join(parts[:i]) for i in range(1, len(parts)))
            found.update(m for m in prefixes if m in modules and not name.startswith(m + "."))
            if target in modules:
                found.add(target)
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(paths)
    return {name: imports_of(path, modules) for name, path in paths.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_finder_sees_a_cycle_through_three_modules():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_finder_reads_relative_and_submodule_imports(tmp_path):
    pkg = tmp_path / "digest"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from digest import a\n"
                              "def late():\n    from digest import a\n")
    modules = {"digest", "digest.a", "digest.b"}
    global PACKAGE
    saved, PACKAGE = PACKAGE, pkg
    try:
        assert imports_of(pkg / "a.py", modules) == {"digest", "digest.b"}
        assert imports_of(pkg / "b.py", modules) == set()
    finally:
        PACKAGE = saved


def test_a_sibling_import_is_no_edge_to_its_package_but_naming_the_package_is(tmp_path):
    pkg = tmp_path / "digest"
    (pkg / "p").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "p" / "__init__.py").write_text("from digest.p.a import x\n")
    (pkg / "p" / "a.py").write_text("from digest.p.b import x\n")
    (pkg / "p" / "b.py").write_text("from digest.p import y\n")
    modules = {"digest", "digest.p", "digest.p.a", "digest.p.b"}
    global PACKAGE
    saved, PACKAGE = PACKAGE, pkg
    try:
        assert imports_of(pkg / "p" / "a.py", modules) == {"digest.p.b"}
        assert imports_of(pkg / "p" / "b.py", modules) == {"digest.p"}
        assert cycles({m: imports_of(pkg / "p" / f, modules) for m, f in
                       (("digest.p", "__init__.py"), ("digest.p.a", "a.py"), ("digest.p.b", "b.py"))}) == [
            ["digest.p", "digest.p.a", "digest.p.b"]]
    finally:
        PACKAGE = saved


def test_the_digest_package_has_no_import_cycle():
    graph = import_graph()
    assert "digest.models" in graph and graph["digest.pipeline"] >= {"digest.store", "digest.render"}
    assert cycles(graph) == []
