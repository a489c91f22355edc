"""The import graph of app, worker_agent, client and mito, read from the source with `ast`.

Every import counts, at module level or inside a function (a lazy import that hides a cycle is still a
cycle); only `if TYPE_CHECKING:` blocks are left out. Run it alone with `pytest tests/test_imports.py`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "worker_agent", "client", "mito")
# Programs that never import the coordinator, and the vocabulary that imports none of the programs.
APP_FREE = ("worker_agent", "client", "mito.vocab")
VOCAB_FREE_OF = ("app", "worker_agent", "client")

# Known exceptions, each removed by the engineer named: this list only shrinks.
KNOWN_CYCLES: list[set[str]] = []
KNOWN_DYNAMIC_IMPORTS: list[str] = []


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module (the longest known module the statement names)
    line: int


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


MODULES = _sources()


def _resolve(name: str) -> str | None:
    """The longest prefix of the dotted `name` that is one of our modules (None: a library)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(tree: ast.AST) -> Iterator[ast.stmt | ast.expr]:
    """Every node, skipping the bodies of `if TYPE_CHECKING:` (their `else` still counts)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                yield child
                yield from _statements(child)
            continue
        if isinstance(node, ast.stmt | ast.expr):
            yield node
        yield from _statements(node)


def _imports(module: str, path: Path) -> Iterator[Import]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in _statements(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            target = _resolve(name)
            if target is not None and target != module:
                yield Import(module, target, node.lineno)


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for imp in _imports(name, path):
            graph[name].add(imp.target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


# Reading package data (importlib.resources) or versions (importlib.metadata) is fine; loading modules by
# name at run time is what hides imports from readers and from this graph.
LOADERS = {"import_module", "__import__", "reload", "spec_from_file_location", "module_from_spec"}
IMPORTLIB_OK = {"importlib.resources", "importlib.metadata"}


def _dynamic_imports(module: str, path: Path) -> Iterator[str]:
    for node in _statements(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "importlib" and alias.name not in IMPORTLIB_OK:
                    yield f"{module}:{node.lineno} imports {alias.name}"
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "importlib":
            if node.module not in IMPORTLIB_OK:
                yield f"{module}:{node.lineno} imports from {node.module}"
        elif isinstance(node, ast.Call):
            func = node.func
            called = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else ""
            )
            if called in LOADERS:
                yield f"{module}:{node.lineno} calls {called}"


def test_the_graph_sees_every_package_and_lazy_imports():
    graph = _graph()
    assert {name.split(".")[0] for name in graph} == set(PACKAGES)
    assert "app.services.access" in graph["app.services.group"]
    assert "app.api" in graph["app"]  # create_app imports its routes inside the function


def test_no_import_cycles():
    cycles = [sorted(c) for c in _cycles(_graph()) if c not in KNOWN_CYCLES]
    assert cycles == [], f"import cycles (break them; a lazy import does not): {cycles}"


def test_no_dynamic_imports_in_app():
    found = [
        hit
        for name, path in MODULES.items()
        if name.split(".")[0] == "app"
        for hit in _dynamic_imports(name, path)
        if hit.partition(":")[0] not in KNOWN_DYNAMIC_IMPORTS
    ]
    assert found == [], f"importlib/import_module in app (import modules plainly): {found}"


@pytest.mark.parametrize("package", APP_FREE)
def test_programs_and_vocabulary_never_import_app(package):
    offending = [
        f"{imp.source}:{imp.line} -> {imp.target}"
        for name, path in MODULES.items()
        if name == package or name.startswith(f"{package}.")
        for imp in _imports(name, path)
        if imp.target.split(".")[0] == "app"
    ]
    assert offending == []


def test_vocabulary_imports_none_of_the_programs():
    offending = [
        f"{imp.source}:{imp.line} -> {imp.target}"
        for name, path in MODULES.items()
        if name.startswith("mito.vocab")
        for imp in _imports(name, path)
        if imp.target.split(".")[0] in VOCAB_FREE_OF
    ]
    assert offending == []


# Lower layers never reach up: the store backends and the models know nothing of services or routes, and
# services know nothing of routes.
LAYERS = [
    ("app.storage", ("app.api", "app.services")),
    ("app.models", ("app.api", "app.services", "app.schemas")),
    ("app.services", ("app.api",)),
]


@pytest.mark.parametrize(("layer", "above"), LAYERS)
def test_lower_layers_never_import_upper_ones(layer, above):
    offending = [
        f"{imp.source}:{imp.line} -> {imp.target}"
        for name, path in MODULES.items()
        if name == layer or name.startswith(f"{layer}.")
        for imp in _imports(name, path)
        if any(imp.target == up or imp.target.startswith(f"{up}.") for up in above)
    ]
    assert offending == []


def test_the_checks_catch_what_they_forbid(tmp_path):
    """The cycle finder and the dynamic-import finder on a small made-up graph and module."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    source = tmp_path / "m.py"
    source.write_text(
        "from importlib.resources import files\n"
        "def f():\n    import importlib\n    return importlib.import_module('x')\n"
    )
    assert list(_dynamic_imports("m", source)) == ["m:3 imports importlib", "m:4 calls import_module"]
