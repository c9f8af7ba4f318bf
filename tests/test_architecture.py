"""The package's import rules: no cycles between its modules, and dependencies that point one way.

The import graph is read with ``ast`` from every .py file under sdeprop/ (nothing is imported).
Every import statement counts, at module level or inside a function, in a try block or not:

* ``import sdeprop.a.b`` and ``from sdeprop.a.b import name`` are edges to ``sdeprop.a.b``;
* relative imports are resolved against the importing module's package (``from ..config import
  x`` in sdeprop/gridsolver/energy.py is an edge to ``sdeprop.config``);
* ``from P import x`` is an edge to the submodule ``P.x`` when there is one, else to ``P``;
* importing a package is an edge to its ``__init__.py``, named like the package (``sdeprop.models``).

Cycles.  Every edge counts, except one kind: a module's import of a package that encloses it (its
``__init__``), e.g. ``from . import __version__`` in a submodule of sdeprop.  Such an edge closes a
loop with every re-export of the package's ``__init__`` (sdeprop/__init__.py imports engine, engine
imports ..., ... imports sdeprop) without saying anything about the design, so the cycle search
leaves it out; in exchange it is allowed only inside a function, which runs after the package has
finished initialising (at module level it would see a half-initialised package).  Importing a
submodule is not counted as importing the packages above it, which Python initialises first.

Directions.  ``FORBIDDEN_IMPORTS`` maps a module prefix to the prefixes it must never import, less
``ALLOWED_IMPORTS``.  A prefix names a module and everything below it: ``sdeprop.kernel`` is
sdeprop/kernel.py as well as the package sdeprop/kernel/ and its submodules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "sdeprop"
PACKAGE_DIR = Path(__file__).resolve().parents[1] / PACKAGE

#: module prefix -> prefixes it must not import
FORBIDDEN_IMPORTS = {
    "sdeprop.errors": ("sdeprop",),  # the exceptions: imports nothing from the package
    "sdeprop.units": ("sdeprop",),  # unit constants: imports nothing from the package
    "sdeprop.config": ("sdeprop",),  # the schema: only errors and units (ALLOWED_IMPORTS)
    "sdeprop.kernel": ("sdeprop.config", "sdeprop.io", "sdeprop.engine", "sdeprop.cli"),
    "sdeprop.models": ("sdeprop.config", "sdeprop.io", "sdeprop.engine", "sdeprop.cli"),
    "sdeprop.gridsolver": ("sdeprop.kernel", "sdeprop.engine", "sdeprop.crosscheck"),  # stays independent
    "sdeprop.tallies": ("sdeprop.config", "sdeprop.io", "sdeprop.engine", "sdeprop.kernel", "sdeprop.cli"),
    "sdeprop.plotting": ("sdeprop.engine", "sdeprop.kernel"),  # figures draw results, they run nothing
    "sdeprop": ("sdeprop.cli",),  # nothing imports the command line ...
}
#: module prefix -> prefixes it may import although FORBIDDEN_IMPORTS names them
ALLOWED_IMPORTS = {
    "sdeprop.config": ("sdeprop.errors", "sdeprop.units"),
    "sdeprop.cli": ("sdeprop.cli",),  # ... except the command line itself
    "sdeprop.__main__": ("sdeprop.cli",),  # ... and ``python -m sdeprop``
}


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package's __init__.py under the package's name)."""
    out = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_package(module: str, modules: dict[str, Path]) -> bool:
    return modules[module].name == "__init__.py"


def _imports(module: str, modules: dict[str, Path]):
    """(imported module, line, at module level) of every import of a package module in ``module``."""
    tree = ast.parse(modules[module].read_text(), filename=str(modules[module]))
    package = module if _is_package(module, modules) else module.rpartition(".")[0]

    def visit(node, top_level):
        for child in ast.iter_child_nodes(node):
            inner = top_level and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if _under(alias.name, PACKAGE):
                        yield alias.name, child.lineno, top_level
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                if _under(target, PACKAGE):
                    for alias in child.names:
                        sub = f"{target}.{alias.name}"
                        yield (sub if sub in modules else target), child.lineno, top_level
            yield from visit(child, inner)

    for target, line, top_level in visit(tree, True):
        # an import of a module that does not exist (a typo) counts as its nearest existing package
        while target not in modules and "." in target:
            target = target.rpartition(".")[0]
        yield target, line, top_level


def _graph():
    modules = _modules()
    edges: dict[str, dict[str, tuple[int, bool]]] = {m: {} for m in modules}
    for m in modules:
        for target, line, top_level in _imports(m, modules):
            if target != m:
                old = edges[m].get(target)
                # keep the first module-level import if there is one, else the first import
                if old is None or (top_level and not old[1]):
                    edges[m][target] = (line, top_level)
    return modules, edges


def _where(modules, module, target, edges) -> str:
    return f"{modules[module].relative_to(PACKAGE_DIR.parent)}:{edges[module][target][0]}"


def _cycle_edges(modules, edges):
    """The edges the cycle search follows: all but a module's imports of a package that encloses it."""
    return {
        m: [t for t in targets if not (_is_package(t, modules) and _under(m, t))]
        for m, targets in edges.items()
    }


def _strongly_connected(graph) -> list[list[str]]:
    """Tarjan's algorithm (iterative); components of more than one module, or with a self-loop."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == node:
                            break
                    if len(comp) > 1 or node in graph[node]:
                        out.append(sorted(comp))
    return out


def _one_cycle(graph, component) -> list[str]:
    """A shortest cycle through the component's first module, staying inside the component."""
    start, members = component[0], set(component)
    previous = {start: None}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in graph[node]:
            if child == start:
                path = [node]
                while previous[path[-1]] is not None:
                    path.append(previous[path[-1]])
                return path[::-1] + [start]
            if child in members and child not in previous:
                previous[child] = node
                queue.append(child)
    return component


def _violations(modules, edges) -> list[tuple[str, str, str]]:
    """(importer, imported, message) of every import that breaks a rule of FORBIDDEN_IMPORTS."""
    out = []
    for m, targets in edges.items():
        for t in targets:
            a, b = (m), (t)
            for who, forbidden in FORBIDDEN_IMPORTS.items():
                if not _under(a, who):
                    continue
                bad = [f for f in forbidden if _under(b, f)]
                allowed = [
                    p for key, ps in ALLOWED_IMPORTS.items() if _under(a, key) for p in ps if _under(b, p)
                ]
                if bad and not allowed:
                    if bad[0] == PACKAGE:
                        only = ", ".join(ALLOWED_IMPORTS.get(who, ())) or "nothing"
                        rule = f"{who} may import only {only} from the package"
                    else:
                        rule = f"{who} must not import {bad[0]}"
                    out.append((m, t, f"{_where(modules, m, t, edges)}: {m} imports {t} ({rule})"))
                    break
    return out


def test_no_import_cycles():
    modules, edges = _graph()
    graph = _cycle_edges(modules, edges)
    problems = []
    for comp in _strongly_connected(graph):
        cycle = _one_cycle(graph, comp)
        steps = ", ".join(_where(modules, a, b, edges) for a, b in zip(cycle, cycle[1:]))
        problems.append(
            f"cycle {' -> '.join(cycle)} (imports at {steps}); all modules of it: {', '.join(comp)}"
        )
    for m, targets in edges.items():
        for t, (_line, top_level) in targets.items():
            if top_level and _is_package(t, modules) and _under(m, t) and m != t:
                problems.append(
                    f"{_where(modules, m, t, edges)}: {m} imports its own package {t} "
                    "at module level (it is half-initialised then: import the submodule that "
                    "defines the name, or import inside the function that needs it)"
                )
    if problems:
        pytest.fail("import cycles in sdeprop:\n  " + "\n  ".join(problems), pytrace=False)


def test_dependencies_point_one_way():
    modules, edges = _graph()
    found = _violations(modules, edges)
    problems = [msg for _, _, msg in found]
    if problems:
        pytest.fail(
            "imports against the rules of tests/test_architecture.py (FORBIDDEN_IMPORTS):\n  "
            + "\n  ".join(problems),
            pytrace=False,
        )
