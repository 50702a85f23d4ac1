"""The guardrails stay a lower layer, and the evaluation generators stay out of everything that runs.

Read from the source (every import statement, also those inside functions), so a violation fails here
before it shows up as an import cycle or as test corpora loaded into an app.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "otel_ai_incident"
# What a guardrail may import from the project: the names, the signal catalogue, and other guardrails.
GUARDRAIL_MAY_IMPORT = frozenset({"names", "signals", "guardrails"})


def _project_imports(path: Path) -> set[str]:
    """The `otel_ai_incident.*` modules that `path` imports, as dotted names below the package.

    `from package import module` counts as importing that module (not the package), as import-linter counts it.
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = [f"{node.module}.{alias.name}" for alias in node.names]
            modules = [m for m in submodules if m in MODULES]
            if len(modules) < len(submodules):
                modules.append(node.module)
        else:
            continue
        found.update(m.removeprefix("otel_ai_incident.") for m in modules if m.startswith("otel_ai_incident."))
    return found


def _modules(under: Path) -> list[Path]:
    return sorted(under.rglob("*.py"))


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = frozenset(_name(p) for p in _modules(PACKAGE))


def _import_graph(paths: list[Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports (names below the package)."""
    short = {m.removeprefix("otel_ai_incident.") for m in MODULES}
    graph = {}
    for path in paths:
        name = _name(path).removeprefix("otel_ai_incident.")
        graph[name] = {m for m in _project_imports(path) if m in short} - {name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle among the graph's modules (empty when there is none), found by depth-first search."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(module: str) -> list[str]:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target in graph and target not in state and (found := visit(target)):
                return found
        path.pop()
        state[module] = 2
        return []

    for module in sorted(graph):
        if module not in state and (found := visit(module)):
            return found
    return []


@pytest.mark.parametrize("path", _modules(PACKAGE / "guardrails"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_guardrails_import_no_higher_layer(path: Path) -> None:
    above = sorted(m for m in _project_imports(path) if m.split(".")[0] not in GUARDRAIL_MAY_IMPORT)
    assert above == [], f"{path.relative_to(PACKAGE)} imports a layer above the guardrails: {above}"


def test_nothing_outside_the_evaluation_package_imports_it() -> None:
    runtime = [p for p in _modules(PACKAGE) if "testing" not in p.relative_to(PACKAGE).parts]
    importers = [
        str(p.relative_to(PACKAGE)) for p in runtime if any(m.startswith("testing") for m in _project_imports(p))
    ]
    assert importers == []


def test_no_import_cycle_among_the_guardrails_and_the_evaluation_generators() -> None:
    graph = _import_graph(_modules(PACKAGE / "guardrails") + _modules(PACKAGE / "testing"))
    assert _cycle(graph) == []


def test_the_cycle_search_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]


def test_the_check_sees_imports_in_every_form(tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text(
        "import otel_ai_incident.containment.gate\n"
        "from otel_ai_incident.telemetry import hooks\n"
        "def later():\n"
        "    from otel_ai_incident.promptlog.entry import PromptLogEntry\n"
        "from . import relative\n"
    )
    assert _project_imports(source) == {"containment.gate", "telemetry.hooks", "promptlog.entry"}
