"""The import rules of docs/architecture.md, checked on the source with ``ast`` (nothing is imported).

- litellm is imported only in ``routing/`` and ``ocr/provider.py`` (at any level, lazily or not);
- no import cycle between modules at module level (imports under ``if TYPE_CHECKING:`` and inside
  functions do not run at import time, so they are not edges);
- the rooms keep their direction: ``config/`` knows nothing of the runtime (routing, calls, cli),
  ``routing/`` nothing of the calls, nothing but ``cli/`` imports ``cli/``, and only ``testing/``
  imports ``testing/`` (it is public API for users' tests, not a dependency of the library).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "llmcfg"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _absolute(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    is_package = MODULES[module].name == "__init__.py"
    base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imported(module: str, nodes: list[ast.stmt] | None = None, *, top_only: bool) -> set[str]:
    """Modules ``module`` imports: all of them, or only those imported when it is imported."""
    found: set[str] = set()
    body = nodes if nodes is not None else ast.parse(MODULES[module].read_text()).body
    for node in body:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(module, node)
            found.add(target)
            found |= {f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES}
        elif top_only and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        elif top_only and isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            found |= imported(module, node.orelse, top_only=top_only)
        elif top_only and isinstance(node, ast.ClassDef):
            found |= imported(module, node.body, top_only=top_only)
        else:
            children = [child for child in ast.iter_child_nodes(node) if isinstance(child, ast.stmt)]
            found |= imported(module, children, top_only=top_only)
    return found


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_litellm_is_imported_only_in_routing_and_the_ocr_provider() -> None:
    allowed = {name for name in MODULES if room(name) == "routing"} | {"llmcfg.ocr.provider"}
    offenders = {
        name
        for name in MODULES
        if any(m == "litellm" or m.startswith("litellm.") for m in imported(name, top_only=False))
    }
    assert offenders, "the check found no litellm import at all: it is broken"
    assert offenders <= allowed, (
        f"litellm imported outside routing/ and ocr/provider.py: {offenders - allowed}"
    )


def test_no_import_cycles_at_module_level() -> None:
    # An edge to one's own package is no cycle: Python has begun the package before its modules.
    graph = {
        name: {m for m in imported(name, top_only=True) if m in MODULES and not name.startswith(m + ".")}
        - {name}
        for name in MODULES
    }
    assert any(graph.values()), "the check found no imports at all: it is broken"
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


FORBIDDEN = [
    ("config", {"routing", "calls", "cli", "testing"}),
    ("routing", {"calls", "cli", "testing"}),
    ("calls", {"cli", "testing"}),
    ("images", {"calls", "cli", "testing"}),
    ("money", {"calls", "cli", "testing"}),
    ("cache", {"calls", "cli", "testing", "routing"}),
]


@pytest.mark.parametrize(("source", "forbidden"), FORBIDDEN)
def test_rooms_keep_their_direction(source: str, forbidden: set[str]) -> None:
    broken = {
        (name, target)
        for name in MODULES
        if room(name) == source
        for target in imported(name, top_only=False)
        if target.startswith("llmcfg.") and room(target) in forbidden
    }
    assert broken == set()
