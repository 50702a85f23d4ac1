"""The package's layers hold: no module imports a layer above its own, there is no import cycle, and what an
app imports never brings in the server stack, pydantic, the signals-file reader or psycopg.

Imports are read with `ast` from every module, including those inside functions (a lazy import is still a
dependency), so the check sees what a reader of the code sees.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

PACKAGE = "otel_ai_incident"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

# Lowest first; a module may import modules of its own layer and of any layer below. The first part of a
# module's name after the package picks its layer ("__init__" is the package itself, the public API).
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"names", "errors", "storage", "printable", "commandline"}),
    frozenset({"signals"}),
    frozenset({"guardrails", "promptlog"}),
    frozenset({"telemetry"}),
    frozenset({"containment"}),
    frozenset({"instrumentation", "__init__"}),  # composes telemetry, guardrails, the prompt log and the gate
    frozenset({"incidents"}),
    frozenset({"generate"}),
    frozenset({"server"}),
    frozenset({"demo", "cli"}),
    # Evaluation generators for tests and benchmarks: imported by nothing in the package (checked below).
    frozenset({"testing"}),
)

# Known exceptions, each with what removes it. The tests fail when one no longer occurs, so it is deleted then.
KNOWN_UPWARD: dict[tuple[str, str], str] = {}
KNOWN_CYCLES: dict[frozenset[str], str] = {}

# What an app imports, and what must not come with it.
APP_IMPORTS = (
    PACKAGE,
    f"{PACKAGE}.telemetry.hooks",
    f"{PACKAGE}.guardrails.output",
    f"{PACKAGE}.promptlog.writer",
    f"{PACKAGE}.containment.gate",
)
NOT_IN_APPS = ("pydantic", "fastapi", "starlette", "uvicorn", "psycopg", f"{PACKAGE}.server", f"{PACKAGE}.signals.load")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {_module_name(path): path for path in ROOT.rglob("*.py")}


def _imported(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The package's modules an import statement names (`from a import b` is module a.b when that exists)."""
    known = modules()
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
            base = ".".join([*package[: len(package) - node.level + 1], *([base] if base else [])])
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
    yield from (name for name in names if name in known and name != module)


@cache
def graph() -> dict[str, frozenset[str]]:
    """Module -> the package's modules it imports anywhere in its body."""
    edges = {}
    for module, path in modules().items():
        nodes = ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        imports = (n for n in nodes if isinstance(n, ast.Import | ast.ImportFrom))
        edges[module] = frozenset(target for node in imports for target in _imported(module, path, node))
    return edges


def layer(module: str) -> int:
    """An area's `commands` module is its part of the command line, the outermost layer with `cli`: a
    command may compose every store (an erasure reaches all of them), the area's own code may not."""
    area = module.split(".")[1] if "." in module else "__init__"
    if module.endswith(".commands"):
        area = "cli"
    found = [index for index, areas in enumerate(LAYERS) if area in areas]
    assert found, f"{module}: its area {area!r} is in no layer; add it to LAYERS"
    return found[0]


def upward_imports() -> set[tuple[str, str]]:
    return {(a, b) for a, targets in graph().items() for b in targets if layer(b) > layer(a)}


def cycles() -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    edges, index, low, stack, on_stack, found = graph(), {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_import_reader_sees_imports_of_every_kind() -> None:
    edges = graph()
    assert f"{PACKAGE}.signals.model" in edges[f"{PACKAGE}.signals.catalogue"]  # from a.b import c
    assert f"{PACKAGE}.names" in edges[f"{PACKAGE}.signals.model"]  # from a import module
    assert f"{PACKAGE}.signals.spec" in edges[f"{PACKAGE}.signals.load"]  # inside a function
    assert f"{PACKAGE}.server.app" in edges[f"{PACKAGE}.server.commands"]  # inside a function


def test_no_module_imports_a_layer_above_its_own() -> None:
    found = upward_imports()
    unexpected = sorted(found - set(KNOWN_UPWARD))
    assert not unexpected, "imports of a higher layer (move the join above both):\n" + "\n".join(
        f"{a} ({LAYERS[layer(a)]}) -> {b} ({LAYERS[layer(b)]})" for a, b in unexpected
    )
    assert not set(KNOWN_UPWARD) - found, "a known exception no longer occurs: delete it from KNOWN_UPWARD"


def test_there_is_no_import_cycle() -> None:
    found = cycles()
    unexpected = [sorted(c) for c in found if c not in KNOWN_CYCLES]
    assert not unexpected, f"import cycles: {unexpected}"
    assert not set(KNOWN_CYCLES) - set(found), "a known cycle is gone: delete it from KNOWN_CYCLES"


@pytest.mark.parametrize("module", APP_IMPORTS)
def test_what_apps_import_brings_no_server_stack_nor_pydantic(module: str) -> None:
    probe = (
        f"import sys, {module}\n"
        f"print(sorted(m for m in sys.modules if m in {NOT_IN_APPS!r} or m.startswith({NOT_IN_APPS!r})))"
    )
    # From the package's parent directory, so this tree is imported rather than an installed copy.
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT.parent, capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]", f"{module} imports {result.stdout.strip()}"


def test_the_evaluation_generators_are_imported_by_nothing_that_runs() -> None:
    testing = f"{PACKAGE}.testing"
    runtime = [(a, b) for a, targets in graph().items() if not a.startswith(testing) for b in targets]
    assert [(a, b) for a, b in runtime if b.startswith(testing)] == []


def test_the_integration_core_imports_no_client_library() -> None:
    """`telemetry.integrations._core` is client-neutral: only the per-client modules import an SDK."""
    allowed = {"opentelemetry", PACKAGE, *sys.stdlib_module_names}
    core = {name: path for name, path in modules().items() if ".integrations._core" in name}
    assert core
    for name, path in core.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                imported = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert all(module.split(".")[0] in allowed for module in imported), (name, imported)


CLIENT_LIBRARIES = {"openai": "openai", "anthropic": "anthropic", "litellm": "litellm", "langchain_core": "langchain"}


def test_each_client_library_is_imported_by_its_own_integration_only() -> None:
    """In the telemetry layer, `integrations.<client>` (and its `<client>_*` translation modules) alone import
    that client's SDK (elsewhere, the investigation's own OpenAI model client is a user of the SDK, not ours)."""
    for name, path in modules().items():
        if not name.startswith(f"{PACKAGE}.telemetry"):
            continue
        module = name.rsplit(".", 1)[-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                imported = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for top in {m.split(".")[0] for m in imported} & CLIENT_LIBRARIES.keys():
                    owner = CLIENT_LIBRARIES[top]
                    assert ".telemetry.integrations." in name and module.split("_")[0] == owner, (name, top)
