"""The code's layout is part of its design: rooms named for their jobs, no import cycles."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("pipeline", "catalog")
TOP_LEVEL_ALLOWED = {"__init__.py", "cli.py", "config.py"}


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules ``name`` imports anywhere in its body (function-level imports included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {m for m in found if m in modules and m != name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the list of modules on it, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_among_project_modules():
    graph = _graph()
    # A package whose __init__ re-exports its own modules is not a cycle of design.
    for name in graph:
        graph[name] = {m for m in graph[name] if not m.startswith(name + ".")}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_cycle_finder_finds_a_planted_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_pipeline_top_level_holds_only_the_entry_point_and_configuration():
    loose = sorted(p.name for p in (REPO / "pipeline").glob("*.py") if p.name not in TOP_LEVEL_ALLOWED)
    assert not loose, f"modules outside a room: {loose}"


def test_rooms_keep_to_their_jobs():
    graph = _graph()
    for name, deps in graph.items():
        if name.startswith(("pipeline.stages", "pipeline.rules", "pipeline.native")):
            assert not any(d.startswith(("pipeline.runs", "pipeline.commands", "pipeline.report"))
                           for d in deps), f"{name} reaches up into {sorted(deps)}"
        if name.startswith("pipeline.rules"):
            assert not any(d.startswith(("catalog", "pipeline.archive", "pipeline.records")) for d in deps), \
                f"{name} is a pure rule but reads storage: {sorted(deps)}"
    for path in (REPO / "pipeline").rglob("*.py"):
        if "runs" not in path.parts:
            tree = ast.parse(path.read_text())
            names = {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                     for a in n.names} | {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
            assert "ray" not in names, f"{path} imports Ray outside pipeline/runs"
