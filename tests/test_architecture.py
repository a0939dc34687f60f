"""The shape of the code: roost's top-level packages import each other without a cycle, and
the Meta adapter (`roost.meta`) imports no feature package. The graph is read from the source
(every import statement, at any depth, so a function-level import counts too)."""

import ast
from collections import defaultdict
from pathlib import Path

import roost

ROOT = Path(roost.__file__).parent
# Alembic loads the migration scripts by path; no module of roost imports them.
NOT_IMPORTED = (ROOT / "db" / "migrations",)
# What the Meta adapter may build on: the shared kit, settings, the database base, itself.
META_MAY_IMPORT = {"kit", "config", "db", "meta"}


def top_level(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "roost" and len(parts) > 1 else None


def import_graph() -> dict[str, dict[str, set[str]]]:
    """{importing top-level package: {imported top-level package: {importing modules}}}."""
    graph: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in ROOT.rglob("*.py"):
        if any(path.is_relative_to(folder) for folder in NOT_IMPORTED):
            continue
        relative = path.relative_to(ROOT.parent).with_suffix("")
        module = ".".join(relative.parts)
        source = top_level(module)
        if source is None or source == "__init__":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for name in names:
                target = top_level(name)
                if target and target != source and ((ROOT / target).is_dir() or (ROOT / f"{target}.py").exists()):
                    graph[source][target].add(module)
    return graph


def cycles(graph: dict[str, dict[str, set[str]]]) -> list[list[str]]:
    """The strongly connected components with more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_the_imports_it_must():
    graph = import_graph()
    assert "roost.worker" in graph["worker"]["provisioning"]
    assert graph["provisioning"]["profiles"]  # provisioning builds on profiles, never the reverse


def test_no_import_cycle_between_top_level_packages():
    graph = import_graph()
    found = cycles(graph)
    detail = {
        " -> ".join(cycle): {f"{a} -> {b}": sorted(graph[a][b]) for a in cycle for b in cycle if b in graph[a]}
        for cycle in found
    }
    assert not found, f"import cycles between roost's packages: {detail}"


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b": {"roost.a.x"}}, "b": {"c": {"roost.b.y"}}, "c": {"a": {"roost.c.z"}}, "d": {"a": {"roost.d"}}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_meta_is_an_adapter_that_imports_no_feature():
    imported = import_graph()["meta"]
    features = {target: sorted(modules) for target, modules in imported.items() if target not in META_MAY_IMPORT}
    assert not features, f"roost.meta imports feature packages: {features}"
